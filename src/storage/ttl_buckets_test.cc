#include "storage/ttl_buckets.h"

#include <gtest/gtest.h>

#include <vector>

#include "storage/expiry.h"

namespace mnemo::storage {
namespace {

constexpr size_t kSegment = size_t{64} << 10;

TEST(TtlBucketsTest, BucketsWidenWithTheTtl) {
  constexpr uint32_t kNow = 100;
  EXPECT_EQ(TtlBuckets::BucketFor(kNeverExpires, kNow), 0);
  EXPECT_EQ(TtlBuckets::BucketFor(kNow + 1, kNow), 1);
  EXPECT_EQ(TtlBuckets::BucketFor(kNow + 7, kNow), 1);
  EXPECT_EQ(TtlBuckets::BucketFor(kNow + 8, kNow), 2);
  EXPECT_EQ(TtlBuckets::BucketFor(kNow + 2047, kNow), 256);
  EXPECT_EQ(TtlBuckets::BucketFor(kNow + 2048, kNow), 257);
  EXPECT_EQ(TtlBuckets::BucketFor(kNow + 2048 + 127, kNow), 257);
  EXPECT_EQ(TtlBuckets::BucketFor(kNow + 2048 + 128, kNow), 258);
  EXPECT_EQ(TtlBuckets::BucketFor(UINT32_MAX, kNow), TtlBuckets::kCount - 1);
  uint16_t previous = 0;
  for (uint32_t ttl = 1; ttl < 10'000'000; ttl += 997) {
    const uint16_t bucket = TtlBuckets::BucketFor(kNow + ttl, kNow);
    EXPECT_GE(bucket, previous);
    EXPECT_LT(bucket, TtlBuckets::kCount);
    previous = bucket;
  }
}

class TtlBucketsChainTest : public ::testing::Test {
 protected:
  TtlBucketsChainTest() : pool_(64 * kSegment, 64 * kSegment, kSegment), buckets_(&pool_) {}
  void SetUp() override { ASSERT_TRUE(pool_.Init().ok()); }

  uint32_t Seal(uint16_t bucket, uint32_t create_time, bool chain_head = false) {
    const uint32_t id = pool_.Allocate(SegmentState::kOpen);
    pool_.Info(id).ttl_bucket = bucket;
    pool_.Info(id).create_time.store(create_time, std::memory_order_relaxed);
    pool_.Info(id).chain_head = chain_head;
    pool_.Info(id).live_items.store(1);
    buckets_.Append(id);
    return id;
  }

  SegmentPool pool_;
  TtlBuckets buckets_;
};

TEST_F(TtlBucketsChainTest, OldestAcrossBucketsFirst) {
  const uint32_t a = Seal(0, 10);
  const uint32_t b = Seal(5, 5);
  const uint32_t c = Seal(0, 20);
  EXPECT_EQ(buckets_.sealed(), 3u);
  EXPECT_EQ(pool_.Info(a).state.load(), SegmentState::kSealed);
  EXPECT_EQ(buckets_.DetachOldest(), b);
  EXPECT_EQ(pool_.Info(b).state.load(), SegmentState::kReclaiming);
  EXPECT_FALSE(buckets_.Detach(b));
  EXPECT_TRUE(buckets_.Detach(c));
  EXPECT_EQ(buckets_.DetachOldest(), a);
  EXPECT_EQ(buckets_.DetachOldest(), kNoSegment);
  EXPECT_EQ(buckets_.sealed(), 0u);
}

TEST_F(TtlBucketsChainTest, MergesWalkTheChainLikeAClockHand) {
  std::vector<uint32_t> ids;
  for (uint32_t t = 0; t < 6; ++t) ids.push_back(Seal(0, t));
  EXPECT_EQ(buckets_.DetachNextToMerge(), ids[0]);
  EXPECT_EQ(buckets_.DetachNextToMerge(), ids[1]);
  // A merged segment takes its sources' place, before the cursor.
  const uint32_t merged = pool_.Allocate(SegmentState::kOpen);
  pool_.Info(merged).create_time.store(100, std::memory_order_relaxed);
  buckets_.InsertMerged(merged);
  EXPECT_EQ(buckets_.DetachNextToMerge(), ids[2]);
  for (size_t i = 3; i < ids.size(); ++i) EXPECT_EQ(buckets_.DetachNextToMerge(), ids[i]);
  // Past the end, the hand starts again from the oldest: the merged segment.
  const uint32_t newest = Seal(0, 200);
  EXPECT_EQ(buckets_.DetachNextToMerge(), merged);
  EXPECT_EQ(buckets_.DetachNextToMerge(), newest);
  EXPECT_EQ(buckets_.DetachNextToMerge(), kNoSegment);
}

TEST_F(TtlBucketsChainTest, MergesStartInTheBucketWhoseNextSegmentIsOldest) {
  const uint32_t a = Seal(1, 10);
  const uint32_t b = Seal(2, 5);
  const uint32_t c = Seal(1, 20);
  EXPECT_EQ(buckets_.DetachNextToMerge(), b);
  EXPECT_EQ(buckets_.DetachNextToMerge(), a);
  EXPECT_EQ(buckets_.DetachNextToMerge(), c);
}

TEST_F(TtlBucketsChainTest, DeadHeadsAreFound) {
  const uint32_t live = Seal(3, 1);
  pool_.Info(live).max_expiry.store(500);
  const uint32_t expired = Seal(4, 1);
  pool_.Info(expired).max_expiry.store(100);
  EXPECT_EQ(buckets_.DetachDead(200, 0), expired);
  EXPECT_EQ(buckets_.DetachDead(200, 0), kNoSegment);
  pool_.Info(live).live_items.store(0);
  EXPECT_EQ(buckets_.DetachDead(200, 0), live);
}

}  // namespace
}  // namespace mnemo::storage
