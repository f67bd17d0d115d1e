// ThreadContext is what one thread keeps of its own in the segment cache: its counters, the
// segments it appends to (one per TTL bucket it writes, up to kMaxOpenSegments), and scratch
// buffers for values being compressed, gathered or rebuilt. Nothing here is shared, so the
// request path counts and appends without atomics contention or locks.
//
// Invariants:
//  (1) Only the owning thread adds to a counter; other threads only read (Stats).
//  (2) An open segment is in at most one entry, and only its owner appends to it.
// Thread safety: one thread uses a context; Read may be called from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "storage/cache.h"
#include "storage/cache_stats.h"
#include "storage/eviction.h"
#include "storage/flash_candidates.h"
#include "storage/flash_read_size.h"
#include "storage/segment_pool.h"

namespace mnemo::storage {

// Counters summed over contexts.
using CounterTotals = std::array<int64_t, kNumCacheCounters>;

class ThreadContext;

// Who a context reports to when it is destroyed.
class ContextOwner {
 public:
  // Seals the context's open segments and folds its counters into the owner's totals.
  virtual void Retire(ThreadContext& ctx) = 0;

 protected:
  ~ContextOwner() = default;
};

class ThreadContext final : public Cache::Context {
 public:
  // Open segments a context keeps at once (one per TTL bucket it writes to).
  static constexpr size_t kMaxOpenSegments = 4;

  struct OpenSegment {
    uint32_t segment = kNoSegment;
    uint16_t bucket = 0;
    uint64_t last_use = 0;
  };

  explicit ThreadContext(ContextOwner* owner);
  ~ThreadContext() override { owner_->Retire(*this); }

  // Only the owning thread adds, so a load and a store suffice; they are atomic so that Stats may
  // read them from another thread.
  void Add(CacheCounter c, int64_t delta) {
    std::atomic<int64_t>& counter = counters_[static_cast<size_t>(c)];
    counter.store(counter.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
  }
  int64_t Read(size_t index) const { return counters_[index].load(std::memory_order_relaxed); }
  void Add(const ReclaimCounters& c);

  // The open segment entry for `bucket`: its own, an unused one, or the least recently used one.
  // *displaced receives the segment the entry held for another bucket (the caller seals it), or
  // kNoSegment.
  OpenSegment& EntryFor(uint16_t bucket, uint32_t* displaced);
  std::array<OpenSegment, kMaxOpenSegments>& open() { return open_; }

  // A buffer that grows to the largest size asked of it, without zero-filling, and gives back a
  // large one after use.
  class Scratch {
   public:
    char* Get(size_t size);
    void Trim();

   private:
    std::unique_ptr<char[]> data_;
    size_t capacity_ = 0;
  };
  // Compressed blocks being written; a chained item's block being read; a value being rebuilt by
  // a read-modify-write. Distinct, as one operation may need all three at once.
  Scratch compressed;
  Scratch block;
  Scratch rebuilt;
  // An item read from flash, and how much to ask for first when reading the next one.
  Scratch flash_record;
  FlashReadSize flash_read_size;

  // What this operation's lookups met on flash.
  FlashCandidates flash;

  // Reads of flash that would wait for the device (Cache::AllowFlashWaits).
  struct FlashWaits {
    bool allowed = false;
    std::optional<FlashWait> pending;  // the bytes the last Get needed (kWaitForFlash)
    std::optional<FlashWait> served;   // read for the next Get: it reads up to their end blocking
  };
  FlashWaits flash_waits;

  // Cache::SuppressChanges: the changes made through this context are not observed.
  bool changes_suppressed = false;

 private:
  ContextOwner* owner_;
  std::array<std::atomic<int64_t>, kNumCacheCounters> counters_;
  std::array<OpenSegment, kMaxOpenSegments> open_;
  uint64_t uses_ = 0;
};

}  // namespace mnemo::storage
