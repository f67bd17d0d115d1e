#include "replication/lease_fence.h"

#include <gtest/gtest.h>

namespace mnemo::replication {
namespace {

TEST(LeaseFenceTest, NoLineNoBound) {
  const LeaseFence fence;
  EXPECT_FALSE(fence.Expired(1'000'000));
}

TEST(LeaseFenceTest, RecordsReadWithinTheLeaseAreApplied) {
  LeaseFence fence;
  // The peer's clock is 5,000 ms behind this one; the line took 1 ms.
  fence.NoteLease(/*here_ms=*/10'001, /*peer_now_ms=*/5'000, /*peer_until_ms=*/5'800);
  EXPECT_FALSE(fence.Expired(10'001));
  EXPECT_FALSE(fence.Expired(10'801));
  EXPECT_TRUE(fence.Expired(10'802));
}

TEST(LeaseFenceTest, ALineWrittenBeforeAStallIsReadPastItsLease) {
  LeaseFence fence;
  for (int64_t i = 0; i < 10; ++i) fence.NoteLease(10'001 + i * 100, 5'000 + i * 100, 5'800);
  // Checked at 6,000 with its lease until 6,750, stopped 2 s before it wrote: read at 13,002.
  fence.NoteLease(/*here_ms=*/13'002, /*peer_now_ms=*/6'000, /*peer_until_ms=*/6'750);
  EXPECT_TRUE(fence.Expired(13'002));
}

TEST(LeaseFenceTest, UntilZeroSetsNoBound) {
  LeaseFence fence;
  fence.NoteLease(10'001, 5'000, 5'800);
  fence.NoteLease(20'000, 6'000, 0);
  EXPECT_FALSE(fence.Expired(1'000'000));
}

TEST(LeaseFenceTest, OnlyTheRecentLinesBoundTheOffset) {
  LeaseFence fence;
  fence.NoteLease(10'001, 5'000, 5'800);  // a 5,001 ms difference, then the clocks drift apart
  for (int64_t i = 1; i <= 40; ++i) fence.NoteLease(10'011 + i * 100, 5'000 + i * 100, 9'000);
  // The first line's difference is forgotten: the bound is 9,000 + 5,011, not 9,000 + 5,001.
  EXPECT_FALSE(fence.Expired(14'011));
  EXPECT_TRUE(fence.Expired(14'012));
}

}  // namespace
}  // namespace mnemo::replication
