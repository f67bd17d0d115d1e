// The cache's full forms (cache.h: WriteRequest, ReadOptions, DeleteRequest, ArithRequest), which
// the meta protocol needs: explicit CAS, CAS kept across touch, stale items and the single
// winner of a recache, vivify on miss, compare-CAS on every write, and what a read reports
// (ItemMeta). The last tests race threads for a win; they run under TSan (label concurrency).
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "storage/cache.h"
#include "testing/storage/cache_calls.h"
#include "testing/storage/cache_test_util.h"

namespace mnemo::storage {
namespace {

CacheOptions SmallOptions() {
  CacheOptions options;
  options.memory_limit = size_t{4} << 20;
  options.segment_size = size_t{256} << 10;
  options.background_thread = false;
  return options;
}

// What a full-form read saw: the classic capture plus ItemMeta.
struct MetaCapture : CapturedItem {
  void OnItem(const ItemView& item) override {
    CapturedItem::OnItem(item);
    meta = item.meta();
  }
  ItemMeta meta;
};

class CacheMetaTest : public ::testing::Test {
 protected:
  void Make(const CacheOptions& options) {
    ctx_.reset();
    cache_ = CreateCacheOrDie(options);
    ctx_ = cache_->NewContext();
  }
  void SetUp() override { Make(SmallOptions()); }

  StoreResult Write(const WriteRequest& request, WriteOutcome* outcome = nullptr) {
    WriteOutcome ignored;
    return cache_->Store(*ctx_, request, outcome != nullptr ? outcome : &ignored);
  }
  StoreResult Set(std::string_view key, std::string_view value, Exptime exptime = 0) {
    return storage::Set(*cache_, *ctx_, key, value, exptime);
  }
  // A full-form read; *result (if given) receives the lookup result.
  MetaCapture Read(std::string_view key, const ReadOptions& options = ReadOptions(),
                   LookupResult* result = nullptr) {
    MetaCapture item;
    const LookupResult r = cache_->Get(*ctx_, key, options, item);
    if (result != nullptr) *result = r;
    return item;
  }
  uint64_t CasOf(std::string_view key) {
    CapturedItem item;
    EXPECT_EQ(cache_calls::Get(*cache_, *ctx_, key, item), LookupResult::kHit) << key;
    return item.cas;
  }

  std::unique_ptr<Cache> cache_;
  std::unique_ptr<Cache::Context> ctx_;
};

TEST_F(CacheMetaTest, ExplicitCasIsStoredReadAndMatched) {
  WriteRequest request;
  request.key = "k";
  request.value = "v";
  request.new_cas = 12345;
  WriteOutcome outcome;
  ASSERT_EQ(Write(request, &outcome), StoreResult::kStored);
  EXPECT_EQ(outcome.cas, 12345u);
  EXPECT_EQ(CasOf("k"), 12345u);
  EXPECT_EQ(cache_calls::Store(*cache_, *ctx_, StoreMode::kCas, "k", 0, 0, "w", 12344, nullptr),
            StoreResult::kExists);
  uint64_t cas = 0;
  EXPECT_EQ(cache_calls::Store(*cache_, *ctx_, StoreMode::kCas, "k", 0, 0, "w", 12345, &cas),
            StoreResult::kStored);
  EXPECT_NE(cas, 12345u) << "a write without E gets a fresh CAS";
  EXPECT_EQ(CasOf("k"), cas);
  // An item given CAS 0 still matches no token of 0, as in memcached.
  request.new_cas = 0;
  ASSERT_EQ(Write(request), StoreResult::kStored);
  EXPECT_EQ(CasOf("k"), 0u);
  EXPECT_EQ(cache_calls::Store(*cache_, *ctx_, StoreMode::kCas, "k", 0, 0, "w", 0, nullptr),
            StoreResult::kExists);
}

TEST_F(CacheMetaTest, ExplicitCasIsZeroWithoutCas) {
  CacheOptions options = SmallOptions();
  options.use_cas = false;
  Make(options);
  WriteRequest request;
  request.key = "k";
  request.value = "v";
  request.new_cas = 99;
  WriteOutcome outcome;
  ASSERT_EQ(Write(request, &outcome), StoreResult::kStored);
  EXPECT_EQ(outcome.cas, 0u);
  EXPECT_EQ(Read("k").meta.stored_bytes, 3u + 1 + 1) << "no CAS bytes with -C";
}

TEST_F(CacheMetaTest, TouchThatMovesTheItemKeepsItsCasAndCounter) {
  ASSERT_EQ(Set("never", "v"), StoreResult::kStored);
  ASSERT_EQ(Set("expires", "v", 100), StoreResult::kStored);
  const uint64_t never = CasOf("never");  // this read also counts an access
  const uint64_t expires = CasOf("expires");
  EXPECT_EQ(cache_->Touch(*ctx_, "never", 100), TouchResult::kTouched);  // gains an expiry
  MetaCapture gat;
  EXPECT_EQ(cache_calls::GetAndTouch(*cache_, *ctx_, "expires", 0, gat),
            LookupResult::kHit);  // loses it
  EXPECT_EQ(gat.cas, expires);
  EXPECT_EQ(gat.ttl, -1);
  EXPECT_TRUE(gat.fetched);
  EXPECT_EQ(CasOf("never"), never);
  EXPECT_EQ(CasOf("expires"), expires);
  EXPECT_GT(Read("never").ttl, 90);
  // The carried CAS is still one no other write has: a cas with it succeeds once.
  uint64_t cas = 0;
  EXPECT_EQ(cache_calls::Store(*cache_, *ctx_, StoreMode::kCas, "never", 0, 0, "w", never, &cas),
            StoreResult::kStored);
  EXPECT_EQ(cache_calls::Store(*cache_, *ctx_, StoreMode::kCas, "never", 0, 0, "x", never, nullptr),
            StoreResult::kExists);
  EXPECT_EQ(cache_->Stats().curr_items, 2u);
}

TEST_F(CacheMetaTest, ReadReportsFetchedIdleAndSizeAndUDoesNotCount) {
  ASSERT_EQ(Set("k", "value"), StoreResult::kStored);
  ReadOptions quiet;
  quiet.count_access = false;
  EXPECT_FALSE(Read("k", quiet).fetched);
  EXPECT_FALSE(Read("k", quiet).fetched) << "u leaves the item unread";
  MetaCapture first = Read("k");
  EXPECT_FALSE(first.fetched);
  EXPECT_TRUE(Read("k").fetched);
  EXPECT_EQ(first.meta.idle_seconds, 0u);
  EXPECT_EQ(first.meta.stored_bytes, 3u + 1 + 5);
  EXPECT_EQ(first.meta.ttl_before, -1);
  AdvanceClockForTesting(5);
  EXPECT_EQ(Read("k", quiet).meta.idle_seconds, 5u);
  EXPECT_EQ(Read("k").meta.idle_seconds, 5u);
  EXPECT_EQ(Read("k").meta.idle_seconds, 0u);
}

TEST_F(CacheMetaTest, ReadWithTouchReportsTheTtlBeforeAndKeepsTheCas) {
  ASSERT_EQ(Set("k", "v", 100), StoreResult::kStored);
  const uint64_t cas = CasOf("k");
  ReadOptions touch;
  touch.touch = true;
  touch.touch_exptime = 500;
  MetaCapture item = Read("k", touch);
  EXPECT_EQ(item.meta.ttl_before, 100);
  EXPECT_EQ(item.ttl, 500);
  EXPECT_EQ(item.cas, cas);
  touch.touch_exptime = 0;
  item = Read("k", touch);
  EXPECT_EQ(item.meta.ttl_before, 500);
  EXPECT_EQ(item.ttl, -1);
  EXPECT_EQ(item.cas, cas);
  EXPECT_EQ(Read("k").ttl, -1);
}

TEST_F(CacheMetaTest, InvalidateMarksStaleAndOneReaderWins) {
  ASSERT_EQ(Set("k", "old", 100), StoreResult::kStored);
  const uint64_t cas = CasOf("k");
  DeleteRequest invalidate;
  invalidate.key = "k";
  invalidate.invalidate = true;
  invalidate.touch = true;
  invalidate.exptime = 30;
  ASSERT_EQ(cache_->Delete(*ctx_, invalidate), DeleteResult::kDeleted);

  MetaCapture first = Read("k");
  EXPECT_EQ(first.value, "old");
  EXPECT_TRUE(first.meta.stale);
  EXPECT_TRUE(first.meta.win);
  EXPECT_FALSE(first.meta.win_sent);
  EXPECT_NE(first.cas, cas) << "invalidation bumps the CAS";
  EXPECT_EQ(first.ttl, 30);
  for (int i = 0; i < 3; ++i) {
    MetaCapture other = Read("k");
    EXPECT_TRUE(other.meta.stale);
    EXPECT_FALSE(other.meta.win);
    EXPECT_TRUE(other.meta.win_sent);
  }
  // Looks that are not meta reads take no win: gat, touch, and a read that cannot win (me).
  ASSERT_EQ(cache_->Delete(*ctx_, invalidate), DeleteResult::kDeleted);
  MetaCapture gat;
  ASSERT_EQ(cache_calls::GetAndTouch(*cache_, *ctx_, "k", 40, gat), LookupResult::kHit);
  EXPECT_FALSE(gat.meta.win);
  ASSERT_EQ(cache_->Touch(*ctx_, "k", 0), TouchResult::kTouched);  // moves the item, too
  ReadOptions look;
  look.count_access = false;
  look.can_win = false;
  EXPECT_FALSE(Read("k", look).meta.win);
  EXPECT_TRUE(Read("k").meta.win);
  // A second invalidation lets the next reader win again.
  ASSERT_EQ(cache_->Delete(*ctx_, invalidate), DeleteResult::kDeleted);
  EXPECT_TRUE(Read("k").meta.win);

  // The winner recaches with the CAS it read; the item is fresh again.
  const uint64_t stale_cas = CasOf("k");
  uint64_t fresh_cas = 0;
  ASSERT_EQ(cache_calls::Store(*cache_, *ctx_, StoreMode::kCas, "k", 0, 100, "new", stale_cas,
                               &fresh_cas),
            StoreResult::kStored);
  MetaCapture fresh = Read("k");
  EXPECT_EQ(fresh.value, "new");
  EXPECT_FALSE(fresh.meta.stale);
  EXPECT_FALSE(fresh.meta.win);
  EXPECT_FALSE(fresh.meta.win_sent);
}

TEST_F(CacheMetaTest, InvalidatingWriteWithAnOlderCasStoresAStaleValue) {
  ASSERT_EQ(Set("k", "a", 100), StoreResult::kStored);
  const uint64_t old_cas = CasOf("k");
  ASSERT_EQ(Set("k", "b", 100), StoreResult::kStored);
  const uint64_t current = CasOf("k");
  ASSERT_LT(old_cas, current);
  (void)Read("k", [] {
    ReadOptions recache;
    recache.recache = true;
    recache.recache_exptime = 1000;  // expires before that: this reader wins
    return recache;
  }());

  WriteRequest request;
  request.mode = StoreMode::kCas;
  request.key = "k";
  request.value = "late";
  request.exptime = 5;
  request.cas = old_cas;
  EXPECT_EQ(Write(request), StoreResult::kExists) << "without I an older CAS fails";
  request.invalidate = true;
  request.cas = uint64_t{1} << 62;
  EXPECT_EQ(Write(request), StoreResult::kExists) << "a CAS never issued is not older";
  request.cas = old_cas;
  WriteOutcome outcome;
  ASSERT_EQ(Write(request, &outcome), StoreResult::kStored);
  MetaCapture item = Read("k");
  EXPECT_EQ(item.value, "late");
  EXPECT_TRUE(item.meta.stale);
  EXPECT_TRUE(item.meta.win_sent) << "the earlier winner is kept";
  EXPECT_FALSE(item.meta.win);
  EXPECT_GT(item.ttl, 90) << "the old expiry is kept, not the request's";
  EXPECT_EQ(item.cas, outcome.cas);

  request.cas = outcome.cas;  // a match stores a fresh item with the request's exptime
  ASSERT_EQ(Write(request), StoreResult::kStored);
  item = Read("k");
  EXPECT_FALSE(item.meta.stale);
  EXPECT_LE(item.ttl, 5);
  request.key = "missing";
  EXPECT_EQ(Write(request), StoreResult::kNotFound);
}

TEST_F(CacheMetaTest, AnEarlierVersionsCasIsOlderEvenWhenItIsHigher) {
  // A derived CAS grows with its segment's epoch: the version written last, into the segment
  // for items that never expire (opened first), has a lower CAS than the one before it.
  ASSERT_EQ(Set("opens-the-never-expiring-segment", "x"), StoreResult::kStored);
  ASSERT_EQ(Set("k", "first", 1000), StoreResult::kStored);
  const uint64_t first = CasOf("k");
  ASSERT_EQ(Set("k", "second"), StoreResult::kStored);
  ASSERT_GT(first, CasOf("k"));
  WriteRequest request;
  request.mode = StoreMode::kCas;
  request.key = "k";
  request.value = "late";
  request.cas = first;
  request.invalidate = true;
  ASSERT_EQ(Write(request), StoreResult::kStored);
  MetaCapture item = Read("k");
  EXPECT_EQ(item.value, "late");
  EXPECT_TRUE(item.meta.stale);
}

TEST_F(CacheMetaTest, RecacheWinsOnceWhenTheTtlRunsLow) {
  ASSERT_EQ(Set("k", "v", 100), StoreResult::kStored);
  ReadOptions recache;
  recache.recache = true;
  recache.recache_exptime = 50;
  EXPECT_FALSE(Read("k", recache).meta.win) << "100 s left is not below 50";
  recache.recache_exptime = 200;
  EXPECT_TRUE(Read("k", recache).meta.win);
  MetaCapture again = Read("k", recache);
  EXPECT_FALSE(again.meta.win);
  EXPECT_TRUE(again.meta.win_sent);
  // T before R: R looks at the new TTL; R before T, at the old one.
  ASSERT_EQ(Set("t1", "v", 100), StoreResult::kStored);
  ASSERT_EQ(Set("t2", "v", 100), StoreResult::kStored);
  recache.touch = true;
  recache.touch_exptime = 1000;
  recache.recache_after_touch = true;
  EXPECT_FALSE(Read("t1", recache).meta.win);
  recache.recache_after_touch = false;
  EXPECT_TRUE(Read("t2", recache).meta.win);
  EXPECT_EQ(Read("t2").ttl, 1000);
  // An item that never expires is never recached early.
  ASSERT_EQ(Set("forever", "v"), StoreResult::kStored);
  recache.touch = false;
  EXPECT_FALSE(Read("forever", recache).meta.win);
  // A write makes the item fresh again.
  ASSERT_EQ(Set("k", "w", 100), StoreResult::kStored);
  EXPECT_TRUE(Read("k", recache).meta.win);
}

TEST_F(CacheMetaTest, VivifyCreatesOneEmptyItemAndItsCreatorWins) {
  ReadOptions vivify;
  vivify.vivify = true;
  vivify.vivify_exptime = 30;
  vivify.new_cas = 777;
  vivify.key_binary = true;
  LookupResult result = LookupResult::kMiss;
  MetaCapture created = Read("k", vivify, &result);
  EXPECT_EQ(result, LookupResult::kHit);
  EXPECT_TRUE(created.seen);
  EXPECT_EQ(created.value, "");
  EXPECT_TRUE(created.meta.created);
  EXPECT_TRUE(created.meta.win);
  EXPECT_FALSE(created.meta.win_sent);
  EXPECT_TRUE(created.meta.key_binary);
  EXPECT_EQ(created.ttl, 30);
  EXPECT_EQ(created.cas, 777u);
  MetaCapture later = Read("k", vivify);
  EXPECT_FALSE(later.meta.created);
  EXPECT_FALSE(later.meta.win);
  EXPECT_TRUE(later.meta.win_sent);
  EXPECT_EQ(cache_->Stats().curr_items, 1u);
  // The winner stores the real value: a fresh item.
  ASSERT_EQ(Set("k", "real", 30), StoreResult::kStored);
  MetaCapture fresh = Read("k", vivify);
  EXPECT_EQ(fresh.value, "real");
  EXPECT_FALSE(fresh.meta.win_sent);
  // An exptime already past answers as a creation, and leaves nothing.
  vivify.vivify_exptime = -1;
  MetaCapture gone = Read("gone", vivify, &result);
  EXPECT_EQ(result, LookupResult::kHit);
  EXPECT_TRUE(gone.meta.win);
  EXPECT_EQ(Read("gone").seen, false);
}

TEST_F(CacheMetaTest, DropValueLeavesAnEmptyItemWithItsCas) {
  ASSERT_EQ(cache_calls::Store(*cache_, *ctx_, StoreMode::kSet, "k", 5, 100, "value", 0, nullptr),
            StoreResult::kStored);
  const uint64_t cas = CasOf("k");
  DeleteRequest drop;
  drop.key = "k";
  drop.drop_value = true;
  drop.flags = 9;
  ASSERT_EQ(cache_->Delete(*ctx_, drop), DeleteResult::kDeleted);
  MetaCapture item = Read("k");
  EXPECT_EQ(item.value, "");
  EXPECT_EQ(item.flags, 9u);
  EXPECT_EQ(item.cas, cas);
  EXPECT_EQ(item.ttl, -1) << "memcached's empty item has the request's exptime: none";
  EXPECT_FALSE(item.meta.stale);
  // With I too: a stale tombstone with a new CAS.
  drop.invalidate = true;
  ASSERT_EQ(cache_->Delete(*ctx_, drop), DeleteResult::kDeleted);
  item = Read("k");
  EXPECT_TRUE(item.meta.stale);
  EXPECT_NE(item.cas, cas);
}

TEST_F(CacheMetaTest, DeleteComparesTheCas) {
  ASSERT_EQ(Set("k", "v"), StoreResult::kStored);
  const uint64_t cas = CasOf("k");
  DeleteRequest request;
  request.key = "k";
  request.cas = 0;  // given, and 0 matches nothing
  EXPECT_EQ(cache_->Delete(*ctx_, request), DeleteResult::kExists);
  request.cas = cas + 1;
  request.invalidate = true;
  EXPECT_EQ(cache_->Delete(*ctx_, request), DeleteResult::kExists);
  EXPECT_FALSE(Read("k").meta.stale);
  request.cas = cas;
  request.invalidate = false;
  EXPECT_EQ(cache_->Delete(*ctx_, request), DeleteResult::kDeleted);
  EXPECT_EQ(cache_->Delete(*ctx_, request), DeleteResult::kNotFound);
  request.invalidate = true;
  EXPECT_EQ(cache_->Delete(*ctx_, request), DeleteResult::kNotFound);
}

TEST_F(CacheMetaTest, AppendComparesTheCasAndCanVivify) {
  ASSERT_EQ(cache_calls::Store(*cache_, *ctx_, StoreMode::kSet, "k", 3, 0, "ab", 0, nullptr),
            StoreResult::kStored);
  const uint64_t cas = CasOf("k");
  WriteRequest append;
  append.mode = StoreMode::kAppend;
  append.key = "k";
  append.value = "cd";
  append.cas = cas + 1;
  EXPECT_EQ(Write(append), StoreResult::kExists);
  append.cas = cas;
  append.new_cas = 4242;
  WriteOutcome outcome;
  ASSERT_EQ(Write(append, &outcome), StoreResult::kStored);
  EXPECT_EQ(outcome.value_size, 4u);
  EXPECT_EQ(outcome.cas, 4242u);
  MetaCapture item = Read("k");
  EXPECT_EQ(item.value, "abcd");
  EXPECT_EQ(item.flags, 3u);

  append.key = "new";
  append.cas = 0;
  append.new_cas.reset();
  EXPECT_EQ(Write(append), StoreResult::kNotStored);
  append.mode = StoreMode::kPrepend;
  append.vivify = true;
  append.vivify_exptime = 60;
  append.flags = 8;
  ASSERT_EQ(Write(append, &outcome), StoreResult::kStored);
  item = Read("new");
  EXPECT_EQ(item.value, "cd");
  EXPECT_EQ(item.flags, 8u);
  EXPECT_EQ(item.ttl, 60);
  ASSERT_EQ(Write(append), StoreResult::kStored);
  EXPECT_EQ(Read("new").value, "cdcd") << "a present item is prepended to, not replaced";
}

TEST_F(CacheMetaTest, ArithmeticComparesTheCasVivifiesAndTouches) {
  ArithRequest request;
  request.key = "n";
  ArithOutcome outcome;
  EXPECT_EQ(cache_->Arithmetic(*ctx_, request, &outcome), ArithResult::kNotFound);
  request.vivify = true;
  request.vivify_exptime = 100;
  request.initial = 41;
  request.new_cas = 5000;
  ASSERT_EQ(cache_->Arithmetic(*ctx_, request, &outcome), ArithResult::kOk);
  EXPECT_TRUE(outcome.created);
  EXPECT_EQ(outcome.value, 41u) << "the initial value, without the delta";
  EXPECT_EQ(outcome.cas, 5000u);
  EXPECT_EQ(outcome.ttl_before, -1);
  EXPECT_EQ(Read("n").ttl, 100);

  request.new_cas.reset();
  request.cas = 4999;
  EXPECT_EQ(cache_->Arithmetic(*ctx_, request, &outcome), ArithResult::kExists);
  request.cas = 5000;
  request.touch = true;
  request.touch_exptime = 0;
  ASSERT_EQ(cache_->Arithmetic(*ctx_, request, &outcome), ArithResult::kOk);
  EXPECT_FALSE(outcome.created);
  EXPECT_EQ(outcome.value, 42u);
  EXPECT_EQ(outcome.ttl_before, 100);
  EXPECT_NE(outcome.cas, 5000u);
  MetaCapture item = Read("n");
  EXPECT_EQ(item.value, "42");
  EXPECT_EQ(item.ttl, -1);
  EXPECT_EQ(item.cas, outcome.cas);
}

TEST_F(CacheMetaTest, WritesKeepTheBinaryKeyMark) {
  WriteRequest request;
  request.key = std::string_view("\x00\xff", 2);
  request.value = "v";
  request.key_binary = true;
  ASSERT_EQ(Write(request), StoreResult::kStored);
  EXPECT_TRUE(Read(request.key).meta.key_binary);
  request.key_binary = false;
  ASSERT_EQ(Write(request), StoreResult::kStored);
  EXPECT_FALSE(Read(request.key).meta.key_binary);
}

TEST_F(CacheMetaTest, StatsReportTheOldestItemAge) {
  EXPECT_EQ(cache_->Stats().oldest_item_age, 0u);
  ASSERT_EQ(Set("k", "v"), StoreResult::kStored);
  AdvanceClockForTesting(7);
  EXPECT_GE(cache_->Stats().oldest_item_age, 7u);
}

// Many readers race for the right to recache one stale item, or to create one missing item:
// exactly one of them wins each round.
TEST(CacheMetaConcurrencyTest, ExactlyOneReaderWinsEachRound) {
  CacheOptions options = SmallOptions();
  options.memory_limit = size_t{16} << 20;
  const std::unique_ptr<Cache> cache = CreateCacheOrDie(options);
  constexpr int kThreads = 4;
  constexpr int kRounds = 300;
  std::atomic<int> round{-1};
  std::atomic<int> ready{0};
  std::vector<std::atomic<int>> stale_wins(kRounds);
  std::vector<std::atomic<int>> vivify_wins(kRounds);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      auto ctx = cache->NewContext();
      ReadOptions vivify;
      vivify.vivify = true;
      vivify.vivify_exptime = 100;
      vivify.touch = true;  // through the read-modify-write path as well
      vivify.touch_exptime = 200;
      for (int r = 0; r < kRounds; ++r) {
        ready.fetch_add(1);
        while (round.load() < r) std::this_thread::yield();
        MetaCapture stale;
        if (cache->Get(*ctx, "stale", ReadOptions(), stale) == LookupResult::kHit &&
            stale.meta.win) {
          stale_wins[r].fetch_add(1);
        }
        MetaCapture created;
        const std::string key = "v" + std::to_string(r);
        ASSERT_EQ(cache->Get(*ctx, key, vivify, created), LookupResult::kHit);
        if (created.meta.win) vivify_wins[r].fetch_add(1);
      }
    });
  }
  auto ctx = cache->NewContext();
  ASSERT_EQ(Set(*cache, *ctx, "stale", "v"), StoreResult::kStored);
  DeleteRequest invalidate;
  invalidate.key = "stale";
  invalidate.invalidate = true;
  for (int r = 0; r < kRounds; ++r) {
    while (ready.load() < kThreads * (r + 1)) std::this_thread::yield();
    ASSERT_EQ(cache->Delete(*ctx, invalidate), DeleteResult::kDeleted);
    round.store(r);
  }
  for (std::thread& thread : threads) thread.join();
  for (int r = 0; r < kRounds; ++r) {
    EXPECT_EQ(stale_wins[r].load(), 1) << "round " << r;
    EXPECT_EQ(vivify_wins[r].load(), 1) << "round " << r;
  }
}

}  // namespace
}  // namespace mnemo::storage
