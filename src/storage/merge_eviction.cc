// Merge eviction. The survivors of each source segment are chosen by a threshold on the access
// counter of their hash slot: the lowest threshold whose survivors fit in this source's share of
// the destination, so the most read items stay when not all can. An item never read since it was
// written (or since it was last copied forward: copying resets its counter) never survives, which
// is what lets a merge free N - 1 of its N segments on a stream of one-hit wonders.
#include <algorithm>
#include <array>

#include "storage/eviction.h"
#include "storage/hash_table.h"

namespace mnemo::storage {
namespace {

class MergeEvictor final : public Evictor {
 public:
  MergeEvictor(SegmentPool* pool, TtlBuckets* buckets, size_t run_length)
      : pool_(pool),
        buckets_(buckets),
        run_length_(std::max<size_t>(run_length, 2)),
        // Merges need a destination that the pool never hands out. Its pages are committed only
        // when the first merge writes to it.
        reserve_(pool->Allocate(SegmentState::kReserved)),
        reserved_(reserve_ == kNoSegment ? 0 : 1) {}

  ~MergeEvictor() override {
    if (reserve_ != kNoSegment) pool_->Free(reserve_);
  }

  size_t reserved_segments() const override { return reserved_; }

  bool Evict(SegmentReclaimer& reclaimer) override {
    uint32_t next = kNoSegment;
    if (!buckets_->DetachRun(run_length_, &run_, &next)) return false;
    if (run_.size() == 1 || reserve_ == kNoSegment) {
      for (uint32_t id : run_) {
        reclaimer.DropSegment(id);
        ++reclaimer.counters().segment_evictions;
      }
      return true;
    }
    Merge(reclaimer, next);
    return true;
  }

 private:
  void Merge(SegmentReclaimer& reclaimer, uint32_t next) {
    const uint32_t dest = reserve_;
    reclaimer.OpenMergeDestination(dest, pool_->Info(run_.front()).ttl_bucket);
    SegmentInfo& dest_info = pool_->Info(dest);
    for (size_t i = 0; i < run_.size(); ++i) {
      const uint32_t source = run_[i];
      items_.clear();
      reclaimer.CollectLive(source, &items_);
      const size_t room =
          pool_->segment_size() - dest_info.write_offset.load(std::memory_order_relaxed);
      const uint32_t threshold = Threshold(room / (run_.size() - i));
      for (const LiveItem& item : items_) {
        if (reclaimer.KeepOrDrop(source, item, threshold, dest)) {
          ++reclaimer.counters().items_copied_forward;
        }
      }
      ++reclaimer.counters().segment_evictions;
    }
    ++reclaimer.counters().segment_merges;
    // Every source is empty now. One becomes the next reserve, unless nothing survived: then the
    // destination holds no live item and stays the reserve.
    if (dest_info.live_items.load(std::memory_order_relaxed) > 0) {
      buckets_->InsertMerged(dest, next);
      reserve_ = run_.back();
      run_.pop_back();
    }
    pool_->Info(reserve_).state.store(SegmentState::kReserved, std::memory_order_release);
    for (uint32_t id : run_) pool_->Free(id);
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
  const size_t run_length_;
  // A merge always leaves a reserve behind (a source, or the unused destination), so whether
  // there is one is decided at construction.
  uint32_t reserve_;
  const size_t reserved_;
  // Reused across merges so that eviction does not allocate once warm.
  std::vector<uint32_t> run_;
  std::vector<LiveItem> items_;
};

}  // namespace

std::unique_ptr<Evictor> NewMergeEvictor(SegmentPool* pool, TtlBuckets* buckets,
                                         size_t run_length) {
  return std::make_unique<MergeEvictor>(pool, buckets, run_length);
}

}  // namespace mnemo::storage
