#include "storage/background_thread.h"

#include <chrono>
#include <utility>

namespace mnemo::storage {

void BackgroundThread::Start(std::function<void()> task) {
  task_ = std::move(task);
  thread_ = std::thread([this] { Loop(); });
}

void BackgroundThread::Stop() {
  if (!thread_.joinable()) return;
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.NotifyOne();
  thread_.join();
}

void BackgroundThread::Wake() {
  {
    MutexLock lock(mu_);
    kick_ = true;
  }
  cv_.NotifyOne();
}

void BackgroundThread::Loop() {
  for (;;) {
    {
      MutexLock lock(mu_);
      cv_.WaitFor(lock, std::chrono::seconds(1), [this]() REQUIRES(mu_) { return stop_ || kick_; });
      if (stop_) return;
      kick_ = false;
    }
    task_();
  }
}

}  // namespace mnemo::storage
