// EvictionObserver is told of every live item that eviction drops from the cache to make room:
// not an expired or flushed one (reclaimed), nor one moved to flash. The server logs them for
// memcached's `watch evictions`.
//
// Thread safety: OnEvict is called from whichever thread evicts (a worker making room, the
// background thread), under the item's stripe lock: it must be quick, must not block, and must not
// call back into the cache.
#pragma once

#include <cstdint>
#include <string_view>

namespace mnemo::storage {

struct EvictedItem {
  std::string_view key;   // valid during OnEvict only
  uint32_t value_size;    // the value's length as clients see it
  bool fetched;           // read since it was written
  int64_t ttl;            // seconds it had left to live; -1 if it never expired
  uint32_t idle_seconds;  // since its segment was last read or written (docs/storage.md)
};

class EvictionObserver {
 public:
  virtual void OnEvict(const EvictedItem& item) = 0;

 protected:
  ~EvictionObserver() = default;
};

}  // namespace mnemo::storage
