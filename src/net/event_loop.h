// EventLoop is one thread's epoll loop. Sockets are registered edge-triggered for reading and
// writing: a handler is told when a socket becomes readable or writable and keeps its own note of
// what it has yet to drain, so the request path calls epoll_ctl only to stop listening for input
// while its replies wait for the client to read (ChangeEdgeTriggered), and to listen again. An
// eventfd lets other threads wake the loop (to hand it new connections, or to stop it), and a
// timerfd's tick drives periodic work such as idle timeouts. The wait itself has no timeout: a
// timeout would arm and cancel a kernel timer on every sleep, once per request when requests come
// one at a time.
//
// Invariants:
//  (1) Handlers are called only on the thread inside Run(). After Remove(fd), the fd's handler is
//      called at most for events already collected in the same round.
//  (2) Wake() before or during Run() is never lost: the observer's OnWake() follows it.
// Thread safety: Wake() and Stop() may be called from any thread; everything else only from the
// thread that calls Run() (or before Run() starts).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "base/status.h"

namespace mnemo::net {

class EventLoop {
 public:
  class Handler {
   public:
    // `events` is epoll's mask (EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLHUP, EPOLLERR).
    virtual void OnEvents(uint32_t events) = 0;

   protected:
    ~Handler() = default;
  };

  // What the loop's owner does besides socket events.
  class Observer {
   public:
    // Wake() was called since the last OnWake().
    virtual void OnWake() = 0;
    // Called after each round of events. Returns true if the owner has more work queued (a
    // connection that yielded), so that the next wait must not block.
    virtual bool OnRoundEnd() = 0;
    // Called about every tick_ms milliseconds.
    virtual void OnTick() = 0;

   protected:
    ~Observer() = default;
  };

  static Status Create(std::unique_ptr<EventLoop>* loop);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Registers `fd` edge-triggered for `events` (EPOLLIN, EPOLLOUT, ...; EPOLLET is added).
  Status AddEdgeTriggered(int fd, uint32_t events, Handler* handler);
  // Changes the events of an edge-triggered `fd`. Events it asks for that hold already are
  // reported in the next round (epoll checks them as it changes the registration).
  Status ChangeEdgeTriggered(int fd, uint32_t events, Handler* handler);
  // Registers `fd` level-triggered: for listening and signal sockets, which are read one item at
  // a time.
  Status AddLevelTriggered(int fd, uint32_t events, Handler* handler);
  // Unregisters `fd`. Events already collected in the current round may still be delivered to
  // its handler, so a handler must stay allocated until the round ends (OnRoundEnd).
  void Remove(int fd);

  // Runs rounds of events until Stop(), calling observer.OnTick() every tick_ms milliseconds.
  // REQUIRES: tick_ms > 0.
  void Run(Observer& observer, int tick_ms);

  void Wake();
  void Stop();

 private:
  // The handler of the loop's own fds: notes that one fired, for Run() to act on after the round.
  struct Signal final : Handler {
    void OnEvents(uint32_t) override { raised = true; }
    bool raised = false;
  };

  EventLoop(int epoll_fd, int wake_fd, int tick_fd)
      : epoll_fd_(epoll_fd), wake_fd_(wake_fd), tick_fd_(tick_fd) {}
  Status Add(int fd, uint32_t events, Handler* handler);

  static constexpr int kMaxEventsPerRound = 256;

  const int epoll_fd_;
  const int wake_fd_;
  const int tick_fd_;
  Signal woken_;
  Signal ticked_;
  std::atomic<bool> stop_{false};
};

}  // namespace mnemo::net
