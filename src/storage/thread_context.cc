#include "storage/thread_context.h"

namespace mnemo::storage {
namespace {

// A context keeps scratch buffers up to this size between requests; a larger one (a value
// rebuilt for append under a raised -I) is released after use.
constexpr size_t kScratchKeep = size_t{2} << 20;

}  // namespace

ThreadContext::ThreadContext(ContextOwner* owner) : owner_(owner) {
  for (auto& counter : counters_) counter.store(0, std::memory_order_relaxed);
}

void ThreadContext::Add(const ReclaimCounters& c) {
  Add(CacheCounter::evictions, static_cast<int64_t>(c.evictions));
  Add(CacheCounter::evicted_unfetched, static_cast<int64_t>(c.evicted_unfetched));
  Add(CacheCounter::reclaimed, static_cast<int64_t>(c.reclaimed));
  Add(CacheCounter::expired_unfetched, static_cast<int64_t>(c.expired_unfetched));
  Add(CacheCounter::segment_merges, static_cast<int64_t>(c.segment_merges));
  Add(CacheCounter::segment_evictions, static_cast<int64_t>(c.segment_evictions));
  Add(CacheCounter::segments_expired, static_cast<int64_t>(c.segments_expired));
  Add(CacheCounter::items_copied_forward, static_cast<int64_t>(c.items_copied_forward));
  Add(CacheCounter::curr_items, -static_cast<int64_t>(c.items_unlinked));
  Add(CacheCounter::bytes,
      static_cast<int64_t>(c.bytes_carried) - static_cast<int64_t>(c.bytes_unlinked));
}

ThreadContext::OpenSegment& ThreadContext::EntryFor(uint16_t bucket, uint32_t* displaced) {
  *displaced = kNoSegment;
  OpenSegment* lru = open_.data();
  for (OpenSegment& entry : open_) {
    if (entry.segment != kNoSegment && entry.bucket == bucket) {
      entry.last_use = ++uses_;
      return entry;
    }
    if (entry.segment == kNoSegment ||
        (lru->segment != kNoSegment && entry.last_use < lru->last_use)) {
      lru = &entry;
    }
  }
  *displaced = lru->segment;
  lru->segment = kNoSegment;
  lru->bucket = bucket;
  lru->last_use = ++uses_;
  return *lru;
}

char* ThreadContext::Scratch::Get(size_t size) {
  if (size > capacity_) {
    data_ = std::make_unique_for_overwrite<char[]>(size);
    capacity_ = size;
  }
  return data_.get();
}

void ThreadContext::Scratch::Trim() {
  if (capacity_ > kScratchKeep) {
    data_.reset();
    capacity_ = 0;
  }
}

}  // namespace mnemo::storage
