// ItemWalk copies the cache's valid items out of the hash table a few buckets at a time, for
// Cache::Walk (stats cachedump, lru_crawler metadump and mgdump).
//
// The cursor is a position in the space of key hashes read with their bits reversed. A bucket of
// depth d holds exactly the hashes that share its d low bits, so in reversed order it is one
// contiguous range, aligned to its size; a split cuts a range into its two halves, and depths only
// grow. A step visits the bucket at the cursor under its stripe lock, copies its valid items out,
// and moves the cursor to the end of the bucket's range: a position every later bucket starts at
// or after, whatever splits happen between steps. So the walk needs no lock between steps and no
// memory beyond its batch, and an item present for the whole walk is copied exactly once.
//
// Thread safety: Step may be called from any thread, concurrently with every cache operation; a
// cursor and a batch belong to one walk.
#pragma once

#include <cstddef>

#include "storage/cache.h"
#include "storage/cache_core.h"

namespace mnemo::storage {

class ItemWalk {
 public:
  explicit ItemWalk(CacheCore& core) : core_(core) {}

  // Cache::Walk.
  void Step(WalkCursor* cursor, size_t max_items, WalkBatch* batch) const;

 private:
  CacheCore& core_;
};

}  // namespace mnemo::storage
