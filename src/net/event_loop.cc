#include "net/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

namespace mnemo::net {
namespace {

int64_t NowMillis() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

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
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.ptr = nullptr;  // the wake-up fd is the only registration without a handler
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &event) != 0) {
    Status status = Errno("epoll_ctl(eventfd)");
    close(wake_fd);
    close(epoll_fd);
    return status;
  }
  loop->reset(new EventLoop(epoll_fd, wake_fd));
  return Status::Ok();
}

EventLoop::~EventLoop() {
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

void EventLoop::Remove(int fd) {
  // Fails only if fd was never added; closing the fd would drop the registration anyway, but
  // removing it first keeps a dup()ed fd from reporting events to a dead handler.
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

void EventLoop::Run(Observer& observer, int tick_ms) {
  epoll_event events[kMaxEventsPerRound];
  int64_t next_tick = NowMillis() + tick_ms;
  bool more_work = false;
  while (!stop_.load(std::memory_order_acquire)) {
    int timeout = 0;
    if (!more_work) {
      const int64_t until_tick = next_tick - NowMillis();
      timeout = until_tick > 0 ? static_cast<int>(until_tick) : 0;
    }
    const int n = epoll_wait(epoll_fd_, events, kMaxEventsPerRound, timeout);
    if (n < 0 && errno != EINTR) {
      std::fprintf(stderr, "mnemod: epoll_wait: %s\n", ErrnoText().c_str());
      return;
    }
    bool woken = false;
    for (int i = 0; i < n; ++i) {
      auto* handler = static_cast<Handler*>(events[i].data.ptr);
      if (handler == nullptr) {
        uint64_t count = 0;
        // Drains the counter; a failure means another round already drained it.
        [[maybe_unused]] const ssize_t r = read(wake_fd_, &count, sizeof(count));
        woken = true;
      } else {
        handler->OnEvents(events[i].events);
      }
    }
    if (woken) observer.OnWake();
    more_work = observer.OnRoundEnd();
    const int64_t now = NowMillis();
    if (now >= next_tick) {
      observer.OnTick();
      next_tick = now + tick_ms;
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
