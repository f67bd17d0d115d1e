// SegmentPool is the cache's item memory: one anonymous mapping cut into equal segments, handed
// out lazily (the kernel commits a page on first write, so RSS follows use) and reused, never
// given back to the OS while running. With a memory file (-e) the mapping is a shared mapping of
// that file instead, its blocks allocated up front, so that what the cache writes outlives the
// process and a warm restart can find it (warm_restart.h). Each segment has a descriptor outside
// that memory, which holds what the cache must know about the segment without reading its items:
// on the heap, or with a memory file in its durable index, where a crash leaves it
// (durable_index.h).
//
// Invariants:
//  (1) A segment is in exactly one state: free (on the free list), open (one Context appends to
//      it), sealed (in a TTL bucket chain, immutable), chained (a continuation of a large item
//      whose head is sealed), reserved (an eviction policy's scratch), reclaiming (detached by
//      the one thread that is evicting or expiring it) or draining (freed while readers hold it:
//      it goes on the free list when the last hold is released).
//  (4) A held segment (readers > 0) is never reused, and neither is its chain: Free defers the
//      free to the last Unhold. A hold is taken only on a segment that a linked item is in, under
//      that item's stripe lock, so once a segment holds no linked item its readers only fall.
//  (2) in_use() <= max(limit(), in_use() at the last SetLimit): Allocate refuses once in_use()
//      reaches limit(); freeing makes room again.
//  (3) A segment's live_items/live_bytes count the items of the segment that the hash table
//      points at; its write_offset, the bytes appended so far.
//
// Thread safety: Allocate, Free, SetLimit and the counters may be called from any thread (the free
// list has its own lock, a leaf in the lock order). Descriptor fields are documented one by one.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/spin_lock.h"
#include "base/status.h"
#include "base/thread_annotations.h"

namespace mnemo::storage {

inline constexpr uint32_t kNoSegment = UINT32_MAX;

enum class SegmentState : uint8_t {
  kFree,
  kOpen,
  kSealed,
  kChained,
  kReserved,
  kReclaiming,
  kDraining,
};

// One cache line each: neighbouring segments are often open in different threads, whose appends
// and live counts would otherwise share lines.
struct alignas(64) SegmentInfo {
  // Written by the owner while open; final once sealed (readers synchronise through `state`).
  std::atomic<uint32_t> write_offset{0};
  // Changed by any thread that links or unlinks an item of the segment, under its stripe lock.
  // Unlinking decrements with release and a thread that frees the segment on seeing 0 loads with
  // acquire, so every read of the segment made under a stripe lock before the last unlink happens
  // before the segment is reused.
  std::atomic<uint32_t> live_items{0};
  std::atomic<uint64_t> live_bytes{0};
  // The latest expiry of the segment's items; kNeverExpiresMax if one never expires. Raised by
  // the owner as it appends and by touch in place (fetch-max), so it only grows until reuse.
  std::atomic<uint32_t> max_expiry{0};
  // The flush generation it was opened in. Atomic because the background pass reads it before it
  // takes the eviction mutex, while an eviction may be reusing the segment.
  std::atomic<uint32_t> flush_gen{0};
  // Release-stored on every transition, so a reader that loads it with acquire sees the fields
  // below as they were set before the transition.
  std::atomic<SegmentState> state{SegmentState::kFree};
  // MonotonicSeconds() of the latest write into the segment or read of one of its items (meta
  // 'l'): stored by any thread, only when it changes, so at most once a second.
  std::atomic<uint32_t> last_access{0};
  // Set when the segment is opened, fixed until it is freed.
  uint64_t epoch = 0;  // from the cache's global counter: makes CAS unique
  // MonotonicSeconds() when opened. Atomic (relaxed) because `stats items` reads it from every
  // descriptor without a lock while segments are being reopened.
  std::atomic<uint32_t> create_time{0};
  uint16_t ttl_bucket = 0;
  bool chain_head = false;           // holds the head of a large item, whose value continues in...
  uint32_t chain_next = kNoSegment;  // ...this segment (and its chain_next, ...)
  // Links of the TTL bucket chain; guarded by the TtlBuckets lock.
  uint32_t prev = kNoSegment;
  uint32_t next = kNoSegment;
  // Readers holding the segment (ValueHold): its bytes are being sent or decoded. Sequentially
  // consistent with `state`, so that of a Free and the last Unhold, one sees the other.
  std::atomic<uint32_t> readers{0};
};

static_assert(sizeof(SegmentInfo) == 64, "a segment descriptor grew: see docs/storage.md");

inline constexpr uint32_t kNeverExpiresMax = UINT32_MAX;

class SegmentPool {
 public:
  // A pool of `max_bytes` (at least `limit_bytes`) of segments of `segment_size` bytes, of which
  // `limit_bytes` may be used. It holds no memory until Init().
  SegmentPool(size_t limit_bytes, size_t max_bytes, size_t segment_size);
  ~SegmentPool();
  SegmentPool(const SegmentPool&) = delete;
  SegmentPool& operator=(const SegmentPool&) = delete;

  // Reserves the address space for the segments and allocates their descriptors; an error says
  // how much could not be had. With `memory_file`, maps that file (created, or resized to
  // max_segments() segments, its blocks allocated so that a full file system fails here rather
  // than with SIGBUS later), locked (flock) for as long as the pool lives, so that a second
  // process on the same file fails here. Every other method REQUIRES: Init() returned ok.
  Status Init(const std::string& memory_file = "");
  // Moves the descriptors into `memory` (room for max_segments() of them; the caller keeps it
  // while the pool lives), so that what they say outlives the process (durable_index.h).
  // REQUIRES: nothing allocated yet.
  void PlaceDescriptors(void* memory);
  // The size the memory file had before Init sized it (-1 if it did not exist or there is none).
  int64_t file_size_at_open() const { return file_size_at_open_; }
  // Writes the memory file's dirty pages back to it and waits (msync). Ok without a file.
  Status Sync() const;

  // A warm restart: marks `ids` (ascending) in use, each in the state its descriptor holds, and
  // every other segment free. REQUIRES: nothing allocated yet.
  void RestoreInUse(const std::vector<uint32_t>& ids);

  // Takes a segment (a reused one first) and marks it `state`; kNoSegment when the limit is
  // reached. Never allocates heap memory.
  uint32_t Allocate(SegmentState state);
  // Returns a segment whose items are all unlinked, and the chain of a large item's head, to the
  // free list, resetting their descriptors; deferred to the last Unhold while readers hold it.
  void Free(uint32_t id);

  // Holds segment `id` for a reader (invariant 4). REQUIRES: the stripe lock of a linked item of
  // the segment.
  void Hold(uint32_t id) { infos_[id].readers.fetch_add(1, std::memory_order_seq_cst); }
  // Releases a hold; the last one of a freed segment completes its Free.
  void Unhold(uint32_t id);
  // Whether readers hold `id`: such a segment must not be rewritten in place.
  bool Held(uint32_t id) const { return infos_[id].readers.load(std::memory_order_seq_cst) != 0; }
  // Segments freed while held, not yet back on the free list (briefly off by one while a Free and
  // its last Unhold race, hence signed).
  int32_t draining() const { return draining_.load(std::memory_order_relaxed); }

  // Changes how many segments may be in use; false if below one segment or above the
  // reservation.
  bool SetLimit(size_t limit_bytes);

  char* Data(uint32_t id) const { return base_ + size_t{id} * segment_size_; }
  SegmentInfo& Info(uint32_t id) const { return infos_[id]; }

  size_t segment_size() const { return segment_size_; }
  uint32_t max_segments() const { return max_segments_; }
  uint32_t limit() const { return limit_.load(std::memory_order_relaxed); }
  uint32_t in_use() const { return in_use_.load(std::memory_order_relaxed); }
  // Segments taken from the OS at some point and now waiting on the free list.
  uint32_t free_count() const { return free_count_.load(std::memory_order_relaxed); }
  // Segments ever handed out: ids at and above it have never been used.
  uint32_t touched() const { return touched_.load(std::memory_order_relaxed); }
  // Segments that could still be handed out right now (free or never touched, under the limit).
  uint32_t available() const;

 private:
  // Frees draining `id` and its chain if no reader holds it; true for the one caller that does.
  bool FinishFreeIfUnheld(uint32_t id);
  // Resets the descriptor and pushes the segment on the free list.
  void Recycle(uint32_t id);

  char* base_ = nullptr;
  bool file_backed_ = false;
  int64_t file_size_at_open_ = -1;
  int memory_file_fd_ = -1;  // open while the pool lives: it holds the file's lock
  const size_t segment_size_;
  const uint32_t max_segments_;
  SegmentInfo* infos_ = nullptr;  // owned_infos_, or the caller's descriptors
  std::unique_ptr<SegmentInfo[]> owned_infos_;
  std::atomic<uint32_t> limit_;
  std::atomic<uint32_t> in_use_{0};
  std::atomic<uint32_t> free_count_{0};
  std::atomic<uint32_t> touched_{0};
  std::atomic<int32_t> draining_{0};
  SpinLock lock_;
  std::vector<uint32_t> free_ GUARDED_BY(lock_);   // capacity reserved up front
  uint32_t untouched_next_ GUARDED_BY(lock_) = 0;  // segments at and above it were never used
};

}  // namespace mnemo::storage
