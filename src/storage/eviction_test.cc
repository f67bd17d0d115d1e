// Eviction and reclamation, through the cache: which items survive a merge, what FIFO drops, and
// what the background pass frees.
#include "storage/eviction.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/clock.h"
#include "storage/segment_cache.h"
#include "testing/storage/cache_calls.h"
#include "testing/storage/cache_test_util.h"

namespace mnemo::storage {
namespace {

constexpr size_t kSegment = size_t{64} << 10;

CacheOptions Options(EvictionPolicy policy) {
  CacheOptions options;
  options.memory_limit = 32 * kSegment;
  options.segment_size = kSegment;
  options.eviction = policy;
  options.background_thread = false;
  return options;
}

std::string Key(int i) { return "key:" + std::to_string(i); }

struct Survivors {
  int hot = 0;
  int cold = 0;
};

// Fills half the cache, reads every tenth key, then writes enough new keys to force eviction of
// the oldest segments, and counts which of the first keys are still there. Every item is stored
// with `exptime`.
Survivors HotAndColdAfterPressure(SegmentCache& cache, int* first_keys, Exptime exptime = 0) {
  auto ctx = cache.NewContext();
  const std::string value(64, 'v');
  const int per_segment = static_cast<int>(kSegment / (3 + 9 + value.size()));
  const int first = per_segment * 16;
  *first_keys = first;
  for (int i = 0; i < first; ++i) {
    EXPECT_EQ(Set(cache, *ctx, Key(i), value, exptime), StoreResult::kStored);
  }
  for (int i = 0; i < first; i += 10) EXPECT_EQ(ValueOf(cache, *ctx, Key(i)), value);
  for (int i = first; i < first + per_segment * 28; ++i) {
    EXPECT_EQ(Set(cache, *ctx, Key(i), value, exptime), StoreResult::kStored);
  }
  Survivors survivors;
  for (int i = 0; i < first; ++i) {
    CapturedItem item;
    if (cache_calls::Get(cache, *ctx, Key(i), item) == LookupResult::kHit) {
      ++(i % 10 == 0 ? survivors.hot : survivors.cold);
    }
  }
  return survivors;
}

TEST(EvictionTest, MergeKeepsItemsThatWereReadAndDropsTheRest) {
  SegmentCache cache(Options(EvictionPolicy::kMerge));
  ASSERT_TRUE(cache.Init().ok());
  int first = 0;
  const Survivors survivors = HotAndColdAfterPressure(cache, &first);
  EXPECT_EQ(survivors.hot, (first + 9) / 10) << "every item read since written survives";
  EXPECT_LT(survivors.cold, first * 9 / 10 / 2) << "most unread old items are gone";
  const CacheStats stats = cache.Stats();
  EXPECT_GT(stats.segment_merges, 0u);
  EXPECT_GE(stats.items_copied_forward, static_cast<uint64_t>(survivors.hot) / 2);
  EXPECT_GT(stats.evictions, 0u);
  EXPECT_EQ(stats.evicted_unfetched, stats.evictions) << "only unread items were evicted";
  EXPECT_LE(stats.bytes, stats.limit_maxbytes);
}

// A client that read an item's CAS can still use it after merge eviction copied the item forward.
TEST(EvictionTest, ItemsCopiedForwardKeepTheirCas) {
  SegmentCache cache(Options(EvictionPolicy::kMerge));
  ASSERT_TRUE(cache.Init().ok());
  auto ctx = cache.NewContext();
  const std::string value(64, 'v');
  const int per_segment = static_cast<int>(kSegment / (3 + 9 + value.size()));
  const int first = per_segment * 16;
  for (int i = 0; i < first; ++i) ASSERT_EQ(Set(cache, *ctx, Key(i), value), StoreResult::kStored);
  std::vector<uint64_t> cas(first);
  for (int i = 0; i < first; i += 10) {
    CapturedItem item;
    ASSERT_EQ(cache_calls::Get(cache, *ctx, Key(i), item), LookupResult::kHit);
    cas[i] = item.cas;
  }
  for (int i = first; i < first + per_segment * 28; ++i) {
    ASSERT_EQ(Set(cache, *ctx, Key(i), value), StoreResult::kStored);
  }
  ASSERT_GT(cache.Stats().items_copied_forward, 0u);
  int kept = 0;
  for (int i = 0; i < first; i += 10) {
    CapturedItem item;
    if (cache_calls::Get(cache, *ctx, Key(i), item) != LookupResult::kHit) continue;
    ++kept;
    EXPECT_EQ(item.cas, cas[i]) << Key(i);
    EXPECT_EQ(
        cache_calls::Store(cache, *ctx, StoreMode::kCas, Key(i), 0, 0, "new", cas[i], nullptr),
        StoreResult::kStored)
        << Key(i);
  }
  EXPECT_EQ(kept, (first + 9) / 10);
}

// The merge destination stays open between evictions; after a flush_all the background pass
// empties it, so that the items copied into it leave the stats although nothing evicts any more.
TEST(EvictionTest, BackgroundPassEmptiesTheMergeDestinationAfterAFlush) {
  SegmentCache cache(Options(EvictionPolicy::kMerge));
  ASSERT_TRUE(cache.Init().ok());
  int first = 0;
  HotAndColdAfterPressure(cache, &first);
  ASSERT_GT(cache.Stats().items_copied_forward, 0u);
  cache.FlushAll({});
  cache.RunBackgroundPass();
  cache.RunBackgroundPass();
  const CacheStats stats = cache.Stats();
  EXPECT_EQ(stats.curr_items, 0u);
  EXPECT_EQ(stats.bytes, 0u);
  // And merging goes on as before: every item read since written survives the next pressure.
  EXPECT_EQ(HotAndColdAfterPressure(cache, &first).hot, (first + 9) / 10);
}

// The same once everything the destination holds has expired.
TEST(EvictionTest, BackgroundPassEmptiesAnExpiredMergeDestination) {
  SegmentCache cache(Options(EvictionPolicy::kMerge));
  ASSERT_TRUE(cache.Init().ok());
  int first = 0;
  HotAndColdAfterPressure(cache, &first, 30);
  ASSERT_GT(cache.Stats().items_copied_forward, 0u);
  AdvanceClockForTesting(31);
  cache.RunBackgroundPass();
  cache.RunBackgroundPass();
  const CacheStats stats = cache.Stats();
  EXPECT_EQ(stats.curr_items, 0u);
  EXPECT_EQ(stats.bytes, 0u);
}

TEST(EvictionTest, FifoDropsTheOldestSegmentsWhole) {
  SegmentCache cache(Options(EvictionPolicy::kFifo));
  ASSERT_TRUE(cache.Init().ok());
  int first = 0;
  const Survivors survivors = HotAndColdAfterPressure(cache, &first);
  EXPECT_LT(survivors.hot, (first + 9) / 10) << "FIFO ignores reads";
  const CacheStats stats = cache.Stats();
  EXPECT_EQ(stats.segment_merges, 0u);
  EXPECT_EQ(stats.items_copied_forward, 0u);
  EXPECT_GT(stats.segment_evictions, 0u);
  EXPECT_LT(stats.evicted_unfetched, stats.evictions);
}

TEST(EvictionTest, BackgroundPassFreesExpiredSegmentsWithoutTouchingOthers) {
  SegmentCache cache(Options(EvictionPolicy::kMerge));
  ASSERT_TRUE(cache.Init().ok());
  const std::string value(100, 'v');
  int short_lived = 0;
  {
    auto ctx = cache.NewContext();
    for (int i = 0; i < 2000; ++i) {
      const bool expires = i % 2 == 0;
      short_lived += expires;
      ASSERT_EQ(Set(cache, *ctx, Key(i), value, expires ? 30 : 0), StoreResult::kStored);
    }
  }  // destroying the context seals its open segments
  const CacheStats before = cache.Stats();
  cache.RunBackgroundPass();
  EXPECT_EQ(cache.Stats().segments_expired, 0u);
  AdvanceClockForTesting(31);
  cache.RunBackgroundPass();
  const CacheStats after = cache.Stats();
  EXPECT_GT(after.segments_expired, 0u);
  EXPECT_EQ(after.reclaimed, static_cast<uint64_t>(short_lived));
  EXPECT_EQ(after.expired_unfetched, static_cast<uint64_t>(short_lived));
  EXPECT_EQ(after.evictions, 0u);
  EXPECT_EQ(after.curr_items, before.curr_items - short_lived);
  EXPECT_LT(after.segments_in_use, before.segments_in_use);
  auto ctx = cache.NewContext();
  for (int i = 1; i < 2000; i += 2) ASSERT_EQ(ValueOf(cache, *ctx, Key(i)), value);
}

TEST(EvictionTest, BackgroundPassFreesFlushedAndEmptySegments) {
  SegmentCache cache(Options(EvictionPolicy::kMerge));
  ASSERT_TRUE(cache.Init().ok());
  const uint64_t empty_in_use = cache.Stats().segments_in_use;  // the merge destination
  const std::string value(100, 'v');
  {
    auto ctx = cache.NewContext();
    for (int i = 0; i < 2000; ++i) ASSERT_EQ(Set(cache, *ctx, Key(i), value), StoreResult::kStored);
    for (int i = 0; i < 1000; ++i)
      ASSERT_EQ(cache_calls::Delete(cache, *ctx, Key(i), 0), DeleteResult::kDeleted);
  }
  cache.RunBackgroundPass();
  CacheStats stats = cache.Stats();
  EXPECT_EQ(stats.curr_items, 1000u);
  EXPECT_EQ(stats.reclaimed, 0u);
  const uint64_t in_use = stats.segments_in_use;
  cache.FlushAll({});
  cache.RunBackgroundPass();
  stats = cache.Stats();
  EXPECT_EQ(stats.curr_items, 0u);
  EXPECT_EQ(stats.bytes, 0u);
  EXPECT_EQ(stats.reclaimed, 1000u);
  EXPECT_EQ(stats.segments_in_use, empty_in_use);
  EXPECT_GT(in_use, empty_in_use);
}

// A Tick hands over the open segments that hold nothing valid, so that what a flush or expiry left
// in them is reclaimed though their context writes no more.
TEST(EvictionTest, TicksHandOverOpenSegmentsThatHoldNothingValid) {
  SegmentCache cache(Options(EvictionPolicy::kMerge));
  ASSERT_TRUE(cache.Init().ok());
  auto ctx = cache.NewContext();
  const std::string value(100, 'v');
  for (int i = 0; i < 100; ++i) ASSERT_EQ(Set(cache, *ctx, Key(i), value), StoreResult::kStored);
  for (int i = 100; i < 200; ++i)
    ASSERT_EQ(Set(cache, *ctx, Key(i), value, 5), StoreResult::kStored);
  cache.RunBackgroundPass();
  EXPECT_EQ(cache.Stats().curr_items, 200u) << "an open segment is not reclaimed";
  AdvanceClockForTesting(6);
  cache.Tick(*ctx);  // the segment of the 5-second items: every item expired
  cache.RunBackgroundPass();
  EXPECT_EQ(cache.Stats().curr_items, 100u);
  cache.FlushAll({});
  cache.Tick(*ctx);  // the other: flushed
  cache.RunBackgroundPass();
  const CacheStats stats = cache.Stats();
  EXPECT_EQ(stats.curr_items, 0u);
  EXPECT_EQ(stats.bytes, 0u);
  EXPECT_EQ(stats.reclaimed, 200u);
  ASSERT_EQ(Set(cache, *ctx, Key(0), value), StoreResult::kStored);
  EXPECT_EQ(ValueOf(cache, *ctx, Key(0)), value);
}

// A segment with a live item stays open across ticks: a context that writes one item per tick
// fills its segments as one that writes fast would, and the cache holds what -m allows.
TEST(EvictionTest, TicksLeaveOpenSegmentsWithLiveItems) {
  SegmentCache cache(Options(EvictionPolicy::kFifo));
  ASSERT_TRUE(cache.Init().ok());
  auto ctx = cache.NewContext();
  const std::string value(100, 'v');
  const int items = 2000;  // about 7 segments' worth, in a pool of 32
  for (int i = 0; i < items; ++i) {
    ASSERT_EQ(Set(cache, *ctx, Key(i), value), StoreResult::kStored);
    cache.Tick(*ctx);
    cache.Tick(*ctx);
  }
  const CacheStats stats = cache.Stats();
  EXPECT_EQ(stats.evictions, 0u);
  EXPECT_EQ(stats.curr_items, static_cast<uint64_t>(items));
}

TEST(EvictionTest, ExpiredItemsAreReclaimedBeforeLiveOnesAreEvicted) {
  for (EvictionPolicy policy : {EvictionPolicy::kFifo, EvictionPolicy::kMerge}) {
    SegmentCache cache(Options(policy));
    ASSERT_TRUE(cache.Init().ok());
    auto ctx = cache.NewContext();
    const std::string value(200, 'v');
    int i = 0;
    while (cache.Stats().segments_in_use < 24) {
      ASSERT_EQ(Set(cache, *ctx, Key(i++), value, 5), StoreResult::kStored);
    }
    AdvanceClockForTesting(6);
    for (int j = 0; j < i; ++j) {
      ASSERT_EQ(Set(cache, *ctx, "new" + std::to_string(j), value), StoreResult::kStored);
    }
    const CacheStats stats = cache.Stats();
    EXPECT_EQ(stats.evictions, 0u);
    EXPECT_GT(stats.reclaimed, 0u);
    EXPECT_GT(stats.segments_expired, 0u);
  }
}

// A few keys written once sit in the oldest segment, then a few others are overwritten many times:
// every segment behind the first holds nothing live, and those must be freed before anything live
// is evicted, though no bucket starts with a dead segment. Large values too, whose chains are
// freed with their heads.
TEST(EvictionTest, DeadSegmentsAreFreedBeforeLiveItemsAreEvicted) {
  for (EvictionPolicy policy : {EvictionPolicy::kFifo, EvictionPolicy::kMerge}) {
    for (size_t value_size : {size_t{1000}, size_t{3} * kSegment / 2}) {
      CacheOptions options = Options(policy);
      options.item_size_max = 2 * kSegment;
      SegmentCache cache(options);
      ASSERT_TRUE(cache.Init().ok());
      auto ctx = cache.NewContext();
      const std::string fixed(100, 'f');
      for (int i = 0; i < 4; ++i) ASSERT_EQ(Set(cache, *ctx, Key(i), fixed), StoreResult::kStored);
      std::string value(value_size, 'v');
      std::string small(1000, 's');
      for (int round = 0; round < 2000; ++round) {
        value[0] = small[0] = static_cast<char>('a' + round % 26);
        for (int i = 4; i < 8; ++i)
          ASSERT_EQ(Set(cache, *ctx, Key(i), value), StoreResult::kStored);
        ASSERT_EQ(Set(cache, *ctx, Key(8), small), StoreResult::kStored);
      }
      EXPECT_EQ(cache.Stats().evictions, 0u) << "value size " << value_size;
      for (int i = 0; i < 4; ++i) EXPECT_EQ(ValueOf(cache, *ctx, Key(i)), fixed);
      for (int i = 4; i < 8; ++i) EXPECT_EQ(ValueOf(cache, *ctx, Key(i)), value);
      EXPECT_EQ(ValueOf(cache, *ctx, Key(8)), small);
    }
  }
}

}  // namespace
}  // namespace mnemo::storage
