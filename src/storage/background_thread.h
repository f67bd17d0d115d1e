// BackgroundThread runs one task on a thread of its own, once a second and whenever it is woken,
// until it is stopped. The segment cache's reclamation runs on it, so that writers rarely have to
// free memory themselves.
//
// Thread safety: Wake may be called from any thread; Start and Stop from the owner only.
#pragma once

#include <functional>
#include <thread>

#include "base/mutex.h"
#include "base/thread_annotations.h"

namespace mnemo::storage {

class BackgroundThread {
 public:
  BackgroundThread() = default;
  ~BackgroundThread() { Stop(); }
  BackgroundThread(const BackgroundThread&) = delete;
  BackgroundThread& operator=(const BackgroundThread&) = delete;

  // REQUIRES: not started.
  void Start(std::function<void()> task);
  // Joins the thread; a task under way finishes first. Does nothing if not started.
  void Stop() EXCLUDES(mu_);
  // Runs the task soon, without waiting for the next second.
  void Wake() EXCLUDES(mu_);

 private:
  void Loop() EXCLUDES(mu_);

  std::function<void()> task_;
  Mutex mu_;
  CondVar cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  bool kick_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace mnemo::storage
