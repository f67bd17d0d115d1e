#include "storage/item_walk.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <string>
#include <thread>

#include "base/clock.h"
#include "storage/segment_cache.h"
#include "testing/storage/cache_calls.h"
#include "testing/storage/cache_test_util.h"

namespace mnemo::storage {
namespace {

CacheOptions Options() {
  CacheOptions options;
  options.memory_limit = size_t{64} << 20;
  options.background_thread = false;
  options.hash_power_initial = 10;  // the fewest buckets, so that the table splits while walked
  return options;
}

// Walks the whole cache in steps of `step_items`, counting each key seen.
std::map<std::string, int> WalkAll(Cache& cache, size_t step_items,
                                   std::map<std::string, WalkedItem>* items = nullptr) {
  std::map<std::string, int> seen;
  WalkCursor cursor;
  WalkBatch batch;
  while (!cursor.done) {
    cache.Walk(&cursor, step_items, &batch);
    EXPECT_LE(batch.items().size(), step_items + 64);  // a bucket's chain more at most
    for (const WalkedItem& item : batch.items()) {
      const std::string key(batch.key(item));
      ++seen[key];
      if (items != nullptr) (*items)[key] = item;
    }
  }
  return seen;
}

TEST(ItemWalkTest, EmptyCacheEnds) {
  auto cache = CreateCacheOrDie(Options());
  EXPECT_TRUE(WalkAll(*cache, 16).empty());
}

TEST(ItemWalkTest, SeesEveryItemOnceWithItsMetadata) {
  auto cache = CreateCacheOrDie(Options());
  auto ctx = cache->NewContext();
  for (int i = 0; i < 20000; ++i) {
    ASSERT_EQ(Set(*cache, *ctx, "key" + std::to_string(i), std::string(i % 100, 'v'), 0, i),
              StoreResult::kStored);
  }
  uint64_t cas = 0;
  ASSERT_EQ(cache_calls::Store(*cache, *ctx, StoreMode::kSet, "timed", 7, 1000, "abc", 0, &cas),
            StoreResult::kStored);
  CapturedItem read;
  ASSERT_EQ(cache_calls::Get(*cache, *ctx, "key5", read), LookupResult::kHit);

  for (size_t step : {1, 7, 100, 100000}) {
    std::map<std::string, WalkedItem> items;
    const auto seen = WalkAll(*cache, step, &items);
    ASSERT_EQ(seen.size(), 20001u) << step;
    for (const auto& [key, count] : seen) ASSERT_EQ(count, 1) << key;
    const WalkedItem& timed = items["timed"];
    EXPECT_EQ(timed.flags, 7u);
    EXPECT_EQ(timed.cas, cas);
    EXPECT_EQ(timed.value_size, 3u);
    EXPECT_NEAR(static_cast<double>(timed.expires_at), static_cast<double>(WallSeconds() + 1000),
                2);
    EXPECT_NEAR(static_cast<double>(timed.last_access), static_cast<double>(WallSeconds()), 2);
    EXPECT_FALSE(timed.fetched);
    EXPECT_TRUE(items["key5"].fetched);
    EXPECT_EQ(items["key5"].expires_at, 0);
    EXPECT_EQ(items["key99"].value_size, 99u);
    EXPECT_GT(items["key99"].stored_bytes, 99u + 5u);
  }
}

TEST(ItemWalkTest, SkipsDeletedExpiredAndFlushedItems) {
  auto cache = CreateCacheOrDie(Options());
  auto ctx = cache->NewContext();
  ASSERT_EQ(Set(*cache, *ctx, "kept", "v"), StoreResult::kStored);
  ASSERT_EQ(Set(*cache, *ctx, "deleted", "v"), StoreResult::kStored);
  ASSERT_EQ(Set(*cache, *ctx, "expiring", "v", 5), StoreResult::kStored);
  ASSERT_EQ(cache_calls::Delete(*cache, *ctx, "deleted"), DeleteResult::kDeleted);
  AdvanceClockForTesting(6);
  EXPECT_EQ(WalkAll(*cache, 4), (std::map<std::string, int>{{"kept", 1}}));
  cache->FlushAll(FlushRequest{});
  EXPECT_TRUE(WalkAll(*cache, 4).empty());
}

// Items present for the whole walk are seen exactly once while other threads add and remove
// items, making the table split under the walk.
TEST(ItemWalkTest, SeesStableItemsOnceDuringConcurrentWritesAndSplits) {
  auto cache = CreateCacheOrDie(Options());
  auto ctx = cache->NewContext();
  constexpr int kStable = 5000;
  for (int i = 0; i < kStable; ++i) {
    ASSERT_EQ(Set(*cache, *ctx, "stable" + std::to_string(i), "v"), StoreResult::kStored);
  }
  std::atomic<bool> stop{false};
  std::atomic<int> written{0};
  std::thread writer([&] {
    auto wctx = cache->NewContext();
    // Up to 60000 more keys: the table (1024 buckets to start with) splits several levels.
    for (int i = 0; !stop.load(); written.store(++i)) {
      (void)Set(*cache, *wctx, "churn" + std::to_string(i % 60000), "v");
      if (i % 3 == 0)
        (void)cache_calls::Delete(*cache, *wctx, "churn" + std::to_string(i / 2 % 60000));
    }
  });
  // Walks until the writer has been through its keys twice, and at least five times.
  for (int round = 0; round < 5 || written.load() < 120000; ++round) {
    std::map<std::string, int> seen;
    WalkCursor cursor;
    WalkBatch batch;
    while (!cursor.done) {
      cache->Walk(&cursor, 5, &batch);
      for (const WalkedItem& item : batch.items()) {
        const std::string_view key = batch.key(item);
        if (key.starts_with("stable")) ++seen[std::string(key)];
      }
    }
    ASSERT_EQ(seen.size(), size_t{kStable});
    for (const auto& [key, count] : seen) ASSERT_EQ(count, 1) << key;
  }
  stop = true;
  writer.join();
}

}  // namespace
}  // namespace mnemo::storage
