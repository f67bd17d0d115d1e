// CacheCore is the state every part of the segment cache shares: the segment pool, the TTL
// buckets, the hash table, the clocks of flush_all and the epochs that make CAS unique, and the
// queue of segments that died sealed. The parts (segment_writer, item_index, reclaim, rewrite)
// hold a reference to it; SegmentCache owns it. What it knows is what makes an item valid and
// what its version is; it never allocates, evicts or links.
//
// Invariants (numbered as in segment_cache.h, which states the whole set):
//  (4) A version's CAS is epoch * segment_size + offset + 1, where the epoch is unique to each
//      opening of a segment: unique per version, never shared between keys, no bytes per item.
//      Only an item whose header carries a CAS has another: one the client chose (meta E), or the
//      CAS of the version it replaced, carried over when touch or merge eviction moves an item.
//      Such a carried CAS is never issued again by (4), so it still belongs to this key alone.
//  (5) An item is invalid if it has expired (monotonic clock) or its segment was opened in an
//      older flush generation; invalid items are never returned and count as absent.
//
// Thread safety: every method may be called from any thread. The dead queue's lock is a leaf.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "base/spin_lock.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "storage/cache.h"
#include "storage/cache_clocks.h"
#include "storage/durable_index.h"
#include "storage/hash_table.h"
#include "storage/item.h"
#include "storage/segment_pool.h"
#include "storage/ttl_buckets.h"

namespace mnemo::storage {

class FlashTier;

class CacheCore final : private LocationHasher {
 public:
  // Segments a pool is given at least, shrinking segment_size for small memory limits (not below
  // kMinSegmentSize), so that what the cache holds aside (open segments, free segments evicted
  // ahead, a merge destination) costs well under 1% of -m: at -m 64, 256 KiB segments.
  static constexpr size_t kMinSegments = 256;
  static constexpr size_t kMinSegmentSize = size_t{64} << 10;

  // REQUIRES: `options` went through Normalize. Holds no memory until Init().
  explicit CacheCore(CacheOptions normalized);
  CacheCore(const CacheCore&) = delete;
  CacheCore& operator=(const CacheCore&) = delete;

  // Reserves the pool's segments and the hash table (SegmentPool::Init, HashTable::Init); an error
  // says what could not be had. With a memory file, first opens its durable index (keeping what a
  // crashed process left in it in `crashed`), whose memory then holds the descriptors, the table
  // and the clocks. Every other method REQUIRES: Init() returned ok.
  Status Init();

  // The options with segment_size fitted to the memory limit (kMinSegments).
  static CacheOptions Normalize(CacheOptions options);

  // The hash table's memory limit for a memory limit (-m) of `bytes`: half of it, and an eighth of
  // the flash tier's size. The index lies outside -m, as memcached's hash table does, but it is
  // bounded: at about 15 bytes an item it reaches the bound only when items average under about
  // 30 bytes in RAM or 120 on flash, and the cache then evicts to stay within it (Reclaim), so
  // the smallest items cannot take the process past 1.5 x -m + flash / 8.
  size_t IndexLimit(size_t memory_limit) const {
    return memory_limit / 2 + FlashBytes(options) / 8;
  }
  // Bytes of the flash tier's devices; 0 without one.
  static size_t FlashBytes(const CacheOptions& options);
  // Sets the memory limit (-m, cache_memlimit) of the pool and of the index. False if the pool
  // refuses it (SegmentPool::SetLimit).
  bool SetMemoryLimit(size_t bytes);

  // The current second; applies a pending delayed flush_all whose time has come.
  uint32_t Now();
  uint32_t flush_gen() const { return clocks_->flush_gen.load(std::memory_order_acquire); }
  // Invalidates every item stored before now + delay_seconds, once that time comes; with
  // whole_second, stores during that second link nothing (FlushedSecond).
  void FlushAll(const FlushRequest& request);
  // True if `now` is the second of a whole-second flush_all: a store links nothing, as if its
  // item had expired (memcached flushes every item whose time is at or before oldest_live).
  bool FlushedSecond(uint32_t now) const {
    return now == clocks_->flushed_second.load(std::memory_order_relaxed);
  }
  uint64_t NextEpoch() { return clocks_->next_epoch.fetch_add(1, std::memory_order_relaxed); }

  // The clocks of CAS and flush_all, as a warm restart saves and restores them.
  struct SavedClocks {
    uint64_t next_epoch = 0;
    uint32_t flush_gen = 0;
    uint32_t flush_at = 0;
    uint32_t flushed_second = 0;
  };
  SavedClocks SaveClocks() const;
  // REQUIRES: no operation has started yet.
  void RestoreClocks(const SavedClocks& clocks);

  // Whether a slot's segment id is a flash segment's (flash_tier.h): ids above the pool's.
  bool OnFlash(uint32_t segment) const { return segment >= pool.max_segments(); }
  // The item at a RAM location. REQUIRES: !OnFlash(loc.segment); an item on flash is read
  // through `flash`.
  const char* ItemAt(ItemLocation loc) const { return pool.Data(loc.segment) + loc.offset; }

  // The location's identity: the CAS derived from it (invariant 4), even with use_cas off.
  uint64_t VersionOf(ItemLocation loc) const;
  // What every CAS this cache derives starts from: its cluster tag (CacheOptions::cas_tag) in the
  // top bits.
  uint64_t CasBase() const { return uint64_t{options.cas_tag} << kCasTagShift; }
  // The CAS clients see: the header's if it carries one, else VersionOf; 0 with use_cas off.
  uint64_t CasOf(ItemLocation loc, const ItemHeader& header) const;
  // Whether a client's CAS `token` is older than an item's `current` one (meta ms I). A token
  // this cache never derived counts as older only than a lower one a client chose (meta E).
  bool Older(uint64_t token, uint64_t current) const;
  // A CAS no location will ever have (from an epoch of its own), for a store that links nothing
  // (its exptime already past) but whose reply shows a CAS, as memcached's does.
  uint64_t UnusedCas();
  // Makes `header` carry `cas` (with use_cas on), or derive its CAS from its location.
  void SetCas(ItemHeader* header, std::optional<uint64_t> cas) const;

  bool Flushed(ItemLocation loc) const;
  bool Invalid(ItemLocation loc, const ItemHeader& header, uint32_t now) const;

  // Counts an item of `size` bytes linked into, or unlinked from, `segment` (RAM or flash).
  // Unlinking the last live item of a sealed segment queues it on the dead queue.
  void LiveAdd(uint32_t segment, size_t size);
  void LiveSub(uint32_t segment, size_t size);
  // Queues sealed segment `id`, whose last live item was just unlinked, to be freed before anything
  // live is evicted. Dropped if the queue is full: the background pass finds it then.
  void NoteDead(uint32_t id);
  // The most recently queued dead segment, or kNoSegment. The entry may be stale (the segment
  // since freed, or reused): the caller checks it again.
  uint32_t TakeDead();

  // Resets the descriptor of `id` (just allocated, or emptied) as an open segment of `bucket`.
  void OpenSegment(uint32_t id, uint16_t bucket, uint32_t now);

  // Seconds since the oldest segment that holds a live item was opened.
  uint64_t OldestItemAge(uint32_t now) const;

  const CacheOptions options;
  SegmentPool pool;
  TtlBuckets buckets;
  HashTable table;
  // With a memory file: the file whose memory holds the descriptors, the table and the clocks
  // (their destructors do not touch it). Declared after the pool, so that it is marked stopped
  // and unmapped while the pool still holds the memory file's lock, which keeps the next server
  // from opening the index meanwhile.
  std::unique_ptr<DurableIndex> durable;
  // What a crashed process left in the durable index; found at Init, taken by the restore.
  std::optional<CrashState> crashed;
  std::atomic<size_t> limit_bytes;
  // The flash tier, if -o ext_path gave one; set once, before the cache serves a request.
  FlashTier* flash = nullptr;

 private:
  // LocationHasher, for the hash table's splits.
  uint64_t HashAt(ItemLocation loc) const override;

  CacheClocks own_clocks_;
  CacheClocks* clocks_ = &own_clocks_;  // own_clocks_, or the durable index's

  // Sealed segments whose live items dropped to 0, most recent last. Capacity is reserved for
  // one entry per segment, so pushing never allocates.
  SpinLock dead_lock_;
  std::vector<uint32_t> dead_ GUARDED_BY(dead_lock_);
};

// Raises a segment's max expiry to `expiry` (fetch-max).
void RaiseMaxExpiry(SegmentInfo& info, uint32_t expiry);

// Records an access to a segment at `now`; returns its last access before this one. A store at
// most once a second per segment: the descriptor's line is already in cache (the flush check
// reads it), and a hot segment's is not written on every read.
uint32_t NoteAccessAt(SegmentInfo& info, uint32_t now);

// Seconds until `expiry`; -1 if it is kNeverExpires.
int64_t TtlOf(uint32_t expiry, uint32_t now);

}  // namespace mnemo::storage
