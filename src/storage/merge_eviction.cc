// Merge eviction. Sources are taken one at a time at a bucket's cursor and merged into one open
// destination, which stays open across evictions until it is full; each eviction stops as soon as
// it has freed one segment, so the cache never holds more free segments than it needs.
//
// The survivors of each source are chosen by a threshold on the access counter of their hash
// slot: the lowest threshold whose survivors fit in the source's share of the destination
// (segment_size / run_length), so the most read items stay when not all can. An item never read
// since it was written (or since it was last copied forward: copying resets its counter) never
// survives, which is what lets merging keep up with a stream of one-hit wonders.
//
// The policy holds one segment beyond the pool's free list: the destination, taken when the policy
// is built so that the first merge of a full cache has somewhere to copy to (untouched, it costs
// address space, not memory). When it fills, it is sealed in the place of its sources and the
// source just emptied becomes the next destination. A destination takes the survivors of any TTL
// bucket (its max expiry covers them all), so that changing buckets never forces a source to be
// dropped whole; it belongs to the bucket of the first source after it was last empty.
#include <algorithm>
#include <array>

#include "storage/eviction.h"
#include "storage/hash_table.h"

namespace mnemo::storage {
namespace {

// Sources one eviction may go through before giving up (each is emptied, so this only bounds the
// work when destinations keep filling).
constexpr int kMaxSourcesPerEviction = 64;

class MergeEvictor final : public Evictor {
 public:
  MergeEvictor(SegmentPool* pool, TtlBuckets* buckets, size_t run_length)
      : pool_(pool),
        buckets_(buckets),
        share_(pool->segment_size() / std::max<size_t>(run_length, 2)),
        // Its pages are committed only when a survivor is first copied into it.
        dest_(pool->Allocate(SegmentState::kReserved)) {}

  ~MergeEvictor() override {
    if (dest_ != kNoSegment) pool_->Free(dest_);
  }

  bool Evict(SegmentReclaimer& reclaimer) override {
    for (int i = 0; i < kMaxSourcesPerEviction; ++i) {
      const uint32_t source = buckets_->DetachNextToMerge();
      if (source == kNoSegment) {
        // Only the destination holds items: seal it so that the next eviction can take it.
        if (dest_ == kNoSegment || Empty(dest_)) return false;
        SealDestination(reclaimer);
        continue;
      }
      const SegmentInfo& info = pool_->Info(source);
      if (info.chain_head) {
        // A large item cannot be copied into one segment: it goes whole.
        reclaimer.DropSegment(source);
        ++reclaimer.counters().segment_evictions;
        return true;
      }
      const uint16_t bucket = info.ttl_bucket;
      if (dest_ != kNoSegment) {
        if (Empty(dest_)) {
          // Nothing of it is live: open it afresh, in this source's bucket and flush generation.
          Reopen(reclaimer, dest_, bucket);
        } else if (Invalid(reclaimer)) {
          // Flushed or expired: what it holds is lost anyway. Emptied, it is opened afresh, and
          // this source's survivors still have somewhere to go.
          reclaimer.UnlinkAll(dest_);
          Reopen(reclaimer, dest_, bucket);
        }
      }
      items_.clear();
      reclaimer.CollectLive(source, &items_);
      MergeInto(reclaimer, source);
      ++reclaimer.counters().segment_evictions;
      // Sealed nearly full: a destination's unused tail is lost until it is merged again.
      if (dest_ != kNoSegment && Room(dest_) < share_ / 8) SealDestination(reclaimer);
      if (dest_ == kNoSegment) {
        // The emptied source becomes the destination of the sources that follow.
        Reopen(reclaimer, source, bucket);
        continue;
      }
      pool_->Free(source);
      return true;
    }
    return false;
  }

  // Emptied, the destination is opened afresh by the next eviction (Evict: Empty).
  void EmptyIfInvalid(SegmentReclaimer& reclaimer) override {
    if (dest_ != kNoSegment && !Empty(dest_) && Invalid(reclaimer)) reclaimer.UnlinkAll(dest_);
  }

 private:
  // Whether nothing in the destination is valid. REQUIRES: dest_ != kNoSegment.
  bool Invalid(const SegmentReclaimer& reclaimer) const {
    return reclaimer.Outdated(dest_) || reclaimer.Expired(dest_);
  }
  bool Empty(uint32_t id) const {
    return pool_->Info(id).live_items.load(std::memory_order_acquire) == 0;
  }
  size_t Room(uint32_t id) const {
    return pool_->segment_size() - pool_->Info(id).write_offset.load(std::memory_order_relaxed);
  }

  void Open(SegmentReclaimer& reclaimer, uint32_t id, uint16_t bucket) {
    reclaimer.OpenMergeDestination(id, bucket);
    dest_ = id;
  }

  // Opens emptied segment `id` as the destination, unless readers still hold it (ValueHold):
  // its bytes must not be overwritten under them, so it is freed instead (the pool reuses it once
  // they let go) and a fresh segment is taken, if the pool has one; else there is no
  // destination until the next emptied source.
  void Reopen(SegmentReclaimer& reclaimer, uint32_t id, uint16_t bucket) {
    if (pool_->Held(id)) {
      pool_->Free(id);
      dest_ = kNoSegment;
      id = pool_->Allocate(SegmentState::kReserved);
      if (id == kNoSegment) return;
    }
    Open(reclaimer, id, bucket);
  }

  void SealDestination(SegmentReclaimer& reclaimer) {
    buckets_->InsertMerged(dest_);
    ++reclaimer.counters().segment_merges;
    dest_ = kNoSegment;
  }

  // Copies the survivors of `source` into the destination (if any) and unlinks the rest.
  void MergeInto(SegmentReclaimer& reclaimer, uint32_t source) {
    const uint32_t threshold =
        dest_ == kNoSegment ? Slot::kMaxCounter : Threshold(std::min(share_, Room(dest_)));
    for (const LiveItem& item : items_) {
      if (reclaimer.KeepOrDrop(source, item, threshold, dest_)) {
        ++reclaimer.counters().items_copied_forward;
      }
    }
  }

  // The lowest counter threshold whose survivors (items with a higher counter) fit in `budget`
  // bytes.
  uint32_t Threshold(size_t budget) const {
    std::array<size_t, Slot::kMaxCounter + 1> bytes_at{};
    for (const LiveItem& item : items_) bytes_at[item.counter] += item.size;
    size_t above = 0;  // bytes of items with a counter above t
    for (uint32_t t = Slot::kMaxCounter; t > 0; --t) {
      if (above + bytes_at[t] > budget) return t;
      above += bytes_at[t];
    }
    return 0;
  }

  SegmentPool* pool_;
  TtlBuckets* buckets_;
  const size_t share_;  // bytes of a destination each source may fill
  uint32_t dest_;       // the destination; kNoSegment only between a seal and the next source
  std::vector<LiveItem> items_;  // reused across merges so that eviction does not allocate
};

}  // namespace

std::unique_ptr<Evictor> NewMergeEvictor(SegmentPool* pool, TtlBuckets* buckets,
                                         size_t run_length) {
  return std::make_unique<MergeEvictor>(pool, buckets, run_length);
}

}  // namespace mnemo::storage
