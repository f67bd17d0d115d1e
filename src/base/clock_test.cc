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

TEST(ClockTest, ResumeSecondKeepsTheSavedBase) {
  bool clamped = true;
  // Saved at second 100 of a process that started at wall second 1000 (so at wall 1098); the new
  // process starts 50 s later: it resumes at the second that wall 1148 stands for.
  EXPECT_EQ(ResumeSecond(1000, 100, 1148, &clamped), 150u);
  EXPECT_FALSE(clamped);
  // No down time at all.
  EXPECT_EQ(ResumeSecond(1000, 100, 1098, &clamped), 100u);
  EXPECT_FALSE(clamped);
  // A second behind: the two clocks' seconds tick at different moments, which says nothing of
  // the wall clock going back.
  EXPECT_EQ(ResumeSecond(1000, 100, 1097, &clamped), 100u);
  EXPECT_FALSE(clamped);
}

TEST(ClockTest, ResumeSecondClampsAWallClockThatWentBackwards) {
  bool clamped = false;
  // Saved at wall 1098; the wall clock now says 1090: no down time, never an earlier second.
  EXPECT_EQ(ResumeSecond(1000, 100, 1090, &clamped), 100u);
  EXPECT_TRUE(clamped);
  EXPECT_EQ(ResumeSecond(1000, 100, 0, &clamped), 100u);
  EXPECT_TRUE(clamped);
}

TEST(ClockTest, ResumeSecondFarForwardsDoesNotWrap) {
  bool clamped = true;
  const uint32_t second = ResumeSecond(1000, 100, int64_t{1} << 40, &clamped);
  EXPECT_FALSE(clamped);
  EXPECT_GE(second, uint32_t{INT32_MAX});
  EXPECT_LT(second, UINT32_MAX / 2 + 2);
}

TEST(ClockTest, ResumeClockResumesTheSavedSecondsAndBase) {
  const int64_t wall = WallSeconds();
  // A process that started an hour ago and saved at its second 3600: now is its second ~3602.
  const bool clamped = ResumeClock(wall - 3600, 3600);
  EXPECT_FALSE(clamped);
  EXPECT_GE(MonotonicSeconds(), 3600u + kFirstSecond - 1);
  EXPECT_LT(MonotonicSeconds(), 3600u + kFirstSecond + 3);
  EXPECT_EQ(ProcessStartWallSeconds(), wall - 3600);
  // A base in the future (the wall clock went back): the clock keeps its second.
  const uint32_t before = MonotonicSeconds();
  EXPECT_TRUE(ResumeClock(wall + 100000, before));
  EXPECT_GE(MonotonicSeconds(), before);
  EXPECT_LE(ProcessStartWallSeconds() + (MonotonicSeconds() - kFirstSecond), WallSeconds() + 1);
  ResetClockForTesting();
  EXPECT_LT(MonotonicSeconds(), 3600u);
}

}  // namespace
}  // namespace mnemo
