#include "storage/cache.h"

#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>

#include "base/clock.h"
#include "storage/segment_cache.h"
#include "testing/storage/cache_calls.h"
#include "testing/storage/cache_test_util.h"

namespace mnemo::storage {
namespace {

CacheOptions SmallOptions() {
  CacheOptions options;
  options.memory_limit = size_t{4} << 20;
  options.segment_size = size_t{256} << 10;
  options.item_size_max = size_t{1} << 20;
  options.background_thread = false;
  return options;
}

class CacheTest : public ::testing::Test {
 protected:
  void Make(const CacheOptions& options) {
    ctx_.reset();
    cache_ = CreateCacheOrDie(options);
    ctx_ = cache_->NewContext();
  }
  void SetUp() override { Make(SmallOptions()); }

  StoreResult Store(StoreMode mode, std::string_view key, std::string_view value, uint64_t cas = 0,
                    uint64_t* new_cas = nullptr, Exptime exptime = 0) {
    return cache_calls::Store(*cache_, *ctx_, mode, key, 0, exptime, value, cas, new_cas);
  }
  std::string Value(std::string_view key) { return ValueOf(*cache_, *ctx_, key); }
  CapturedItem Item(std::string_view key) {
    CapturedItem item;
    EXPECT_EQ(cache_calls::Get(*cache_, *ctx_, key, item), LookupResult::kHit) << key;
    return item;
  }
  ArithResult Arith(std::string_view key, bool incr, uint64_t delta, uint64_t* result) {
    uint64_t cas = 0;
    return cache_calls::Arithmetic(*cache_, *ctx_, key, incr, delta, result, &cas);
  }

  std::unique_ptr<Cache> cache_;
  std::unique_ptr<Cache::Context> ctx_;
};

TEST(CacheCreateTest, ReportsMemoryItCannotHaveAndLeavesTheCacheAsItWas) {
  CacheOptions options = SmallOptions();
  options.memory_limit = size_t{1} << 50;  // 2^30 segments of 1 MiB: more than a location names
  options.segment_size = size_t{1} << 20;
  std::unique_ptr<Cache> cache;
  const Status status = Cache::Create(options, &cache);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("cannot address more than 16777216 segments"), std::string::npos)
      << status.message();
  EXPECT_EQ(cache, nullptr);
}

TEST_F(CacheTest, SetThenGetReturnsValueFlagsAndCas) {
  uint64_t cas = 0;
  ASSERT_EQ(cache_calls::Store(*cache_, *ctx_, StoreMode::kSet, "key", 42, 0, "value", 0, &cas),
            StoreResult::kStored);
  CapturedItem item = Item("key");
  EXPECT_EQ(item.key, "key");
  EXPECT_EQ(item.value, "value");
  EXPECT_EQ(item.flags, 42u);
  EXPECT_EQ(item.cas, cas);
  EXPECT_NE(cas, 0u);
  EXPECT_EQ(item.ttl, -1);
  EXPECT_FALSE(item.fetched);
  EXPECT_TRUE(Item("key").fetched);
  CapturedItem miss;
  EXPECT_EQ(cache_calls::Get(*cache_, *ctx_, "other", miss), LookupResult::kMiss);
  EXPECT_FALSE(miss.seen);
}

TEST_F(CacheTest, StoresEmptyBinaryAndMaximalKeys) {
  const std::string binary("a\r\nb\0c\xff", 7);
  const std::string long_key(kMaxKeySize, 'k');
  ASSERT_EQ(Store(StoreMode::kSet, "empty", ""), StoreResult::kStored);
  ASSERT_EQ(Store(StoreMode::kSet, "binary", binary), StoreResult::kStored);
  ASSERT_EQ(Store(StoreMode::kSet, long_key, "v"), StoreResult::kStored);
  EXPECT_EQ(Value("empty"), "");
  EXPECT_EQ(Value("binary"), binary);
  EXPECT_EQ(Value(long_key), "v");
  EXPECT_EQ(Store(StoreMode::kSet, std::string(kMaxKeySize + 1, 'k'), "v"),
            StoreResult::kNotStored);
}

TEST_F(CacheTest, AddAndReplaceDependOnPresence) {
  EXPECT_EQ(Store(StoreMode::kReplace, "k", "1"), StoreResult::kNotStored);
  EXPECT_EQ(Store(StoreMode::kAdd, "k", "1"), StoreResult::kStored);
  EXPECT_EQ(Store(StoreMode::kAdd, "k", "2"), StoreResult::kNotStored);
  EXPECT_EQ(Value("k"), "1");
  EXPECT_EQ(Store(StoreMode::kReplace, "k", "3"), StoreResult::kStored);
  EXPECT_EQ(Value("k"), "3");
  EXPECT_EQ(cache_->Stats().curr_items, 1u);
}

TEST_F(CacheTest, CasSucceedsAfterUnrelatedWritesAndFailsWhenStale) {
  uint64_t cas = 0;
  ASSERT_EQ(Store(StoreMode::kSet, "k", "v1", 0, &cas), StoreResult::kStored);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(Store(StoreMode::kSet, "other" + std::to_string(i), "x"), StoreResult::kStored);
  }
  EXPECT_EQ(Item("k").cas, cas);
  uint64_t cas2 = 0;
  EXPECT_EQ(Store(StoreMode::kCas, "k", "v2", cas, &cas2), StoreResult::kStored);
  EXPECT_NE(cas2, cas);
  EXPECT_EQ(Store(StoreMode::kCas, "k", "v3", cas), StoreResult::kExists);
  EXPECT_EQ(Value("k"), "v2");
  EXPECT_EQ(Store(StoreMode::kCas, "missing", "v", cas), StoreResult::kNotFound);
}

TEST_F(CacheTest, CasValuesAreUniqueAcrossKeysAndVersions) {
  std::set<uint64_t> seen;
  for (int i = 0; i < 20000; ++i) {
    uint64_t cas = 0;
    ASSERT_EQ(
        Store(StoreMode::kSet, "k" + std::to_string(i % 300), std::string(i % 50, 'v'), 0, &cas),
        StoreResult::kStored);
    EXPECT_TRUE(seen.insert(cas).second) << i;
  }
}

TEST_F(CacheTest, ACasTagSetsTheTopBitsSoAnotherNodesTokenNeverMatches) {
  // Two caches that stored the same keys in the same order derive the same CAS values but for
  // their tags: a token of one is EXISTS at the other.
  CacheOptions options = SmallOptions();
  options.cas_tag = 7;
  Make(options);
  uint64_t mine = 0;
  ASSERT_EQ(Store(StoreMode::kSet, "k", "v1", 0, &mine), StoreResult::kStored);
  EXPECT_EQ(mine >> kCasTagShift, 7u);
  const uint64_t other_nodes =
      (mine & ((uint64_t{1} << kCasTagShift) - 1)) | (uint64_t{8} << kCasTagShift);
  EXPECT_EQ(Store(StoreMode::kCas, "k", "stale", other_nodes), StoreResult::kExists);
  EXPECT_EQ(Value("k"), "v1");
  uint64_t next = 0;
  EXPECT_EQ(Store(StoreMode::kCas, "k", "v2", mine, &next), StoreResult::kStored);
  EXPECT_EQ(next >> kCasTagShift, 7u);
  EXPECT_GT(next, mine);
}

TEST_F(CacheTest, WithoutCasEveryCasIsZeroAndCasCommandsFail) {
  CacheOptions options = SmallOptions();
  options.use_cas = false;
  Make(options);
  uint64_t cas = 7;
  ASSERT_EQ(Store(StoreMode::kSet, "k", "v", 0, &cas), StoreResult::kStored);
  EXPECT_EQ(cas, 0u);
  EXPECT_EQ(Item("k").cas, 0u);
  // memcached -C answers EXISTS to cas on a present key, whatever the token.
  EXPECT_EQ(Store(StoreMode::kCas, "k", "w", 0), StoreResult::kExists);
  EXPECT_EQ(Store(StoreMode::kCas, "k", "w", 1), StoreResult::kExists);
  EXPECT_EQ(Store(StoreMode::kCas, "none", "w", 1), StoreResult::kNotFound);
  EXPECT_EQ(Value("k"), "v");
}

TEST_F(CacheTest, AppendAndPrependKeepFlagsAndNeedTheKey) {
  EXPECT_EQ(Store(StoreMode::kAppend, "k", "x"), StoreResult::kNotStored);
  ASSERT_EQ(cache_calls::Store(*cache_, *ctx_, StoreMode::kSet, "k", 5, 0, "mid", 0, nullptr),
            StoreResult::kStored);
  EXPECT_EQ(Store(StoreMode::kAppend, "k", "-end"), StoreResult::kStored);
  EXPECT_EQ(Store(StoreMode::kPrepend, "k", "start-"), StoreResult::kStored);
  CapturedItem item = Item("k");
  EXPECT_EQ(item.value, "start-mid-end");
  EXPECT_EQ(item.flags, 5u);
  EXPECT_EQ(cache_->Stats().curr_items, 1u);
}

TEST_F(CacheTest, AppendBeyondItemSizeMaxIsRefusedAndKeepsValue) {
  const size_t max = SmallOptions().item_size_max;
  ASSERT_EQ(Store(StoreMode::kSet, "k", std::string(max - 2, 'a')), StoreResult::kStored);
  EXPECT_EQ(Store(StoreMode::kAppend, "k", "bbb"), StoreResult::kNotStored);
  EXPECT_EQ(Store(StoreMode::kAppend, "k", "bb"), StoreResult::kStored);
  EXPECT_EQ(Value("k"), std::string(max - 2, 'a') + "bb");
}

TEST_F(CacheTest, TooLargeSetRemovesTheOldValue) {
  const size_t max = SmallOptions().item_size_max;
  ASSERT_EQ(Store(StoreMode::kSet, "k", "old"), StoreResult::kStored);
  EXPECT_EQ(Store(StoreMode::kAdd, "k", std::string(max + 1, 'x')), StoreResult::kTooLarge);
  EXPECT_EQ(Value("k"), "old");
  EXPECT_EQ(Store(StoreMode::kSet, "k", std::string(max + 1, 'x')), StoreResult::kTooLarge);
  EXPECT_EQ(Value("k"), "<miss>");
  EXPECT_EQ(cache_->Stats().curr_items, 0u);
  EXPECT_EQ(cache_->Stats().bytes, 0u);
}

TEST_F(CacheTest, IncrDecrFollowMemcached) {
  uint64_t result = 0;
  EXPECT_EQ(Arith("n", true, 1, &result), ArithResult::kNotFound);
  ASSERT_EQ(Store(StoreMode::kSet, "n", "100"), StoreResult::kStored);
  EXPECT_EQ(Arith("n", false, 1, &result), ArithResult::kOk);
  EXPECT_EQ(result, 99u);
  EXPECT_EQ(Value("n"), "99 ");  // keeps its length, as memcached's in-place rewrite
  EXPECT_EQ(Arith("n", true, 1, &result), ArithResult::kOk);
  EXPECT_EQ(Value("n"), "100");
  EXPECT_EQ(Arith("n", true, 900, &result), ArithResult::kOk);
  EXPECT_EQ(Value("n"), "1000");  // longer: a new, longer value
  EXPECT_EQ(Arith("n", false, 5000, &result), ArithResult::kOk);
  EXPECT_EQ(result, 0u);
  EXPECT_EQ(Value("n"), "0   ");

  ASSERT_EQ(Store(StoreMode::kSet, "n", "18446744073709551615"), StoreResult::kStored);
  EXPECT_EQ(Arith("n", true, 2, &result), ArithResult::kOk);
  EXPECT_EQ(result, 1u);  // wraps at 2^64
  EXPECT_EQ(Value("n"), "1                   ");

  for (const char* text : {"  12", "12 ", "12 34", "+12", "0000000000000000000000012"}) {
    ASSERT_EQ(Store(StoreMode::kSet, "n", text), StoreResult::kStored);
    EXPECT_EQ(Arith("n", true, 1, &result), ArithResult::kOk) << text;
    EXPECT_EQ(result, 13u) << text;
  }
  for (const char* text : {"", " ", "abc", "12abc", "-5", "18446744073709551616", "0x10"}) {
    ASSERT_EQ(Store(StoreMode::kSet, "n", text), StoreResult::kStored);
    EXPECT_EQ(Arith("n", true, 1, &result), ArithResult::kNonNumeric) << text;
    EXPECT_EQ(Value("n"), text);
  }
  ASSERT_EQ(cache_calls::Store(*cache_, *ctx_, StoreMode::kSet, "f", 9, 100, "5", 0, nullptr),
            StoreResult::kStored);
  EXPECT_EQ(Arith("f", true, 1, &result), ArithResult::kOk);
  CapturedItem item = Item("f");
  EXPECT_EQ(item.flags, 9u);
  EXPECT_GT(item.ttl, 90);
}

TEST_F(CacheTest, IncrChangesTheCas) {
  uint64_t cas = 0;
  ASSERT_EQ(Store(StoreMode::kSet, "n", "1", 0, &cas), StoreResult::kStored);
  uint64_t result = 0;
  uint64_t new_cas = 0;
  ASSERT_EQ(cache_calls::Arithmetic(*cache_, *ctx_, "n", true, 1, &result, &new_cas),
            ArithResult::kOk);
  EXPECT_NE(new_cas, cas);
  EXPECT_EQ(Item("n").cas, new_cas);
}

TEST_F(CacheTest, DeleteWithAndWithoutCas) {
  uint64_t cas = 0;
  ASSERT_EQ(Store(StoreMode::kSet, "k", "v", 0, &cas), StoreResult::kStored);
  EXPECT_EQ(cache_calls::Delete(*cache_, *ctx_, "k", cas + 1), DeleteResult::kExists);
  EXPECT_EQ(cache_calls::Delete(*cache_, *ctx_, "k", cas), DeleteResult::kDeleted);
  EXPECT_EQ(cache_calls::Delete(*cache_, *ctx_, "k"), DeleteResult::kNotFound);
  ASSERT_EQ(Store(StoreMode::kSet, "k", "v"), StoreResult::kStored);
  EXPECT_EQ(cache_calls::Delete(*cache_, *ctx_, "k"), DeleteResult::kDeleted);
  EXPECT_EQ(Value("k"), "<miss>");
  EXPECT_EQ(cache_->Stats().curr_items, 0u);
  EXPECT_EQ(cache_->Stats().bytes, 0u);
}

TEST_F(CacheTest, ExptimeRules) {
  ASSERT_EQ(Store(StoreMode::kSet, "relative", "v", 0, nullptr, 10), StoreResult::kStored);
  ASSERT_EQ(Store(StoreMode::kSet, "absolute", "v", 0, nullptr, WallSeconds() + 100),
            StoreResult::kStored);
  ASSERT_EQ(Store(StoreMode::kSet, "forever", "v"), StoreResult::kStored);
  ASSERT_EQ(Store(StoreMode::kSet, "old", "v"), StoreResult::kStored);
  // Expired at once: answered STORED, as memcached, and the old value is gone.
  EXPECT_EQ(Store(StoreMode::kSet, "old", "v", 0, nullptr, -1), StoreResult::kStored);
  EXPECT_EQ(Value("old"), "<miss>");
  EXPECT_EQ(Store(StoreMode::kSet, "past", "v", 0, nullptr, WallSeconds() - 10),
            StoreResult::kStored);
  EXPECT_EQ(Value("past"), "<miss>");
  EXPECT_EQ(Store(StoreMode::kAdd, "forever", "v", 0, nullptr, -1), StoreResult::kNotStored);

  EXPECT_LE(Item("relative").ttl, 10);
  AdvanceClockForTesting(11);
  CapturedItem item;
  EXPECT_EQ(cache_calls::Get(*cache_, *ctx_, "relative", item), LookupResult::kExpired);
  EXPECT_EQ(cache_calls::Get(*cache_, *ctx_, "relative", item), LookupResult::kMiss);
  EXPECT_EQ(Value("absolute"), "v");
  AdvanceClockForTesting(100);
  EXPECT_EQ(cache_calls::Get(*cache_, *ctx_, "absolute", item), LookupResult::kExpired);
  EXPECT_EQ(Value("forever"), "v");
  // Expired items count as absent for every mode.
  ASSERT_EQ(Store(StoreMode::kSet, "e", "1", 0, nullptr, 1), StoreResult::kStored);
  AdvanceClockForTesting(2);
  EXPECT_EQ(Store(StoreMode::kReplace, "e", "2"), StoreResult::kNotStored);
  EXPECT_EQ(Store(StoreMode::kAppend, "e", "2"), StoreResult::kNotStored);
  uint64_t result = 0;
  EXPECT_EQ(Arith("e", true, 1, &result), ArithResult::kNotFound);
  EXPECT_EQ(Store(StoreMode::kAdd, "e", "3"), StoreResult::kStored);
  EXPECT_EQ(Value("e"), "3");
}

TEST_F(CacheTest, TouchAndGetAndTouchChangeTheExpiry) {
  ASSERT_EQ(Store(StoreMode::kSet, "a", "v", 0, nullptr, 10), StoreResult::kStored);
  ASSERT_EQ(Store(StoreMode::kSet, "b", "v"), StoreResult::kStored);
  const uint64_t cas_a = Item("a").cas;
  EXPECT_EQ(cache_->Touch(*ctx_, "a", 1000), TouchResult::kTouched);
  EXPECT_EQ(Item("a").cas, cas_a) << "an item with an expiry is touched in place";
  EXPECT_EQ(cache_->Touch(*ctx_, "b", 100), TouchResult::kTouched);
  EXPECT_EQ(cache_->Touch(*ctx_, "none", 100), TouchResult::kNotFound);
  AdvanceClockForTesting(20);
  EXPECT_EQ(Value("a"), "v");
  EXPECT_GT(Item("b").ttl, 50);
  CapturedItem item;
  EXPECT_EQ(cache_calls::GetAndTouch(*cache_, *ctx_, "b", 0, item), LookupResult::kHit);
  EXPECT_EQ(item.value, "v");
  EXPECT_EQ(item.ttl, -1);
  EXPECT_EQ(Item("b").ttl, -1);
  CapturedItem gone;
  EXPECT_EQ(cache_calls::GetAndTouch(*cache_, *ctx_, "a", -1, gone), LookupResult::kHit);
  EXPECT_EQ(gone.value, "v");
  EXPECT_EQ(Value("a"), "<miss>");
  EXPECT_EQ(cache_->Stats().curr_items, 1u);
  AdvanceClockForTesting(100);
  EXPECT_EQ(Value("b"), "v");
}

TEST_F(CacheTest, FlushAllNowAndDelayed) {
  ASSERT_EQ(Store(StoreMode::kSet, "a", "v"), StoreResult::kStored);
  cache_->FlushAll({});
  CapturedItem item;
  EXPECT_EQ(cache_calls::Get(*cache_, *ctx_, "a", item), LookupResult::kFlushed);
  EXPECT_EQ(Store(StoreMode::kReplace, "a", "v"), StoreResult::kNotStored);
  ASSERT_EQ(Store(StoreMode::kSet, "b", "v"), StoreResult::kStored);
  EXPECT_EQ(Value("b"), "v");

  cache_->FlushAll({.delay_seconds = 5});
  ASSERT_EQ(Store(StoreMode::kSet, "c", "v"), StoreResult::kStored);
  EXPECT_EQ(Value("b"), "v");
  AdvanceClockForTesting(5);
  EXPECT_EQ(cache_calls::Get(*cache_, *ctx_, "b", item), LookupResult::kFlushed);
  EXPECT_EQ(cache_calls::Get(*cache_, *ctx_, "c", item), LookupResult::kFlushed);
  ASSERT_EQ(Store(StoreMode::kSet, "d", "v"), StoreResult::kStored);
  EXPECT_EQ(Value("d"), "v");
  AdvanceClockForTesting(10);
  EXPECT_EQ(Value("d"), "v");
}

TEST_F(CacheTest, WholeSecondFlushHidesWhatItsSecondStores) {
  ASSERT_EQ(Store(StoreMode::kSet, "a", "v"), StoreResult::kStored);
  cache_->FlushAll({.delay_seconds = 0, .whole_second = true});
  // Stored, as memcached answers, but flushed at once: its time is the flush's second.
  EXPECT_EQ(Store(StoreMode::kAdd, "a", "w"), StoreResult::kStored);
  EXPECT_EQ(Value("a"), "<miss>");
  AdvanceClockForTesting(1);
  ASSERT_EQ(Store(StoreMode::kSet, "b", "v"), StoreResult::kStored);
  EXPECT_EQ(Value("b"), "v");

  cache_->FlushAll({.delay_seconds = 2, .whole_second = true});
  AdvanceClockForTesting(1);
  ASSERT_EQ(Store(StoreMode::kSet, "c", "v"), StoreResult::kStored);
  EXPECT_EQ(Value("c"), "v");
  AdvanceClockForTesting(1);
  EXPECT_EQ(Value("b"), "<miss>");
  EXPECT_EQ(Value("c"), "<miss>");
  ASSERT_EQ(Store(StoreMode::kSet, "d", "v"), StoreResult::kStored);
  EXPECT_EQ(Value("d"), "<miss>");
  AdvanceClockForTesting(1);
  ASSERT_EQ(Store(StoreMode::kSet, "d", "v"), StoreResult::kStored);
  EXPECT_EQ(Value("d"), "v");

  // A flush without a time replaces the pending one, and hides nothing stored after it.
  cache_->FlushAll({.delay_seconds = 3, .whole_second = true});
  cache_->FlushAll({});
  AdvanceClockForTesting(3);
  ASSERT_EQ(Store(StoreMode::kSet, "e", "v"), StoreResult::kStored);
  EXPECT_EQ(Value("e"), "v");
}

TEST_F(CacheTest, LargeItemsSpanSegments) {
  const CacheOptions options = SmallOptions();
  const size_t segment = options.segment_size;
  // Random bytes: incompressible, so stored as they came, and as long as they came.
  std::string value(options.item_size_max, '\0');
  std::mt19937 random(7);
  for (char& c : value) c = static_cast<char>(random());
  for (size_t size : {segment - 20, segment, segment + 1, 3 * segment / 2, options.item_size_max}) {
    const std::string v = value.substr(0, size);
    ASSERT_EQ(Store(StoreMode::kSet, "big", v), StoreResult::kStored) << size;
    EXPECT_EQ(Value("big"), v) << size;
  }
  ASSERT_EQ(Store(StoreMode::kSet, "big", value.substr(0, segment)), StoreResult::kStored);
  ASSERT_EQ(Store(StoreMode::kAppend, "big", "tail"), StoreResult::kStored);
  EXPECT_EQ(Value("big"), value.substr(0, segment) + "tail");
  ASSERT_EQ(Store(StoreMode::kPrepend, "big", "head"), StoreResult::kStored);
  EXPECT_EQ(Value("big"), "head" + value.substr(0, segment) + "tail");
  uint64_t result = 0;
  EXPECT_EQ(Arith("big", true, 1, &result), ArithResult::kNonNumeric);
  const CacheStats stats = cache_->Stats();
  EXPECT_EQ(stats.curr_items, 1u);
  EXPECT_GE(stats.bytes, segment + 8);
  EXPECT_EQ(cache_calls::Delete(*cache_, *ctx_, "big"), DeleteResult::kDeleted);
  EXPECT_EQ(cache_->Stats().bytes, 0u);
}

TEST_F(CacheTest, LargeItemsAtTheDefaultSizes) {
  CacheOptions options;  // 1 MiB segments, -I 1m
  options.background_thread = false;
  options.memory_limit = size_t{32} << 20;
  Make(options);
  for (size_t size : {options.segment_size, options.item_size_max}) {
    const std::string v(size, 'z');
    ASSERT_EQ(Store(StoreMode::kSet, "big", v), StoreResult::kStored) << size;
    EXPECT_EQ(Value("big"), v);
  }
}

TEST_F(CacheTest, WithoutEvictionAFullCacheRefusesAndKeepsItems) {
  CacheOptions options = SmallOptions();
  options.evict = false;
  Make(options);
  const std::string value(1000, 'v');
  int stored = 0;
  StoreResult result = StoreResult::kStored;
  for (; stored < 100000; ++stored) {
    result = Store(StoreMode::kSet, "k" + std::to_string(stored), value);
    if (result != StoreResult::kStored) break;
  }
  EXPECT_EQ(result, StoreResult::kNoMemory);
  EXPECT_GT(stored, 3000);
  for (int i = 0; i < stored; ++i) ASSERT_EQ(Value("k" + std::to_string(i)), value) << i;
  const CacheStats stats = cache_->Stats();
  EXPECT_EQ(stats.evictions, 0u);
  EXPECT_EQ(stats.curr_items, static_cast<uint64_t>(stored));
  EXPECT_LE(stats.bytes, stats.limit_maxbytes);
}

TEST_F(CacheTest, EvictionKeepsBytesWithinTheLimit) {
  for (EvictionPolicy policy : {EvictionPolicy::kFifo, EvictionPolicy::kMerge}) {
    CacheOptions options = SmallOptions();
    options.eviction = policy;
    Make(options);
    const std::string value(100, 'v');
    for (int i = 0; i < 200000; ++i) {
      ASSERT_EQ(Store(StoreMode::kSet, "key" + std::to_string(i), value), StoreResult::kStored);
    }
    const CacheStats stats = cache_->Stats();
    EXPECT_GT(stats.evictions, 100000u);
    EXPECT_LE(stats.bytes, stats.limit_maxbytes);
    EXPECT_GT(stats.segment_evictions, 0u);
    EXPECT_EQ(stats.total_items, 200000u);
    EXPECT_EQ(stats.curr_items + stats.evictions, 200000u);
    EXPECT_EQ(Value("key199999"), value);
    EXPECT_EQ(Value("key0"), "<miss>");
  }
}

// Items smaller than their hash slots: the index, not -m, is what fills, and the cache evicts to
// keep it within its limit (half of -m) instead of refusing stores or growing without bound.
TEST_F(CacheTest, TinyItemsEvictToKeepTheIndexWithinItsLimit) {
  for (EvictionPolicy policy : {EvictionPolicy::kFifo, EvictionPolicy::kMerge}) {
    CacheOptions options = SmallOptions();
    options.eviction = policy;
    options.hash_power_initial = 10;
    Make(options);
    constexpr int kKeys = 600000;
    for (int i = 0; i < kKeys; ++i) {
      ASSERT_EQ(Store(StoreMode::kSet, "k" + std::to_string(i), ""), StoreResult::kStored) << i;
    }
    const CacheStats stats = cache_->Stats();
    EXPECT_LE(stats.hash_bytes_limit, options.memory_limit / 2);
    EXPECT_LE(stats.hash_table_bytes, stats.hash_bytes_limit);
    EXPECT_GT(stats.hash_table_bytes, stats.hash_bytes_limit / 2);
    // The index filled before item memory did.
    EXPECT_LT(stats.bytes, options.memory_limit / 2);
    EXPECT_GT(stats.evictions, 0u);
    EXPECT_EQ(stats.curr_items + stats.evictions, static_cast<uint64_t>(kKeys));
    EXPECT_EQ(Value("k" + std::to_string(kKeys - 1)), "");
    EXPECT_EQ(Value("k0"), "<miss>");
  }
}

// Overwrites leave dead segments behind while the index stays full. Freeing those frees no slot,
// so a writer must go on to evict live items rather than give up.
TEST_F(CacheTest, AFullIndexEvictsPastDeadSegments) {
  CacheOptions options = SmallOptions();
  options.memory_limit = size_t{16} << 20;
  options.segment_size = size_t{64} << 10;
  options.hash_power_initial = 10;
  Make(options);
  int keys = 0;
  for (; cache_->Stats().evictions == 0; ++keys) {
    ASSERT_EQ(Store(StoreMode::kSet, "k" + std::to_string(keys), ""), StoreResult::kStored);
  }
  // Overwrite the newest half: the segments that held them die, the index stays as full.
  for (int round = 0; round < 3; ++round) {
    for (int i = keys / 2; i < keys; ++i) {
      ASSERT_EQ(Store(StoreMode::kSet, "k" + std::to_string(i), ""), StoreResult::kStored) << i;
    }
  }
  for (int i = 0; i < 100000; ++i) {
    ASSERT_EQ(Store(StoreMode::kSet, "new" + std::to_string(i), ""), StoreResult::kStored) << i;
  }
  const CacheStats stats = cache_->Stats();
  EXPECT_LE(stats.hash_table_bytes, stats.hash_bytes_limit);
  EXPECT_EQ(Value("new99999"), "");
}

TEST_F(CacheTest, WithoutEvictionAFullIndexRefusesAndKeepsItems) {
  CacheOptions options = SmallOptions();
  options.evict = false;
  options.hash_power_initial = 10;
  Make(options);
  int stored = 0;
  StoreResult result = StoreResult::kStored;
  for (; stored < 600000; ++stored) {
    result = Store(StoreMode::kSet, "k" + std::to_string(stored), "");
    if (result != StoreResult::kStored) break;
  }
  EXPECT_EQ(result, StoreResult::kNoMemory);
  const CacheStats stats = cache_->Stats();
  EXPECT_LE(stats.hash_table_bytes, stats.hash_bytes_limit);
  EXPECT_EQ(stats.evictions, 0u);
  EXPECT_EQ(stats.curr_items, static_cast<uint64_t>(stored));
  for (int i = 0; i < stored; ++i) ASSERT_EQ(Value("k" + std::to_string(i)), "") << i;
}

TEST_F(CacheTest, StatsResetKeepsItemCounts) {
  ASSERT_EQ(Store(StoreMode::kSet, "k", "v"), StoreResult::kStored);
  cache_->ResetStats();
  const CacheStats stats = cache_->Stats();
  EXPECT_EQ(stats.total_items, 0u);
  EXPECT_EQ(stats.curr_items, 1u);
  EXPECT_GT(stats.bytes, 0u);
}

TEST_F(CacheTest, MemoryLimitCanBeLoweredAndRaised) {
  EXPECT_FALSE(cache_->SetMemoryLimit(1000));
  EXPECT_TRUE(cache_->SetMemoryLimit(size_t{2} << 20));
  EXPECT_EQ(cache_->Stats().limit_maxbytes, size_t{2} << 20);
  const std::string value(100, 'v');
  for (int i = 0; i < 50000; ++i) {
    ASSERT_EQ(Store(StoreMode::kSet, "key" + std::to_string(i), value), StoreResult::kStored);
  }
  EXPECT_LE(cache_->Stats().bytes, size_t{2} << 20);
  EXPECT_TRUE(cache_->SetMemoryLimit(size_t{8} << 20));
  for (int i = 0; i < 50000; ++i) {
    ASSERT_EQ(Store(StoreMode::kSet, "key" + std::to_string(i), value), StoreResult::kStored);
  }
  EXPECT_GT(cache_->Stats().bytes, size_t{4} << 20);
}

}  // namespace
}  // namespace mnemo::storage
