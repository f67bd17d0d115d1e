// The lines of the `watch` log (watch_log.h) that mnemod writes, each in memcached 1.6.45's
// format (its logger.c) with its field names and order, and the look at an item that a command
// about to change it takes for them.
//
// mnemo has no slab classes: where memcached prints an item's class (clsid) these print 1, the
// one class `stats slabs` shows for the whole segment pool, and 0 for an item not found, as
// memcached prints for one. A key is URI-encoded, as memcached encodes it.
//
// Each Log* function writes its line only if some watcher wants its kind; callers on the request
// path test WatchLog::Watching first, so that nothing here runs while nobody watches.
//
// Thread safety: any thread, each line going to the calling thread's buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/watch_log.h"
#include "storage/cache.h"
#include "storage/eviction_observer.h"

namespace mnemo::server {

// What a command found under its key before it ran.
struct WatchedItem {
  storage::LookupResult result = storage::LookupResult::kMiss;
  size_t value_size = 0;
  int64_t ttl = -1;  // seconds until it expires; -1 never
};

// The sink of a watched retrieval: passes the item on to `inner`, noting its value's size.
class SizeNotingSink final : public storage::ItemSink {
 public:
  explicit SizeNotingSink(storage::ItemSink& inner) : inner_(inner) {}
  void OnItem(const storage::ItemView& item) override {
    value_size = item.value_size();
    inner_.OnItem(item);
  }
  size_t value_size = 0;

 private:
  storage::ItemSink& inner_;
};

// Looks `key` up without counting an access or taking a recache win, as memcached's store,
// delete, incr, decr and touch look their key up (and log it) before they act.
WatchedItem PeekForWatch(storage::Cache& cache, storage::Cache::Context& context,
                         std::string_view key);

// If a watcher wants lines of `flags`, looks `key` up (PeekForWatch) as memcached does before it
// changes an item, logging an item_get line for watchers of fetchers, and returns what it found;
// else returns a miss without looking. `fd` is the client's connection.
WatchedItem PeekIfWatched(WatchLog& log, storage::Cache& cache, storage::Cache::Context& context,
                          std::string_view key, uint16_t flags, int fd);

// "type=item_get key=K status=found|not_found|flushed|expired clsid=C cfd=FD size=S": a key
// read, or looked up by a command about to change it.
void LogItemGet(WatchLog& log, std::string_view key, storage::LookupResult result,
                size_t value_size, int fd);
inline void LogItemGet(WatchLog& log, std::string_view key, const WatchedItem& item, int fd) {
  LogItemGet(log, key, item.result, item.value_size, fd);
}

// "type=item_store key=K status=S cmd=set|add|... ttl=T clsid=1 cfd=FD size=S": a storage command's
// outcome. `ttl` is what memcached prints: the stored item's seconds to live as an unsigned 32-bit
// number (StoreTtl, ItemTtl), 0 for none.
void LogItemStore(WatchLog& log, std::string_view key, storage::StoreResult result,
                  storage::StoreMode mode, uint32_t ttl, int fd, size_t value_size);

// The ttl memcached prints for an item stored with `exptime` as a client sends it: 0 for none;
// an exptime in the past (negative, or a Unix time before memcached's start) as memcached's
// unsigned difference of its clocks, a large number.
uint32_t StoreTtl(storage::Exptime exptime);
// The ttl memcached prints for an item that expires in `ttl` seconds (-1: never).
inline uint32_t ItemTtl(int64_t ttl) { return ttl < 0 ? 0 : static_cast<uint32_t>(ttl); }

// "type=deleted key=K cmd=delete|md clsid=1 size=S": an item a delete removed.
void LogDeleted(WatchLog& log, std::string_view key, std::string_view command, size_t value_size);

// Why a connection closed, memcached's close reasons.
enum class CloseReason : uint8_t { kError, kNormal, kIdleTimeout, kShutdown };

// "type=conn_new rip=IP rport=PORT transport=tcp|local cfd=FD" and "type=conn_close ... reason=R
// cfd=FD": a client connection opened or closed. REQUIRES: `fd` is still open.
void LogConnNew(WatchLog& log, int fd);
void LogConnClose(WatchLog& log, int fd, CloseReason reason);

// The cache's evictions, as memcached logs them for watchers of evictions: "type=eviction key=K
// fetch=yes|no ttl=T la=L clsid=1 size=S", ttl -1 for an item that never expires, la the seconds
// since its segment was last read or written (mnemo keeps an access time per segment, not per
// item: never more than the item's own idle time).
class EvictionWatch final : public storage::EvictionObserver {
 public:
  explicit EvictionWatch(WatchLog& log) : log_(log) {}
  void OnEvict(const storage::EvictedItem& item) override;

 private:
  WatchLog& log_;
};

}  // namespace mnemo::server
