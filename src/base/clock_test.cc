#include "base/clock.h"

#include <gtest/gtest.h>

namespace mnemo {
namespace {

TEST(ClockTest, MonotonicStartsAboveNeverAndAdvances) {
  const uint32_t before = MonotonicSeconds();
  EXPECT_GE(before, kFirstSecond);
  AdvanceClockForTesting(10);
  EXPECT_GE(MonotonicSeconds(), before + 10);
}

TEST(ClockTest, ResetUndoesEveryAdvance) {
  const uint32_t monotonic = MonotonicSeconds();
  const int64_t wall = WallSeconds();
  AdvanceClockForTesting(1000);
  AdvanceClockForTesting(1000);
  ResetClockForTesting();
  // Within a second or two of the real clocks again, not 2000 s ahead.
  EXPECT_LT(MonotonicSeconds(), monotonic + 100);
  EXPECT_LT(WallSeconds(), wall + 100);
}

TEST(ClockTest, WallClockAgreesWithProcessStart) {
  EXPECT_GE(WallSeconds(), ProcessStartWallSeconds());
}

}  // namespace
}  // namespace mnemo
