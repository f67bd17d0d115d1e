#include "server/stats.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <type_traits>

#include "base/clock.h"
#include "base/logging.h"
#include "server/settings.h"
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
  // seconds.microseconds; an empty optional is no line at all.
  template <typename T>
  void Value(std::string_view name, const T& value) {
    if constexpr (requires { value.has_value(); }) {
      if (value.has_value()) Value(name, *value);
    } else if constexpr (std::is_same_v<T, timeval>) {
      Seconds(name, value);
    } else if constexpr (std::is_integral_v<T>) {
      static_assert(!std::is_same_v<T, bool>, "say how a bool reads");
      Text(name, std::to_string(value));
    } else {
      Text(name, std::string_view(value));
    }
  }
  void Number(std::string_view name, uint64_t value) { Text(name, std::to_string(value)); }
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
constexpr std::array<MetricKind, kNumStats> kStatKinds = {MNEMO_GENERAL_STATS(
    MNEMO_STAT_KIND, MNEMO_STAT_IF_KIND, MNEMO_STAT_SKIP, MNEMO_STAT_SKIP, MNEMO_STAT_SKIP)};
#undef MNEMO_STAT_KIND
#undef MNEMO_STAT_IF_KIND
#undef MNEMO_STAT_SKIP

uint64_t Of(const StatsSnapshot& snapshot, Stat stat) {
  return snapshot.totals[static_cast<size_t>(stat)];
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
#define MNEMO_STAT_CACHE_IF_INFO(condition, field) CacheInfo(&storage::CacheStats::field),
#define MNEMO_STAT_VALUE_INFO(name, kind, expression, description) \
  MetricInfo{name, MetricKind::kind, description},
  static constexpr MetricInfo kInfo[] = {
      MNEMO_GENERAL_STATS(MNEMO_STAT_COUNTER_INFO, MNEMO_STAT_COUNTER_IF_INFO,
                          MNEMO_STAT_CACHE_INFO, MNEMO_STAT_CACHE_IF_INFO, MNEMO_STAT_VALUE_INFO)};
#undef MNEMO_STAT_COUNTER_INFO
#undef MNEMO_STAT_COUNTER_IF_INFO
#undef MNEMO_STAT_CACHE_INFO
#undef MNEMO_STAT_CACHE_IF_INFO
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
#define MNEMO_STAT_CACHE_IF_LINE(condition, field) \
  if (condition) w.Value(kCacheStatName<&storage::CacheStats::field>, cache.field);
#define MNEMO_STAT_VALUE_LINE(name, kind, expression, description) w.Value(name, expression);
  MNEMO_GENERAL_STATS(MNEMO_STAT_COUNTER_LINE, MNEMO_STAT_COUNTER_IF_LINE, MNEMO_STAT_CACHE_LINE,
                      MNEMO_STAT_CACHE_IF_LINE, MNEMO_STAT_VALUE_LINE)
#undef MNEMO_STAT_COUNTER_LINE
#undef MNEMO_STAT_COUNTER_IF_LINE
#undef MNEMO_STAT_CACHE_LINE
#undef MNEMO_STAT_CACHE_IF_LINE
#undef MNEMO_STAT_VALUE_LINE
}

void AppendSettingsStats(const Options& options, const StatsSnapshot& snapshot, std::string* out) {
  RuntimeSettings runtime;
  runtime.maxbytes = snapshot.cache.limit_maxbytes;  // follows cache_memlimit, as memcached's
  runtime.oldest = snapshot.oldest_live;
  runtime.segment_size = snapshot.cache.segment_size;
  runtime.verbosity = g_verbosity.load(std::memory_order_relaxed);
  runtime.detail_enabled = snapshot.detail_enabled;
  AppendSettings(options, runtime, out);
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
