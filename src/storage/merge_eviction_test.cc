// Merge eviction on its own: the MergeEvictor over a real SegmentPool and TtlBuckets, and a fake
// SegmentReclaimer that holds each segment's items as a list and does what eviction.h promises
// (copy an item whose counter is above the threshold and that fits, resetting its counter as the
// cache resets the hash slot's; drop the rest). It shows which items survive a merge, how the
// destination's budget is shared between sources, the order in which sources are taken, and what
// happens to the destination when it fills or holds nothing valid. eviction_test.cc shows the
// same policy through the whole cache.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "storage/eviction.h"
#include "storage/segment_pool.h"
#include "storage/ttl_buckets.h"

namespace mnemo::storage {
namespace {

constexpr size_t kSegment = 4096;
constexpr size_t kSegments = 16;

struct FakeItem {
  uint64_t id = 0;  // stands for the key (LiveItem::hash)
  uint32_t size = 0;
  uint32_t counter = 0;
};

class FakeReclaimer final : public SegmentReclaimer {
 public:
  FakeReclaimer(SegmentPool& pool, TtlBuckets& buckets) : pool_(pool), buckets_(buckets) {}

  // Seals a new segment of bucket `bucket` holding `items`, created at `created`.
  uint32_t Seal(std::vector<FakeItem> items, uint16_t bucket = 1, uint32_t created = 0,
                bool chain_head = false) {
    const uint32_t id = pool_.Allocate(SegmentState::kOpen);
    EXPECT_NE(id, kNoSegment);
    SegmentInfo& info = pool_.Info(id);
    uint32_t bytes = 0;
    for (const FakeItem& item : items) bytes += item.size;
    info.write_offset.store(bytes);
    info.live_items.store(static_cast<uint32_t>(items.size()));
    info.create_time.store(created == 0 ? ++clock_ : created);
    info.ttl_bucket = bucket;
    info.chain_head = chain_head;
    items_[id] = std::move(items);
    buckets_.Append(id);
    return id;
  }

  // The ids of the items segment `id` holds, in order.
  std::vector<uint64_t> Holds(uint32_t id) const {
    std::vector<uint64_t> ids;
    const auto it = items_.find(id);
    if (it != items_.end()) {
      for (const FakeItem& item : it->second) ids.push_back(item.id);
    }
    return ids;
  }
  // Marks an item as read (its counter goes up), wherever it is.
  void Read(uint64_t item_id) {
    for (auto& [segment, items] : items_) {
      for (FakeItem& item : items) {
        if (item.id == item_id) ++item.counter;
      }
    }
  }

  void DropSegment(uint32_t id) override {
    dropped_segments.push_back(id);
    UnlinkAll(id);
    pool_.Free(id);
  }
  void UnlinkAll(uint32_t id) override {
    unlinked_all.push_back(id);
    for (const FakeItem& item : items_[id]) dropped.push_back(item.id);
    items_[id].clear();
    pool_.Info(id).live_items.store(0);
  }
  void CollectLive(uint32_t id, std::vector<LiveItem>* items) override {
    collected.push_back(id);
    uint32_t offset = 0;
    for (const FakeItem& item : items_[id]) {
      items->push_back(LiveItem{offset, item.size, item.counter, item.id});
      offset += item.size;
    }
  }
  bool KeepOrDrop(uint32_t from, const LiveItem& live, uint32_t threshold, uint32_t dest) override {
    thresholds.push_back(threshold);
    std::vector<FakeItem>& source = items_[from];
    const auto it = std::find_if(source.begin(), source.end(),
                                 [&](const FakeItem& item) { return item.id == live.hash; });
    EXPECT_NE(it, source.end()) << "an item the segment does not hold";
    if (it == source.end()) return false;
    const FakeItem item = *it;
    source.erase(it);
    pool_.Info(from).live_items.fetch_sub(1);
    const bool keep = dest != kNoSegment && live.counter > threshold &&
                      pool_.Info(dest).write_offset.load() + item.size <= kSegment;
    if (!keep) {
      dropped.push_back(item.id);
      return false;
    }
    items_[dest].push_back(FakeItem{item.id, item.size, /*counter=*/0});
    pool_.Info(dest).write_offset.fetch_add(item.size);
    pool_.Info(dest).live_items.fetch_add(1);
    return true;
  }
  void OpenMergeDestination(uint32_t dest, uint16_t bucket) override {
    opened.push_back(dest);
    outdated.erase(dest);  // opened in the current flush generation
    EXPECT_TRUE(items_[dest].empty()) << "a destination opened with items in it";
    SegmentInfo& info = pool_.Info(dest);
    info.write_offset.store(0);
    info.live_items.store(0);
    info.create_time.store(++clock_);
    info.ttl_bucket = bucket;
    info.state.store(SegmentState::kOpen);
  }
  bool Outdated(uint32_t id) const override { return outdated.contains(id); }
  bool Expired(uint32_t) const override { return false; }
  ReclaimCounters& counters() override { return counters_; }

  // What the evictor asked for, in order.
  std::vector<uint32_t> collected;
  std::vector<uint32_t> opened;
  std::vector<uint32_t> dropped_segments;
  std::vector<uint32_t> unlinked_all;
  std::vector<uint32_t> thresholds;
  std::vector<uint64_t> dropped;  // item ids
  std::set<uint32_t> outdated;

 private:
  SegmentPool& pool_;
  TtlBuckets& buckets_;
  std::map<uint32_t, std::vector<FakeItem>> items_;
  uint32_t clock_ = 100;
  ReclaimCounters counters_;
};

class MergeEvictionTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(pool_.Init().ok()); }

  // `run_length` sources share a destination: each may fill kSegment / run_length of it.
  void Build(size_t run_length) {
    evictor_ = NewMergeEvictor(&pool_, &buckets_, run_length);
    // The evictor took its first destination when built.
    ASSERT_EQ(pool_.in_use(), 1u);
    for (uint32_t id = 0; id < pool_.touched(); ++id) {
      if (pool_.Info(id).state.load() == SegmentState::kReserved) first_dest_ = id;
    }
  }

  // `count` items of `size` bytes with read counter `counter`, ids from `first`.
  static std::vector<FakeItem> Items(uint64_t first, int count, uint32_t size, uint32_t counter) {
    std::vector<FakeItem> items;
    for (int i = 0; i < count; ++i) items.push_back(FakeItem{first + i, size, counter});
    return items;
  }
  static std::vector<FakeItem> Join(std::vector<std::vector<FakeItem>> parts) {
    std::vector<FakeItem> all;
    for (auto& part : parts) all.insert(all.end(), part.begin(), part.end());
    return all;
  }

  SegmentPool pool_{kSegments * kSegment, kSegments* kSegment, kSegment};
  TtlBuckets buckets_{&pool_};
  FakeReclaimer reclaimer_{pool_, buckets_};
  std::unique_ptr<Evictor> evictor_;
  uint32_t first_dest_ = kNoSegment;
};

TEST_F(MergeEvictionTest, NothingSealedNothingEvicted) {
  Build(4);
  EXPECT_FALSE(evictor_->Evict(reclaimer_));
  EXPECT_TRUE(reclaimer_.collected.empty());
}

TEST_F(MergeEvictionTest, ReadItemsAreCopiedForwardInOrderAndUnreadOnesDropped) {
  Build(4);
  const uint32_t source = reclaimer_.Seal({{1, 100, 0}, {2, 100, 3}, {3, 100, 0}, {4, 100, 1}});
  ASSERT_TRUE(evictor_->Evict(reclaimer_));
  EXPECT_EQ(reclaimer_.collected, std::vector<uint32_t>{source});
  EXPECT_EQ(reclaimer_.opened, std::vector<uint32_t>{first_dest_});
  EXPECT_EQ(reclaimer_.Holds(first_dest_), (std::vector<uint64_t>{2, 4}));
  EXPECT_EQ(reclaimer_.dropped, (std::vector<uint64_t>{1, 3}));
  // All read items fit, so the threshold lets every one of them through and no unread one.
  EXPECT_EQ(reclaimer_.thresholds, std::vector<uint32_t>(4, 0));
  EXPECT_EQ(pool_.Info(source).state.load(), SegmentState::kFree) << "the source is freed";
  EXPECT_EQ(pool_.in_use(), 1u) << "only the destination is left";
  EXPECT_EQ(reclaimer_.counters().items_copied_forward, 2u);
  EXPECT_EQ(reclaimer_.counters().segment_evictions, 1u);
  EXPECT_EQ(reclaimer_.counters().segment_merges, 0u) << "the destination stays open";
}

TEST_F(MergeEvictionTest, WhenReadItemsDoNotFitTheMostReadOnesFillTheSourcesShare) {
  Build(4);  // a source may fill 1024 bytes of the destination
  reclaimer_.Seal(Join(
      {Items(10, 4, 128, 9), Items(20, 4, 128, 5), Items(30, 4, 128, 2), Items(40, 4, 128, 0)}));
  ASSERT_TRUE(evictor_->Evict(reclaimer_));
  // Counters above 2 make 1024 bytes, exactly the share; above 1 would make 1536.
  EXPECT_EQ(reclaimer_.thresholds, std::vector<uint32_t>(16, 2));
  EXPECT_EQ(reclaimer_.Holds(first_dest_), (std::vector<uint64_t>{10, 11, 12, 13, 20, 21, 22, 23}));
  EXPECT_EQ(pool_.Info(first_dest_).write_offset.load(), 1024u);
}

TEST_F(MergeEvictionTest, SourcesAreTakenOldestFirstAcrossBucketsAndInChainOrderWithinOne) {
  Build(8);
  const uint32_t a = reclaimer_.Seal(Items(1, 1, 64, 1), /*bucket=*/1, /*created=*/10);
  const uint32_t b = reclaimer_.Seal(Items(2, 1, 64, 1), 1, 11);
  const uint32_t c = reclaimer_.Seal(Items(3, 1, 64, 1), 1, 14);
  const uint32_t d = reclaimer_.Seal(Items(4, 1, 64, 1), 2, 5);
  const uint32_t e = reclaimer_.Seal(Items(5, 1, 64, 1), 2, 12);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(evictor_->Evict(reclaimer_));
  EXPECT_EQ(reclaimer_.collected, (std::vector<uint32_t>{d, a, b, e, c}));
  // One destination took them all, whatever their bucket.
  EXPECT_EQ(reclaimer_.Holds(first_dest_), (std::vector<uint64_t>{4, 1, 2, 5, 3}));
}

TEST_F(MergeEvictionTest, AFullDestinationIsSealedInPlaceAndTheHandComesBackToItLater) {
  Build(2);
  // Each source's read items fill a share: two sources fill a destination.
  const uint32_t s1 = reclaimer_.Seal(Items(100, 16, 128, 1));
  const uint32_t s2 = reclaimer_.Seal(Items(200, 16, 128, 1));
  const uint32_t s3 = reclaimer_.Seal(Items(300, 16, 128, 1));
  const uint32_t s4 = reclaimer_.Seal(Items(400, 16, 128, 0));
  ASSERT_TRUE(evictor_->Evict(reclaimer_));  // s1 into the destination
  ASSERT_TRUE(evictor_->Evict(reclaimer_));  // s2 fills it: sealed; s2 becomes the next, s3 freed
  EXPECT_EQ(reclaimer_.counters().segment_merges, 1u);
  EXPECT_EQ(pool_.Info(first_dest_).state.load(), SegmentState::kSealed);
  // s2, emptied, is opened to take s3's survivors.
  EXPECT_EQ(reclaimer_.opened, (std::vector<uint32_t>{first_dest_, s2, s2}));
  EXPECT_EQ(reclaimer_.collected, (std::vector<uint32_t>{s1, s2, s3}));
  ASSERT_EQ(reclaimer_.Holds(s2).size(), 16u) << "s3's survivors";
  EXPECT_EQ(pool_.Info(s1).state.load(), SegmentState::kFree);
  EXPECT_EQ(pool_.Info(s3).state.load(), SegmentState::kFree);
  // The hand goes on to s4 and to s5, sealed after the merge, then comes round to the merged
  // segment, where the items copied forward (their counters reset) and not read since are
  // dropped, and those read again stay.
  const uint32_t s5 = reclaimer_.Seal(Items(500, 16, 128, 0));
  reclaimer_.Read(100);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(evictor_->Evict(reclaimer_));
  EXPECT_EQ(reclaimer_.collected, (std::vector<uint32_t>{s1, s2, s3, s4, s5, first_dest_}));
  ASSERT_EQ(reclaimer_.Holds(s2).size(), 16u + 1u);
  EXPECT_EQ(reclaimer_.Holds(s2).back(), 100u);
  EXPECT_EQ(std::count(reclaimer_.dropped.begin(), reclaimer_.dropped.end(), 101u), 1);
}

TEST_F(MergeEvictionTest, ASegmentHoldingALargeItemIsDroppedWhole) {
  Build(4);
  const uint32_t large = reclaimer_.Seal(Items(1, 1, 4000, 5), 1, 0, /*chain_head=*/true);
  ASSERT_TRUE(evictor_->Evict(reclaimer_));
  EXPECT_EQ(reclaimer_.dropped_segments, std::vector<uint32_t>{large});
  EXPECT_TRUE(reclaimer_.collected.empty());
  EXPECT_EQ(reclaimer_.counters().segment_evictions, 1u);
}

TEST_F(MergeEvictionTest, ADestinationHoldingNothingValidIsEmptiedBeforeItTakesMore) {
  Build(4);
  reclaimer_.Seal(Items(1, 2, 100, 1));
  const uint32_t second = reclaimer_.Seal(Items(3, 2, 100, 1));
  const uint32_t third = reclaimer_.Seal(Items(5, 2, 100, 1));
  ASSERT_TRUE(evictor_->Evict(reclaimer_));
  ASSERT_EQ(reclaimer_.Holds(first_dest_), (std::vector<uint64_t>{1, 2}));
  // flush_all: what the destination holds is invalid. The next eviction empties it, opens it
  // afresh and copies the next source's survivors into it.
  reclaimer_.outdated.insert(first_dest_);
  ASSERT_TRUE(evictor_->Evict(reclaimer_));
  EXPECT_EQ(reclaimer_.collected.back(), second);
  EXPECT_EQ(reclaimer_.unlinked_all, std::vector<uint32_t>{first_dest_});
  EXPECT_EQ(reclaimer_.opened, (std::vector<uint32_t>{first_dest_, first_dest_}));
  EXPECT_EQ(reclaimer_.Holds(first_dest_), (std::vector<uint64_t>{3, 4}));
  // The background pass empties it too, but only when nothing in it is valid.
  evictor_->EmptyIfInvalid(reclaimer_);
  EXPECT_EQ(reclaimer_.unlinked_all.size(), 1u) << "its items are valid";
  reclaimer_.outdated.insert(first_dest_);
  evictor_->EmptyIfInvalid(reclaimer_);
  EXPECT_EQ(reclaimer_.unlinked_all, (std::vector<uint32_t>{first_dest_, first_dest_}));
  EXPECT_TRUE(reclaimer_.Holds(first_dest_).empty());
  ASSERT_TRUE(evictor_->Evict(reclaimer_));
  EXPECT_EQ(reclaimer_.collected.back(), third);
  EXPECT_EQ(reclaimer_.Holds(first_dest_), (std::vector<uint64_t>{5, 6}));
}

}  // namespace
}  // namespace mnemo::storage
