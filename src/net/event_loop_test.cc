#include "net/event_loop.h"

#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

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

}  // namespace
}  // namespace mnemo::net
