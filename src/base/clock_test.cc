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

TEST(ClockTest, WallClockAgreesWithProcessStart) {
  EXPECT_GE(WallSeconds(), ProcessStartWallSeconds());
}

}  // namespace
}  // namespace mnemo
