// Reclaim frees segments: the dead ones first (every item replaced, deleted, expired or flushed),
// then, when the options allow, live ones by the eviction policy (eviction.h). It is the cache's
// side of eviction (a SegmentReclaimer per pass, doing the item-level work under the stripe
// locks), and the work of the background pass, which frees dead segments ahead of demand and
// keeps a few segments free so that writers rarely evict inline.
//
// Lock order: the eviction mutex, then a stripe lock (through the reclaimer), then the hash
// table's overflow lock; the TtlBuckets lock, the dead queue's lock and the pool's free-list lock
// are leaves.
// Thread safety: every public method may be called from any thread, each with its own context.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/mutex.h"
#include "base/thread_annotations.h"
#include "storage/background_thread.h"
#include "storage/cache_core.h"
#include "storage/eviction.h"
#include "storage/thread_context.h"

namespace mnemo::storage {

class Reclaim {
 public:
  // Sources that share one destination segment in merge eviction.
  static constexpr size_t kMergeRun = 2;
  // Segments one background pass frees at most.
  static constexpr size_t kMaxSegmentsPerPass = 64;

  explicit Reclaim(CacheCore& core);
  ~Reclaim();

  // Makes the evictor, whose merge destination is a segment of the pool. REQUIRES: core.Init()
  // returned ok; called once, before any other method.
  void Init();

  // Takes a segment from the pool and marks it `state`; when the pool is at its limit or the hash
  // table is full (HashTable::full), frees one first: a dead one if there is one, else by
  // eviction (unless -M). kNoSegment if none.
  uint32_t Acquire(ThreadContext& ctx, SegmentState state) EXCLUDES(evict_mu_);

  // Frees segments, as Acquire does when it must, to make room in the hash table for an item that
  // is waiting to be linked: at least one, and until the table is no longer full. False if
  // nothing could be freed.
  bool EvictForIndex(ThreadContext& ctx) EXCLUDES(evict_mu_);

  // Runs RunPass(*ctx) on a background thread, once a second and when segments run low, until
  // StopBackground. REQUIRES: `ctx` outlives the thread.
  void StartBackground(ThreadContext* ctx);
  void StopBackground() { background_.Stop(); }
  void WakeBackground() { background_.Wake(); }

  // One pass of the background work, on the calling thread: frees sealed segments that expired,
  // were flushed or hold no live item, then evicts ahead of demand if free segments run low.
  // Bounded: at most kMaxSegmentsPerPass segments.
  void RunPass(ThreadContext& ctx) EXCLUDES(evict_mu_);

  // Free segments below which the background pass evicts ahead of demand: one per kMinSegments
  // segments, at most kMaxFreeAhead.
  uint32_t LowWater() const;

 private:
  class Reclaimer;
  static constexpr uint32_t kMaxFreeAhead = 8;
  // Attempts to get a segment, each after an eviction, before answering kNoSegment: other threads
  // may take the segments an eviction frees.
  static constexpr int kAcquireAttempts = 8;

  bool EvictOne(ThreadContext& ctx) REQUIRES(evict_mu_);
  // Evicts once, then on while the hash table is full. False if nothing could be freed.
  bool EvictUntilTheIndexHasRoom(ThreadContext& ctx) REQUIRES(evict_mu_);
  // Frees queued segments that are still sealed and dead, up to `max`; returns how many.
  size_t ReclaimQueuedDead(ThreadContext& ctx, uint32_t now, size_t max) REQUIRES(evict_mu_);
  // True if `id` is sealed and holds nothing valid: every item expired (*expired), was flushed,
  // or was unlinked.
  bool Dead(uint32_t id, uint32_t now, bool* expired) const;
  // Frees sealed segment `id` if it is Dead; true if it did.
  bool ReclaimIfDead(ThreadContext& ctx, uint32_t id, uint32_t now) REQUIRES(evict_mu_);

  CacheCore& core_;
  Mutex evict_mu_;
  // The pointer is fixed from Init() to destruction; the policy is used under evict_mu_.
  std::unique_ptr<Evictor> evictor_ PT_GUARDED_BY(evict_mu_);
  BackgroundThread background_;
};

}  // namespace mnemo::storage
