// Statistics: the counters each thread keeps, their sum over threads, and the text of `stats` and
// its sub-commands in memcached's names, order and formats, so that tools written for memcached
// (memcached-tool, exporters, dashboards) read mnemod unchanged. Every line of `stats` is declared
// once, in MNEMO_GENERAL_STATS below; `stats settings` comes from server/settings.h.
//
// A counter belongs to one thread, which alone adds to it; other threads only read. Counters are
// relaxed atomics written with a plain load and store (no locked instruction), so counting costs
// what a plain increment costs, and a reader summing them sees each counter whole.
//
// Invariants:
//  (1) Only the owning thread of a ThreadStats calls Add on it.
//  (2) Totals() never goes backwards except across Reset(): `stats reset` moves a baseline instead
//      of zeroing counters that other threads own.
// Thread safety: ThreadStats::Add from its owner only; everything else from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/metric.h"
#include "base/mutex.h"
#include "base/thread_annotations.h"
#include "replication/replication_counters.h"
#include "server/latency_histogram.h"
#include "server/options.h"
#include "server/watch_log.h"
#include "storage/cache.h"

namespace mnemo::server {

// The lines of `stats`, each declared once, in memcached's order (memcached 1.6's server_stats:
// the lines mnemod shares with memcached keep memcached's relative order; mnemo's own come
// last). The enum Stat, the per-thread counting and summing, the `stats` output and
// docs/stats.md are derived from this list. An entry is one of:
//   COUNTER(id, name, kind, description): counted by each worker thread (ThreadStats, indexed
//     by Stat::id) and summed over threads when read.
//   COUNTER_IF(condition, id, name, kind, description): the same, shown only when `condition`
//     holds (an expression over `options` and `cache`).
//   CACHE(field): a field of storage::CacheStats; storage/cache_stats.h declares its name, kind
//     and description.
//   CACHE_IF(condition, field): the same, shown only when `condition` holds (an expression over
//     `options` and `cache`): the flash tier's lines show only with -o ext_path, as memcached's
//     extstore lines.
//   VALUE(name, kind, expression, description): computed when `stats` is read, from `options`,
//     `snapshot`, `cache` (its CacheStats) and `usage` (getrusage of the process). The
//     expression's type decides the format: an integer in decimal, text as it is, a timeval as
//     seconds.microseconds, an optional only when it holds a value.
#define MNEMO_GENERAL_STATS(COUNTER, COUNTER_IF, CACHE, CACHE_IF, VALUE)                           \
  VALUE("pid", kGauge, getpid(), "Process id of this server")                                      \
  VALUE("uptime", kGauge, MonotonicSeconds() - kFirstSecond, "Seconds since the server started")   \
  VALUE("time", kGauge, WallSeconds(), "The server's Unix time")                                   \
  VALUE("version", kGauge, kVersion, "The memcached protocol level the server implements")         \
  VALUE("mnemo_version", kGauge, kMnemoVersion, "mnemo's own release")                             \
  VALUE("pointer_size", kGauge, 8 * sizeof(void*), "Bits of a pointer on this machine")            \
  VALUE("rusage_user", kCounter, usage.ru_utime, "User CPU time of the process, in seconds")       \
  VALUE("rusage_system", kCounter, usage.ru_stime, "System CPU time of the process, in seconds")   \
  VALUE("max_connections", kGauge, options.max_connections, "Connections allowed at once (-c)")    \
  VALUE("curr_connections", kGauge, snapshot.curr_connections, "Client connections open")          \
  COUNTER(kTotalConnections, "total_connections", kCounter, "Connections accepted since start")    \
  COUNTER(kRejectedConnections, "rejected_connections", kCounter,                                  \
          "Connections closed at once because -c were open")                                       \
  VALUE("connection_structures", kGauge, snapshot.connection_structures,                           \
        "Sockets open, accepted and listening")                                                    \
  COUNTER(kResponseObjOom, "response_obj_oom", kCounter,                                           \
          "Connections closed stuck with unsent replies holding connection or item memory")        \
  VALUE("read_buf_count", kGauge, snapshot.conn_buffers,                                           \
        "Connection buffers (reads and replies alike), idle ones in the pools included")           \
  VALUE("read_buf_bytes", kGauge, snapshot.conn_buffer_bytes, "Bytes of connection buffers")       \
  VALUE("read_buf_bytes_free", kGauge, snapshot.conn_buffer_idle_bytes,                            \
        "Of read_buf_bytes, those idle in the pools")                                              \
  COUNTER(kReadBufOom, "read_buf_oom", kCounter,                                                   \
          "Connections closed stuck waiting for connection memory, or holding it with a "          \
          "partial command while the budget was exhausted")                                        \
  COUNTER(kCmdGet, "cmd_get", kCounter,                                                            \
          "Keys read by get, gets and mg (gat, gats and mg with T: cmd_touch)")                    \
  COUNTER(kCmdSet, "cmd_set", kCounter,                                                            \
          "Storage commands: set, add, replace, append, prepend, cas and ms")                      \
  COUNTER(kCmdFlush, "cmd_flush", kCounter, "flush_all commands")                                  \
  COUNTER(kCmdTouch, "cmd_touch", kCounter, "Keys of touch, gat and gats, and mg hits with T")     \
  COUNTER(kCmdMeta, "cmd_meta", kCounter,                                                          \
          "me commands, the one meta command memcached counts here")                               \
  COUNTER(kGetHits, "get_hits", kCounter, "Keys read and found (cmd_get)")                         \
  COUNTER(kGetMisses, "get_misses", kCounter,                                                      \
          "Keys read and not found, expired or flushed (cmd_get)")                                 \
  COUNTER(kGetExpired, "get_expired", kCounter, "Keys read and found expired")                     \
  COUNTER(kGetFlushed, "get_flushed", kCounter, "Keys read and found invalidated by flush_all")    \
  CACHE_IF(cache.extstore_limit_maxbytes != 0, get_extstore)                                       \
  CACHE_IF(cache.extstore_limit_maxbytes != 0, miss_from_extstore)                                 \
  CACHE_IF(cache.extstore_limit_maxbytes != 0, badcrc_from_extstore)                               \
  COUNTER(kDeleteMisses, "delete_misses", kCounter,                                                \
          "Deletes that found no item (or, md C, another version)")                                \
  COUNTER(kDeleteHits, "delete_hits", kCounter, "Deletes that removed an item")                    \
  COUNTER(kIncrMisses, "incr_misses", kCounter, "incr (and ma) of keys not found")                 \
  COUNTER(kIncrHits, "incr_hits", kCounter, "incr (and ma) that changed a value")                  \
  COUNTER(kDecrMisses, "decr_misses", kCounter, "decr (and ma MD) of keys not found")              \
  COUNTER(kDecrHits, "decr_hits", kCounter, "decr (and ma MD) that changed a value")               \
  COUNTER(kCasMisses, "cas_misses", kCounter, "cas (and ms C) of keys not found")                  \
  COUNTER(kCasHits, "cas_hits", kCounter, "cas (and ms C) that stored")                            \
  COUNTER(kCasBadval, "cas_badval", kCounter, "cas (and ms C) refused: the item had changed")      \
  COUNTER(kTouchHits, "touch_hits", kCounter, "Keys of touch, gat and gats found")                 \
  COUNTER(kTouchMisses, "touch_misses", kCounter, "Keys of touch, gat and gats not found")         \
  COUNTER(kStoreTooLarge, "store_too_large", kCounter, "Stores refused: value larger than -I")     \
  COUNTER(kStoreNoMemory, "store_no_memory", kCounter,                                             \
          "Stores refused: no memory (-M, or the item cannot fit)")                                \
  COUNTER(kAuthCmds, "auth_cmds", kCounter,                                                        \
          "Authentication attempts that ended, by SASL (-S) or ascii authentication (-Y)")         \
  COUNTER(kAuthErrors, "auth_errors", kCounter, "Authentication attempts refused (of auth_cmds)")  \
  COUNTER_IF(options.idle_timeout != 0, kIdleKicks, "idle_kicks", kCounter,                        \
             "Connections closed for idling longer than -o idle_timeout (shown only with it)")     \
  COUNTER(kBytesRead, "bytes_read", kCounter, "Bytes read from clients")                           \
  COUNTER(kBytesWritten, "bytes_written", kCounter, "Bytes written to clients")                    \
  CACHE(limit_maxbytes)                                                                            \
  VALUE("accepting_conns", kGauge, 1,                                                              \
        "Always 1: over -c mnemod answers and closes instead of refusing to accept")               \
  VALUE("listen_disabled_num", kCounter, 0, "Always 0: listening is never disabled")               \
  VALUE("time_in_listen_disabled_us", kCounter, 0, "Always 0: listening is never disabled")        \
  VALUE("threads", kGauge, options.threads, "Worker threads (-t)")                                 \
  COUNTER(kConnYields, "conn_yields", kCounter,                                                    \
          "Times a connection yielded to others after -R requests in one wake-up")                 \
  CACHE(hash_power_level)                                                                          \
  CACHE(hash_table_bytes)                                                                          \
  CACHE(hash_bytes_limit)                                                                          \
  CACHE(hash_is_expanding)                                                                         \
  VALUE("log_worker_dropped", kCounter, snapshot.watch_log.worker_dropped,                         \
        "`watch` log lines dropped because a thread's log buffer was full")                        \
  VALUE("log_worker_written", kCounter, snapshot.watch_log.worker_written,                         \
        "`watch` log lines written to the threads' log buffers")                                   \
  VALUE("log_watcher_skipped", kCounter, snapshot.watch_log.watcher_skipped,                       \
        "`watch` log lines a watcher lost because it read too slowly")                             \
  VALUE("log_watcher_sent", kCounter, snapshot.watch_log.watcher_sent,                             \
        "`watch` log lines queued to watchers")                                                    \
  VALUE("log_watchers", kGauge, snapshot.watch_log.watchers, "Connections watching the log now")   \
  CACHE(bytes)                                                                                     \
  CACHE(curr_items)                                                                                \
  CACHE(total_items)                                                                               \
  CACHE(expired_unfetched)                                                                         \
  CACHE(evicted_unfetched)                                                                         \
  CACHE(evictions)                                                                                 \
  CACHE(reclaimed)                                                                                 \
  CACHE(segment_size)                                                                              \
  CACHE(segments_total)                                                                            \
  CACHE(segments_in_use)                                                                           \
  CACHE(segments_free)                                                                             \
  CACHE(segments_draining)                                                                         \
  CACHE(segment_merges)                                                                            \
  CACHE(segment_evictions)                                                                         \
  CACHE(segments_expired)                                                                          \
  CACHE(items_copied_forward)                                                                      \
  CACHE(value_holds)                                                                               \
  COUNTER(kBytesWrittenZeroCopy, "bytes_written_zero_copy", kCounter,                              \
          "Of bytes_written, those sent straight from item memory, never copied into a buffer")    \
  CACHE(compress_items)                                                                            \
  CACHE(compress_rejected)                                                                         \
  CACHE(compress_bytes_in)                                                                         \
  CACHE(compress_bytes_out)                                                                        \
  CACHE(compress_time_us)                                                                          \
  CACHE(decompress_items)                                                                          \
  CACHE(decompress_errors)                                                                         \
  CACHE(decompress_time_us)                                                                        \
  CACHE_IF(cache.extstore_limit_maxbytes != 0, extstore_limit_maxbytes)                            \
  CACHE_IF(cache.extstore_limit_maxbytes != 0, extstore_pages_total)                               \
  CACHE_IF(cache.extstore_limit_maxbytes != 0, extstore_pages_used)                                \
  CACHE_IF(cache.extstore_limit_maxbytes != 0, extstore_objects_used)                              \
  CACHE_IF(cache.extstore_limit_maxbytes != 0, extstore_bytes_used)                                \
  CACHE_IF(cache.extstore_limit_maxbytes != 0, extstore_objects_written)                           \
  CACHE_IF(cache.extstore_limit_maxbytes != 0, extstore_bytes_written)                             \
  CACHE_IF(cache.extstore_limit_maxbytes != 0, extstore_item_bytes_written)                        \
  CACHE_IF(cache.extstore_limit_maxbytes != 0, extstore_objects_read)                              \
  CACHE_IF(cache.extstore_limit_maxbytes != 0, extstore_bytes_read)                                \
  COUNTER_IF(cache.extstore_limit_maxbytes != 0, kExtReadsWaited, "extstore_reads_waited",         \
             kCounter,                                                                             \
             "Reads of flash that found their bytes out of the page cache: the connection "        \
             "waited for them while its worker served the others")                                 \
  CACHE_IF(cache.extstore_limit_maxbytes != 0, extstore_page_reclaims)                             \
  CACHE_IF(cache.extstore_limit_maxbytes != 0, extstore_page_evictions)                            \
  CACHE_IF(cache.extstore_limit_maxbytes != 0, extstore_objects_evicted)                           \
  CACHE_IF(cache.extstore_limit_maxbytes != 0, extstore_bytes_evicted)                             \
  CACHE_IF(cache.extstore_limit_maxbytes != 0, extstore_io_errors)                                 \
  CACHE_IF(cache.extstore_limit_maxbytes != 0, extstore_enabled)                                   \
  COUNTER_IF((options.ssl_enabled && options.tls.session_cache), kSslNewSessions,                  \
             "ssl_new_sessions", kCounter,                                                         \
             "TLS sessions made by the session cache (with -Z and -o ssl_session_cache)")          \
  COUNTER_IF(options.ssl_enabled, kSslHandshakeErrors, "ssl_handshake_errors", kCounter,           \
             "TLS handshakes that failed: not TLS, a refused client certificate (with -Z)")        \
  COUNTER_IF(options.ssl_enabled, kSslProtoErrors, "ssl_proto_errors", kCounter,                   \
             "TLS connections closed for a broken record after the handshake (with -Z)")           \
  VALUE("time_since_server_cert_refresh", kGauge, snapshot.tls_cert_age,                           \
        "Seconds since the TLS certificates were last loaded (shown with -Z)")                     \
  VALUE("repl_records_sent", kCounter, snapshot.replication.records_sent,                          \
        "Replication records written to peers (-o replicas), sent again after a reconnection "     \
        "included")                                                                                \
  COUNTER(kReplRecordsApplied, "repl_records_applied", kCounter,                                   \
          "Replication records received from peers and applied here")                              \
  COUNTER(kReplLinksFenced, "repl_links_fenced", kCounter,                                         \
          "Peers' links closed because their records came after the lease they were sent under "   \
          "ran out (a stall): not applied")                                                        \
  VALUE("repl_bytes_sent", kCounter, snapshot.replication.bytes_sent,                              \
        "Bytes written to peers' replication links")                                               \
  VALUE("repl_backlog_bytes", kGauge, snapshot.replication.backlog_bytes,                          \
        "Bytes of replication records not yet acknowledged by their peer, over all peers")         \
  VALUE("repl_lag_ms", kGauge, snapshot.replication.lag_ms,                                        \
        "Age in milliseconds of the oldest record a peer has not acknowledged, the worst peer's")  \
  VALUE("repl_peers_connected", kGauge, snapshot.replication.peers_connected,                      \
        "Peers this node's replication links are streaming to")                                    \
  VALUE("repl_backlog_overflows", kCounter, snapshot.replication.backlog_overflows,                \
        "Times a peer's stream was dropped: its backlog passed repl_backlog_mb, or its oldest "    \
        "record repl_lag_max_ms")                                                                  \
  VALUE("repl_partial_resyncs", kCounter, snapshot.replication.partial_resyncs,                    \
        "Reconnections to a peer that resumed its stream, sending again what it had not "          \
        "applied, and returning peers caught up from the stream alone")                            \
  VALUE("repl_sync_timeouts", kCounter, snapshot.replication.sync_timeouts,                        \
        "Client writes answered SERVER_ERROR replication timed out (-o replication=sync): a live " \
        "replica did not acknowledge them within repl_timeout_ms")                                 \
  VALUE("repl_full_resyncs", kCounter, snapshot.replication.full_resyncs,                          \
        "Returning peers sent a flush and every item of their replica sets (they started, or "     \
        "their stream had lost records)")                                                          \
  VALUE("repl_returning", kGauge, snapshot.replication.returning ? 1 : 0,                          \
        "1 while this node is returning (started, or its lease lapsed) and serves no client")      \
  VALUE("move_in_progress", kGauge, snapshot.replication.move_in_progress ? 1 : 0,                 \
        "1 while a move (a change of the node list) runs here: sending, or awaiting keys")         \
  VALUE("move_keys_sent", kCounter, snapshot.replication.move_keys_sent,                           \
        "Items a move sent to the nodes that gained their keys, a copy per node")                  \
  VALUE("move_keys_received", kCounter, snapshot.replication.move_keys_received,                   \
        "Copies of items a move brought here from their previous owners and stored")               \
  VALUE("move_fetched_on_miss", kCounter, snapshot.replication.move_fetched_on_miss,               \
        "Misses during a move answered from the key's previous owner (read-through)")              \
  VALUE("move_keys_remaining", kGauge, snapshot.replication.move_keys_remaining,                   \
        "Items this node's move has still to walk (an estimate from curr_items)")                  \
  VALUE("move_keys_dropped", kCounter, snapshot.replication.move_keys_dropped,                     \
        "Items dropped at the end of a move: their keys now belong to other nodes")                \
  VALUE("move_keys_late", kCounter, snapshot.replication.move_keys_late,                           \
        "Copies that came after this node's move stopped awaiting them: dropped, the key misses")

#define MNEMO_STAT_ENUM(id, name, kind, description) id,
#define MNEMO_STAT_IF_ENUM(condition, id, name, kind, description) id,
#define MNEMO_STAT_SKIP(...)
enum class Stat : uint8_t {
  MNEMO_GENERAL_STATS(MNEMO_STAT_ENUM, MNEMO_STAT_IF_ENUM, MNEMO_STAT_SKIP, MNEMO_STAT_SKIP,
                      MNEMO_STAT_SKIP) kCount,
};
#undef MNEMO_STAT_ENUM
#undef MNEMO_STAT_IF_ENUM
#undef MNEMO_STAT_SKIP

inline constexpr size_t kNumStats = static_cast<size_t>(Stat::kCount);
using StatTotals = std::array<uint64_t, kNumStats>;

class alignas(64) ThreadStats {
 public:
  void Add(Stat stat, uint64_t n = 1) {
    std::atomic<uint64_t>& counter = counters_[static_cast<size_t>(stat)];
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t Get(Stat stat) const {
    return counters_[static_cast<size_t>(stat)].load(std::memory_order_relaxed);
  }

  // How long the thread took over gets (get, gets, gat, gats, mg and the binary gets) and sets
  // (the storage commands, ms and the binary sets): latency_histogram.h.
  enum class Timed : uint8_t { kGet, kSet };
  LatencyHistogram& latency(Timed timed) { return latency_[static_cast<size_t>(timed)]; }
  const LatencyHistogram& latency(Timed timed) const {
    return latency_[static_cast<size_t>(timed)];
  }

 private:
  std::array<std::atomic<uint64_t>, kNumStats> counters_{};
  std::array<LatencyHistogram, 2> latency_;
};

class StatsRegistry {
 public:
  // REQUIRES: called before any thread reads totals; `stats` outlives the registry.
  void Register(const ThreadStats* stats) { threads_.push_back(stats); }

  // The sum over threads; for counters (MetricKind::kCounter), since the last Reset().
  StatTotals Totals() const EXCLUDES(mu_);
  void Reset() EXCLUDES(mu_);

 private:
  StatTotals RawTotals() const;

  std::vector<const ThreadStats*> threads_;  // fixed once the server runs
  mutable Mutex mu_;
  StatTotals baseline_ GUARDED_BY(mu_) = {};
};

// What `stats` and its sub-commands report besides the options.
struct StatsSnapshot {
  StatTotals totals = {};
  storage::CacheStats cache;
  uint64_t curr_connections = 0;
  uint64_t connection_structures = 0;  // sockets open: accepted and listening
  uint32_t oldest_live = 0;            // seconds since start at which flush_all last took effect
  bool detail_enabled = false;         // `stats detail on` (or -D) is counting
  // Connection buffers (net/buffer_pool.h): pool blocks, idle ones included, and heap blocks.
  uint64_t conn_buffers = 0;
  uint64_t conn_buffer_bytes = 0;
  uint64_t conn_buffer_idle_bytes = 0;        // of which idle in the pools
  replication::ReplicationStats replication;  // zeros without -o cluster_file
  // With -Z, seconds since the TLS certificates were loaded (net::TlsContext::last_refresh).
  std::optional<uint32_t> tls_cert_age;
  WatchLogCounters watch_log;  // the log_* lines
};

// Every line `stats` may show, in its order, for docs/stats.md and tests.
std::span<const MetricInfo> GeneralStatsInfo();

// `stats`
void AppendGeneralStats(const Options& options, const StatsSnapshot& snapshot, std::string* out);
// `stats settings`
void AppendSettingsStats(const Options& options, const StatsSnapshot& snapshot, std::string* out);
// `stats items` and `stats slabs`: memcached's shape with a single class, 1, standing for the
// whole segment pool (each segment a page holding one chunk).
void AppendItemsStats(const StatsSnapshot& snapshot, std::string* out);
void AppendSlabsStats(const StatsSnapshot& snapshot, std::string* out);

}  // namespace mnemo::server
