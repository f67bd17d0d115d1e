#include "server/stats.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>

#include "base/clock.h"
#include "base/logging.h"
#include "server/version.h"

namespace mnemo::server {
namespace {

// Appends "STAT <name> <value>\r\n" lines.
class StatWriter {
 public:
  explicit StatWriter(std::string* out) : out_(out) {}

  void Text(std::string_view name, std::string_view value) {
    *out_ += "STAT ";
    *out_ += name;
    *out_ += ' ';
    *out_ += value;
    *out_ += "\r\n";
  }
  void Number(std::string_view name, uint64_t value) { Text(name, std::to_string(value)); }
  void Signed(std::string_view name, int64_t value) { Text(name, std::to_string(value)); }
  void YesNo(std::string_view name, bool value) { Text(name, value ? "yes" : "no"); }
  // memcached prints its ratios and factors with "%.2f".
  void Fixed2(std::string_view name, double value) {
    char text[64];
    std::snprintf(text, sizeof(text), "%.2f", value);
    Text(name, text);
  }
  void Seconds(std::string_view name, const timeval& time) {
    char text[64];
    std::snprintf(text, sizeof(text), "%ld.%06ld", static_cast<long>(time.tv_sec),
                  static_cast<long>(time.tv_usec));
    Text(name, text);
  }

 private:
  std::string* out_;
};

uint64_t Of(const StatsSnapshot& snapshot, Stat stat) {
  return snapshot.totals[static_cast<size_t>(stat)];
}

std::string JoinListen(const Options& options) {
  if (options.listen.empty()) return "NULL";
  std::string joined;
  for (const std::string& entry : options.listen) {
    if (!joined.empty()) joined += ',';
    joined += entry;
  }
  return joined;
}

}  // namespace

StatTotals StatsRegistry::RawTotals() const {
  StatTotals totals = {};
  for (const ThreadStats* thread : threads_) {
    for (size_t i = 0; i < kNumStats; ++i) totals[i] += thread->Get(static_cast<Stat>(i));
  }
  return totals;
}

StatTotals StatsRegistry::Totals() const {
  StatTotals totals = RawTotals();
  MutexLock lock(mu_);
  for (size_t i = 0; i < kNumStats; ++i) totals[i] -= baseline_[i];
  return totals;
}

void StatsRegistry::Reset() {
  const StatTotals totals = RawTotals();
  MutexLock lock(mu_);
  baseline_ = totals;
}

void AppendGeneralStats(const Options& options, const StatsSnapshot& snapshot, std::string* out) {
  StatWriter w(out);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const storage::CacheStats& cache = snapshot.cache;

  w.Number("pid", static_cast<uint64_t>(getpid()));
  w.Number("uptime", MonotonicSeconds() - kFirstSecond);
  w.Signed("time", WallSeconds());
  w.Text("version", kVersion);
  w.Number("pointer_size", 8 * sizeof(void*));
  w.Seconds("rusage_user", usage.ru_utime);
  w.Seconds("rusage_system", usage.ru_stime);
  w.Number("max_connections", static_cast<uint64_t>(options.max_connections));
  w.Number("curr_connections", snapshot.curr_connections);
  w.Number("total_connections", Of(snapshot, Stat::kTotalConnections));
  w.Number("rejected_connections", Of(snapshot, Stat::kRejectedConnections));
  w.Number("connection_structures", snapshot.connection_structures);
  // memcached's names for its connection buffers. mnemo's pool serves reads and replies alike, so
  // read_buf_* count both; response_obj_oom counts connections closed with replies stuck.
  w.Number("response_obj_oom", Of(snapshot, Stat::kResponseObjOom));
  w.Number("read_buf_count", snapshot.conn_buffers);
  w.Number("read_buf_bytes", snapshot.conn_buffer_bytes);
  w.Number("read_buf_bytes_free", snapshot.conn_buffer_idle_bytes);
  w.Number("read_buf_oom", Of(snapshot, Stat::kReadBufOom));
  w.Number("cmd_get", Of(snapshot, Stat::kCmdGet));
  w.Number("cmd_set", Of(snapshot, Stat::kCmdSet));
  w.Number("cmd_flush", Of(snapshot, Stat::kCmdFlush));
  w.Number("cmd_touch", Of(snapshot, Stat::kCmdTouch));
  w.Number("cmd_meta", Of(snapshot, Stat::kCmdMeta));
  w.Number("get_hits", Of(snapshot, Stat::kGetHits));
  w.Number("get_misses", Of(snapshot, Stat::kGetMisses));
  w.Number("get_expired", Of(snapshot, Stat::kGetExpired));
  w.Number("get_flushed", Of(snapshot, Stat::kGetFlushed));
  w.Number("delete_misses", Of(snapshot, Stat::kDeleteMisses));
  w.Number("delete_hits", Of(snapshot, Stat::kDeleteHits));
  w.Number("incr_misses", Of(snapshot, Stat::kIncrMisses));
  w.Number("incr_hits", Of(snapshot, Stat::kIncrHits));
  w.Number("decr_misses", Of(snapshot, Stat::kDecrMisses));
  w.Number("decr_hits", Of(snapshot, Stat::kDecrHits));
  w.Number("cas_misses", Of(snapshot, Stat::kCasMisses));
  w.Number("cas_hits", Of(snapshot, Stat::kCasHits));
  w.Number("cas_badval", Of(snapshot, Stat::kCasBadval));
  w.Number("touch_hits", Of(snapshot, Stat::kTouchHits));
  w.Number("touch_misses", Of(snapshot, Stat::kTouchMisses));
  w.Number("store_too_large", Of(snapshot, Stat::kStoreTooLarge));
  w.Number("store_no_memory", Of(snapshot, Stat::kStoreNoMemory));
  w.Number("auth_cmds", 0);  // no SASL or ascii auth: nothing is ever authenticated
  w.Number("auth_errors", 0);
  if (options.idle_timeout != 0) w.Number("idle_kicks", Of(snapshot, Stat::kIdleKicks));
  w.Number("bytes_read", Of(snapshot, Stat::kBytesRead));
  w.Number("bytes_written", Of(snapshot, Stat::kBytesWritten));
  w.Number("limit_maxbytes", cache.limit_maxbytes);
  w.Number("accepting_conns", 1);  // mnemod never stops accepting: over -c it answers and closes
  w.Number("listen_disabled_num", 0);
  w.Number("time_in_listen_disabled_us", 0);
  w.Number("threads", static_cast<uint64_t>(options.threads));
  w.Number("conn_yields", Of(snapshot, Stat::kConnYields));
  w.Number("hash_power_level", cache.hash_power_level);
  w.Number("hash_bytes", cache.hash_table_bytes);
  w.Number("hash_is_expanding", cache.hash_is_expanding);
  w.Number("bytes", cache.bytes);
  w.Number("curr_items", cache.curr_items);
  w.Number("total_items", cache.total_items);
  w.Number("expired_unfetched", cache.expired_unfetched);
  w.Number("evicted_unfetched", cache.evicted_unfetched);
  w.Number("evictions", cache.evictions);
  w.Number("reclaimed", cache.reclaimed);
  // mnemo's memory pool.
  w.Number("segment_size", cache.segment_size);
  w.Number("segments_total", cache.segments_total);
  w.Number("segments_in_use", cache.segments_in_use);
  w.Number("segments_free", cache.segments_free);
  w.Number("segment_merges", cache.segment_merges);
  w.Number("segment_evictions", cache.segment_evictions);
  w.Number("segments_expired", cache.segments_expired);
  w.Number("items_copied_forward", cache.items_copied_forward);
  // Of bytes_written, those sent straight from item memory, never copied into a buffer.
  w.Number("bytes_written_zero_copy", Of(snapshot, Stat::kBytesWrittenZeroCopy));
  // Server-side compression (docs/storage.md).
  w.Number("compress_items", cache.compress_items);
  w.Number("compress_rejected", cache.compress_rejected);
  w.Number("compress_bytes_in", cache.compress_bytes_in);
  w.Number("compress_bytes_out", cache.compress_bytes_out);
  w.Number("compress_time_us", cache.compress_time_us);
  w.Number("decompress_items", cache.decompress_items);
  w.Number("decompress_errors", cache.decompress_errors);
  w.Number("decompress_time_us", cache.decompress_time_us);
}

void AppendSettingsStats(const Options& options, const StatsSnapshot& snapshot, std::string* out) {
  StatWriter w(out);
  const MemcachedTuning& tuning = options.tuning;
  w.Number("maxbytes", snapshot.cache.limit_maxbytes);  // follows cache_memlimit, as memcached's
  w.Number("maxconns", static_cast<uint64_t>(options.max_connections));
  w.Number("tcpport", options.port);
  w.Number("udpport", static_cast<uint64_t>(options.udp_port));
  w.Text("inter", JoinListen(options));
  w.Number("verbosity", static_cast<uint64_t>(g_verbosity.load(std::memory_order_relaxed)));
  w.Number("oldest", snapshot.oldest_live);
  w.Text("evictions", options.evict ? "on" : "off");
  w.Text("domain_socket", "NULL");
  w.Text("umask", "700");
  w.YesNo("shutdown_command", options.enable_shutdown);
  w.Fixed2("growth_factor", options.growth_factor);
  w.Number("chunk_size", static_cast<uint64_t>(options.chunk_size));
  w.Number("num_threads", static_cast<uint64_t>(options.threads));
  w.Number("num_threads_per_udp", static_cast<uint64_t>(options.threads));
  w.Text("stat_key_prefix", ":");
  w.YesNo("detail_enabled", false);
  w.Number("reqs_per_event", static_cast<uint64_t>(options.reqs_per_event));
  w.YesNo("cas_enabled", options.use_cas);
  w.Number("tcp_backlog", static_cast<uint64_t>(options.backlog));
  w.Text("binding_protocol", "ascii");
  w.YesNo("auth_enabled_sasl", false);
  w.YesNo("auth_enabled_ascii", false);
  w.Number("item_size_max", options.item_size_max);
  w.YesNo("maxconns_fast", tuning.maxconns_fast);
  w.Number("hashpower_init", static_cast<uint64_t>(options.hash_power));
  w.YesNo("slab_reassign", tuning.slab_reassign);
  w.Number("slab_automove", static_cast<uint64_t>(tuning.slab_automove));
  w.Fixed2("slab_automove_ratio", tuning.slab_automove_ratio);
  w.Number("slab_automove_window", static_cast<uint64_t>(tuning.slab_automove_window));
  w.Number("slab_chunk_max", static_cast<uint64_t>(tuning.slab_chunk_max));
  w.YesNo("lru_crawler", tuning.lru_crawler);
  w.Number("lru_crawler_sleep", static_cast<uint64_t>(tuning.lru_crawler_sleep));
  w.Number("lru_crawler_tocrawl", tuning.lru_crawler_tocrawl);
  w.Number("tail_repair_time", static_cast<uint64_t>(tuning.tail_repair_time));
  w.YesNo("flush_enabled", true);
  w.YesNo("dump_enabled", false);  // no `stats cachedump` or `stats detail`
  w.Text("hash_algorithm", tuning.hash_algorithm);
  w.YesNo("lru_maintainer_thread", tuning.lru_maintainer_thread);
  w.YesNo("lru_segmented", tuning.lru_segmented);
  w.Number("hot_lru_pct", static_cast<uint64_t>(tuning.hot_lru_pct));
  w.Number("warm_lru_pct", static_cast<uint64_t>(tuning.warm_lru_pct));
  w.Fixed2("hot_max_factor", tuning.hot_max_factor);
  w.Fixed2("warm_max_factor", tuning.warm_max_factor);
  w.YesNo("temp_lru", tuning.temp_lru);
  w.Number("temporary_ttl", tuning.temporary_ttl);
  w.Number("idle_timeout", static_cast<uint64_t>(options.idle_timeout));
  w.Number("watcher_logbuf_size", tuning.watcher_logbuf_size);
  w.Number("worker_logbuf_size", tuning.worker_logbuf_size);
  w.Number("read_buf_mem_limit", options.ConnectionMemoryLimit());
  w.YesNo("track_sizes", false);
  w.YesNo("inline_ascii_response", false);
  // mnemo's own.
  // The engine's: it shrinks segments when -m is too small for enough of them.
  w.Number("segment_size", snapshot.cache.segment_size);
  w.Text("eviction_policy", options.eviction == storage::EvictionPolicy::kMerge ? "merge" : "fifo");
  w.Text("compression", options.compression == storage::Compression::kSnappy ? "snappy" : "off");
  w.Number("compress_min", options.compress_min);
  w.Number("conn_stuck_timeout", static_cast<uint64_t>(options.conn_stuck_timeout));
  w.Fixed2("compress_ratio", options.compress_ratio);
}

void AppendItemsStats(const StatsSnapshot& snapshot, std::string* out) {
  StatWriter w(out);
  const storage::CacheStats& cache = snapshot.cache;
  w.Number("items:1:number", cache.curr_items);
  w.Number("items:1:age", cache.oldest_item_age);
  w.Number("items:1:mem_requested", cache.bytes);
  w.Number("items:1:evicted", cache.evictions);
  w.Number("items:1:outofmemory", Of(snapshot, Stat::kStoreNoMemory));
  w.Number("items:1:reclaimed", cache.reclaimed);
  w.Number("items:1:expired_unfetched", cache.expired_unfetched);
  w.Number("items:1:evicted_unfetched", cache.evicted_unfetched);
}

void AppendSlabsStats(const StatsSnapshot& snapshot, std::string* out) {
  StatWriter w(out);
  const storage::CacheStats& cache = snapshot.cache;
  const uint64_t pages = cache.segments_in_use + cache.segments_free;
  w.Number("1:chunk_size", cache.segment_size);
  w.Number("1:chunks_per_page", 1);
  w.Number("1:total_pages", pages);
  w.Number("1:total_chunks", pages);
  w.Number("1:used_chunks", cache.segments_in_use);
  w.Number("1:free_chunks", cache.segments_free);
  w.Number("1:free_chunks_end", 0);
  w.Number("1:mem_requested", cache.bytes);
  w.Number("1:get_hits", Of(snapshot, Stat::kGetHits));
  w.Number("1:cmd_set", Of(snapshot, Stat::kCmdSet));
  w.Number("1:delete_hits", Of(snapshot, Stat::kDeleteHits));
  w.Number("1:incr_hits", Of(snapshot, Stat::kIncrHits));
  w.Number("1:decr_hits", Of(snapshot, Stat::kDecrHits));
  w.Number("1:cas_hits", Of(snapshot, Stat::kCasHits));
  w.Number("1:cas_badval", Of(snapshot, Stat::kCasBadval));
  w.Number("1:touch_hits", Of(snapshot, Stat::kTouchHits));
  w.Number("active_slabs", 1);
  w.Number("total_malloced", pages * cache.segment_size);
}

}  // namespace mnemo::server
