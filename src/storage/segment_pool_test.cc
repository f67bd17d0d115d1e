#include "storage/segment_pool.h"

#include <gtest/gtest.h>

#include <set>

namespace mnemo::storage {
namespace {

constexpr size_t kSegment = size_t{64} << 10;

TEST(SegmentPoolTest, HandsOutUpToTheLimitAndReusesFreedSegments) {
  SegmentPool pool(8 * kSegment, 16 * kSegment, kSegment);
  ASSERT_TRUE(pool.Init().ok());
  EXPECT_EQ(pool.limit(), 8u);
  EXPECT_EQ(pool.max_segments(), 16u);
  std::set<uint32_t> ids;
  for (int i = 0; i < 8; ++i) {
    const uint32_t id = pool.Allocate(SegmentState::kOpen);
    ASSERT_NE(id, kNoSegment);
    EXPECT_EQ(pool.Info(id).state.load(), SegmentState::kOpen);
    EXPECT_TRUE(ids.insert(id).second);
    pool.Data(id)[kSegment - 1] = 'x';  // the whole segment is writable
  }
  EXPECT_EQ(pool.Allocate(SegmentState::kOpen), kNoSegment);
  EXPECT_EQ(pool.in_use(), 8u);
  EXPECT_EQ(pool.touched(), 8u);
  pool.Info(3).live_items.store(5);
  pool.Free(3);
  EXPECT_EQ(pool.free_count(), 1u);
  EXPECT_EQ(pool.Info(3).state.load(), SegmentState::kFree);
  EXPECT_EQ(pool.Info(3).live_items.load(), 0u);
  EXPECT_EQ(pool.Allocate(SegmentState::kChained), 3u);
  EXPECT_EQ(pool.free_count(), 0u);
  EXPECT_EQ(pool.Data(3)[kSegment - 1], 'x') << "reused, not returned to the OS";
}

TEST(SegmentPoolTest, FreeingAChainHeadFreesItsChain) {
  SegmentPool pool(8 * kSegment, 8 * kSegment, kSegment);
  ASSERT_TRUE(pool.Init().ok());
  const uint32_t head = pool.Allocate(SegmentState::kOpen);
  const uint32_t middle = pool.Allocate(SegmentState::kChained);
  const uint32_t tail = pool.Allocate(SegmentState::kChained);
  pool.Info(head).chain_next = middle;
  pool.Info(middle).chain_next = tail;
  pool.Free(head);
  EXPECT_EQ(pool.free_count(), 3u);
  EXPECT_EQ(pool.in_use(), 0u);
  for (const uint32_t id : {head, middle, tail}) {
    EXPECT_EQ(pool.Info(id).state.load(), SegmentState::kFree) << id;
    EXPECT_EQ(pool.Info(id).chain_next, kNoSegment) << id;
  }
}

TEST(SegmentPoolTest, AHeldSegmentIsFreedOnlyWhenItsLastReaderLetsGo) {
  SegmentPool pool(8 * kSegment, 8 * kSegment, kSegment);
  ASSERT_TRUE(pool.Init().ok());
  const uint32_t head = pool.Allocate(SegmentState::kOpen);
  const uint32_t next = pool.Allocate(SegmentState::kChained);
  pool.Info(head).chain_next = next;
  pool.Hold(head);
  pool.Hold(head);
  EXPECT_TRUE(pool.Held(head));
  pool.Free(head);
  // Neither the head nor its chain may be reused while a reader still sends from them, and the
  // descriptor keeps the chain a reader follows.
  EXPECT_EQ(pool.Info(head).state.load(), SegmentState::kDraining);
  EXPECT_EQ(pool.Info(head).chain_next, next);
  EXPECT_EQ(pool.free_count(), 0u);
  EXPECT_EQ(pool.in_use(), 2u);
  EXPECT_EQ(pool.draining(), 1);
  pool.Unhold(head);
  EXPECT_EQ(pool.free_count(), 0u);
  pool.Unhold(head);
  EXPECT_EQ(pool.free_count(), 2u);
  EXPECT_EQ(pool.in_use(), 0u);
  EXPECT_EQ(pool.draining(), 0);
  EXPECT_FALSE(pool.Held(head));
}

TEST(SegmentPoolTest, ReleasingAHoldOfALiveSegmentFreesNothing) {
  SegmentPool pool(8 * kSegment, 8 * kSegment, kSegment);
  ASSERT_TRUE(pool.Init().ok());
  const uint32_t id = pool.Allocate(SegmentState::kSealed);
  pool.Hold(id);
  pool.Unhold(id);
  EXPECT_EQ(pool.Info(id).state.load(), SegmentState::kSealed);
  EXPECT_EQ(pool.free_count(), 0u);
  EXPECT_EQ(pool.in_use(), 1u);
}

TEST(SegmentPoolTest, LimitMovesWithinTheReservation) {
  SegmentPool pool(4 * kSegment, 8 * kSegment, kSegment);
  ASSERT_TRUE(pool.Init().ok());
  EXPECT_FALSE(pool.SetLimit(kSegment - 1));
  EXPECT_FALSE(pool.SetLimit(9 * kSegment));
  for (int i = 0; i < 4; ++i) ASSERT_NE(pool.Allocate(SegmentState::kOpen), kNoSegment);
  ASSERT_TRUE(pool.SetLimit(2 * kSegment));
  EXPECT_EQ(pool.available(), 0u);
  pool.Free(0);
  pool.Free(1);
  EXPECT_EQ(pool.Allocate(SegmentState::kOpen), kNoSegment) << "still above the lower limit";
  ASSERT_TRUE(pool.SetLimit(8 * kSegment));
  EXPECT_EQ(pool.available(), 6u);
  for (int i = 0; i < 6; ++i) ASSERT_NE(pool.Allocate(SegmentState::kOpen), kNoSegment);
  EXPECT_EQ(pool.Allocate(SegmentState::kOpen), kNoSegment);
}

TEST(SegmentPoolTest, InitReportsAReservationTheAddressSpaceCannotHold) {
  // 2^24 segments of 16 MiB: 256 TiB, more than a 47-bit address space.
  constexpr size_t kLarge = size_t{16} << 20;
  SegmentPool pool(kLarge, size_t{1} << 48, kLarge);
  const Status status = pool.Init();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("cannot reserve 281474976710656 bytes"), std::string::npos)
      << status.message();
}

TEST(SegmentPoolTest, InitRefusesMoreSegmentsThanAnItemLocationCanName) {
  // 2^36 segments would wrap to 0 in 32 bits; a pool must not come up smaller than asked.
  SegmentPool pool(size_t{1} << 52, size_t{1} << 52, kSegment);
  const Status status = pool.Init();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("cannot address more than 16777216 segments"), std::string::npos)
      << status.message();
}

}  // namespace
}  // namespace mnemo::storage
