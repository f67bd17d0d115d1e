// FlashRecall runs a cache operation against a cache whose items may be on flash (flash_tier.h).
// A slot on flash whose tag matches the key may be the key's item or another key's; only reading
// it can tell, and a read must not happen under a stripe lock. So an operation that meets such a
// candidate changes nothing and ends "pending" (ItemIndex::FindLocked, FindResult::kPending);
// Run then reads each candidate outside any lock, brings the key's item back into RAM (the same
// version: its CAS travels in its header), notes candidates that hold other keys, drops corrupt
// ones, and runs the operation again. Every operation therefore only ever acts on items in RAM.
//
// Reads block the calling thread for now (a pread, or a copy from the flash write buffer).
//
// Thread safety: as Cache; each call uses the caller's own context.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "storage/cache_core.h"
#include "storage/flash_tier.h"
#include "storage/segment_writer.h"
#include "storage/thread_context.h"

namespace mnemo::storage {

class FlashRecall {
 public:
  // Rounds an operation may take before it gives up with its `busy` result. A round ends pending
  // again only if the candidate moved meanwhile (its flash segment reused, or the key's item
  // brought back and evicted again), so two rounds nearly always suffice.
  static constexpr int kMaxRounds = 8;

  FlashRecall(CacheCore& core, SegmentWriter& writer) : core_(core), writer_(writer) {}

  // Runs `op` (which looks `key` up under the stripe lock of `hash`) until it ends without
  // pending flash candidates; returns its result, or `busy` after kMaxRounds.
  template <typename Result, typename Op>
  Result Run(ThreadContext& ctx, uint64_t hash, std::string_view key, Result busy, Op&& op) {
    ctx.flash.Reset();
    Result result = op();
    for (int round = 1; ctx.flash.pending(); ++round) {
      if (round == kMaxRounds) return busy;
      Resolve(ctx, hash, key);
      ctx.flash.NextRound();
      result = op();
    }
    return result;
  }

 private:
  // Reads each pending candidate of `key` and acts on it as the header says.
  void Resolve(ThreadContext& ctx, uint64_t hash, std::string_view key);
  // Moves the item read into `record` (the key's) from flash back into RAM, if its slot still
  // points at it.
  void BringBack(ThreadContext& ctx, uint64_t hash, const FlashCandidates::Candidate& candidate,
                 const char* record, std::string_view key);
  // Removes the slot of a record that cannot be read back or was flushed, of `size` bytes.
  void Drop(ThreadContext& ctx, uint64_t hash, const FlashCandidates::Candidate& candidate,
            size_t size);

  CacheCore& core_;
  SegmentWriter& writer_;
};

}  // namespace mnemo::storage
