// Many threads on the same and different keys, bounded in time. Values carry a checksum of
// themselves, so a torn read or a segment reused under a reader shows up as a bad value; shared
// counters and append logs show lost updates; the counts are checked against what remains.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "base/hash.h"
#include "storage/arithmetic.h"
#include "storage/cache.h"
#include "storage/item.h"
#include "testing/storage/cache_calls.h"
#include "testing/storage/cache_test_util.h"

namespace mnemo::storage {
namespace {

constexpr int kThreads = 4;
constexpr auto kDuration = std::chrono::milliseconds(1500);

// A record: 1 length byte, the payload, 2 bytes of the payload's hash. A value is a sequence of
// records, so appends and prepends of records keep it checkable.
std::string Record(std::mt19937_64& rng) {
  std::string payload(rng() % 40, '\0');
  for (char& c : payload) c = static_cast<char>('a' + rng() % 26);
  const uint64_t h = HashKey(payload);
  std::string record(1, static_cast<char>(payload.size()));
  record += payload;
  record += static_cast<char>(h);
  record += static_cast<char>(h >> 8);
  return record;
}

// Number of records in `value`, or -1 if it is not a sequence of intact records.
int CountRecords(const std::string& value) {
  int records = 0;
  for (size_t i = 0; i < value.size(); ++records) {
    const size_t n = static_cast<uint8_t>(value[i]);
    if (i + 1 + n + 2 > value.size()) return -1;
    const uint64_t h = HashKey(std::string_view(value).substr(i + 1, n));
    if (value[i + 1 + n] != static_cast<char>(h) || value[i + 2 + n] != static_cast<char>(h >> 8)) {
      return -1;
    }
    i += 1 + n + 2;
  }
  return records;
}

struct Stress {
  explicit Stress(const CacheOptions& options) : cache(CreateCacheOrDie(options)) {}

  // Fills the cache with `n` items, so that every write of the threads must evict.
  void Fill(int n) {
    auto ctx = cache->NewContext();
    std::mt19937_64 rng(5);
    fillers = n;
    for (int i = 0; i < n; ++i) {
      std::string value;
      while (value.size() < 100) value += Record(rng);
      (void)cache_calls::Store(*cache, *ctx, StoreMode::kSet, "f:" + std::to_string(i), 0, 0, value,
                               0, nullptr);
    }
  }

  // Fills the cache with `n` items with empty values, smaller than their hash slots, so that
  // every write of the threads must evict to make room in the index.
  void FillTiny(int n) {
    auto ctx = cache->NewContext();
    fillers = n;
    for (int i = 0; i < n; ++i) {
      (void)cache_calls::Store(*cache, *ctx, StoreMode::kSet, "f:" + std::to_string(i), 0, 0, "", 0,
                               nullptr);
    }
  }

  // Random set/get/delete/append/prepend on records keys, incr/decr on number keys.
  void Run(int thread, std::vector<uint64_t>* cas_seen) {
    auto ctx = cache->NewContext();
    std::mt19937_64 rng(thread + 100);
    const auto deadline = std::chrono::steady_clock::now() + kDuration;
    for (int op = 0; std::chrono::steady_clock::now() < deadline || op < 20000; ++op) {
      const bool shared = rng() % 2 == 0;
      const int index = static_cast<int>(rng() % (shared ? 50 : 2000));
      const std::string key =
          (shared ? "shared:" : "t" + std::to_string(thread) + ":") + std::to_string(index);
      const uint64_t kind = rng() % 100;
      if (kind < 15) {
        std::string value;
        for (uint64_t r = rng() % 4; r > 0; --r) value += Record(rng);
        uint64_t cas = 0;
        if (cache_calls::Store(*cache, *ctx, StoreMode::kSet, key, 0, 0, value, 0, &cas) ==
            StoreResult::kStored) {
          cas_seen->push_back(cas);
        }
      } else if (kind < 55) {
        CapturedItem item;
        if (cache_calls::Get(*cache, *ctx, key, item) == LookupResult::kHit) {
          EXPECT_GE(CountRecords(item.value), 0) << key;
          EXPECT_EQ(item.key, key);
        }
      } else if (kind < 62) {
        (void)cache_calls::Delete(*cache, *ctx, key, 0);
      } else if (kind < 77) {
        const std::string record = Record(rng);
        uint64_t cas = 0;
        if (cache_calls::Store(*cache, *ctx, kind < 70 ? StoreMode::kAppend : StoreMode::kPrepend,
                               key, 0, 0, record, 0, &cas) == StoreResult::kStored) {
          cas_seen->push_back(cas);
        }
      } else if (kind < 80) {
        // gets then cas: succeeds unless another thread changed the key in between
        CapturedItem item;
        if (cache_calls::Get(*cache, *ctx, key, item) == LookupResult::kHit) {
          uint64_t cas = 0;
          if (cache_calls::Store(*cache, *ctx, StoreMode::kCas, key, 0, 0, item.value + Record(rng),
                                 item.cas, &cas) == StoreResult::kStored) {
            cas_seen->push_back(cas);
          }
        }
      } else {
        const std::string number_key = "n:" + std::to_string(rng() % 8);
        uint64_t value = 0;
        uint64_t cas = 0;
        const ArithResult result = cache_calls::Arithmetic(*cache, *ctx, number_key, kind < 95,
                                                           rng() % 1000, &value, &cas);
        if (result == ArithResult::kNotFound) {
          (void)cache_calls::Store(*cache, *ctx, StoreMode::kAdd, number_key, 0, 0, "1000000", 0,
                                   nullptr);
        } else {
          EXPECT_EQ(result, ArithResult::kOk);
          if (result == ArithResult::kOk) cas_seen->push_back(cas);
        }
      }
    }
  }

  void RunAll() {
    std::vector<std::vector<uint64_t>> cas(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) threads.emplace_back([this, t, &cas] { Run(t, &cas[t]); });
    for (auto& thread : threads) thread.join();
    std::vector<uint64_t> all;
    for (const auto& c : cas) all.insert(all.end(), c.begin(), c.end());
    std::sort(all.begin(), all.end());
    EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end()) << "a CAS was given twice";
    EXPECT_GT(all.size(), 10000u);
  }

  // Every remaining item is intact, and curr_items/bytes count exactly the remaining items.
  void CheckRemaining() {
    auto ctx = cache->NewContext();
    uint64_t items = 0;
    uint64_t bytes = 0;
    auto count = [&](const std::string& key) {
      CapturedItem item;
      if (cache_calls::Get(*cache, *ctx, key, item) != LookupResult::kHit) return;
      ++items;
      EXPECT_TRUE(StoredAsPlainItem(item.stored_bytes, key.size(), item.value.size())) << key;
      bytes += item.stored_bytes;
      if (key[0] == 'n') {
        uint64_t number = 0;
        EXPECT_TRUE(ParseCounter(item.value, &number)) << key << " = " << item.value;
      } else {
        EXPECT_GE(CountRecords(item.value), 0) << key;
      }
    };
    for (int i = 0; i < 50; ++i) count("shared:" + std::to_string(i));
    for (int t = 0; t < kThreads; ++t) {
      for (int i = 0; i < 2000; ++i) count("t" + std::to_string(t) + ":" + std::to_string(i));
    }
    for (int i = 0; i < 8; ++i) count("n:" + std::to_string(i));
    count("big");
    for (int i = 0; i < fillers; ++i) count("f:" + std::to_string(i));
    const CacheStats stats = cache->Stats();
    EXPECT_EQ(stats.curr_items, items);
    EXPECT_EQ(stats.bytes, bytes);
    EXPECT_LE(stats.bytes, stats.limit_maxbytes);
  }

  std::unique_ptr<Cache> cache;
  int fillers = 0;
};

TEST(CacheStressTest, ManyThreadsWithoutEviction) {
  CacheOptions options;
  options.memory_limit = size_t{256} << 20;
  Stress stress(options);
  stress.RunAll();
  stress.CheckRemaining();
  EXPECT_EQ(stress.cache->Stats().evictions, 0u);
}

TEST(CacheStressTest, ManyThreadsUnderMergeEviction) {
  CacheOptions options;
  options.memory_limit = size_t{2} << 20;
  options.segment_size = size_t{64} << 10;
  Stress stress(options);
  stress.Fill(30000);
  const uint64_t evictions_before = stress.cache->Stats().evictions;
  stress.RunAll();
  stress.CheckRemaining();
  EXPECT_GT(stress.cache->Stats().evictions, evictions_before);
}

TEST(CacheStressTest, ManyThreadsEvictingForAFullIndex) {
  CacheOptions options;
  options.memory_limit = size_t{8} << 20;
  options.segment_size = size_t{64} << 10;
  options.hash_power_initial = 10;
  Stress stress(options);
  stress.FillTiny(400000);
  const CacheStats filled = stress.cache->Stats();
  ASSERT_GT(filled.evictions, 0u) << "the index must be what is full";
  ASSERT_LT(filled.bytes, options.memory_limit / 2);
  stress.RunAll();
  stress.CheckRemaining();
  const CacheStats stats = stress.cache->Stats();
  EXPECT_GT(stats.evictions, filled.evictions);
  EXPECT_LE(stats.hash_table_bytes, stats.hash_bytes_limit);
}

TEST(CacheStressTest, ManyThreadsUnderFifoEvictionWithLargeItems) {
  CacheOptions options;
  options.memory_limit = size_t{2} << 20;
  options.segment_size = size_t{64} << 10;
  options.eviction = EvictionPolicy::kFifo;
  options.item_size_max = size_t{200} << 10;
  Stress stress(options);
  stress.Fill(30000);
  std::thread big([&stress] {
    auto ctx = stress.cache->NewContext();
    std::mt19937_64 rng(7);
    const auto deadline = std::chrono::steady_clock::now() + kDuration;
    while (std::chrono::steady_clock::now() < deadline) {
      std::string value;
      while (value.size() < 100000) value += Record(rng);
      (void)cache_calls::Store(*stress.cache, *ctx, StoreMode::kSet, "big", 0, 0, value, 0,
                               nullptr);
      CapturedItem item;
      if (cache_calls::Get(*stress.cache, *ctx, "big", item) == LookupResult::kHit) {
        EXPECT_GE(CountRecords(item.value), 0);
      }
    }
  });
  stress.RunAll();
  big.join();
  stress.CheckRemaining();
}

// Increments by several threads on one key lose nothing: each read-modify-write swaps in its new
// version only if the version it read is still current.
TEST(CacheStressTest, ConcurrentIncrementsAndAppendsLoseNothing) {
  CacheOptions options;
  options.memory_limit = size_t{64} << 20;
  auto cache = CreateCacheOrDie(options);
  {
    auto ctx = cache->NewContext();
    ASSERT_EQ(Set(*cache, *ctx, "counter", "0"), StoreResult::kStored);
    ASSERT_EQ(Set(*cache, *ctx, "log", ""), StoreResult::kStored);
  }
  constexpr int kPerThread = 5000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&cache] {
      auto ctx = cache->NewContext();
      for (int i = 0; i < kPerThread; ++i) {
        uint64_t value = 0;
        uint64_t cas = 0;
        EXPECT_EQ(cache_calls::Arithmetic(*cache, *ctx, "counter", true, 1, &value, &cas),
                  ArithResult::kOk);
        EXPECT_EQ(
            cache_calls::Store(*cache, *ctx, StoreMode::kAppend, "log", 0, 0, "x", 0, nullptr),
            StoreResult::kStored);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  auto ctx = cache->NewContext();
  EXPECT_EQ(ValueOf(*cache, *ctx, "counter"), std::to_string(kThreads * kPerThread));
  EXPECT_EQ(ValueOf(*cache, *ctx, "log"), std::string(kThreads * kPerThread, 'x'));
}

}  // namespace
}  // namespace mnemo::storage
