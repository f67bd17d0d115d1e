// SegmentWriter places new item versions: it reserves room for an item in the calling context's
// open segment of the item's TTL bucket (or a chain of whole segments for an item larger than a
// segment), writes the header and key, and seals segments their owner is done with into their
// TTL bucket. It never links: a write appends first, then links under the stripe lock
// (segment_cache.h, invariant 3), then calls Finish.
//
// Thread safety: each context's segments are written only by its thread; Seal may be called for
// any segment its caller owns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "storage/cache_core.h"
#include "storage/item_cursor.h"
#include "storage/reclaim.h"
#include "storage/thread_context.h"

namespace mnemo::storage {

// Where a reserved item goes.
struct Placement {
  ItemLocation loc;
  bool chained = false;
};

class SegmentWriter {
 public:
  SegmentWriter(CacheCore& core, Reclaim& reclaim) : core_(core), reclaim_(reclaim) {}

  // Reserves room for an item of `size` bytes expiring at `expiry`, in ctx's open segment of the
  // item's TTL bucket, or as a chain of whole segments if larger than a segment. Evicts if it must.
  bool Reserve(ThreadContext& ctx, size_t size, uint32_t expiry, uint32_t now, Placement* place);
  // After the item is linked (or not): seals a chain's head, or frees the chain if unused.
  void Finish(const Placement& place, bool linked);
  // Writes header and key at `place`; returns a cursor positioned at the value.
  ItemCursor WriteHeader(const Placement& place, ItemHeader header, std::string_view key);

  // Hands a segment its owner is done with to its TTL bucket (or frees it if nothing in it lives).
  void Seal(uint32_t id);
  void SealOpenSegments(ThreadContext& ctx);
  // Seals the open segments of `ctx` that hold nothing valid any more (flushed, or every item
  // expired), so that they are reclaimed even if its thread writes no more.
  void SealDeadOpenSegments(ThreadContext& ctx, uint32_t now);

 private:
  CacheCore& core_;
  Reclaim& reclaim_;
};

}  // namespace mnemo::storage
