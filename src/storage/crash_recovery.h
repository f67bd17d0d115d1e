// CrashRecovery rebuilds a cache from what a process that died without a graceful stop (kill -9,
// an OOM kill, a bug) left in its memory file and durable index (durable_index.h), when there is
// no PATH.meta to restore from (warm_restart.h).
//
// Why that state can be trusted, slot by slot: the dead process's stores are all in the files, in
// the order it made them, and the cache orders the ones that matter (docs/warm-restart.md):
//  - an item's bytes are written before a slot points at them (a new version, a copy by merge
//    eviction, an incr), and they never change after, except expiry and state bits in place;
//  - a slot is one 8-byte word, written whole: a key's slot moves from one version to the next in
//    one store, and a delete or an eviction clears it before its segment can be reset;
//  - the descriptors and the clocks (epochs, flush_all) are stored as they change.
// What a crash can leave half done is lost rather than wrong: the item being written (past the
// last one a walk of its segment parses), a bucket being split (its slots may be missing), a slot
// duplicated for an instant by an erase (the same location twice: kept once).
//
// So a slot is kept only if its location is an item start found by walking a segment that holds
// items (open, sealed, or being reclaimed) from its start to its write offset, the item's key
// hashes to the slot's tag, a large item's chain is whole, and (as for a graceful restore) the
// item is still valid: not expired, not flushed. Items on the flash tier are dropped. The kept
// items go through WarmRestart::Apply: clocks resumed, epochs, descriptors, accounting, the table
// rebuilt. Anything inconsistent in the index itself: one `[restart]` line, and a cold start.
//
// Thread safety: Recover REQUIRES that no other thread uses the cache.
#pragma once

#include <cstddef>
#include <vector>

#include "base/status.h"
#include "storage/cache_core.h"
#include "storage/durable_index.h"
#include "storage/restart_meta.h"
#include "storage/thread_context.h"
#include "storage/warm_restart.h"

namespace mnemo::storage {

class CrashRecovery {
 public:
  explicit CrashRecovery(CacheCore& core) : core_(core) {}

  // Links every item of `crashed` that can be trusted, counting them in `ctx`; returns how many.
  // Logs what it did, or why the cache starts empty. REQUIRES: nothing allocated from the pool.
  size_t Recover(const CrashState& crashed, ThreadContext& ctx);

  // The restart metadata that describes what of `crashed` can be trusted (its clocks, the
  // segments holding kept items, the items), and what the walk learnt of each item ((*walked)[i]
  // of meta->items[i]): what Recover restores. An error if the index is not this cache's layout.
  Status Collect(const CrashState& crashed, RestartMeta* meta,
                 std::vector<WarmRestart::WalkedItem>* walked) const;

 private:
  CacheCore& core_;
};

}  // namespace mnemo::storage
