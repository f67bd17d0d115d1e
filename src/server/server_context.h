// ServerContext is what all workers share: the options, the cache, the statistics and the
// registry of open connections. The Server builds it before any worker starts and destroys it
// after every worker has stopped.
//
// Thread safety: options and cache are safe to use from any thread (Cache is thread-safe per
// Context); the registries lock internally; the atomics are what they say.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "base/clock.h"
#include "flash/flash_space.h"
#include "net/buffer_pool.h"
#include "net/memory_budget.h"
#include "net/tls_context.h"
#include "replication/replication.h"
#include "server/connection_registry.h"
#include "server/credentials.h"
#include "server/hot_keys.h"
#include "server/maintenance_commands.h"
#include "server/options.h"
#include "server/prefix_stats.h"
#include "server/stats.h"
#include "server/watch_log.h"
#include "storage/cache.h"

namespace mnemo::server {

struct ServerContext {
  // `watch_log_in`, if given, must outlive the context (the Server's, which the cache's eviction
  // observer logs into); else the context makes its own.
  ServerContext(const Options& options_in, storage::Cache& cache_in,
                WatchLog* watch_log_in = nullptr)
      : options(options_in),
        cache(cache_in),
        prefix_stats(options_in.prefix_delimiter, options_in.detail_enabled),
        hot_keys(options_in.hot_keys_sample),
        maintenance(options_in.tuning),
        conn_memory(options_in.ConnectionMemoryLimit()),
        own_watch_log_(watch_log_in != nullptr ? nullptr : NewWatchLog(options_in)),
        watch_log(watch_log_in != nullptr ? *watch_log_in : *own_watch_log_) {}

  // The log of -o worker_logbuf_size and watcher_logbuf_size.
  static std::unique_ptr<WatchLog> NewWatchLog(const Options& options) {
    return std::make_unique<WatchLog>(options.tuning.worker_logbuf_size,
                                      options.tuning.watcher_logbuf_size);
  }

  // What `stats` and its sub-commands report now.
  StatsSnapshot Snapshot() const {
    StatsSnapshot snapshot;
    snapshot.totals = stats.Totals();
    snapshot.cache = cache.Stats();
    snapshot.curr_connections =
        static_cast<uint64_t>(curr_connections.load(std::memory_order_relaxed));
    snapshot.connection_structures = connections.size();
    snapshot.oldest_live = oldest_live.load(std::memory_order_relaxed);
    snapshot.detail_enabled = prefix_stats.enabled();
    snapshot.watch_log = watch_log.Counters();
    if (replication != nullptr) snapshot.replication = replication->Stats();
    if (tls != nullptr) snapshot.tls_cert_age = MonotonicSeconds() - tls->last_refresh();
    for (const net::BufferPool* pool : buffer_pools) {
      snapshot.conn_buffers += pool->blocks() + pool->heap_blocks();
      snapshot.conn_buffer_bytes += pool->blocks() * pool->block_size() + pool->heap_bytes();
      snapshot.conn_buffer_idle_bytes += pool->idle_blocks() * pool->block_size();
    }
    return snapshot;
  }

  const Options& options;
  storage::Cache& cache;
  StatsRegistry stats;
  PrefixStats prefix_stats;  // `stats detail`
  HotKeys hot_keys;          // `stats hotkeys`: every dispatcher records the keys it serves
  MaintenanceCommands maintenance;
  ConnectionRegistry connections;
  // The limit on connection memory, charged by every worker's buffer pool.
  net::MemoryBudget conn_memory;

 private:
  std::unique_ptr<WatchLog> own_watch_log_;

 public:
  // `watch`: the live log streamed to watchers.
  WatchLog& watch_log;
  // Every worker's pool, for `stats`; filled before the workers start, fixed afterwards.
  std::vector<const net::BufferPool*> buffer_pools;
  // Per worker, wakes it if it has connections waiting for connection memory, so that memory
  // freed by another worker resumes them at once (Worker::WakeIfWaitingForMemory). Filled before
  // the workers start, fixed afterwards.
  std::vector<std::function<void()>> wake_for_memory;
  // The flash devices of -o ext_path as one space of flash segments, or null without ext_path;
  // owned by the Server, open for as long as the context lives. Not used yet: the flash tier
  // (issue 17) will hand it to the cache.
  flash::FlashSpace* flash = nullptr;
  // With -o cluster_file: replication's both sides (replication/replication.h), owned by the
  // Server; null without a node list.
  replication::Replication* replication = nullptr;
  // -Z's certificates and settings, or null without -Z; owned by the Server. Its TCP connections
  // speak TLS (tls_sessions); refresh_certs reloads it.
  net::TlsContext* tls = nullptr;
  bool tls_sessions = false;  // -Z and TCP listeners: every accepted connection speaks TLS
  // -S: the SASL password database; -Y: the ascii authentication file. Owned by the Server; null
  // when off.
  CredentialStore* sasl = nullptr;
  CredentialStore* ascii_auth = nullptr;
  // Accepted connections not yet closed. The listener adds before handing a connection over, so
  // the -c check never lets more through than the limit.
  std::atomic<int64_t> curr_connections{0};
  // Seconds since start at which the last flush_all takes effect (memcached's "oldest").
  std::atomic<uint32_t> oldest_live{0};
  // Stops the server as SIGTERM does (`shutdown`), or as SIGUSR1 does if graceful (`shutdown
  // graceful`: with -e, the cache is saved for a warm restart). Safe from any thread.
  std::function<void(bool graceful)> request_shutdown;
};

}  // namespace mnemo::server
