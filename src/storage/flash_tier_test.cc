// The flash tier seen through the Cache interface: items evicted from RAM are found on flash,
// with their value, flags and CAS, by every command; the tier's own FIFO, flush_all and corrupt
// records behave as flash_tier.h says.
#include "storage/flash_tier.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "flash/flash_space.h"
#include "storage/flash_recall.h"
#include "storage/segment_cache.h"
#include "testing/storage/cache_calls.h"
#include "testing/storage/cache_test_util.h"

namespace mnemo::storage {
namespace {

// A flash device on a file in the test's temporary directory, removed at the end.
class FlashFile {
 public:
  explicit FlashFile(size_t mib, size_t segment_size = size_t{64} << 10) {
    const char* dir = std::getenv("TMPDIR");
    path_ = std::string(dir != nullptr ? dir : "/tmp") + "/mnemo-flash-XXXXXX";
    const int fd = ::mkstemp(path_.data());
    EXPECT_GE(fd, 0);
    ::close(fd);
    const flash::DeviceSpec spec{path_, uint64_t{mib} << 20};
    auto space = flash::FlashSpace::Open(std::span(&spec, 1), segment_size);
    EXPECT_TRUE(space.ok()) << space.status().message();
    if (space.ok()) space_ = std::move(space.value());
  }
  ~FlashFile() { ::unlink(path_.c_str()); }
  const std::string& path() const { return path_; }
  const flash::FlashSpace* space() const { return space_.get(); }

 private:
  std::string path_;
  std::unique_ptr<flash::FlashSpace> space_;
};

// 2 MiB of RAM in 64 KiB segments, and the flash of `file`.
CacheOptions FlashOptions(const FlashFile& file) {
  CacheOptions options;
  options.memory_limit = size_t{2} << 20;
  options.segment_size = size_t{64} << 10;
  options.background_thread = false;
  options.compression = Compression::kOff;
  options.flash = file.space();
  return options;
}

std::string ValueFor(int i, size_t size) {
  std::string value(size, static_cast<char>('a' + i % 26));
  const std::string tag = std::to_string(i);
  value.replace(0, std::min(tag.size(), size), tag.substr(0, size));
  return value;
}

class FlashTierTest : public ::testing::Test {
 protected:
  void Make(size_t flash_mib) {
    ctx_.reset();
    cache_.reset();
    file_ = std::make_unique<FlashFile>(flash_mib);
    cache_ = CreateCacheOrDie(FlashOptions(*file_));
    ctx_ = cache_->NewContext();
  }
  void SetUp() override { Make(32); }

  // Writes `count` items of `size` bytes: about count * size bytes, beyond RAM's 2 MiB.
  void Fill(int count, size_t size, std::vector<uint64_t>* cas = nullptr) {
    for (int i = 0; i < count; ++i) {
      uint64_t new_cas = 0;
      ASSERT_EQ(cache_calls::Store(*cache_, *ctx_, StoreMode::kSet, "key" + std::to_string(i),
                                   static_cast<uint32_t>(i), 0, ValueFor(i, size), 0, &new_cas),
                StoreResult::kStored);
      if (cas != nullptr) cas->push_back(new_cas);
    }
  }

  std::unique_ptr<FlashFile> file_;
  std::unique_ptr<Cache> cache_;
  std::unique_ptr<Cache::Context> ctx_;
};

TEST_F(FlashTierTest, ItemsEvictedFromRamAreReadBackFromFlashWithTheirFlagsAndCas) {
  constexpr int kItems = 12000;  // 12000 x ~530 bytes: about 6 MiB, three times RAM
  std::vector<uint64_t> cas;
  Fill(kItems, 500, &cas);
  CacheStats stats = cache_->Stats();
  EXPECT_EQ(stats.evictions, 0u);
  EXPECT_EQ(stats.curr_items, static_cast<uint64_t>(kItems));
  for (int i = 0; i < kItems; ++i) {
    CapturedItem item;
    ASSERT_EQ(cache_calls::Get(*cache_, *ctx_, "key" + std::to_string(i), item), LookupResult::kHit)
        << i;
    EXPECT_EQ(item.value, ValueFor(i, 500)) << i;
    EXPECT_EQ(item.flags, static_cast<uint32_t>(i));
    EXPECT_EQ(item.cas, cas[static_cast<size_t>(i)]) << i;
  }
  stats = cache_->Stats();
  EXPECT_GT(stats.get_extstore, static_cast<uint64_t>(kItems) / 2);
  EXPECT_EQ(stats.curr_items, static_cast<uint64_t>(kItems));
}

TEST_F(FlashTierTest, WithoutCasItemsOnFlashCarryNone) {
  CacheOptions options = FlashOptions(*file_);
  options.use_cas = false;  // -C
  ctx_.reset();
  cache_ = CreateCacheOrDie(options);
  ctx_ = cache_->NewContext();
  constexpr int kItems = 8000;
  Fill(kItems, 500);
  ASSERT_GT(cache_->Stats().extstore_objects_used, static_cast<uint64_t>(kItems) / 2);
  for (int i = 0; i < kItems; ++i) {
    CapturedItem item;
    ASSERT_EQ(cache_calls::Get(*cache_, *ctx_, "key" + std::to_string(i), item), LookupResult::kHit)
        << i;
    EXPECT_EQ(item.value, ValueFor(i, 500));
    EXPECT_EQ(item.cas, 0u);
  }
  EXPECT_EQ(cache_->Stats().badcrc_from_extstore, 0u);
}

TEST_F(FlashTierTest, ReadingItemsOnFlashOnceWritesNothingToFlash) {
  constexpr int kItems = 12000;
  Fill(kItems, 500);
  const uint64_t written = cache_->Stats().extstore_objects_written;
  ASSERT_GT(written, 0u);
  for (int i = 0; i < kItems; ++i) {
    EXPECT_EQ(ValueOf(*cache_, *ctx_, "key" + std::to_string(i)), ValueFor(i, 500)) << i;
  }
  // Served from copies never linked, whose segments are freed as soon as they are sealed: RAM
  // evicts one segment's items to flash at most (the first copies need a segment), not 12000.
  const CacheStats stats = cache_->Stats();
  EXPECT_LT(stats.extstore_objects_written - written, 2 * (64u << 10) / 500);
  EXPECT_EQ(stats.curr_items, static_cast<uint64_t>(kItems));
}

TEST_F(FlashTierTest, ARecordLongerThanTheRecentOnesIsReadWhole) {
  // Many short records, then longer ones: the first read of those asks for about the short ones'
  // size (FlashReadSize), and the rest of each record comes in a second read.
  constexpr int kShort = 8000;  // of 520 bytes: shorter ones stay in RAM (ext_item_size)
  Fill(kShort, 520);
  const std::vector<size_t> long_sizes = {1000, 3000, 4090, 4100, 20000};
  for (size_t j = 0; j < long_sizes.size(); ++j) {
    const int i = kShort + static_cast<int>(j);
    ASSERT_EQ(cache_calls::Store(*cache_, *ctx_, StoreMode::kSet, "key" + std::to_string(i), 0, 0,
                                 ValueFor(i, long_sizes[j])),
              StoreResult::kStored);
  }
  Fill(kShort, 520);  // pushes the long ones to flash too
  ASSERT_GT(cache_->Stats().extstore_objects_used, static_cast<uint64_t>(kShort) / 2);
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 200; ++i) {
      EXPECT_EQ(ValueOf(*cache_, *ctx_, "key" + std::to_string(i)), ValueFor(i, 520)) << i;
    }
    const uint64_t reads = cache_->Stats().extstore_objects_read;
    for (size_t j = 0; j < long_sizes.size(); ++j) {
      const int i = kShort + static_cast<int>(j);
      EXPECT_EQ(ValueOf(*cache_, *ctx_, "key" + std::to_string(i)), ValueFor(i, long_sizes[j]))
          << long_sizes[j];
    }
    EXPECT_EQ(cache_->Stats().extstore_objects_read - reads, long_sizes.size());  // all on flash
  }
  EXPECT_EQ(cache_->Stats().badcrc_from_extstore, 0u);
}

TEST_F(FlashTierTest, AnItemReadOftenOnFlashComesBackToRam) {
  Fill(8000, 500);
  const uint64_t reads_before = cache_->Stats().extstore_objects_read;
  for (uint32_t i = 0; i < FlashRecall::kRecacheReads; ++i) {
    EXPECT_EQ(ValueOf(*cache_, *ctx_, "key0"), ValueFor(0, 500));
  }
  const uint64_t reads = cache_->Stats().extstore_objects_read;
  EXPECT_EQ(reads - reads_before, FlashRecall::kRecacheReads);
  // Back in RAM: no more flash reads.
  EXPECT_EQ(ValueOf(*cache_, *ctx_, "key0"), ValueFor(0, 500));
  EXPECT_EQ(cache_->Stats().extstore_objects_read, reads);
}

// Drops the flash file's pages from the page cache, as if the kernel had reclaimed them.
void DropPageCache(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  EXPECT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
  ::close(fd);
}

LookupResult GetWaiting(Cache& cache, Cache::Context& ctx, std::string_view key, ItemSink& sink) {
  ReadOptions options;
  options.can_win = false;
  options.may_wait_for_flash = true;
  return cache.Get(ctx, key, options, sink);
}

TEST_F(FlashTierTest, AReadThatMayWaitLeavesAColdRecordToItsCallerAndProgressesAfter) {
  Fill(12000, 500);
  cache_->AllowFlashWaits(*ctx_);
  DropPageCache(file_->path());
  const CacheStats before = cache_->Stats();
  CapturedItem item;
  const LookupResult first = GetWaiting(*cache_, *ctx_, "key0", item);
  if (first == LookupResult::kHit) GTEST_SKIP() << "the flash file's pages stay cached (tmpfs?)";
  ASSERT_EQ(first, LookupResult::kWaitForFlash);
  EXPECT_FALSE(item.seen);
  // It did nothing: no read counted, no item moved.
  const CacheStats after = cache_->Stats();
  EXPECT_EQ(after.extstore_objects_read, before.extstore_objects_read);
  EXPECT_EQ(after.get_extstore, before.get_extstore);
  const std::optional<FlashWait> wait = cache_->TakeFlashWait(*ctx_);
  ASSERT_TRUE(wait.has_value());
  EXPECT_FALSE(cache_->TakeFlashWait(*ctx_).has_value());  // taken
  EXPECT_GE(wait->fd, 0);
  EXPECT_GT(wait->length, 0u);
  EXPECT_LE(wait->length, FlashTier::kFirstRead);
  // The caller reads the bytes into the page cache (as the worker's FlashReader does); the read
  // run again finds them.
  std::string bytes(wait->length, '\0');
  ASSERT_EQ(::pread(wait->fd, bytes.data(), bytes.size(), static_cast<off_t>(wait->offset)),
            static_cast<ssize_t>(bytes.size()));
  cache_->SetFlashWaitServed(*ctx_, wait);
  ASSERT_EQ(GetWaiting(*cache_, *ctx_, "key0", item), LookupResult::kHit);
  EXPECT_EQ(item.value, ValueFor(0, 500));

  // Bytes served that the kernel dropped again are read blocking: the read progresses.
  CapturedItem again;
  DropPageCache(file_->path());
  ASSERT_EQ(GetWaiting(*cache_, *ctx_, "key5000", again), LookupResult::kWaitForFlash);
  cache_->SetFlashWaitServed(*ctx_, cache_->TakeFlashWait(*ctx_));
  ASSERT_EQ(GetWaiting(*cache_, *ctx_, "key5000", again), LookupResult::kHit);
  EXPECT_EQ(again.value, ValueFor(5000, 500));
  // ...for that Get only.
  DropPageCache(file_->path());
  EXPECT_EQ(GetWaiting(*cache_, *ctx_, "key5000", again), LookupResult::kWaitForFlash);
  EXPECT_TRUE(cache_->TakeFlashWait(*ctx_).has_value());

  // A read that does not ask to wait, or on a context that does not allow it, reads blocking.
  CapturedItem blocking;
  DropPageCache(file_->path());
  ASSERT_EQ(cache_calls::Get(*cache_, *ctx_, "key3000", blocking), LookupResult::kHit);
  EXPECT_EQ(blocking.value, ValueFor(3000, 500));
  const std::unique_ptr<Cache::Context> other = cache_->NewContext();
  CapturedItem other_item;
  DropPageCache(file_->path());
  ASSERT_EQ(GetWaiting(*cache_, *other, "key4000", other_item), LookupResult::kHit);
  EXPECT_EQ(other_item.value, ValueFor(4000, 500));
  EXPECT_FALSE(cache_->TakeFlashWait(*other).has_value());
}

TEST_F(FlashTierTest, AWalkListsItemsOnFlashToo) {
  constexpr int kItems = 8000;
  std::vector<uint64_t> cas;
  Fill(kItems, 500, &cas);
  ASSERT_GT(cache_->Stats().extstore_objects_used, static_cast<uint64_t>(kItems) / 2);
  std::map<std::string, WalkedItem> seen;
  WalkCursor cursor;
  WalkBatch batch;
  while (!cursor.done) {
    cache_->Walk(&cursor, 64, &batch);
    for (const WalkedItem& item : batch.items()) seen[std::string(batch.key(item))] = item;
  }
  ASSERT_EQ(seen.size(), static_cast<size_t>(kItems));
  for (int i = 0; i < kItems; i += 101) {
    const WalkedItem& item = seen["key" + std::to_string(i)];
    EXPECT_EQ(item.cas, cas[static_cast<size_t>(i)]) << i;
    EXPECT_EQ(item.flags, static_cast<uint32_t>(i));
    EXPECT_EQ(item.value_size, 500u);
  }
}

TEST_F(FlashTierTest, EveryCommandFindsAnItemOnFlash) {
  constexpr int kItems = 8000;
  std::vector<uint64_t> cas;
  Fill(kItems, 500, &cas);
  // key0 .. key9 were written first: by now they are on flash.
  EXPECT_EQ(cache_calls::Store(*cache_, *ctx_, StoreMode::kAdd, "key0", 0, 0, "x", 0, nullptr),
            StoreResult::kNotStored);
  EXPECT_EQ(
      cache_calls::Store(*cache_, *ctx_, StoreMode::kCas, "key1", 0, 0, "new", cas[1], nullptr),
      StoreResult::kStored);
  EXPECT_EQ(ValueOf(*cache_, *ctx_, "key1"), "new");
  EXPECT_EQ(cache_calls::Store(*cache_, *ctx_, StoreMode::kAppend, "key2", 0, 0, "!", 0, nullptr),
            StoreResult::kStored);
  EXPECT_EQ(ValueOf(*cache_, *ctx_, "key2"), ValueFor(2, 500) + "!");
  EXPECT_EQ(cache_calls::Delete(*cache_, *ctx_, "key3"), DeleteResult::kDeleted);
  CapturedItem item;
  EXPECT_EQ(cache_calls::Get(*cache_, *ctx_, "key3", item), LookupResult::kMiss);
  EXPECT_EQ(cache_->Touch(*ctx_, "key4", 1000), TouchResult::kTouched);
  EXPECT_EQ(cache_calls::Store(*cache_, *ctx_, StoreMode::kReplace, "key5", 0, 0, "r", 0, nullptr),
            StoreResult::kStored);
  EXPECT_EQ(ValueOf(*cache_, *ctx_, "key5"), "r");
  // A set of a key on flash replaces it: one item, not two.
  const uint64_t before = cache_->Stats().curr_items;
  EXPECT_EQ(cache_calls::Store(*cache_, *ctx_, StoreMode::kSet, "key6", 0, 0, "s", 0, nullptr),
            StoreResult::kStored);
  EXPECT_EQ(cache_->Stats().curr_items, before);
  EXPECT_EQ(ValueOf(*cache_, *ctx_, "key6"), "s");
}

TEST_F(FlashTierTest, ASetOfAKeyOnFlashWritesItsValueOnce) {
  Fill(8000, 500);
  // A CAS derived from a location grows by the size of each item written into the same segment:
  // a set over key0..key9 (on flash, same key and value sizes as the others) between two sets of
  // new keys must be one item apart from each, not two (a version written, then written again
  // after the key's old version was read from flash).
  const std::string value(500, 'v');
  const auto set = [&](const std::string& key) {
    uint64_t cas = 0;
    EXPECT_EQ(cache_calls::Store(*cache_, *ctx_, StoreMode::kSet, key, 0, 0, value, 0, &cas),
              StoreResult::kStored);
    return cas;
  };
  for (int i = 0; i < 10; ++i) {
    const uint64_t before = set("new" + std::to_string(i));
    const uint64_t on_flash = set("key" + std::to_string(i));
    const uint64_t after = set("old" + std::to_string(i));
    // Otherwise a segment ended between them: their CAS came from different epochs.
    if (after - before < (uint64_t{64} << 10)) {
      EXPECT_EQ(on_flash - before, after - on_flash);
      return;
    }
  }
  ADD_FAILURE() << "every triple of sets spanned two segments";
}

TEST_F(FlashTierTest, ArithmeticOnAnItemOnFlash) {
  ASSERT_EQ(cache_calls::Store(*cache_, *ctx_, StoreMode::kSet, "counter", 0, 0, "41", 0, nullptr),
            StoreResult::kStored);
  Fill(8000, 500);
  uint64_t value = 0;
  uint64_t cas = 0;
  ASSERT_EQ(cache_calls::Arithmetic(*cache_, *ctx_, "counter", true, 1, &value, &cas),
            ArithResult::kOk);
  EXPECT_EQ(value, 42u);
}

TEST_F(FlashTierTest, FlashIsReusedFirstInFirstOutAndTheCountsFollow) {
  Make(4);                       // 64 segments of 64 KiB
  constexpr int kItems = 30000;  // about 16 MiB: flash wraps around several times
  Fill(kItems, 500);
  const CacheStats stats = cache_->Stats();
  int hits = 0;
  for (int i = 0; i < kItems; ++i) {
    CapturedItem item;
    const std::string key = "key" + std::to_string(i);
    if (cache_calls::Get(*cache_, *ctx_, key, item) == LookupResult::kHit) {
      ++hits;
      EXPECT_EQ(item.value, ValueFor(i, 500)) << i;
    }
  }
  // RAM and flash hold about 6 MiB of the 16: the newest items. Reading brings items back to RAM,
  // which pushes others to flash and the oldest on flash out: a few that were counted are gone.
  EXPECT_LE(static_cast<uint64_t>(hits), stats.curr_items);
  EXPECT_GT(static_cast<uint64_t>(hits), stats.curr_items * 95 / 100);
  EXPECT_GT(hits, 8000);
  EXPECT_LT(hits, 13000);
  CapturedItem item;
  EXPECT_EQ(cache_calls::Get(*cache_, *ctx_, "key0", item), LookupResult::kMiss);
  EXPECT_EQ(cache_calls::Get(*cache_, *ctx_, "key" + std::to_string(kItems - 1), item),
            LookupResult::kHit);
}

TEST_F(FlashTierTest, FlushAllInvalidatesItemsOnFlash) {
  Fill(8000, 500);
  FlushRequest flush;
  cache_->FlushAll(flush);
  for (int i = 0; i < 8000; i += 97) {
    CapturedItem item;
    EXPECT_NE(cache_calls::Get(*cache_, *ctx_, "key" + std::to_string(i), item), LookupResult::kHit)
        << i;
  }
  // Items written after the flush go to flash and come back.
  Fill(8000, 500);
  EXPECT_EQ(ValueOf(*cache_, *ctx_, "key0"), ValueFor(0, 500));
}

TEST_F(FlashTierTest, ACorruptRecordIsAMissNeverWrongBytes) {
  Fill(8000, 500);
  // Flip a byte in every record's value of the first flash segment (after its header).
  const int fd = ::open(file_->path().c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  std::string segment(64 << 10, '\0');
  ASSERT_EQ(::pread(fd, segment.data(), segment.size(), 0), static_cast<ssize_t>(segment.size()));
  for (size_t i = FlashTier::kHeaderSize + 100; i < segment.size(); i += 50) segment[i] ^= 0x20;
  ASSERT_EQ(::pwrite(fd, segment.data(), segment.size(), 0), static_cast<ssize_t>(segment.size()));
  ::close(fd);
  int hits = 0;
  for (int i = 0; i < 8000; ++i) {
    CapturedItem item;
    if (cache_calls::Get(*cache_, *ctx_, "key" + std::to_string(i), item) == LookupResult::kHit) {
      ++hits;
      EXPECT_EQ(item.value, ValueFor(i, 500)) << i;
    }
  }
  EXPECT_LT(hits, 8000);
  EXPECT_GT(hits, 7000);
  EXPECT_GT(cache_->Stats().miss_from_extstore, 0u);
}

TEST(FlashTierCreateTest, RefusesFlashSegmentsOfAnotherSize) {
  FlashFile file(8, size_t{128} << 10);  // the cache's are 64 KiB
  std::unique_ptr<Cache> cache;
  const Status status = Cache::Create(FlashOptions(file), &cache);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("flash segments of 131072 bytes, but the cache's are 65536"),
            std::string::npos)
      << status.message();
}

// Four threads write, read and delete over a key space three times RAM, so that items move to
// flash and back while other threads look them up: every hit carries the value last written by
// the only thread that writes its key.
TEST(FlashTierConcurrencyTest, ThreadsMovingItemsBetweenRamAndFlash) {
  FlashFile file(16);
  CacheOptions options = FlashOptions(file);
  options.background_thread = true;
  std::unique_ptr<Cache> cache = CreateCacheOrDie(options);
  constexpr int kThreads = 4;
  constexpr int kKeysPerThread = 3000;
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::unique_ptr<Cache::Context> ctx = cache->NewContext();
      std::mt19937 rng(static_cast<uint32_t>(t));
      std::vector<int> version(kKeysPerThread, -1);
      for (int op = 0; op < 40000; ++op) {
        const int k = static_cast<int>(rng() % kKeysPerThread);
        const std::string key = "t" + std::to_string(t) + "k" + std::to_string(k);
        const uint32_t what = rng() % 10;
        if (what < 4) {
          version[static_cast<size_t>(k)] = op;
          if (cache_calls::Store(*cache, *ctx, StoreMode::kSet, key, 0, 0, ValueFor(op, 500), 0,
                                 nullptr) != StoreResult::kStored) {
            version[static_cast<size_t>(k)] = -1;
          }
        } else if (what < 5) {
          (void)cache_calls::Delete(*cache, *ctx, key);
          version[static_cast<size_t>(k)] = -1;
        } else {
          CapturedItem item;
          if (cache_calls::Get(*cache, *ctx, key, item) == LookupResult::kHit &&
              item.value != ValueFor(version[static_cast<size_t>(k)], 500)) {
            ++wrong;
          }
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_GT(cache->Stats().get_extstore, 0u);
}

}  // namespace
}  // namespace mnemo::storage
