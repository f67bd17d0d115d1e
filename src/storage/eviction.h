// Eviction makes room when a Context needs a segment and the pool is at its limit. A policy
// (Evictor) chooses which sealed segments to empty and which of their items deserve to stay; the
// cache (SegmentReclaimer) does the item-level work under the stripe locks, so that every policy
// keeps the same locking and accounting. Policies are compared by hit ratio on the same streams.
//
//   FIFO:  drop the oldest sealed segment whole.
//   Merge: Segcache's merge eviction (Yang et al., NSDI '21): take a run of consecutive sealed
//          segments of one TTL bucket, copy forward into one segment the live items read since
//          they were written (as many as fit, the most read first), drop the rest, and free the
//          run. A run of N frees N - 1 segments; a bucket's merges walk its chain like a clock
//          hand.
//
// Thread safety: Evict is called only with the cache's eviction mutex held, so one thread evicts
// at a time; it takes stripe locks (through the reclaimer) and the TtlBuckets lock, never both at
// once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "storage/segment_pool.h"
#include "storage/ttl_buckets.h"

namespace mnemo::storage {

// What a pass of reclamation did, summed into the caller's statistics afterwards.
struct ReclaimCounters {
  uint64_t evictions = 0;          // live, valid items dropped
  uint64_t evicted_unfetched = 0;  // ...never read
  uint64_t reclaimed = 0;          // expired or flushed items unlinked
  uint64_t expired_unfetched = 0;  // ...never read
  uint64_t segment_merges = 0;
  uint64_t segment_evictions = 0;  // segments emptied by eviction (whole or by merge)
  uint64_t segments_expired = 0;   // segments freed because every item had expired
  uint64_t items_copied_forward = 0;
  uint64_t items_unlinked = 0;  // every item removed from the hash table
  uint64_t bytes_unlinked = 0;
  uint64_t bytes_carried = 0;  // added to items copied forward, to carry their CAS
};

// A live item of a detached segment, as the merge sees it before deciding its fate.
struct LiveItem {
  uint32_t offset = 0;
  uint32_t size = 0;  // header, key and value
  uint32_t counter = 0;
  uint64_t hash = 0;
};

// The cache's side of eviction. Segments passed in are detached (state kReclaiming): no reader can
// reach an item of theirs except through the hash table, under the item's stripe lock.
class SegmentReclaimer {
 public:
  // Unlinks every item of `id`, counting evictions and expirations, and frees `id` (and, for a
  // large item's head, its whole chain) to the pool.
  virtual void DropSegment(uint32_t id) = 0;
  // Unlinks every item of `id` that the hash table still points at, counting them as DropSegment
  // does, and keeps the segment: merge empties its destination this way to open it afresh.
  virtual void UnlinkAll(uint32_t id) = 0;
  // Appends the items of `id` that the hash table still points at to `items`, in segment order.
  virtual void CollectLive(uint32_t id, std::vector<LiveItem>* items) = 0;
  // Copies `item` of segment `from` to the end of `dest` if it is still live and valid, its access
  // counter is above `threshold` and it fits; otherwise unlinks it. Returns true if it was kept.
  // A copy keeps the item's CAS.
  // `dest` may be kNoSegment: then the item is unlinked.
  virtual bool KeepOrDrop(uint32_t from, const LiveItem& item, uint32_t threshold,
                          uint32_t dest) = 0;
  // Opens segment `dest` (just allocated, or emptied) to receive the survivors of merges, as a
  // segment of TTL bucket `bucket`.
  virtual void OpenMergeDestination(uint32_t dest, uint16_t bucket) = 0;
  // True if segment `id` was opened before the last flush_all: its items are all invalid.
  virtual bool Outdated(uint32_t id) const = 0;
  // True if every item segment `id` holds has expired.
  virtual bool Expired(uint32_t id) const = 0;

  virtual ReclaimCounters& counters() = 0;

  virtual ~SegmentReclaimer() = default;
};

class Evictor {
 public:
  // Frees at least one segment to the pool. Returns false if no segment is sealed, so nothing can
  // be evicted. REQUIRES: the cache's eviction mutex is held.
  virtual bool Evict(SegmentReclaimer& reclaimer) = 0;
  // Empties a segment the policy holds open (merge's destination) if nothing in it is valid any
  // more (Outdated or Expired), so that its items leave the stats even when nothing evicts for a
  // while. REQUIRES: the cache's eviction mutex is held.
  virtual void EmptyIfInvalid(SegmentReclaimer& reclaimer) = 0;

  virtual ~Evictor() = default;
};

std::unique_ptr<Evictor> NewFifoEvictor(TtlBuckets* buckets);
// `run_length`: sources merged into one destination (at least 2): each may fill 1/run_length of it.
std::unique_ptr<Evictor> NewMergeEvictor(SegmentPool* pool, TtlBuckets* buckets, size_t run_length);

}  // namespace mnemo::storage
