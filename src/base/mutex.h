// Mutex is std::mutex with the thread-safety annotations of base/thread_annotations.h, so that
// clang checks every GUARDED_BY field against the lock that guards it. MutexLock holds one for a
// scope. For waiting, CondVar::Wait and CondVar::WaitFor take the MutexLock.
//
// Thread safety: as std::mutex.
#pragma once

#include <condition_variable>
#include <mutex>

#include "base/thread_annotations.h"

namespace mnemo {

class CAPABILITY("mutex") Mutex {
 public:
  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }

 private:
  friend class CondVar;
  std::mutex mu_;
};

class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.Lock(); }
  ~MutexLock() RELEASE() { mu_.Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  friend class CondVar;
  Mutex& mu_;
};

class CondVar {
 public:
  // Waits until done() or `timeout`, releasing the lock meanwhile, as
  // std::condition_variable::wait_for does; returns done() with the lock held. The analysis cannot
  // see the lock inside done(): annotate the lambda REQUIRES(mu).
  template <typename Duration, typename Predicate>
  bool WaitFor(MutexLock& lock, Duration timeout, Predicate done) {
    std::unique_lock<std::mutex> inner(lock.mu_.mu_, std::adopt_lock);
    const bool result = cv_.wait_for(inner, timeout, done);
    inner.release();
    return result;
  }
  // Waits until done(), releasing the lock meanwhile; annotate done() as for WaitFor.
  template <typename Predicate>
  void Wait(MutexLock& lock, Predicate done) {
    std::unique_lock<std::mutex> inner(lock.mu_.mu_, std::adopt_lock);
    cv_.wait(inner, done);
    inner.release();
  }
  void NotifyOne() { cv_.notify_one(); }
  void NotifyAll() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace mnemo
