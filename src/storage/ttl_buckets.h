// TtlBuckets groups sealed segments by how long their items live, so that items expiring at about
// the same time share segments and a whole segment expires at once (Segcache's TTL buckets). Each
// bucket keeps its sealed segments in a FIFO chain, oldest first, and a merge cursor: the next
// segment of that bucket to merge, so that merging walks the chain like a clock hand and merged
// segments stay where their sources were.
//
// Buckets by remaining time to live: bucket 0 holds items that never expire; then four groups of
// 256 buckets, 8 s wide up to 2048 s, 128 s wide up to about 9.7 h, 2048 s wide up to about 6.5
// days, and 32768 s wide up to about 103 days; later expiries share the last bucket.
//
// Invariants:
//  (1) A segment is in a chain iff its state is kSealed; Append and Detach change both under the
//      lock.
//  (2) Within a chain, segments are in the order they were appended, except that a merged segment
//      takes the place of the run it was merged from.
//  (3) A cursor is kNoSegment (start at the head) or a segment in its bucket's chain; it moves to
//      the next segment when its segment leaves the chain, and back to the head past the end.
//
// Thread safety: every method takes the internal lock, which is a leaf: no other lock is taken
// while holding it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/spin_lock.h"
#include "base/thread_annotations.h"
#include "storage/segment_pool.h"

namespace mnemo::storage {

class TtlBuckets {
 public:
  static constexpr uint32_t kGroups = 4;
  static constexpr uint32_t kBucketsPerGroup = 256;
  static constexpr uint32_t kCount = 1 + kGroups * kBucketsPerGroup;

  // The bucket of an item that expires at `expiry` (0: never), seen at `now`.
  static uint16_t BucketFor(uint32_t expiry, uint32_t now);

  explicit TtlBuckets(SegmentPool* pool) : pool_(pool) {}

  // Seals `id` (state kOpen, ttl_bucket set): puts it at the tail of its bucket's chain.
  void Append(uint32_t id);
  // Takes `id` out of its chain and marks it kReclaiming. False if it is not sealed (another
  // reclaimer has it already, or it was never sealed).
  bool Detach(uint32_t id);

  // Detaches the first segment of a bucket that holds nothing valid: every item expired (max
  // expiry passed), flushed (opened before flush generation `flush_gen`) or unlinked. Only chain
  // heads are looked at, where such segments gather. kNoSegment if there is none.
  uint32_t DetachDead(uint32_t now, uint32_t flush_gen);

  // Detaches the sealed segment that was created first across all buckets, marked kReclaiming;
  // kNoSegment if there is none.
  uint32_t DetachOldest();

  // Detaches the next segment to merge, marked kReclaiming: the one at the cursor of the bucket
  // whose cursor segment is oldest, and moves that cursor to the segment after it. kNoSegment if
  // no segment is sealed.
  uint32_t DetachNextToMerge();

  // Seals the merged segment `id` in its ttl_bucket just before the bucket's cursor: where the
  // segments it was merged from were. The cursor stays on the next segment to merge.
  void InsertMerged(uint32_t id);

  size_t sealed() const;

 private:
  struct Bucket {
    uint32_t head = kNoSegment;
    uint32_t tail = kNoSegment;
    uint32_t cursor = kNoSegment;
    uint32_t size = 0;
  };

  void LinkBefore(Bucket& bucket, uint32_t id, uint32_t next) REQUIRES(lock_);
  void Unlink(Bucket& bucket, uint32_t id) REQUIRES(lock_);
  // Collects up to max_run mergeable segments of a chain starting at `start`.
  void CollectRun(uint32_t start, size_t max_run, std::vector<uint32_t>* run) const REQUIRES(lock_);

  SegmentPool* pool_;
  mutable SpinLock lock_;
  Bucket buckets_[kCount] GUARDED_BY(lock_);
  // Bit b set iff bucket b's chain is not empty, so that choosing a victim visits only the
  // buckets in use.
  uint64_t nonempty_[(kCount + 63) / 64] GUARDED_BY(lock_) = {};
  size_t sealed_ GUARDED_BY(lock_) = 0;
};

}  // namespace mnemo::storage
