#include "storage/warm_restart.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <string>

#include "base/clock.h"
#include "storage/cache.h"
#include "storage/segment_cache.h"
#include "testing/storage/cache_calls.h"
#include "testing/storage/cache_test_util.h"

namespace mnemo::storage {
namespace {

struct Seen {
  std::string value;
  uint32_t flags = 0;
  uint64_t cas = 0;
};

class WarmRestartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    file_ = ::testing::TempDir() + "warm_restart_test." + std::to_string(getpid()) + "." +
            ::testing::UnitTest::GetInstance()->current_test_info()->name();
    options_.memory_limit = size_t{16} << 20;
    options_.segment_size = size_t{64} << 10;
    options_.item_size_max = size_t{1} << 20;
    options_.background_thread = false;
    options_.memory_file = file_;
  }
  void TearDown() override {
    ctx_.reset();
    cache_.reset();
    unlink(file_.c_str());
    unlink(MetaPathFor(file_).c_str());
    unlink(IndexPathFor(file_).c_str());
  }

  // Starts the cache on the file; returns what it said on stderr.
  std::string Start(const CacheOptions& options) {
    ctx_.reset();
    cache_.reset();
    ::testing::internal::CaptureStderr();
    cache_ = CreateCacheOrDie(options);
    ctx_ = cache_->NewContext();
    return ::testing::internal::GetCapturedStderr();
  }
  std::string Start() { return Start(options_); }
  // A graceful stop: the context retired, then the save.
  void Stop() {
    ctx_.reset();
    ::testing::internal::CaptureStderr();
    ASSERT_TRUE(cache_->SaveForRestart().ok());
    ::testing::internal::GetCapturedStderr();
    cache_.reset();
  }

  uint64_t Set(std::string_view key, std::string_view value, uint32_t flags = 0,
               Exptime exptime = 0) {
    uint64_t cas = 0;
    EXPECT_EQ(
        cache_calls::Store(*cache_, *ctx_, StoreMode::kSet, key, flags, exptime, value, 0, &cas),
        StoreResult::kStored);
    return cas;
  }
  bool Get(std::string_view key, Seen* seen) {
    CapturedItem item;
    if (cache_calls::Get(*cache_, *ctx_, key, item) != LookupResult::kHit) return false;
    *seen = {item.value, item.flags, item.cas};
    return true;
  }
  int64_t CurrItems() const { return static_cast<int64_t>(cache_->Stats().curr_items); }

  void FlipByte(const std::string& path, off_t at) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(at);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(at);
    f.write(&c, 1);
  }

  std::string file_;
  CacheOptions options_;
  std::unique_ptr<Cache> cache_;
  std::unique_ptr<Cache::Context> ctx_;
};

TEST_F(WarmRestartTest, EveryLiveItemComesBackWithItsValueFlagsAndCas) {
  EXPECT_NE(Start().find("no metadata save file"), std::string::npos);
  std::map<std::string, Seen> model;
  for (int i = 0; i < 5000; ++i) {
    const std::string key = "key" + std::to_string(i);
    // Small values, compressible ones (stored compressed) and a few that expire far ahead.
    const std::string value =
        i % 3 == 0 ? std::string(600, static_cast<char>('a' + i % 26)) : "v" + std::to_string(i);
    const uint64_t cas = Set(key, value, i % 7, i % 5 == 0 ? 3600 : 0);
    model[key] = {value, static_cast<uint32_t>(i % 7), cas};
  }
  // Overwrites, deletes and an incr: only the newest versions come back.
  for (int i = 0; i < 5000; i += 4) {
    const std::string key = "key" + std::to_string(i);
    model[key].value = "new" + std::to_string(i);
    model[key].cas = Set(key, model[key].value, model[key].flags);
  }
  for (int i = 1; i < 5000; i += 10) {
    const std::string key = "key" + std::to_string(i);
    ASSERT_EQ(cache_calls::Delete(*cache_, *ctx_, key), DeleteResult::kDeleted);
    model.erase(key);
  }
  model["counter"].cas = Set("counter", "41");
  uint64_t result = 0;
  ASSERT_EQ(
      cache_calls::Arithmetic(*cache_, *ctx_, "counter", true, 1, &result, &model["counter"].cas),
      ArithResult::kOk);
  model["counter"].value = "42";
  // A large item, chained over several segments.
  const std::string large(200 << 10, 'L');
  model["large"] = {large, 9, Set("large", large, 9)};
  const int64_t items = CurrItems();
  Stop();

  const std::string said = Start();
  EXPECT_NE(said.find("[restart] restored " + std::to_string(model.size()) + " of"),
            std::string::npos)
      << said;
  EXPECT_EQ(CurrItems(), items);
  for (const auto& [key, want] : model) {
    Seen seen;
    ASSERT_TRUE(Get(key, &seen)) << key;
    EXPECT_EQ(seen.value, want.value) << key;
    EXPECT_EQ(seen.flags, want.flags) << key;
    EXPECT_EQ(seen.cas, want.cas) << key;
  }
  for (int i = 1; i < 5000; i += 10) {
    Seen seen;
    EXPECT_FALSE(Get("key" + std::to_string(i), &seen)) << i;
  }
  // New versions get CAS values no restored item has: the epochs went on.
  const uint64_t fresh = Set("fresh", "x");
  for (const auto& [key, want] : model) EXPECT_GT(fresh, want.cas) << key;
}

// The restored segments and the ones taken after (the merge policy's destination, new writes)
// are never the same: a full cache keeps evicting and storing, and what it returns is right.
TEST_F(WarmRestartTest, ARestoredCacheEvictsAndStoresAsUsual) {
  const auto value_for = [](const std::string& key) { return key + std::string(900, '.') + key; };
  Start();
  for (int i = 0; i < 8000; ++i)
    Set("old" + std::to_string(i), value_for("old" + std::to_string(i)));
  Stop();
  Start();
  // Every segment not free is counted in use, and only those.
  const SegmentPool& pool = static_cast<SegmentCache&>(*cache_).pool();
  uint32_t not_free = 0;
  for (uint32_t id = 0; id < pool.max_segments(); ++id) {
    not_free += pool.Info(id).state.load() != SegmentState::kFree ? 1 : 0;
  }
  EXPECT_EQ(not_free, pool.in_use());
  EXPECT_EQ(pool.in_use() + pool.free_count(), pool.max_segments());
  // Read some, so that merge eviction keeps them, then fill twice the cache with new keys.
  Seen seen;
  for (int i = 0; i < 8000; i += 3) Get("old" + std::to_string(i), &seen);
  for (int i = 0; i < 32000; ++i)
    Set("new" + std::to_string(i), value_for("new" + std::to_string(i)));
  size_t hits = 0;
  for (const char* prefix : {"old", "new"}) {
    for (int i = 0; i < 32000; ++i) {
      const std::string key = prefix + std::to_string(i);
      if (!Get(key, &seen)) continue;
      ++hits;
      ASSERT_EQ(seen.value, value_for(key)) << key;
    }
  }
  EXPECT_GT(hits, 8000u);
  EXPECT_EQ(CurrItems(), static_cast<int64_t>(hits));
}

TEST_F(WarmRestartTest, TheMetadataIsReadOnce) {
  Start();
  Set("k", "v");
  Stop();
  Start();
  Seen seen;
  EXPECT_TRUE(Get("k", &seen));
  // A stop without a save (an orderly exit, as SIGTERM): nothing describes the file any more.
  ctx_.reset();
  cache_.reset();
  EXPECT_NE(Start().find("no metadata save file, starting with a clean cache"), std::string::npos);
  EXPECT_FALSE(Get("k", &seen));
}

TEST_F(WarmRestartTest, ExpiryMeansTheSameMomentAfterARestart) {
  Start();
  Set("short", "v", 0, 5);
  Set("long", "v", 0, 100);
  Stop();
  Start();
  Seen seen;
  EXPECT_TRUE(Get("short", &seen));
  CapturedItem item;
  ASSERT_EQ(cache_calls::Get(*cache_, *ctx_, "long", item), LookupResult::kHit);
  EXPECT_GE(item.ttl, 97);
  EXPECT_LE(item.ttl, 100);
  AdvanceClockForTesting(10);
  EXPECT_FALSE(Get("short", &seen));
  EXPECT_TRUE(Get("long", &seen));
  // Expired while it was down: not linked at all.
  Stop();
  AdvanceClockForTesting(100);
  EXPECT_NE(Start().find("restored 0 of 1 items"), std::string::npos);
  EXPECT_EQ(CurrItems(), 0);
}

TEST_F(WarmRestartTest, FlushedItemsDoNotComeBackAndAPendingFlushStillHappens) {
  Start();
  Set("before", "v");
  cache_->FlushAll({});
  Set("after", "v");
  Set("later", "v");
  FlushRequest delayed;
  delayed.delay_seconds = 5;
  cache_->FlushAll(delayed);
  Stop();
  Start();
  Seen seen;
  EXPECT_FALSE(Get("before", &seen));
  EXPECT_TRUE(Get("after", &seen));
  EXPECT_TRUE(Get("later", &seen));
  AdvanceClockForTesting(6);
  EXPECT_FALSE(Get("after", &seen));
  EXPECT_FALSE(Get("later", &seen));
}

TEST_F(WarmRestartTest, IncompatibleSettingsStartCold) {
  Start();
  Set("k", "v");
  Stop();
  CacheOptions other = options_;
  other.memory_limit = size_t{32} << 20;
  EXPECT_NE(Start(other).find("[restart] restart incompatible due to setting for [maxbytes] [old "
                              "value: 16777216], starting with a clean cache"),
            std::string::npos);
  Seen seen;
  EXPECT_FALSE(Get("k", &seen));

  Set("k", "v");
  Stop();
  other.use_cas = false;
  EXPECT_NE(Start(other).find("[use_cas] [old value: true]"), std::string::npos);
  EXPECT_FALSE(Get("k", &seen));
}

TEST_F(WarmRestartTest, CorruptMetadataStartsCold) {
  Start();
  Set("k", "v");
  Stop();
  FlipByte(MetaPathFor(file_), 40);
  EXPECT_NE(Start().find("corrupt metadata file"), std::string::npos);
  Seen seen;
  EXPECT_FALSE(Get("k", &seen));
  EXPECT_EQ(CurrItems(), 0);
}

TEST_F(WarmRestartTest, TruncatedMetadataStartsCold) {
  Start();
  Set("k", "v");
  Stop();
  ASSERT_EQ(truncate(MetaPathFor(file_).c_str(), 30), 0);
  EXPECT_NE(Start().find("corrupt metadata file"), std::string::npos);
  Seen seen;
  EXPECT_FALSE(Get("k", &seen));
}

TEST_F(WarmRestartTest, CorruptMemoryFileStartsCold) {
  Start();
  for (int i = 0; i < 100; ++i) Set("key" + std::to_string(i), "value");
  Stop();
  // In the items of whichever segment holds them (the merge destination reserves one at start).
  std::ifstream in(MetaPathFor(file_), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  RestartMeta meta;
  ASSERT_TRUE(RestartMeta::Decode(bytes, &meta).ok());
  ASSERT_EQ(meta.segments.size(), 1u);
  const uint32_t id = meta.segments[0].id;
  FlipByte(file_, static_cast<off_t>(id * options_.segment_size + 10));
  const std::string said = Start();
  EXPECT_NE(said.find("does not match its metadata (segment " + std::to_string(id) +
                      ": checksum mismatch)"),
            std::string::npos)
      << said;
  Seen seen;
  EXPECT_FALSE(Get("key1", &seen));
  EXPECT_EQ(CurrItems(), 0);
}

TEST_F(WarmRestartTest, TruncatedMemoryFileStartsCold) {
  Start();
  Set("k", "v");
  Stop();
  ASSERT_EQ(truncate(file_.c_str(), 4096), 0);
  EXPECT_NE(Start().find("was 4096 bytes"), std::string::npos);
  Seen seen;
  EXPECT_FALSE(Get("k", &seen));
  // The file has its size again, and works.
  Set("k", "v");
  Stop();
  Start();
  EXPECT_TRUE(Get("k", &seen));
}

// Metadata whose own checksum is right but which does not describe the file: a location that is
// not an item's start, an item in a segment it does not list.
TEST_F(WarmRestartTest, MetadataThatDoesNotDescribeTheFileStartsCold) {
  const std::string meta_path = MetaPathFor(file_);
  const auto forge = [&](auto change) {
    std::ifstream in(meta_path, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    RestartMeta meta;
    ASSERT_TRUE(RestartMeta::Decode(bytes, &meta).ok());
    change(meta);
    ASSERT_TRUE(WriteMetaFile(meta_path, meta).ok());
  };
  Start();
  Set("one", "value");
  Set("two", "value");
  Stop();
  forge([](RestartMeta& meta) { meta.items[1].offset += 1; });
  EXPECT_NE(Start().find("an item is not where the walk finds items"), std::string::npos);
  Seen seen;
  EXPECT_FALSE(Get("one", &seen));

  Set("one", "value");
  Stop();
  forge([](RestartMeta& meta) { meta.segments.clear(); });
  EXPECT_NE(Start().find("an item in a segment that was not saved"), std::string::npos);
  EXPECT_FALSE(Get("one", &seen));
}

TEST(RestartMetaTest, EncodeDecodeRoundTripsAndRejectsDamage) {
  RestartMeta meta;
  meta.memory_limit = 1 << 20;
  meta.segment_size = 1 << 16;
  meta.max_segments = 16;
  meta.time_base = 1700000000;
  meta.saved_now = 77;
  meta.next_epoch = 12;
  meta.flush_gen = 3;
  meta.segments.push_back({2, 100, 0, 3, 9, 5, 6, 1, RestartMeta::Kind::kItems, 0, 0xabcd});
  meta.items.push_back({2, 0, 3});
  meta.items.push_back({2, 40, 15});
  const std::string bytes = meta.Encode();
  RestartMeta back;
  ASSERT_TRUE(RestartMeta::Decode(bytes, &back).ok());
  EXPECT_EQ(back.saved_now, 77u);
  EXPECT_EQ(back.time_base, 1700000000);
  ASSERT_EQ(back.items.size(), 2u);
  EXPECT_EQ(back.items[1].offset, 40u);
  EXPECT_EQ(back.items[1].counter, 15);
  EXPECT_EQ(back.segments[0].checksum, 0xabcdu);
  for (size_t at = 0; at < bytes.size(); ++at) {
    std::string damaged = bytes;
    damaged[at] = static_cast<char>(damaged[at] ^ 1);
    EXPECT_FALSE(RestartMeta::Decode(damaged, &back).ok()) << at;
  }
  for (size_t size = 0; size < bytes.size(); ++size) {
    EXPECT_FALSE(RestartMeta::Decode(bytes.substr(0, size), &back).ok()) << size;
  }
}

}  // namespace
}  // namespace mnemo::storage
