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
// `lru_crawler metadump` and `mgdump` read items: ParseDump checks them as memcached does, and
// the connection's ItemDump answers them, holding the crawler meanwhile: as memcached runs one
// crawl at a time, another dump or a crawl answers BUSY until it ends.
//
// Thread safety: every method may be called from any thread; the crawler state is atomics.
#pragma once

#include <atomic>
#include <string>
#include <string_view>

#include "server/item_dump.h"
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

  // `lru_crawler <arguments>` if it is a metadump or mgdump: returns false if it is not. Else
  // *refusal is memcached's reply refusing it (`dump_enabled` false with -X; `output_pending`,
  // the connection has replies unsent, which memcached refuses to put a dump after), or, empty,
  // the dump may start: *kind and *everything (its classes include class 1, mnemo's one) are set
  // and the crawler is taken, to be let go through dump_flag() when the dump ends.
  bool ParseDump(std::string_view arguments, bool dump_enabled, bool output_pending, DumpKind* kind,
                 bool* everything, std::string* refusal);
  std::atomic<bool>* dump_flag() { return &dumping_; }

 private:
  const bool slab_reassign_;
  const bool lru_maintainer_;
  std::atomic<bool> crawler_running_;
  std::atomic<bool> dumping_{false};  // a metadump or mgdump holds the crawler
};

}  // namespace mnemo::server
