#include "net/event_loop.h"

#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

namespace mnemo::net {
namespace {

class CountingHandler final : public EventLoop::Handler {
 public:
  void OnEvents(uint32_t) override { ++calls; }
  int calls = 0;
};

class CountingObserver final : public EventLoop::Observer {
 public:
  explicit CountingObserver(EventLoop& loop) : loop_(loop) {}
  void OnWake() override {
    ++wakes;
    loop_.Stop();
  }
  bool OnRoundEnd() override { return false; }
  void OnTick() override { ++ticks; }
  int wakes = 0;
  int ticks = 0;

 private:
  EventLoop& loop_;
};

TEST(EventLoopTest, DeliversEdgesAndWakesFromAnotherThread) {
  std::unique_ptr<EventLoop> loop;
  ASSERT_TRUE(EventLoop::Create(&loop).ok());
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  CountingHandler handler;
  ASSERT_TRUE(loop->AddEdgeTriggered(fds[0], EPOLLIN, &handler).ok());
  ASSERT_EQ(write(fds[1], "x", 1), 1);
  CountingObserver observer(*loop);
  std::thread waker([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    loop->Wake();
  });
  loop->Run(observer, /*tick_ms=*/10);
  waker.join();
  EXPECT_EQ(handler.calls, 1);  // edge-triggered: one call for one arrival, though unread
  EXPECT_EQ(observer.wakes, 1);
  EXPECT_GE(observer.ticks, 1);
  loop->Remove(fds[0]);
  close(fds[0]);
  close(fds[1]);
}

// Listens for writability alone, then (at its first event, as a session does) for input too,
// and stops the loop at its second event.
class InputLateHandler final : public EventLoop::Handler {
 public:
  InputLateHandler(EventLoop& loop, int fd) : loop_(loop), fd_(fd) {}
  void OnEvents(uint32_t events) override {
    calls.push_back(events);
    if (calls.size() == 1) {
      ASSERT_TRUE(loop_.ChangeEdgeTriggered(fd_, EPOLLIN | EPOLLOUT, this).ok());
    } else {
      loop_.Stop();
    }
  }
  std::vector<uint32_t> calls;

 private:
  EventLoop& loop_;
  int fd_;
};

// Stops the loop after about half a second of ticks, should no event come.
class TimeoutObserver final : public EventLoop::Observer {
 public:
  explicit TimeoutObserver(EventLoop& loop) : loop_(loop) {}
  void OnWake() override {}
  bool OnRoundEnd() override { return false; }
  void OnTick() override {
    if (++ticks_ == 50) loop_.Stop();
  }

 private:
  EventLoop& loop_;
  int ticks_ = 0;
};

TEST(EventLoopTest, ListeningForInputAgainReportsInputThatCameMeanwhile) {
  std::unique_ptr<EventLoop> loop;
  ASSERT_TRUE(EventLoop::Create(&loop).ok());
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  InputLateHandler handler(*loop, fds[0]);
  ASSERT_TRUE(loop->AddEdgeTriggered(fds[0], EPOLLOUT, &handler).ok());
  ASSERT_EQ(write(fds[1], "x", 1), 1);  // before the loop runs; no byte comes after it
  TimeoutObserver observer(*loop);
  loop->Run(observer, /*tick_ms=*/10);
  ASSERT_EQ(handler.calls.size(), 2u);
  EXPECT_EQ(handler.calls[0], static_cast<uint32_t>(EPOLLOUT));  // the byte is not reported
  EXPECT_NE(handler.calls[1] & EPOLLIN, 0u);
  loop->Remove(fds[0]);
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace mnemo::net
