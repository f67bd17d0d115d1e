// memcached's maintenance commands for its slab allocator and LRUs: `slabs reassign|automove`,
// `lru_crawler crawl|tocrawl|sleep|enable|disable` and `lru tune|mode|temp_ttl`. mnemo stores
// items in segments (docs/storage.md): no slab pages move between classes, expired items are
// reclaimed with their segment, and there is no segmented LRU to tune, so each command does
// nothing but answer exactly as memcached 1.6.45 answers it, so that operators' scripts keep
// working: OK for what memcached would carry out, and its error text for bad arguments.
// `stats settings` keeps showing the values mnemod started with.
//
// What the replies assume of memcached: classes 0 to 63 exist and hold fewer than two pages each
// (`slabs reassign` answers NOSPARE, or BADCLASS when asked to pick a source with -1); a crawl
// starts at once (OK). The crawler's on/off state is
// kept, since enable and disable answer by it.
//
// `lru_crawler metadump` and `mgdump` read items; they are not answered here (ERROR).
//
// Thread safety: Run may be called from any thread; the crawler state is an atomic.
#pragma once

#include <atomic>
#include <string>
#include <string_view>

#include "server/options.h"

namespace mnemo::server {

class MaintenanceCommands {
 public:
  explicit MaintenanceCommands(const MemcachedTuning& tuning)
      : slab_reassign_(tuning.slab_reassign),
        lru_maintainer_(tuning.lru_maintainer_thread),
        crawler_running_(tuning.lru_crawler) {}

  // The reply line ("\r\n" included) to `slabs <arguments>`, `lru_crawler <arguments>` or
  // `lru <arguments>`; `arguments` is what follows the command word.
  std::string Slabs(std::string_view arguments) const;
  std::string LruCrawler(std::string_view arguments);
  std::string Lru(std::string_view arguments) const;

 private:
  const bool slab_reassign_;
  const bool lru_maintainer_;
  std::atomic<bool> crawler_running_;
};

}  // namespace mnemo::server
