// Random operation streams checked against a std::unordered_map model: every reply, every value,
// and curr_items/bytes exactly. Time moves in steps much longer than a test run, so that the
// model and the cache agree on what has expired whatever the wall clock does meanwhile.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <unordered_map>

#include "base/clock.h"
#include "storage/arithmetic.h"
#include "storage/cache.h"
#include "storage/item.h"
#include "testing/storage/cache_calls.h"
#include "testing/storage/cache_test_util.h"

namespace mnemo::storage {
namespace {

// Exptimes used: never, one clock step, two clock steps (kStep = 150 s, so an item with
// exptime 100 outlives no step and one with 200 outlives exactly one).
constexpr uint32_t kStep = 150;

struct ModelItem {
  std::string value;
  uint32_t flags = 0;
  int expires_after_steps = -1;  // the step at which it expires; -1 never
  bool has_expiry = false;
  // A touch that adds or removes the expiry moves the item, which then carries its CAS (8 bytes)
  // until it is next rewritten.
  bool carries_cas = false;
};

class Model {
 public:
  bool Live(const std::string& key) {
    auto it = items_.find(key);
    if (it == items_.end()) return false;
    if (it->second.expires_after_steps >= 0 && step_ >= it->second.expires_after_steps) {
      items_.erase(it);
      return false;
    }
    return true;
  }
  ModelItem& At(const std::string& key) { return items_.at(key); }
  void Put(const std::string& key, ModelItem item) { items_[key] = std::move(item); }
  void Erase(const std::string& key) { items_.erase(key); }
  int ExpiryFor(Exptime exptime) const {
    return exptime == 0 ? -1 : step_ + static_cast<int>(exptime / kStep) + 1;
  }
  void Step() { ++step_; }

  // Drops expired entries; returns curr_items and bytes as the cache must count them.
  std::pair<uint64_t, uint64_t> Totals(const std::vector<std::string>& keys) {
    uint64_t items = 0;
    uint64_t bytes = 0;
    for (const std::string& key : keys) {
      if (!Live(key)) continue;
      const ModelItem& item = items_.at(key);
      ItemHeader header;
      header.key_size = static_cast<uint8_t>(key.size());
      header.value_size = static_cast<uint32_t>(item.value.size());
      header.flags = item.flags;
      header.expiry = item.has_expiry ? 1 : 0;
      header.has_cas = item.carries_cas;
      ++items;
      bytes += header.item_size();
    }
    return {items, bytes};
  }

 private:
  std::unordered_map<std::string, ModelItem> items_;
  int step_ = 0;
};

class ModelTest : public ::testing::TestWithParam<EvictionPolicy> {};

TEST_P(ModelTest, MillionsOfRandomOperationsMatchTheModel) {
  CacheOptions options;
  // Large enough that nothing is evicted: the model has no notion of eviction.
  options.memory_limit = size_t{256} << 20;
  options.item_size_max = 4096;
  options.background_thread = false;
  options.eviction = GetParam();
  auto cache = CreateCacheOrDie(options);
  auto ctx = cache->NewContext();
  Model model;
  std::mt19937_64 rng(GetParam() == EvictionPolicy::kMerge ? 1 : 2);
  std::vector<std::string> keys;
  for (int i = 0; i < 3000; ++i) keys.push_back("k" + std::to_string(i * 7919));
  auto random_value = [&]() {
    const uint64_t kind = rng() % 8;
    if (kind == 0) return std::to_string(rng() % 100000);
    if (kind == 1) return std::string(rng() % 3, ' ') + std::to_string(rng() % 1000);
    std::string value(rng() % 64, '\0');
    for (char& c : value) c = static_cast<char>(rng());
    return value;
  };
  auto random_exptime = [&]() -> Exptime {
    const uint64_t kind = rng() % 10;
    return kind < 7 ? 0 : kind < 9 ? 100 : 200;
  };

  constexpr int kOps = 2'000'000;
  for (int op = 0; op < kOps; ++op) {
    const std::string& key = keys[rng() % keys.size()];
    const bool live = model.Live(key);
    const uint64_t kind = rng() % 100;
    SCOPED_TRACE(testing::Message() << "op " << op << " kind " << kind << " key " << key);
    if (kind < 25) {
      CapturedItem item;
      const LookupResult result = cache_calls::Get(*cache, *ctx, key, item);
      ASSERT_EQ(result == LookupResult::kHit, live);
      if (live) {
        ASSERT_EQ(item.value, model.At(key).value);
        ASSERT_EQ(item.flags, model.At(key).flags);
      }
    } else if (kind < 50) {
      const StoreMode modes[] = {StoreMode::kSet, StoreMode::kSet, StoreMode::kAdd,
                                 StoreMode::kReplace};
      const StoreMode mode = modes[rng() % 4];
      const std::string value = random_value();
      const uint32_t flags = rng() % 3 == 0 ? static_cast<uint32_t>(rng()) : 0;
      const Exptime exptime = random_exptime();
      const StoreResult result =
          cache_calls::Store(*cache, *ctx, mode, key, flags, exptime, value, 0, nullptr);
      const bool stores = mode == StoreMode::kSet || (mode == StoreMode::kAdd && !live) ||
                          (mode == StoreMode::kReplace && live);
      ASSERT_EQ(result, stores ? StoreResult::kStored : StoreResult::kNotStored);
      if (stores) model.Put(key, {value, flags, model.ExpiryFor(exptime), exptime != 0});
    } else if (kind < 58) {
      // cas, with the current token or a stale one
      uint64_t token = 12345;
      if (live) {
        CapturedItem item;
        ASSERT_EQ(cache_calls::Get(*cache, *ctx, key, item), LookupResult::kHit);
        if (rng() % 2 == 0) token = item.cas;
      }
      const std::string value = random_value();
      const StoreResult result =
          cache_calls::Store(*cache, *ctx, StoreMode::kCas, key, 0, 0, value, token, nullptr);
      if (!live) {
        ASSERT_EQ(result, StoreResult::kNotFound);
      } else if (token == 12345) {
        ASSERT_EQ(result, StoreResult::kExists);
      } else {
        ASSERT_EQ(result, StoreResult::kStored);
        model.Put(key, {value, 0, -1, false});
      }
    } else if (kind < 70) {
      const bool append = kind < 64;
      const std::string value = random_value();
      const StoreResult result =
          cache_calls::Store(*cache, *ctx, append ? StoreMode::kAppend : StoreMode::kPrepend, key,
                             0, 0, value, 0, nullptr);
      const bool fits = live && model.At(key).value.size() + value.size() <= options.item_size_max;
      ASSERT_EQ(result, fits ? StoreResult::kStored : StoreResult::kNotStored);
      if (fits) {
        std::string& v = model.At(key).value;
        if (append) {
          v += value;
        } else {
          v.insert(0, value);
        }
        model.At(key).carries_cas = false;
      }
    } else if (kind < 82) {
      const bool incr = kind < 78;
      const uint64_t delta = rng() % 4 == 0 ? rng() : rng() % 100;
      uint64_t result_value = 0;
      uint64_t new_cas = 0;
      const ArithResult result =
          cache_calls::Arithmetic(*cache, *ctx, key, incr, delta, &result_value, &new_cas);
      uint64_t number = 0;
      if (!live) {
        ASSERT_EQ(result, ArithResult::kNotFound);
      } else if (model.At(key).value.empty() || !ParseCounter(model.At(key).value, &number)) {
        ASSERT_EQ(result, ArithResult::kNonNumeric);
      } else {
        ASSERT_EQ(result, ArithResult::kOk);
        const uint64_t expected = ApplyDelta(number, incr, delta);
        ASSERT_EQ(result_value, expected);
        std::string& v = model.At(key).value;
        std::string text(std::max(v.size(), kMaxCounterDigits), '\0');
        text.resize(FormatCounter(expected, v.size(), text.data()));
        v = text;
        model.At(key).carries_cas = false;
      }
    } else if (kind < 92) {
      const DeleteResult result = cache_calls::Delete(*cache, *ctx, key, 0);
      ASSERT_EQ(result, live ? DeleteResult::kDeleted : DeleteResult::kNotFound);
      model.Erase(key);
    } else if (kind < 99) {
      const Exptime exptime = random_exptime();
      CapturedItem item;
      const bool gat = kind < 96;
      const bool touched =
          gat ? cache_calls::GetAndTouch(*cache, *ctx, key, exptime, item) == LookupResult::kHit
              : cache->Touch(*ctx, key, exptime) == TouchResult::kTouched;
      ASSERT_EQ(touched, live);
      if (live) {
        if (gat) {
          ASSERT_EQ(item.value, model.At(key).value);
        }
        ModelItem& item_model = model.At(key);
        const bool has_expiry = exptime != 0;
        if (has_expiry != item_model.has_expiry) item_model.carries_cas = true;
        item_model.expires_after_steps = model.ExpiryFor(exptime);
        item_model.has_expiry = has_expiry;
      }
    } else {
      AdvanceClockForTesting(kStep);
      model.Step();
    }
    if (op % 250'000 == 0 || op == kOps - 1) {
      // Reading every key unlinks the expired ones, after which the counts must be exact.
      for (const std::string& k : keys) {
        CapturedItem item;
        ASSERT_EQ(cache_calls::Get(*cache, *ctx, k, item) == LookupResult::kHit, model.Live(k))
            << k;
      }
      const auto [items, bytes] = model.Totals(keys);
      const CacheStats stats = cache->Stats();
      ASSERT_EQ(stats.curr_items, items);
      ASSERT_EQ(stats.bytes, bytes);
      ASSERT_EQ(stats.evictions, 0u);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Policies, ModelTest,
                         ::testing::Values(EvictionPolicy::kMerge, EvictionPolicy::kFifo));

// Under eviction the model cannot say which keys remain, but whatever remains must be exactly
// what was last written, and the counts must match what remains.
TEST(ModelUnderEvictionTest, SurvivorsAreExactAndCountsMatchThem) {
  for (EvictionPolicy policy : {EvictionPolicy::kMerge, EvictionPolicy::kFifo}) {
    CacheOptions options;
    options.memory_limit = size_t{2} << 20;
    options.segment_size = size_t{64} << 10;
    options.background_thread = false;
    options.eviction = policy;
    auto cache = CreateCacheOrDie(options);
    auto ctx = cache->NewContext();
    std::mt19937_64 rng(3);
    std::unordered_map<std::string, std::string> last;
    std::vector<std::string> keys;
    for (int i = 0; i < 40000; ++i) keys.push_back("key" + std::to_string(i));
    for (int op = 0; op < 1'000'000; ++op) {
      const std::string& key = keys[rng() % (op % 3 == 0 ? 1000 : keys.size())];
      const uint64_t kind = rng() % 10;
      if (kind < 4) {
        const std::string value(rng() % 200, static_cast<char>('a' + rng() % 26));
        ASSERT_EQ(Set(*cache, *ctx, key, value), StoreResult::kStored);
        last[key] = value;
      } else if (kind < 5) {
        if (cache_calls::Store(*cache, *ctx, StoreMode::kAppend, key, 0, 0, "+", 0, nullptr) ==
            StoreResult::kStored) {
          last[key] += "+";
        }
      } else if (kind < 6) {
        (void)cache_calls::Delete(*cache, *ctx, key, 0);
        last.erase(key);
      } else {
        CapturedItem item;
        if (cache_calls::Get(*cache, *ctx, key, item) == LookupResult::kHit) {
          ASSERT_EQ(item.value, last.at(key)) << key;
        }
      }
    }
    uint64_t items = 0;
    uint64_t bytes = 0;
    for (const std::string& key : keys) {
      CapturedItem item;
      if (cache_calls::Get(*cache, *ctx, key, item) != LookupResult::kHit) continue;
      ASSERT_EQ(item.value, last.at(key));
      ++items;
      EXPECT_TRUE(StoredAsPlainItem(item.stored_bytes, key.size(), item.value.size())) << key;
      bytes += item.stored_bytes;
    }
    const CacheStats stats = cache->Stats();
    EXPECT_EQ(stats.curr_items, items);
    EXPECT_EQ(stats.bytes, bytes);
    EXPECT_LE(stats.bytes, stats.limit_maxbytes);
    EXPECT_GT(stats.evictions, 0u);
  }
}

}  // namespace
}  // namespace mnemo::storage
