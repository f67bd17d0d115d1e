// SegmentCache is the Cache behind Cache::Create: items appended to segments of a SegmentPool,
// indexed by a HashTable, grouped by TtlBuckets, freed by Reclaim. It is a facade over its parts,
// each one concept (docs/storage.md tells the whole story):
//
//   cache_core      the shared state: pool, buckets, table, flush_all clock, CAS scheme
//   thread_context  a thread's counters, open segments and scratch
//   value_codec     values to stored bytes and back (snappy)
//   item_index      finding, linking and unlinking items; the view a reader gets
//   value_hold      a reader's hold on an item's segment, to read its value after the lock
//   segment_writer  reserving room for new versions; sealing segments
//   item_store      writing a whole new version (set, add, replace, cas)
//   rewrite         read-modify-writes (append, incr, touch, meta invalidation)
//   reclaim         freeing segments: dead ones, eviction, the background pass
//   item_walk       copying every item out a few at a time, for dumps
//   warm_restart    saving the index next to a memory file (-e), and rebuilding it from there
//
// Invariants:
//  (1) A slot of the hash table points at the newest linked version of its key; every linked item
//      is counted once in curr_items/bytes and in its segment's live_items/live_bytes.
//  (2) An item's memory is read only under its key's stripe lock, under a hold on its segment
//      (ValueHold), or by the thread that owns its segment before the item is linked; a segment
//      is freed only after every item in it has been unlinked under its stripe lock, and reused
//      only once no reader holds it. So a reader never sees a segment reused under it.
//  (3) No thread waits for a segment (allocation, eviction) while holding a stripe lock: a write
//      appends its new version first, then locks the stripe, checks its condition and swaps the
//      slot. A failed condition leaves dead bytes, reclaimed with their segment.
//  (4) A version's CAS is derived from its location and the epoch of its segment's opening,
//      unique per version (cache_core.h); read-modify-writes check versions by location, never by
//      the CAS a client sees.
//  (5) An item is invalid if it has expired (monotonic clock) or its segment was opened in an
//      older flush generation; invalid items are never returned and count as absent.
//  (6) At most one reader is told it won the right to recache an item (W) between two writes of
//      it: the win is recorded in the item's state bits under the stripe lock, and a rewrite
//      links its new version only if the old one's state bits are still those it copied.
//
// Lock order: eviction mutex -> stripe lock -> hash table overflow lock; the TtlBuckets lock, the
// dead segment queue's lock and the pool's free-list lock are leaves. The context registry mutex is
// taken alone.
//
// Thread safety: as Cache. A Context must be destroyed before the cache that made it.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "base/mutex.h"
#include "base/thread_annotations.h"
#include "storage/cache.h"
#include "storage/cache_core.h"
#include "storage/flash_recall.h"
#include "storage/flash_tier.h"
#include "storage/item_index.h"
#include "storage/item_store.h"
#include "storage/item_walk.h"
#include "storage/reclaim.h"
#include "storage/rewrite.h"
#include "storage/segment_writer.h"
#include "storage/thread_context.h"
#include "storage/value_codec.h"
#include "storage/warm_restart.h"

namespace mnemo::storage {

class SegmentCache final : public Cache, public ContextOwner {
 public:
  // Holds no memory and runs no thread until Init().
  explicit SegmentCache(const CacheOptions& options);
  ~SegmentCache() override;
  // Reserves the segments and the hash table, then starts the background thread; an error says
  // what could not be had. Every other method REQUIRES: Init() returned ok.
  Status Init();

  std::unique_ptr<Context> NewContext() override EXCLUDES(registry_mu_);
  void Tick(Context& context) override;
  StoreResult Store(Context& context, const WriteRequest& request, WriteOutcome* outcome) override;
  LookupResult Get(Context& context, std::string_view key, const ReadOptions& options,
                   ItemSink& sink) override;
  TouchResult Touch(Context& context, std::string_view key, Exptime exptime) override;
  DeleteResult Delete(Context& context, const DeleteRequest& request) override;
  ArithResult Arithmetic(Context& context, const ArithRequest& request,
                         ArithOutcome* outcome) override;
  void FlushAll(const FlushRequest& request) override;
  void SuppressChanges(Context& context, bool suppress) override {
    static_cast<ThreadContext&>(context).changes_suppressed = suppress;
  }
  bool ChangesSuppressed(const Context& context) const override {
    return static_cast<const ThreadContext&>(context).changes_suppressed;
  }
  bool SetMemoryLimit(size_t bytes) override;
  void Walk(WalkCursor* cursor, size_t max_items, WalkBatch* batch) override {
    walk_.Step(cursor, max_items, batch);
  }
  CacheStats Stats() const override EXCLUDES(registry_mu_);
  void ResetStats() override EXCLUDES(registry_mu_);
  void AllowFlashWaits(Context& context) override;
  std::optional<FlashWait> TakeFlashWait(Context& context) override;
  void SetFlashWaitServed(Context& context, std::optional<FlashWait> wait) override;
  Status SaveForRestart() override;

  // One pass of the background thread's work, run on the calling thread (Reclaim::RunPass).
  void RunBackgroundPass() { reclaim_.RunPass(*background_ctx_); }

  const SegmentPool& pool() const { return core_.pool; }

 private:
  // ContextOwner.
  void Retire(ThreadContext& ctx) override EXCLUDES(registry_mu_);

  // The operations, once: FlashRecall::Run runs them until no flash candidate is pending.
  StoreResult StoreOnce(ThreadContext& ctx, const WriteRequest& request, uint64_t hash,
                        uint32_t now, WriteOutcome* outcome, KeptVersion* kept);
  LookupResult GetOnce(ThreadContext& ctx, std::string_view key, uint64_t hash, uint32_t now,
                       const ReadOptions& options, uint32_t recache_expiry, ItemSink& sink);
  DeleteResult DeleteOnce(ThreadContext& ctx, const DeleteRequest& request, uint64_t hash,
                          uint32_t now);

  // gat and mg with T: Rewriter::TouchVersion as a read. With -M and no room to move the item,
  // it is served with its old expiry.
  LookupResult ReadTouching(ThreadContext& ctx, std::string_view key, uint64_t hash, uint32_t now,
                            const ReadOptions& options, uint32_t expiry, uint32_t recache_expiry,
                            ItemSink& sink);
  // mg N on a miss: creates the empty item and serves it. kNotStored if the key has an item again.
  StoreResult Vivify(ThreadContext& ctx, std::string_view key, uint64_t hash, uint32_t now,
                     const ReadOptions& options, ItemSink& sink);

  // The counters of live contexts, retired ones, minus the baseline of the last ResetStats (which
  // curr_items and bytes, being levels, ignore).
  CounterTotals SumCounters() const REQUIRES(registry_mu_);

  CacheCore core_;
  ValueCodec codec_;
  ItemIndex index_;
  Reclaim reclaim_;
  SegmentWriter writer_;
  ItemStore store_;
  Rewriter rewriter_;
  std::unique_ptr<FlashTier> flash_;  // with -o ext_path only
  FlashRecall recall_;
  ItemWalk walk_{core_};

  mutable Mutex registry_mu_;
  std::vector<ThreadContext*> contexts_ GUARDED_BY(registry_mu_);
  CounterTotals retired_ GUARDED_BY(registry_mu_) = {};
  CounterTotals baseline_ GUARDED_BY(registry_mu_) = {};

  std::unique_ptr<ThreadContext> background_ctx_;
};

}  // namespace mnemo::storage
