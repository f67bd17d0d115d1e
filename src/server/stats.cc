#include "server/stats.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <type_traits>

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
  // The format follows the type: an integer in decimal, text as it is, a timeval as
  // seconds.microseconds.
  template <typename T>
  void Value(std::string_view name, const T& value) {
    if constexpr (std::is_same_v<T, timeval>) {
      Seconds(name, value);
    } else if constexpr (std::is_integral_v<T>) {
      static_assert(!std::is_same_v<T, bool>, "say how a bool reads: YesNo, or a number");
      Text(name, std::to_string(value));
    } else {
      Text(name, std::string_view(value));
    }
  }
  void Number(std::string_view name, uint64_t value) { Text(name, std::to_string(value)); }
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

// The declaration of a CacheStats field in storage/cache_stats.h.
constexpr MetricInfo CacheInfo(uint64_t storage::CacheStats::*field) {
  for (const storage::CacheMetricInfo& info : storage::kCacheCounters) {
    if (info.field == field) return info.metric;
  }
  for (const storage::CacheMetricInfo& info : storage::kCacheState) {
    if (info.field == field) return info.metric;
  }
  std::abort();  // unreachable: CacheStats has no field but those of the two lists
}
// Evaluated once, at compile time.
template <uint64_t storage::CacheStats::*kField>
constexpr std::string_view kCacheStatName = CacheInfo(kField).name;

#define MNEMO_STAT_KIND(id, name, kind, description) MetricKind::kind,
#define MNEMO_STAT_IF_KIND(condition, id, name, kind, description) MetricKind::kind,
#define MNEMO_STAT_SKIP(...)
// In Stat order.
constexpr std::array<MetricKind, kNumStats> kStatKinds = {
    MNEMO_GENERAL_STATS(MNEMO_STAT_KIND, MNEMO_STAT_IF_KIND, MNEMO_STAT_SKIP, MNEMO_STAT_SKIP)};
#undef MNEMO_STAT_KIND
#undef MNEMO_STAT_IF_KIND
#undef MNEMO_STAT_SKIP

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
  for (size_t i = 0; i < kNumStats; ++i) {
    baseline_[i] = kStatKinds[i] == MetricKind::kCounter ? totals[i] : 0;  // gauges stay whole
  }
}

std::span<const MetricInfo> GeneralStatsInfo() {
#define MNEMO_STAT_COUNTER_INFO(id, name, kind, description) \
  MetricInfo{name, MetricKind::kind, description},
#define MNEMO_STAT_COUNTER_IF_INFO(condition, id, name, kind, description) \
  MetricInfo{name, MetricKind::kind, description},
#define MNEMO_STAT_CACHE_INFO(field) CacheInfo(&storage::CacheStats::field),
#define MNEMO_STAT_VALUE_INFO(name, kind, expression, description) \
  MetricInfo{name, MetricKind::kind, description},
  static constexpr MetricInfo kInfo[] = {
      MNEMO_GENERAL_STATS(MNEMO_STAT_COUNTER_INFO, MNEMO_STAT_COUNTER_IF_INFO,
                          MNEMO_STAT_CACHE_INFO, MNEMO_STAT_VALUE_INFO)};
#undef MNEMO_STAT_COUNTER_INFO
#undef MNEMO_STAT_COUNTER_IF_INFO
#undef MNEMO_STAT_CACHE_INFO
#undef MNEMO_STAT_VALUE_INFO
  return kInfo;
}

void AppendGeneralStats(const Options& options, const StatsSnapshot& snapshot, std::string* out) {
  StatWriter w(out);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const storage::CacheStats& cache = snapshot.cache;
#define MNEMO_STAT_COUNTER_LINE(id, name, kind, description) w.Value(name, Of(snapshot, Stat::id));
#define MNEMO_STAT_COUNTER_IF_LINE(condition, id, name, kind, description) \
  if (condition) w.Value(name, Of(snapshot, Stat::id));
#define MNEMO_STAT_CACHE_LINE(field) \
  w.Value(kCacheStatName<&storage::CacheStats::field>, cache.field);
#define MNEMO_STAT_VALUE_LINE(name, kind, expression, description) w.Value(name, expression);
  MNEMO_GENERAL_STATS(MNEMO_STAT_COUNTER_LINE, MNEMO_STAT_COUNTER_IF_LINE, MNEMO_STAT_CACHE_LINE,
                      MNEMO_STAT_VALUE_LINE)
#undef MNEMO_STAT_COUNTER_LINE
#undef MNEMO_STAT_COUNTER_IF_LINE
#undef MNEMO_STAT_CACHE_LINE
#undef MNEMO_STAT_VALUE_LINE
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
  w.Number("read_buf_mem_limit", tuning.read_buf_mem_limit);
  w.YesNo("track_sizes", false);
  w.YesNo("inline_ascii_response", false);
  // mnemo's own.
  // The engine's: it shrinks segments when -m is too small for enough of them.
  w.Number("segment_size", snapshot.cache.segment_size);
  w.Text("eviction_policy", options.eviction == storage::EvictionPolicy::kMerge ? "merge" : "fifo");
  w.Text("compression", options.compression == storage::Compression::kSnappy ? "snappy" : "off");
  w.Number("compress_min", options.compress_min);
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
