// FlashRecall runs a cache operation against a cache whose items may be on flash (flash_tier.h).
// A slot on flash whose tag matches the key may be the key's item or another key's; only reading
// it can tell, and a read must not happen under a stripe lock. So an operation that meets such a
// candidate changes nothing and ends "pending" (ItemIndex::FindLocked, FindResult::kPending);
// Run then reads each candidate outside any lock, brings the key's item back into RAM (the same
// version: its CAS travels in its header), notes candidates that hold other keys, drops corrupt
// ones, and runs the operation again. Every operation therefore only ever acts on items in RAM,
// but for reads that change nothing, which RunRead serves from the record it read (in the
// thread's scratch), so that reading an item on flash costs RAM no copy and flash no write.
//
// A read that asks to (ReadOptions::may_wait_for_flash, on a context that allows it) never waits
// for the device: where a candidate's bytes are not in the page cache it ends kWaitForFlash, having
// changed nothing the read's answer depends on, and the caller runs it again once it has read those
// bytes into the page cache (Cache::AllowFlashWaits). Other operations read blocking (a pread
// through the page cache, or a copy from the flash write buffer).
//
// Thread safety: as Cache; each call uses the caller's own context.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "storage/cache_core.h"
#include "storage/flash_tier.h"
#include "storage/item_index.h"
#include "storage/segment_writer.h"
#include "storage/thread_context.h"

namespace mnemo::storage {

class FlashRecall {
 public:
  // Rounds an operation may take before it gives up with its `busy` result. A round ends pending
  // again only if the candidate moved meanwhile (its flash segment reused, or the key's item
  // brought back and evicted again), so two rounds nearly always suffice.
  static constexpr int kMaxRounds = 8;
  // Reads of an item while it is on flash after which a read brings it back to RAM: until then
  // reads are served from the record read, so that a key read once (a scan, a cold read) costs
  // flash no write when RAM evicts the item again. At 3, uniform reads over a key
  // space larger than RAM brought back (and so evicted to flash) 25,000-55,000 items a second
  // (bench/RESULTS.md); an item read 8 times while on flash is hot.
  static constexpr uint32_t kRecacheReads = 8;

  // A read (Cache::Get) that the recall may answer itself from the item read from flash.
  struct Reader {
    const ReadOptions& options;
    uint32_t recache_expiry;
    ItemSink& sink;
  };

  FlashRecall(CacheCore& core, ItemIndex& index, SegmentWriter& writer)
      : core_(core), index_(index), writer_(writer) {}

  // What an operation needs of the key's item on flash.
  enum class Needs : uint8_t {
    kItem,    // its bytes: the item comes back to RAM
    kHeader,  // its header only (a store that replaces it, a delete): it stays where it is
  };

  // Runs `op` (which looks `key` up under the stripe lock of `hash`) until it ends without
  // pending flash candidates; returns its result, or `busy` after kMaxRounds.
  template <typename Result, typename Op>
  Result Run(ThreadContext& ctx, uint64_t hash, std::string_view key, Result busy, Needs needs,
             Op&& op) {
    ctx.flash.Reset(needs == Needs::kHeader);
    Result result = op();
    for (int round = 1; ctx.flash.pending(); ++round) {
      if (round == kMaxRounds) return busy;
      Resolve(ctx, hash, key, nullptr);
      ctx.flash.NextRound();
      result = op();
    }
    return result;
  }

  // Run for a read: a key found on flash is served from the item read, unless the read changes
  // it (touch, vivify, a recache win) or it has been read kRecacheReads times on flash: then it
  // comes back to RAM and `op` runs again.
  template <typename Op>
  LookupResult RunRead(ThreadContext& ctx, uint64_t hash, std::string_view key, Reader& reader,
                       Op&& op) {
    ctx.flash.Reset(false);
    LookupResult result = op();
    for (int round = 1; ctx.flash.pending(); ++round) {
      if (round == kMaxRounds) return LookupResult::kMiss;
      if (const std::optional<LookupResult> served = Resolve(ctx, hash, key, &reader)) {
        return *served;
      }
      if (ctx.flash_waits.pending.has_value()) return LookupResult::kWaitForFlash;
      ctx.flash.NextRound();
      result = op();
    }
    return result;
  }

 private:
  // Reads each pending candidate of `key` and acts on it as the header says; with a reader,
  // returns the read's result if it answered it.
  std::optional<LookupResult> Resolve(ThreadContext& ctx, uint64_t hash, std::string_view key,
                                      Reader* reader);
  // Whether `reader` may be served the item of `header` from its record: a read that changes
  // nothing.
  bool ServableFromRecord(const Reader& reader, const ItemHeader& header) const;
  enum class Served : uint8_t {
    kGone,     // the candidate's slot moved or its segment was reused: look again
    kServed,   // the reader was served from the record
    kRecache,  // this read is the kRecacheReads-th: the item comes back to RAM
  };
  // Serves `reader` the key's item from `record`, read from the candidate, if its slot still
  // points there, under the key's stripe lock.
  Served Serve(ThreadContext& ctx, uint64_t hash, const FlashCandidates::Candidate& candidate,
               char* record, const Reader& reader);
  // Writes the item read into `record` (the key's) into RAM and, if the candidate's slot still
  // points at it, moves the slot there, and serves `reader` if there is one. Returns whether the
  // candidate was still there.
  bool Copy(ThreadContext& ctx, uint64_t hash, const FlashCandidates::Candidate& candidate,
            const char* record, std::string_view key, const Reader* reader);
  // Removes the slot of a record that cannot be read back or was flushed, of `size` bytes.
  void Drop(ThreadContext& ctx, uint64_t hash, const FlashCandidates::Candidate& candidate,
            size_t size);

  CacheCore& core_;
  ItemIndex& index_;
  SegmentWriter& writer_;
};

}  // namespace mnemo::storage
