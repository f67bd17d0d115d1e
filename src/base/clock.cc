#include "base/clock.h"

#include <algorithm>
#include <atomic>
#include <ctime>

namespace mnemo {
namespace {

int64_t ReadClock(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return ts.tv_sec;
}

struct ProcessStart {
  // The clock OwnSeconds reads: the coarse clock can be a tick behind the precise one, and a
  // base read from that one could put the first second below kFirstSecond.
  int64_t monotonic = ReadClock(CLOCK_MONOTONIC_COARSE);
  int64_t wall = ReadClock(CLOCK_REALTIME);
};

const ProcessStart& Start() {
  static const ProcessStart start;
  return start;
}

std::atomic<uint32_t> test_offset{0};
// What ResumeClock added to the process's own seconds, and the time base it resumed.
std::atomic<uint32_t> resume_offset{0};
std::atomic<int64_t> resumed_base{0};  // 0: the process's own start

// A resumed clock stays this far below wrapping, so a year of seconds still fits after it.
constexpr int64_t kMaxResumedSecond = INT32_MAX;

uint32_t OwnSeconds() {
  // CLOCK_MONOTONIC_COARSE is read from the vDSO without a syscall; a tick of resolution is
  // plenty for expiry counted in seconds.
  const int64_t elapsed = ReadClock(CLOCK_MONOTONIC_COARSE) - Start().monotonic;
  return static_cast<uint32_t>(elapsed + kFirstSecond);
}

}  // namespace

uint32_t MonotonicSeconds() {
  return OwnSeconds() + resume_offset.load(std::memory_order_relaxed) +
         test_offset.load(std::memory_order_relaxed);
}

int64_t WallSeconds() {
  return ReadClock(CLOCK_REALTIME) + test_offset.load(std::memory_order_relaxed);
}

int64_t ProcessStartWallSeconds() {
  const int64_t resumed = resumed_base.load(std::memory_order_relaxed);
  return resumed != 0 ? resumed : Start().wall;
}

uint32_t ResumeSecond(int64_t saved_base, uint32_t saved_now, int64_t wall_now, bool* clamped) {
  const int64_t second = int64_t{kFirstSecond} + (wall_now - saved_base);
  // One second behind is not the wall clock going back: the base and the saved second were read
  // from two clocks whose seconds tick at different moments.
  *clamped = second + 1 < int64_t{saved_now};
  if (second < int64_t{saved_now}) return saved_now;
  return static_cast<uint32_t>(std::min(second, std::max<int64_t>(saved_now, kMaxResumedSecond)));
}

bool ResumeClock(int64_t saved_base, uint32_t saved_now) {
  bool clamped = false;
  const int64_t wall_now = WallSeconds();
  const uint32_t second = ResumeSecond(saved_base, saved_now, wall_now, &clamped);
  const uint32_t now = MonotonicSeconds();
  // Never backwards: in a new process `now` is a few seconds, below any saved second; within one
  // process (tests) the wall and monotonic clocks tick at different moments, and the resumed
  // second may be one below the current one.
  if (second > now) resume_offset.fetch_add(second - now, std::memory_order_relaxed);
  resumed_base.store(wall_now - (int64_t{second} - kFirstSecond), std::memory_order_relaxed);
  return clamped;
}

void AdvanceClockForTesting(uint32_t seconds) {
  test_offset.fetch_add(seconds, std::memory_order_relaxed);
}

void ResetClockForTesting() {
  test_offset.store(0, std::memory_order_relaxed);
  resume_offset.store(0, std::memory_order_relaxed);
  resumed_base.store(0, std::memory_order_relaxed);
}

}  // namespace mnemo
