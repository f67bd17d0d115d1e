// The change observer seen through the Cache interface: every kind of client change is reported
// exactly once, as its result; failed commands, reads, evictions, merges, moves to and from flash,
// expiry and suppressed changes are not.
#include "storage/change_observer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/clock.h"
#include "flash/flash_space.h"
#include "storage/flash_recall.h"
#include "testing/storage/cache_calls.h"
#include "testing/storage/cache_test_util.h"

namespace mnemo::storage {
namespace {

struct Observed {
  ChangeKind kind = ChangeKind::kStore;
  std::string key;
  std::string value;
  uint32_t flags = 0;
  bool key_binary = false;
  int64_t expires_at = 0;
  FlushRequest flush;
};

class RecordingObserver final : public ChangeObserver {
 public:
  void OnChange(const Change& change) override {
    Observed observed;
    observed.kind = change.kind;
    observed.key = std::string(change.key);
    observed.key_binary = change.key_binary;
    observed.expires_at = change.expires_at;
    observed.flush = change.flush;
    if (change.item != nullptr) {
      observed.flags = change.item->flags();
      observed.value.resize(change.item->value_size());
      EXPECT_TRUE(change.item->CopyValue(observed.value.data()));
    }
    changes.push_back(observed);
  }
  // The changes recorded since the last call.
  std::vector<Observed> Take() { return std::exchange(changes, {}); }

  std::vector<Observed> changes;
};

CacheOptions SmallOptions(RecordingObserver* observer) {
  CacheOptions options;
  options.memory_limit = size_t{4} << 20;
  options.segment_size = size_t{256} << 10;
  options.item_size_max = size_t{1} << 20;
  options.background_thread = false;
  options.change_observer = observer;
  return options;
}

class ChangeObserverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cache_ = CreateCacheOrDie(SmallOptions(&observer_));
    ctx_ = cache_->NewContext();
  }

  StoreResult Store(StoreMode mode, std::string_view key, std::string_view value,
                    uint32_t flags = 0, Exptime exptime = 0, uint64_t cas = 0) {
    return cache_calls::Store(*cache_, *ctx_, mode, key, flags, exptime, value, cas);
  }
  // The one change recorded since the last call.
  Observed One() {
    std::vector<Observed> changes = observer_.Take();
    EXPECT_EQ(changes.size(), 1u);
    return changes.empty() ? Observed{} : changes.front();
  }
  void ExpectNone() { EXPECT_TRUE(observer_.Take().empty()); }

  RecordingObserver observer_;
  std::unique_ptr<Cache> cache_;
  std::unique_ptr<Cache::Context> ctx_;
};

TEST_F(ChangeObserverTest, StoresReportTheWholeNewVersion) {
  ASSERT_EQ(Store(StoreMode::kSet, "k", "one", 7, 100), StoreResult::kStored);
  Observed set = One();
  EXPECT_EQ(set.kind, ChangeKind::kStore);
  EXPECT_EQ(set.key, "k");
  EXPECT_EQ(set.value, "one");
  EXPECT_EQ(set.flags, 7u);
  EXPECT_NEAR(static_cast<double>(set.expires_at), static_cast<double>(WallSeconds() + 100), 1);

  ASSERT_EQ(Store(StoreMode::kAdd, "a", "added", 1), StoreResult::kStored);
  EXPECT_EQ(One().value, "added");
  ASSERT_EQ(Store(StoreMode::kReplace, "k", "two", 8), StoreResult::kStored);
  Observed replaced = One();
  EXPECT_EQ(replaced.value, "two");
  EXPECT_EQ(replaced.flags, 8u);
  EXPECT_EQ(replaced.expires_at, 0) << "never expires";

  ASSERT_EQ(Store(StoreMode::kAppend, "k", "-end"), StoreResult::kStored);
  Observed appended = One();
  EXPECT_EQ(appended.value, "two-end") << "an append is reported as the whole";
  EXPECT_EQ(appended.flags, 8u);
  ASSERT_EQ(Store(StoreMode::kPrepend, "k", "start-"), StoreResult::kStored);
  EXPECT_EQ(One().value, "start-two-end");

  CapturedItem item;
  ASSERT_EQ(cache_calls::Get(*cache_, *ctx_, "k", item), LookupResult::kHit);
  ExpectNone();  // a read is no change
  ASSERT_EQ(Store(StoreMode::kCas, "k", "swapped", 3, 0, item.cas), StoreResult::kStored);
  EXPECT_EQ(One().value, "swapped");
}

TEST_F(ChangeObserverTest, FailedCommandsReportNothing) {
  ASSERT_EQ(Store(StoreMode::kSet, "k", "v"), StoreResult::kStored);
  (void)observer_.Take();
  EXPECT_EQ(Store(StoreMode::kAdd, "k", "x"), StoreResult::kNotStored);
  EXPECT_EQ(Store(StoreMode::kReplace, "missing", "x"), StoreResult::kNotStored);
  EXPECT_EQ(Store(StoreMode::kAppend, "missing", "x"), StoreResult::kNotStored);
  EXPECT_EQ(Store(StoreMode::kCas, "k", "x", 0, 0, 12345), StoreResult::kExists);
  EXPECT_EQ(Store(StoreMode::kCas, "missing", "x", 0, 0, 12345), StoreResult::kNotFound);
  EXPECT_EQ(cache_calls::Delete(*cache_, *ctx_, "missing"), DeleteResult::kNotFound);
  uint64_t value = 0;
  EXPECT_EQ(cache_calls::Arithmetic(*cache_, *ctx_, "k", true, 1, &value),
            ArithResult::kNonNumeric);
  EXPECT_EQ(cache_->Touch(*ctx_, "missing", 10), TouchResult::kNotFound);
  ExpectNone();
}

TEST_F(ChangeObserverTest, ArithmeticReportsTheNumber) {
  ASSERT_EQ(Store(StoreMode::kSet, "n", "10", 5), StoreResult::kStored);
  (void)observer_.Take();
  uint64_t value = 0;
  ASSERT_EQ(cache_calls::Arithmetic(*cache_, *ctx_, "n", true, 5, &value), ArithResult::kOk);
  Observed incr = One();
  EXPECT_EQ(incr.value, "15");
  EXPECT_EQ(incr.flags, 5u);
  ASSERT_EQ(cache_calls::Arithmetic(*cache_, *ctx_, "n", false, 8, &value), ArithResult::kOk);
  EXPECT_EQ(One().value, "7 ") << "decr keeps the length, as memcached";

  ArithRequest vivify;
  vivify.key = "created";
  vivify.vivify = true;
  vivify.initial = 42;
  ArithOutcome outcome;
  ASSERT_EQ(cache_->Arithmetic(*ctx_, vivify, &outcome), ArithResult::kOk);
  EXPECT_EQ(One().value, "42");
}

TEST_F(ChangeObserverTest, RemovalsReportTheKeyGone) {
  ASSERT_EQ(Store(StoreMode::kSet, "k", "v"), StoreResult::kStored);
  (void)observer_.Take();
  ASSERT_EQ(cache_calls::Delete(*cache_, *ctx_, "k"), DeleteResult::kDeleted);
  Observed deleted = One();
  EXPECT_EQ(deleted.kind, ChangeKind::kRemove);
  EXPECT_EQ(deleted.key, "k");

  // A store whose exptime is past removes the key.
  ASSERT_EQ(Store(StoreMode::kSet, "k", "v"), StoreResult::kStored);
  (void)observer_.Take();
  ASSERT_EQ(Store(StoreMode::kSet, "k", "gone", 0, -1), StoreResult::kStored);
  EXPECT_EQ(One().kind, ChangeKind::kRemove);

  // A set refused as too large removes the old value.
  ASSERT_EQ(Store(StoreMode::kSet, "k", "v"), StoreResult::kStored);
  (void)observer_.Take();
  const std::string huge((size_t{1} << 20) + 1, 'x');
  ASSERT_EQ(Store(StoreMode::kSet, "k", huge), StoreResult::kTooLarge);
  EXPECT_EQ(One().kind, ChangeKind::kRemove);
}

TEST_F(ChangeObserverTest, MetaInvalidationIsAReportedRemovalAndDropValueAStore) {
  ASSERT_EQ(Store(StoreMode::kSet, "k", "v", 3), StoreResult::kStored);
  (void)observer_.Take();
  DeleteRequest invalidate;
  invalidate.key = "k";
  invalidate.invalidate = true;
  ASSERT_EQ(cache_->Delete(*ctx_, invalidate), DeleteResult::kDeleted);
  EXPECT_EQ(One().kind, ChangeKind::kRemove) << "no copy holds stale items";

  ASSERT_EQ(Store(StoreMode::kSet, "k", "v", 3), StoreResult::kStored);
  (void)observer_.Take();
  DeleteRequest drop;
  drop.key = "k";
  drop.drop_value = true;
  drop.flags = 9;
  ASSERT_EQ(cache_->Delete(*ctx_, drop), DeleteResult::kDeleted);
  Observed emptied = One();
  EXPECT_EQ(emptied.kind, ChangeKind::kStore);
  EXPECT_EQ(emptied.value, "");
  EXPECT_EQ(emptied.flags, 9u);

  // ms I with an older token stores a stale version: a removal too.
  CapturedItem item;
  ASSERT_EQ(cache_calls::Get(*cache_, *ctx_, "k", item), LookupResult::kHit);
  ASSERT_EQ(Store(StoreMode::kSet, "k", "newer"), StoreResult::kStored);
  (void)observer_.Take();
  WriteRequest stale;
  stale.mode = StoreMode::kCas;
  stale.key = "k";
  stale.value = "older";
  stale.cas = item.cas;
  stale.invalidate = true;
  ASSERT_EQ(cache_->Store(*ctx_, stale, nullptr), StoreResult::kStored);
  EXPECT_EQ(One().kind, ChangeKind::kRemove);
}

TEST_F(ChangeObserverTest, TouchesReportTheNewExpiry) {
  ASSERT_EQ(Store(StoreMode::kSet, "k", "v"), StoreResult::kStored);
  (void)observer_.Take();
  // From never to a time: the item moves (its header grows).
  ASSERT_EQ(cache_->Touch(*ctx_, "k", 500), TouchResult::kTouched);
  Observed touched = One();
  EXPECT_EQ(touched.kind, ChangeKind::kTouch);
  EXPECT_EQ(touched.key, "k");
  EXPECT_NEAR(static_cast<double>(touched.expires_at), static_cast<double>(WallSeconds() + 500), 1);
  // From a time to another: in place.
  CapturedItem item;
  ASSERT_EQ(cache_calls::GetAndTouch(*cache_, *ctx_, "k", 900, item), LookupResult::kHit);
  Observed gat = One();
  EXPECT_EQ(gat.kind, ChangeKind::kTouch);
  EXPECT_NEAR(static_cast<double>(gat.expires_at), static_cast<double>(WallSeconds() + 900), 1);
  // mg T.
  ReadOptions mg;
  mg.touch = true;
  mg.touch_exptime = 0;
  ASSERT_EQ(cache_->Get(*ctx_, "k", mg, item), LookupResult::kHit);
  Observed never = One();
  EXPECT_EQ(never.kind, ChangeKind::kTouch);
  EXPECT_EQ(never.expires_at, 0);
  // A touch into the past removes the key.
  ASSERT_EQ(cache_->Touch(*ctx_, "k", -1), TouchResult::kTouched);
  EXPECT_EQ(One().kind, ChangeKind::kRemove);
}

TEST_F(ChangeObserverTest, MetaVivifyReportsTheCreatedItem) {
  ReadOptions mg;
  mg.vivify = true;
  mg.vivify_exptime = 60;
  CapturedItem item;
  ASSERT_EQ(cache_->Get(*ctx_, "fresh", mg, item), LookupResult::kHit);
  Observed created = One();
  EXPECT_EQ(created.kind, ChangeKind::kStore);
  EXPECT_EQ(created.value, "");
  ASSERT_EQ(cache_->Get(*ctx_, "fresh", mg, item), LookupResult::kHit);
  ExpectNone();  // found, not created
}

TEST_F(ChangeObserverTest, FlushIsReportedUnlessNotObserved) {
  cache_->FlushAll({.delay_seconds = 4, .whole_second = true});
  Observed flush = One();
  EXPECT_EQ(flush.kind, ChangeKind::kFlush);
  EXPECT_EQ(flush.flush.delay_seconds, 4u);
  EXPECT_TRUE(flush.flush.whole_second);
  cache_->FlushAll({.observed = false});
  ExpectNone();
}

TEST_F(ChangeObserverTest, ASuppressedContextReportsNothing) {
  cache_->SuppressChanges(*ctx_, true);
  EXPECT_TRUE(cache_->ChangesSuppressed(*ctx_));
  ASSERT_EQ(Store(StoreMode::kSet, "k", "v"), StoreResult::kStored);
  ASSERT_EQ(Store(StoreMode::kAppend, "k", "w"), StoreResult::kStored);
  ASSERT_EQ(cache_->Touch(*ctx_, "k", 100), TouchResult::kTouched);
  ASSERT_EQ(cache_calls::Delete(*cache_, *ctx_, "k"), DeleteResult::kDeleted);
  ExpectNone();
  // Another context is not suppressed.
  auto other = cache_->NewContext();
  ASSERT_EQ(cache_calls::Store(*cache_, *other, StoreMode::kSet, "k", 0, 0, "x"),
            StoreResult::kStored);
  EXPECT_EQ(One().value, "x");
  cache_->SuppressChanges(*ctx_, false);
  ASSERT_EQ(Store(StoreMode::kSet, "k", "y"), StoreResult::kStored);
  EXPECT_EQ(One().value, "y");
}

TEST_F(ChangeObserverTest, CompressedValuesAreReportedAsTheirOriginalBytes) {
  const std::string value(4000, 'z');
  ASSERT_EQ(Store(StoreMode::kSet, "big", value), StoreResult::kStored);
  EXPECT_GT(cache_->Stats().compress_items, 0u);
  EXPECT_EQ(One().value, value);
  ASSERT_EQ(Store(StoreMode::kAppend, "big", "!"), StoreResult::kStored);
  EXPECT_EQ(One().value, value + "!");
}

TEST_F(ChangeObserverTest, BinaryKeysAreMarked) {
  WriteRequest request;
  request.key = "bin";
  request.value = "v";
  request.key_binary = true;
  ASSERT_EQ(cache_->Store(*ctx_, request, nullptr), StoreResult::kStored);
  EXPECT_TRUE(One().key_binary);
}

TEST_F(ChangeObserverTest, ExpiryIsNoChange) {
  ASSERT_EQ(Store(StoreMode::kSet, "k", "v", 0, 1), StoreResult::kStored);
  (void)observer_.Take();
  AdvanceClockForTesting(3);
  CapturedItem item;
  EXPECT_EQ(cache_calls::Get(*cache_, *ctx_, "k", item), LookupResult::kExpired);
  EXPECT_EQ(cache_calls::Delete(*cache_, *ctx_, "k"), DeleteResult::kNotFound);
  ExpectNone();
}

// Merges copy read items forward and drop the rest; neither is a change.
TEST(ChangeObserverEvictionTest, EvictionsAndMergesReportNothing) {
  for (const EvictionPolicy policy : {EvictionPolicy::kMerge, EvictionPolicy::kFifo}) {
    RecordingObserver observer;
    CacheOptions options;
    options.memory_limit = size_t{2} << 20;
    options.segment_size = size_t{64} << 10;
    options.background_thread = false;
    options.eviction = policy;
    options.compression = Compression::kOff;
    options.change_observer = &observer;
    std::unique_ptr<Cache> cache = CreateCacheOrDie(options);
    auto ctx = cache->NewContext();
    const std::string value(100, 'v');
    constexpr int kKeys = 60000;  // about 7 MB: evicts
    for (int i = 0; i < kKeys; ++i) {
      ASSERT_EQ(cache_calls::Store(*cache, *ctx, StoreMode::kSet, "key:" + std::to_string(i), 0, 0,
                                   value),
                StoreResult::kStored);
      // Read some so that merges copy them forward.
      if (i % 7 == 0) (void)ValueOf(*cache, *ctx, "key:" + std::to_string(i / 2));
    }
    const CacheStats stats = cache->Stats();
    EXPECT_GT(stats.evictions, 0u);
    if (policy == EvictionPolicy::kMerge) {
      EXPECT_GT(stats.items_copied_forward, 0u);
    }
    EXPECT_EQ(observer.changes.size(), static_cast<size_t>(kKeys)) << "one per store, no more";
  }
}

// A flash device on a file in the test's temporary directory, removed at the end.
class FlashFile {
 public:
  explicit FlashFile(size_t mib) {
    const char* dir = std::getenv("TMPDIR");
    path_ = std::string(dir != nullptr ? dir : "/tmp") + "/mnemo-flash-XXXXXX";
    const int fd = ::mkstemp(path_.data());
    EXPECT_GE(fd, 0);
    ::close(fd);
    const flash::DeviceSpec spec{path_, uint64_t{mib} << 20};
    auto space = flash::FlashSpace::Open(std::span(&spec, 1), size_t{64} << 10);
    EXPECT_TRUE(space.ok()) << space.status().message();
    if (space.ok()) space_ = std::move(space.value());
  }
  ~FlashFile() { ::unlink(path_.c_str()); }
  const flash::FlashSpace* space() const { return space_.get(); }

 private:
  std::string path_;
  std::unique_ptr<flash::FlashSpace> space_;
};

TEST(ChangeObserverFlashTest, MovesToAndFromFlashReportNothing) {
  FlashFile file(32);
  RecordingObserver observer;
  CacheOptions options;
  options.memory_limit = size_t{2} << 20;
  options.segment_size = size_t{64} << 10;
  options.background_thread = false;
  options.compression = Compression::kOff;
  options.flash = file.space();
  options.change_observer = &observer;
  std::unique_ptr<Cache> cache = CreateCacheOrDie(options);
  auto ctx = cache->NewContext();
  constexpr int kKeys = 8000;  // 4 MB of values: half of them go to flash
  const std::string value(500, 'f');
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_EQ(
        cache_calls::Store(*cache, *ctx, StoreMode::kSet, "key" + std::to_string(i), 0, 0, value),
        StoreResult::kStored);
  }
  EXPECT_GT(cache->Stats().extstore_objects_written, 0u);
  // Reading key0 often enough brings it back to RAM.
  for (uint32_t i = 0; i <= FlashRecall::kRecacheReads; ++i) {
    EXPECT_EQ(ValueOf(*cache, *ctx, "key0"), value);
  }
  EXPECT_GT(cache->Stats().extstore_objects_read, 0u);
  EXPECT_EQ(observer.changes.size(), static_cast<size_t>(kKeys));
  // A change of a key on flash is reported once.
  (void)observer.Take();
  ASSERT_EQ(cache_calls::Store(*cache, *ctx, StoreMode::kAppend, "key1", 0, 0, "+"),
            StoreResult::kStored);
  std::vector<Observed> changes = observer.Take();
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].value, value + "+");
}

}  // namespace
}  // namespace mnemo::storage
