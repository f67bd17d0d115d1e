#include "net/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace mnemo::net {
namespace {

// strerror_r rather than strerror: workers register sockets concurrently.
std::string ErrnoText() {
  char buffer[128];
  return strerror_r(errno, buffer, sizeof(buffer));  // the GNU variant, returning the text
}

Status Errno(const char* what) { return Status::Error(std::string(what) + ": " + ErrnoText()); }

}  // namespace

Status EventLoop::Create(std::unique_ptr<EventLoop>* loop) {
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) return Errno("epoll_create1");
  const int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    close(epoll_fd);
    return Errno("eventfd");
  }
  const int tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (tick_fd < 0) {
    close(wake_fd);
    close(epoll_fd);
    return Errno("timerfd_create");
  }
  loop->reset(new EventLoop(epoll_fd, wake_fd, tick_fd));
  // Level-triggered: each stays readable until Run() drains it, so neither is ever missed.
  Status status = (*loop)->AddLevelTriggered(wake_fd, EPOLLIN, &(*loop)->woken_);
  if (status.ok()) status = (*loop)->AddLevelTriggered(tick_fd, EPOLLIN, &(*loop)->ticked_);
  if (!status.ok()) loop->reset();  // the destructor closes the three fds
  return status;
}

EventLoop::~EventLoop() {
  close(tick_fd_);
  close(wake_fd_);
  close(epoll_fd_);
}

Status EventLoop::AddEdgeTriggered(int fd, uint32_t events, Handler* handler) {
  return Add(fd, events | EPOLLET, handler);
}

Status EventLoop::AddLevelTriggered(int fd, uint32_t events, Handler* handler) {
  return Add(fd, events, handler);
}

Status EventLoop::Add(int fd, uint32_t events, Handler* handler) {
  epoll_event event{};
  event.events = events;
  event.data.ptr = handler;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) return Errno("epoll_ctl(add)");
  return Status::Ok();
}

Status EventLoop::ChangeEdgeTriggered(int fd, uint32_t events, Handler* handler) {
  epoll_event event{};
  event.events = events | EPOLLET;
  event.data.ptr = handler;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &event) != 0) return Errno("epoll_ctl(mod)");
  return Status::Ok();
}

void EventLoop::Remove(int fd) {
  // Fails only if fd was never added; closing the fd would drop the registration anyway, but
  // removing it first keeps a dup()ed fd from reporting events to a dead handler.
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

void EventLoop::Run(Observer& observer, int tick_ms) {
  itimerspec tick{};
  tick.it_interval.tv_sec = tick_ms / 1000;
  tick.it_interval.tv_nsec = static_cast<long>(tick_ms % 1000) * 1000000;
  tick.it_value = tick.it_interval;
  if (timerfd_settime(tick_fd_, 0, &tick, nullptr) != 0) {
    std::fprintf(stderr, "mnemod: timerfd_settime: %s\n", ErrnoText().c_str());
    return;
  }
  epoll_event events[kMaxEventsPerRound];
  bool more_work = false;
  while (!stop_.load(std::memory_order_acquire)) {
    const int n = epoll_wait(epoll_fd_, events, kMaxEventsPerRound, more_work ? 0 : -1);
    if (n < 0 && errno != EINTR) {
      std::fprintf(stderr, "mnemod: epoll_wait: %s\n", ErrnoText().c_str());
      return;
    }
    for (int i = 0; i < n; ++i) {
      static_cast<Handler*>(events[i].data.ptr)->OnEvents(events[i].events);
    }
    if (woken_.raised) {
      woken_.raised = false;
      uint64_t count = 0;
      // Drains the counter; a failure means another round already drained it.
      [[maybe_unused]] const ssize_t r = read(wake_fd_, &count, sizeof(count));
      observer.OnWake();
    }
    more_work = observer.OnRoundEnd();
    if (ticked_.raised) {
      ticked_.raised = false;
      uint64_t expirations = 0;
      [[maybe_unused]] const ssize_t r = read(tick_fd_, &expirations, sizeof(expirations));
      observer.OnTick();
    }
  }
}

void EventLoop::Wake() {
  const uint64_t one = 1;
  // Fails only when the counter would overflow, in which case the loop is already due to wake.
  [[maybe_unused]] const ssize_t r = write(wake_fd_, &one, sizeof(one));
}

void EventLoop::Stop() {
  stop_.store(true, std::memory_order_release);
  Wake();
}

}  // namespace mnemo::net
