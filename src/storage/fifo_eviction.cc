// Plain segment FIFO: the baseline that merge eviction is measured against.
#include "storage/eviction.h"

namespace mnemo::storage {
namespace {

class FifoEvictor final : public Evictor {
 public:
  explicit FifoEvictor(TtlBuckets* buckets) : buckets_(buckets) {}

  bool Evict(SegmentReclaimer& reclaimer) override {
    const uint32_t victim = buckets_->DetachOldest();
    if (victim == kNoSegment) return false;
    reclaimer.DropSegment(victim);
    ++reclaimer.counters().segment_evictions;
    return true;
  }

  // FIFO holds no segment open.
  void EmptyIfInvalid(SegmentReclaimer&) override {}

 private:
  TtlBuckets* buckets_;
};

}  // namespace

std::unique_ptr<Evictor> NewFifoEvictor(TtlBuckets* buckets) {
  return std::make_unique<FifoEvictor>(buckets);
}

}  // namespace mnemo::storage
