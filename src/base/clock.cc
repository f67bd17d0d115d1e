#include "base/clock.h"

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
  int64_t monotonic = ReadClock(CLOCK_MONOTONIC);
  int64_t wall = ReadClock(CLOCK_REALTIME);
};

const ProcessStart& Start() {
  static const ProcessStart start;
  return start;
}

std::atomic<uint32_t> test_offset{0};

}  // namespace

uint32_t MonotonicSeconds() {
  // CLOCK_MONOTONIC_COARSE is read from the vDSO without a syscall; a tick of resolution is
  // plenty for expiry counted in seconds.
  const int64_t elapsed = ReadClock(CLOCK_MONOTONIC_COARSE) - Start().monotonic;
  return static_cast<uint32_t>(elapsed + kFirstSecond) +
         test_offset.load(std::memory_order_relaxed);
}

int64_t WallSeconds() {
  return ReadClock(CLOCK_REALTIME) + test_offset.load(std::memory_order_relaxed);
}

int64_t ProcessStartWallSeconds() { return Start().wall; }

void AdvanceClockForTesting(uint32_t seconds) {
  test_offset.fetch_add(seconds, std::memory_order_relaxed);
}

void ResetClockForTesting() { test_offset.store(0, std::memory_order_relaxed); }

}  // namespace mnemo
