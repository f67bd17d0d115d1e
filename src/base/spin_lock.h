// SpinLock is a one-byte test-and-test-and-set lock for critical sections of a few hundred
// nanoseconds (a hash bucket lookup, a value copy). It yields after spinning briefly so that a
// preempted holder on a 2-core machine does not burn its neighbour's time slice.
//
// Thread safety: Lock/Unlock from any thread; not recursive.
#pragma once

#include <atomic>
#include <cstdint>
#include <thread>

#include "base/thread_annotations.h"

namespace mnemo {

class CAPABILITY("mutex") SpinLock {
 public:
  void Lock() ACQUIRE() {
    for (int spins = 0;; ++spins) {
      if (!locked_.load(std::memory_order_relaxed) &&
          !locked_.exchange(true, std::memory_order_acquire)) {
        return;
      }
      if (spins >= 64) std::this_thread::yield();
    }
  }
  bool TryLock() TRY_ACQUIRE(true) {
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }
  void Unlock() RELEASE() { locked_.store(false, std::memory_order_release); }

 private:
  std::atomic<bool> locked_{false};
};

class SCOPED_CAPABILITY SpinLockGuard {
 public:
  explicit SpinLockGuard(SpinLock& lock) ACQUIRE(lock) : lock_(lock) { lock_.Lock(); }
  ~SpinLockGuard() RELEASE() { lock_.Unlock(); }
  SpinLockGuard(const SpinLockGuard&) = delete;
  SpinLockGuard& operator=(const SpinLockGuard&) = delete;

 private:
  SpinLock& lock_;
};

}  // namespace mnemo
