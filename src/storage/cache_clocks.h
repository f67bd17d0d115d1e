// CacheClocks are the cache-wide counters that give items their meaning: the epoch the next
// opened segment takes (CAS values derive from it, cache_core.h invariant 4) and the clocks of
// flush_all (invariant 5). CacheCore keeps them here rather than in its own members so that, with
// a memory file, they can live in the durable index's header (durable_index.h), where a crash
// leaves them as they were at the last store: they change rarely (a segment opened, a flush_all).
//
// Thread safety: atomics; CacheCore documents the orders it uses.
#pragma once

#include <atomic>
#include <cstdint>

namespace mnemo::storage {

struct CacheClocks {
  std::atomic<uint64_t> next_epoch{1};
  std::atomic<uint32_t> flush_gen{1};
  std::atomic<uint32_t> flush_at{0};        // a pending delayed flush_all; 0 if none
  std::atomic<uint32_t> flushed_second{0};  // of the last whole-second flush_all; 0 if none
};

static_assert(std::atomic<uint64_t>::is_always_lock_free &&
                  std::atomic<uint32_t>::is_always_lock_free,
              "clocks in a shared mapping must be plain words");

}  // namespace mnemo::storage
