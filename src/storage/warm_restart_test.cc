#include "storage/warm_restart.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "base/clock.h"
#include "flash/flash_space.h"
#include "storage/cache.h"
#include "storage/segment_cache.h"
#include "testing/storage/cache_calls.h"
#include "testing/storage/cache_test_util.h"
#include "testing/storage/memory_file_cache_test.h"

namespace mnemo::storage {
namespace {

class WarmRestartTest : public MemoryFileCacheTest {
 protected:
  // A graceful stop: the context retired, then the save.
  void Stop() {
    ctx_.reset();
    ::testing::internal::CaptureStderr();
    ASSERT_TRUE(cache_->SaveForRestart().ok());
    ::testing::internal::GetCapturedStderr();
    cache_.reset();
  }

  void FlipByte(const std::string& path, off_t at) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(at);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(at);
    f.write(&c, 1);
  }
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
  // A byte of a key: the checksum covers the items' headers and keys (values are trusted, see
  // docs/warm-restart.md).
  std::ifstream memory(file_, std::ios::binary);
  std::string segment(options_.segment_size, '\0');
  memory.seekg(static_cast<std::streamoff>(id * options_.segment_size));
  memory.read(segment.data(), static_cast<std::streamsize>(segment.size()));
  const size_t key = segment.find("key57");
  ASSERT_NE(key, std::string::npos);
  FlipByte(file_, static_cast<off_t>(id * options_.segment_size + key + 4));
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

// A cache of 2 MiB of RAM with a flash tier on a file of `flash_mib` MiB, kept across restarts as
// the server keeps it with -e.
class FlashRestartTest : public WarmRestartTest {
 protected:
  void SetUp() override {
    WarmRestartTest::SetUp();
    flash_file_ = file_ + ".flash";
    options_.memory_limit = size_t{2} << 20;
    options_.compression = Compression::kOff;
  }
  void TearDown() override {
    WarmRestartTest::TearDown();
    space_.reset();
    unlink(flash_file_.c_str());
  }
  std::string StartWithFlash(size_t flash_mib) {
    ctx_.reset();
    cache_.reset();
    space_.reset();
    const flash::DeviceSpec spec{flash_file_, uint64_t{flash_mib} << 20, true};
    auto space = flash::FlashSpace::Open(std::span(&spec, 1), options_.segment_size);
    EXPECT_TRUE(space.ok()) << space.status().message();
    space_ = std::move(space.value());
    CacheOptions options = options_;
    options.flash = space_.get();
    return Start(options);
  }
  // Sets `count` keys of 1000 distinct bytes each, most of which go to flash; returns them.
  std::map<std::string, Seen> Fill(int count) {
    std::map<std::string, Seen> model;
    for (int i = 0; i < count; ++i) {
      const std::string key = "key" + std::to_string(i);
      std::string value;
      for (int piece = 0; value.size() < 1000; ++piece) {
        value += std::to_string(std::hash<std::string>{}(key + std::to_string(piece)));
      }
      value.resize(1000);
      model[key] = {value, static_cast<uint32_t>(i), Set(key, value, i)};
    }
    return model;
  }
  // The keys of `model` that hit, each checked against it.
  size_t Hits(const std::map<std::string, Seen>& model) {
    size_t hits = 0;
    for (const auto& [key, want] : model) {
      Seen seen;
      if (!Get(key, &seen)) continue;
      ++hits;
      EXPECT_EQ(seen.value, want.value) << key;
      EXPECT_EQ(seen.flags, want.flags) << key;
      EXPECT_EQ(seen.cas, want.cas) << key;
    }
    return hits;
  }
  RestartMeta ReadMeta() {
    std::ifstream in(MetaPathFor(file_), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    RestartMeta meta;
    EXPECT_TRUE(RestartMeta::Decode(bytes, &meta).ok());
    return meta;
  }

  std::string flash_file_;
  std::unique_ptr<flash::FlashSpace> space_;
};

TEST_F(FlashRestartTest, ItemsOnFlashComeBackWithTheirValueFlagsAndCas) {
  StartWithFlash(16);
  const std::map<std::string, Seen> model = Fill(6000);
  const CacheStats before = cache_->Stats();
  ASSERT_GT(before.extstore_objects_used, 3000u);
  Stop();
  const RestartMeta meta = ReadMeta();
  EXPECT_EQ(meta.flash_items.size(), before.extstore_objects_used);

  const std::string said = StartWithFlash(16);
  const std::string on_flash = std::to_string(before.extstore_objects_used);
  EXPECT_NE(said.find(" and " + on_flash + " of " + on_flash + " items on flash"),
            std::string::npos)
      << said;
  const CacheStats after = cache_->Stats();
  EXPECT_EQ(after.curr_items, before.curr_items);
  EXPECT_EQ(after.bytes, before.bytes);
  EXPECT_EQ(after.extstore_objects_used, before.extstore_objects_used);
  EXPECT_EQ(Hits(model), before.curr_items);
  EXPECT_GE(cache_->Stats().extstore_objects_read, before.extstore_objects_used);
  EXPECT_EQ(cache_->Stats().badcrc_from_extstore, 0u);
  // The tier goes on from where it was: new evictions fill and reuse its segments as usual.
  const std::map<std::string, Seen> more = Fill(6000);
  EXPECT_EQ(Hits(more), cache_->Stats().curr_items);
}

// A record changed while the server was down is a miss, never wrong bytes; a flash file of
// another size loses the items on flash, not the ones in RAM.
TEST_F(FlashRestartTest, ACorruptRecordIsAMissAndAnotherFlashFileDropsTheItemsOnFlash) {
  StartWithFlash(16);
  const std::map<std::string, Seen> model = Fill(6000);
  const uint64_t items = cache_->Stats().curr_items;
  Stop();
  const RestartMeta meta = ReadMeta();
  ASSERT_FALSE(meta.flash_items.empty());
  const RestartMeta::FlashItem& item = meta.flash_items[meta.flash_items.size() / 2];
  FlipByte(flash_file_,
           static_cast<off_t>(uint64_t{item.segment - meta.max_segments} * meta.segment_size +
                              item.offset + item.size / 2));
  StartWithFlash(16);
  EXPECT_EQ(Hits(model), items - 1);
  EXPECT_EQ(cache_->Stats().badcrc_from_extstore, 1u);

  Stop();
  const size_t in_ram = ReadMeta().items.size();
  const size_t on_flash = ReadMeta().flash_items.size();
  const std::string said = StartWithFlash(8);
  EXPECT_NE(
      said.find("[restart] dropping the " + std::to_string(on_flash) +
                " items on flash due to [ext_path] [old value: " + flash_file_ + ":16777216]"),
      std::string::npos)
      << said;
  EXPECT_EQ(cache_->Stats().curr_items, in_ram);
  EXPECT_EQ(cache_->Stats().extstore_objects_used, 0u);
  EXPECT_EQ(Hits(model), in_ram);
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
  meta.flash_devices.push_back({"/var/flash", 4 << 20});
  meta.flash_segment_count = 64;
  meta.flash_next_segment = 5;
  meta.flash_sequence = 70;
  meta.flash_segments.push_back({4, 5000, 3, 80});
  meta.flash_items.push_back({16 + 4, 64, 2, 900, 120, 0x1234567890});
  const std::string bytes = meta.Encode();
  RestartMeta back;
  ASSERT_TRUE(RestartMeta::Decode(bytes, &back).ok());
  EXPECT_EQ(back.saved_now, 77u);
  EXPECT_EQ(back.time_base, 1700000000);
  ASSERT_EQ(back.items.size(), 2u);
  EXPECT_EQ(back.items[1].offset, 40u);
  EXPECT_EQ(back.items[1].counter, 15);
  EXPECT_EQ(back.segments[0].checksum, 0xabcdu);
  ASSERT_EQ(back.flash_devices.size(), 1u);
  EXPECT_EQ(back.flash_devices[0].path, "/var/flash");
  EXPECT_EQ(back.flash_devices[0].size, 4u << 20);
  EXPECT_EQ(back.flash_next_segment, 5u);
  EXPECT_EQ(back.flash_sequence, 70u);
  ASSERT_EQ(back.flash_segments.size(), 1u);
  EXPECT_EQ(back.flash_segments[0].end, 5000u);
  EXPECT_EQ(back.flash_segments[0].written_at, 80u);
  ASSERT_EQ(back.flash_items.size(), 1u);
  EXPECT_EQ(back.flash_items[0].segment, 20u);
  EXPECT_EQ(back.flash_items[0].counter, 2);
  EXPECT_EQ(back.flash_items[0].expiry, 900u);
  EXPECT_EQ(back.flash_items[0].size, 120u);
  EXPECT_EQ(back.flash_items[0].hash, 0x1234567890u);
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
