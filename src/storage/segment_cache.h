// SegmentCache is the Cache behind Cache::Create: items appended to segments of a SegmentPool,
// indexed by a HashTable, grouped by TtlBuckets, evicted by an Evictor. docs/storage.md tells the
// whole story; this header states what the code relies on.
//
// Invariants:
//  (1) A slot of the hash table points at the newest linked version of its key; every linked item
//      is counted once in curr_items/bytes and in its segment's live_items/live_bytes.
//  (2) An item's memory is read only under its key's stripe lock (or by the thread that owns its
//      segment before the item is linked); a segment is freed only after every item in it has been
//      unlinked under its stripe lock. So a reader never sees a segment reused under it.
//  (3) No thread waits for a segment (allocation, eviction) while holding a stripe lock: a write
//      appends its new version first, then locks the stripe, checks its condition and swaps the
//      slot. A failed condition leaves dead bytes, reclaimed with their segment.
//  (4) A version's CAS is epoch * segment_size + offset + 1, where the epoch is unique to each
//      opening of a segment: unique per version, never shared between keys, no bytes per item.
//      Only an item whose header carries a CAS has another: one the client chose (meta E), or the
//      CAS of the version it replaced, carried over when touch or merge eviction moves an item.
//      Such a carried CAS is never issued again by (4), so it still belongs to this key alone.
//      Read-modify-writes check versions by location (VersionOf), never by the CAS a client sees.
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

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "base/spin_lock.h"
#include "base/thread_annotations.h"
#include "storage/cache.h"
#include "storage/eviction.h"
#include "storage/hash_table.h"
#include "storage/item.h"
#include "storage/item_cursor.h"
#include "storage/segment_pool.h"
#include "storage/ttl_buckets.h"

namespace mnemo::storage {

class SegmentCache final : public Cache, private LocationHasher {
 public:
  // Segments a pool is given at least, shrinking segment_size for small memory limits (not below
  // kMinSegmentSize), so that what the cache holds aside (open segments, free segments evicted
  // ahead, a merge destination) costs well under 1% of -m: at -m 64, 256 KiB segments.
  static constexpr size_t kMinSegments = 256;
  static constexpr size_t kMinSegmentSize = size_t{64} << 10;
  // Open segments a Context keeps at once (one per TTL bucket it writes to).
  static constexpr size_t kMaxOpenSegments = 4;
  // Sources that share one destination segment in merge eviction.
  static constexpr size_t kMergeRun = 2;

  explicit SegmentCache(const CacheOptions& options);
  ~SegmentCache() override;
  // Reserves the segments and the hash table, then starts the background thread. Every other
  // method REQUIRES: Init() returned ok.
  Status Init();

  std::unique_ptr<Context> NewContext() override;
  void Tick(Context& ctx) override;
  StoreResult Store(Context& ctx, StoreMode mode, std::string_view key, uint32_t flags,
                    Exptime exptime, std::string_view value, uint64_t cas,
                    uint64_t* new_cas) override;
  LookupResult Get(Context& ctx, std::string_view key, ItemSink& sink) override;
  LookupResult GetAndTouch(Context& ctx, std::string_view key, Exptime exptime,
                           ItemSink& sink) override;
  TouchResult Touch(Context& ctx, std::string_view key, Exptime exptime) override;
  DeleteResult Delete(Context& ctx, std::string_view key, uint64_t cas) override;
  ArithResult Arithmetic(Context& ctx, std::string_view key, bool increment, uint64_t delta,
                         uint64_t* result, uint64_t* new_cas) override;
  StoreResult Store(Context& ctx, const WriteRequest& request, WriteOutcome* outcome) override;
  LookupResult Get(Context& ctx, std::string_view key, const ReadOptions& options,
                   ItemSink& sink) override;
  DeleteResult Delete(Context& ctx, const DeleteRequest& request) override;
  ArithResult Arithmetic(Context& ctx, const ArithRequest& request, ArithOutcome* outcome) override;
  void FlushAll(uint32_t delay_seconds) override;
  bool SetMemoryLimit(size_t bytes) override;
  CacheStats Stats() const override;
  void ResetStats() override;

  // One pass of the background thread's work, run on the calling thread: frees sealed segments
  // that expired, were flushed or hold no live item, then evicts ahead of demand if free segments
  // run low. Bounded: at most kMaxSegmentsPerPass segments.
  void RunBackgroundPass();
  static constexpr size_t kMaxSegmentsPerPass = 64;
  // Values above this are stored as they come: compressing into a Context's scratch needs
  // snappy::MaxCompressedLength of the value, and the default -I is 1 MiB.
  static constexpr size_t kMaxCompressedValue = size_t{1} << 20;

  const SegmentPool& pool() const { return pool_; }

 private:
  class ThreadContext;
  class Reclaimer;
  class View;
  struct Found;
  struct Placement;
  struct ReadState;
  struct Rewrite;
  enum class RewriteStep : uint8_t;
  enum class RewriteOutcome : uint8_t;

  // LocationHasher, for the hash table's splits.
  uint64_t HashAt(ItemLocation loc) const override;

  // The current second; applies a pending delayed flush_all whose time has come.
  uint32_t Now();
  uint32_t flush_gen() const { return flush_gen_.load(std::memory_order_acquire); }
  uint64_t NextEpoch() { return next_epoch_.fetch_add(1, std::memory_order_relaxed); }

  const char* ItemAt(ItemLocation loc) const { return pool_.Data(loc.segment) + loc.offset; }
  // The location's identity: the CAS derived from it (invariant 4), even with use_cas off.
  uint64_t VersionOf(ItemLocation loc) const;
  // The CAS clients see: the header's if it carries one, else VersionOf; 0 with use_cas off.
  uint64_t CasOf(ItemLocation loc, const ItemHeader& header) const;
  // Whether a client's CAS `token` is older than an item's `current` one (meta ms I).
  bool Older(uint64_t token, uint64_t current) const;
  // A CAS no location will ever have (from an epoch of its own), for a store that links nothing
  // (its exptime already past) but whose reply shows a CAS, as memcached's does.
  uint64_t UnusedCas();
  // Makes `header` carry `cas` (with use_cas on), or derive its CAS from its location.
  void SetCas(ItemHeader* header, std::optional<uint64_t> cas) const;
  bool Flushed(ItemLocation loc) const;
  bool Invalid(ItemLocation loc, const ItemHeader& header, uint32_t now) const;
  void LiveAdd(uint32_t segment, size_t size);
  void LiveSub(uint32_t segment, size_t size);
  // Records an access to `segment` at `now`; returns its last access before this one.
  uint32_t NoteAccess(uint32_t segment, uint32_t now);

  // Finds the slot of `key`. REQUIRES: the stripe lock of `hash`.
  bool FindLocked(uint64_t hash, std::string_view key, Found* found);
  // Unlinks the item `found` points at and accounts for it in `ctx`. REQUIRES: its stripe lock.
  void UnlinkLocked(ThreadContext& ctx, uint64_t hash, const Found& found);
  // Unlinks an invalid item and says why it was; kHit if it is valid. REQUIRES: its stripe lock.
  LookupResult DropIfInvalid(ThreadContext& ctx, uint64_t hash, const Found& found, uint32_t now);
  // Points the slot at `loc` (an item of `size` bytes), replacing `old` if present, whose access
  // counter the slot keeps if `keep_counter`; false if the table is full. REQUIRES: the stripe
  // lock of `hash`.
  bool LinkLocked(ThreadContext& ctx, uint64_t hash, const Found* old, ItemLocation loc,
                  size_t size, bool keep_counter = false);
  // Counts a read of `found` (unless !options.count_access), records a win if the reader makes
  // one, and calls the sink. REQUIRES: the stripe lock of `found`'s key.
  void ServeLocked(ThreadContext& ctx, Found& found, uint32_t now, const ReadOptions& options,
                   uint32_t recache_expiry, ItemSink& sink);

  // Reserves room for an item of `size` bytes expiring at `expiry`, in ctx's open segment of the
  // item's TTL bucket, or as a chain of whole segments if larger than a segment. Evicts if it must.
  bool Reserve(ThreadContext& ctx, size_t size, uint32_t expiry, uint32_t now, Placement* place);
  // After the item is linked (or not): seals a chain's head, or frees the chain if unused.
  void Finish(const Placement& place, bool linked);
  // The bytes to store for `value`: a snappy block in ctx's scratch if compression is on, the
  // value is long enough and the block small enough (header->compressed and raw_size say so),
  // else `value` itself.
  std::string_view Compress(ThreadContext& ctx, std::string_view value, ItemHeader* header);
  // Copies the original value of `found` to `out` (room for original_size() bytes), decoding a
  // compressed one; false if its block is corrupt. REQUIRES: its stripe lock, as for any read.
  bool ReadValue(ThreadContext& ctx, const Found& found, char* out) const;
  // Makes `rewrite` write prefix, the old value of `old` and suffix and pad as one new value in
  // ctx's scratch, so that it can be compressed; false if the old block is corrupt.
  // REQUIRES: the stripe lock of `old`'s key.
  bool Rebuild(ThreadContext& ctx, const Found& old, Rewrite* rewrite) const;
  // Writes header and key at `place`; returns a cursor positioned at the value.
  ItemCursor WriteHeader(const Placement& place, ItemHeader header, std::string_view key);

  // Takes a segment from the pool, evicting if the options allow. kNoSegment if none.
  uint32_t AcquireSegment(ThreadContext& ctx, SegmentState state);
  void OpenSegment(uint32_t id, uint16_t bucket, uint32_t now);
  // Hands a segment its owner is done with to its TTL bucket (or frees it if nothing in it lives).
  void Seal(uint32_t id);
  // Frees a segment, and the chain of a large item's head, to the pool.
  void FreeWithChain(uint32_t id);
  void SealOpenSegments(ThreadContext& ctx);

  // Writes a new version with `header` and `value` and links it if `mode`'s condition holds
  // (CheckMode, with `cas` for kCas); then calls on_stored(cas, value_size) of the new version
  // under the stripe lock. An expiry already past links nothing (StoreExpired) but still reports
  // the store. REQUIRES: mode is not kAppend or kPrepend.
  template <typename OnStored>
  StoreResult StoreVersion(ThreadContext& ctx, StoreMode mode, std::string_view key, uint64_t hash,
                           uint32_t now, ItemHeader header, std::string_view value, uint64_t cas,
                           OnStored&& on_stored);
  // Reads the current version of key, lets `plan` decide the new version, writes it and swaps it
  // in if the key still has the version that was read; retries otherwise. See segment_cache.cc.
  template <typename Plan>
  RewriteOutcome RewriteItem(ThreadContext& ctx, std::string_view key, uint64_t hash, uint32_t now,
                             Plan&& plan, ItemSink* sink, uint64_t* new_cas);
  // Touch, gat and mg with T: gives the item `expiry`, keeping its CAS, and serves it to `sink`
  // if not null.
  RewriteOutcome TouchVersion(ThreadContext& ctx, std::string_view key, uint64_t hash, uint32_t now,
                              const ReadOptions& options, uint32_t expiry, uint32_t recache_expiry,
                              ItemSink* sink);
  // gat and mg with T: TouchVersion as a read. With -M and no room to move the item, it is served
  // with its old expiry.
  LookupResult ReadTouching(ThreadContext& ctx, std::string_view key, uint64_t hash, uint32_t now,
                            const ReadOptions& options, uint32_t expiry, uint32_t recache_expiry,
                            ItemSink& sink);
  // mg N on a miss: creates the empty item and serves it. kNotStored if the key has an item again.
  StoreResult Vivify(ThreadContext& ctx, std::string_view key, uint64_t hash, uint32_t now,
                     const ReadOptions& options, ItemSink& sink);
  // A value above item_size_max: kTooLarge, and a set removes the old value.
  StoreResult RefuseTooLarge(ThreadContext& ctx, StoreMode mode, std::string_view key,
                             uint64_t hash);
  StoreResult Concatenate(ThreadContext& ctx, const WriteRequest& request, uint64_t hash,
                          uint32_t now, WriteOutcome* outcome);
  // ms with C and I: a CAS match stores, a lower CAS stores a stale version.
  StoreResult StoreInvalidating(ThreadContext& ctx, const WriteRequest& request, uint64_t hash,
                                uint32_t now, WriteOutcome* outcome);
  StoreResult StoreExpired(ThreadContext& ctx, StoreMode mode, std::string_view key, uint64_t hash,
                           uint64_t cas, uint32_t now);
  // Seconds since the oldest segment that holds a live item was opened.
  uint64_t OldestItemAge(uint32_t now) const;

  // Free segments below which the background thread evicts ahead of demand: one per kMinSegments
  // segments, at most kMaxFreeAhead.
  uint32_t LowWater() const;
  static constexpr uint32_t kMaxFreeAhead = 8;
  // Frees at least one segment: a dead one if there is one (from the dead queue, or at a bucket's
  // head), else by eviction (unless -M). False if nothing could be freed. REQUIRES: evict_mu_ held.
  bool EvictOne(ThreadContext& ctx);
  // Queues sealed segment `id`, whose last live item was just unlinked, to be freed before anything
  // live is evicted. Dropped if the queue is full: the background pass finds it then.
  void NoteDead(uint32_t id);
  // Frees queued segments that are still sealed and dead, up to `max`; returns how many.
  // REQUIRES: evict_mu_ held.
  size_t ReclaimQueuedDead(ThreadContext& ctx, uint32_t now, size_t max);
  // True if `id` is sealed and holds nothing valid: every item expired (*expired), was flushed,
  // or was unlinked.
  bool Dead(uint32_t id, uint32_t now, bool* expired) const;
  // Frees sealed segment `id` if it is Dead; true if it did.
  // REQUIRES: evict_mu_ held.
  bool ReclaimIfDead(ThreadContext& ctx, uint32_t id, uint32_t now);
  void BackgroundLoop();
  void WakeBackground();

  void Register(ThreadContext* ctx);
  void Retire(ThreadContext* ctx);

  const CacheOptions options_;
  SegmentPool pool_;
  TtlBuckets buckets_;
  HashTable table_;
  std::atomic<size_t> limit_bytes_;
  std::atomic<uint64_t> next_epoch_{1};
  std::atomic<uint32_t> flush_gen_{1};
  std::atomic<uint32_t> flush_at_{0};  // a pending delayed flush_all; 0 if none

  // Sealed segments whose live items dropped to 0, most recent last. An entry may be stale (the
  // segment since freed, or reused): it is checked again when taken. Capacity is reserved for
  // one entry per segment, so pushing never allocates. A leaf lock.
  SpinLock dead_lock_;
  std::vector<uint32_t> dead_ GUARDED_BY(dead_lock_);

  std::mutex evict_mu_;
  // Evict() requires evict_mu_; the pointer itself is fixed from construction to destruction.
  std::unique_ptr<Evictor> evictor_;

  // Sums of counters of destroyed contexts, and the sums at the last ResetStats.
  struct Totals;
  mutable std::mutex registry_mu_;
  std::vector<ThreadContext*> contexts_ GUARDED_BY(registry_mu_);
  std::unique_ptr<Totals> retired_ GUARDED_BY(registry_mu_);
  std::unique_ptr<Totals> baseline_ GUARDED_BY(registry_mu_);

  std::unique_ptr<ThreadContext> background_ctx_;
  std::mutex background_mu_;
  std::condition_variable background_cv_;
  bool background_stop_ GUARDED_BY(background_mu_) = false;
  bool background_kick_ GUARDED_BY(background_mu_) = false;
  std::thread background_;
};

}  // namespace mnemo::storage
