// ItemStore writes a new version of a key whole (set, add, replace, cas, and the creations of
// meta N): it encodes the value, reserves and writes the item outside any lock, then links it
// under the stripe lock if the mode's condition holds (segment_cache.h, invariant 3). A failed
// condition leaves dead bytes, reclaimed with their segment.
//
// Thread safety: as Cache; each call uses the caller's own context.
#pragma once

#include <cstdint>
#include <string_view>

#include "storage/cache.h"
#include "storage/cache_core.h"
#include "storage/item_index.h"
#include "storage/reclaim.h"
#include "storage/segment_writer.h"
#include "storage/thread_context.h"
#include "storage/value_codec.h"

namespace mnemo::storage {

// A reader to serve a created item to, under the stripe lock that links it (mg N).
struct CreatedReader {
  const ReadOptions& options;
  const ReadState& state;
  ItemSink& sink;
};

// A new version that a store wrote, then found its key's old version on flash (FlashRecall::Run):
// kept, unlinked, over the rounds that read flash, so that the value is written once however many
// rounds the store takes. Only for a store that needs nothing of the old version but its header:
// nothing else reserves item memory on the context meanwhile.
struct KeptVersion {
  Placement place;
  ItemHeader header;  // as written: sizes, encoding, chaining
  bool held = false;  // written, neither linked nor given up yet
};

class ItemStore {
 public:
  ItemStore(CacheCore& core, ItemIndex& index, SegmentWriter& writer, Reclaim& reclaim,
            const ValueCodec& codec)
      : core_(core), index_(index), writer_(writer), reclaim_(reclaim), codec_(codec) {}

  // Writes a new version with `header` and `value` and links it if `mode`'s condition holds
  // (with `cas` for kCas); fills `outcome` (may be null) with the new version's CAS and value
  // size, and serves it to `reader` (may be null) under the stripe lock. An expiry already past,
  // or a store in the second of a whole-second flush_all, links nothing but still reports the
  // store. With `kept`, a version it holds is linked instead of writing another, and a store
  // that finds its key pending on flash keeps its version there. REQUIRES: mode is not kAppend or
  // kPrepend.
  StoreResult StoreVersion(ThreadContext& ctx, StoreMode mode, std::string_view key, uint64_t hash,
                           uint32_t now, ItemHeader header, std::string_view value, uint64_t cas,
                           WriteOutcome* outcome, const CreatedReader* reader = nullptr,
                           KeptVersion* kept = nullptr);
  // Gives up a version `kept` still holds (a store that ran out of rounds).
  void Release(KeptVersion& kept);

  // A value above item_size_max: kTooLarge, and a set removes the old value.
  StoreResult RefuseTooLarge(ThreadContext& ctx, StoreMode mode, std::string_view key,
                             uint64_t hash);

 private:
  // Times a store whose item the full hash table refused evicts a segment and tries again before
  // it answers kNoMemory. Rare: writers evict before the table fills (Reclaim::Acquire).
  static constexpr int kLinkAttempts = 4;

  StoreResult StoreInvisible(ThreadContext& ctx, StoreMode mode, std::string_view key,
                             uint64_t hash, uint64_t cas, uint32_t now);

  CacheCore& core_;
  ItemIndex& index_;
  SegmentWriter& writer_;
  Reclaim& reclaim_;
  const ValueCodec& codec_;
};

// Fills a caller's WriteOutcome, which may be null.
inline void Report(WriteOutcome* outcome, uint64_t cas, uint32_t value_size) {
  if (outcome == nullptr) return;
  outcome->cas = cas;
  outcome->value_size = value_size;
}

}  // namespace mnemo::storage
