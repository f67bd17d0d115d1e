// Rewriter changes an item by writing a new version of it from the current one: append and
// prepend, incr and decr, touch and gat when the item must move, ms with I, md with I or x. Each
// is a read-modify-write that holds no lock across the allocation (segment_cache.h, invariant 3):
// it looks at the current version under the stripe lock and plans the new one, writes it outside
// the lock, then locks again and swaps it in only if the key still has the version it looked at,
// in the same state (invariant 6); otherwise the new bytes are dead and it starts over.
//
// Thread safety: as Cache; each call uses the caller's own context.
#pragma once

#include <cstdint>
#include <string_view>

#include "storage/cache.h"
#include "storage/cache_core.h"
#include "storage/item_index.h"
#include "storage/item_store.h"
#include "storage/segment_writer.h"
#include "storage/thread_context.h"
#include "storage/value_codec.h"

namespace mnemo::storage {

// How a rewrite ended.
enum class RewriteOutcome : uint8_t {
  kDone,
  kMiss,
  kExpired,
  kFlushed,
  kRefused,
  kNoMemory,
  kCorrupt,  // the current version's compressed block does not decode
};

class Rewriter {
 public:
  Rewriter(CacheCore& core, ItemIndex& index, SegmentWriter& writer, ItemStore& store,
           const ValueCodec& codec)
      : core_(core), index_(index), writer_(writer), store_(store), codec_(codec) {}

  // append and prepend (with meta N: create the item on a miss).
  StoreResult Concatenate(ThreadContext& ctx, const WriteRequest& request, uint64_t hash,
                          uint32_t now, WriteOutcome* outcome);
  // ms with C and I: a CAS match stores, a lower CAS stores a stale version.
  StoreResult StoreInvalidating(ThreadContext& ctx, const WriteRequest& request, uint64_t hash,
                                uint32_t now, WriteOutcome* outcome);
  // incr and decr, with every option of ma.
  ArithResult Arithmetic(ThreadContext& ctx, const ArithRequest& request, uint64_t hash,
                         uint32_t now, ArithOutcome* outcome);
  // Touch, gat and mg with T: gives the item `expiry`, keeping its CAS, and serves it to `sink`
  // if not null.
  RewriteOutcome TouchVersion(ThreadContext& ctx, std::string_view key, uint64_t hash, uint32_t now,
                              const ReadOptions& options, uint32_t expiry, uint32_t recache_expiry,
                              ItemSink* sink);
  // md with I or x: marks the item stale, or empties it, as a new version.
  DeleteResult Delete(ThreadContext& ctx, const DeleteRequest& request, uint64_t hash,
                      uint32_t now);

 private:
  struct Rewrite;
  enum class RewriteStep : uint8_t;

  // Reads the current version of key, lets `plan` decide the new version, writes it and swaps it
  // in if the key still has the version that was read; retries otherwise.
  template <typename Plan>
  RewriteOutcome RewriteItem(ThreadContext& ctx, std::string_view key, uint64_t hash, uint32_t now,
                             Plan&& plan, ItemSink* sink, uint64_t* new_cas);
  // Makes `rewrite` write prefix, the old value of `old` and suffix and pad as one new value in
  // ctx's scratch, so that it can be compressed; false if the old block is corrupt.
  // REQUIRES: the stripe lock of `old`'s key.
  bool Rebuild(ThreadContext& ctx, const Found& old, Rewrite* rewrite) const;

  CacheCore& core_;
  ItemIndex& index_;
  SegmentWriter& writer_;
  ItemStore& store_;
  const ValueCodec& codec_;
};

}  // namespace mnemo::storage
