#include "server/stats.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace mnemo::server {
namespace {

// The names of a "STAT name value" listing, in order.
std::vector<std::string> NamesOf(const std::string& listing) {
  std::vector<std::string> names;
  std::istringstream lines(listing);
  std::string stat, name, rest;
  while (lines >> stat >> name && std::getline(lines, rest)) names.push_back(name);
  return names;
}

std::vector<std::string> GeneralStatNames(const Options& options, bool flash = false) {
  std::string text;
  StatsSnapshot snapshot;
  if (flash) snapshot.cache.extstore_limit_maxbytes = 64 << 20;
  if (options.ssl_enabled) snapshot.tls_cert_age = 0;  // as ServerContext::Snapshot with -Z
  AppendGeneralStats(options, snapshot, &text);
  return NamesOf(text);
}

// The lines shown only with some options: idle_kicks, the flash tier's and TLS's.
size_t Conditional(const std::vector<std::string>& names) {
  return static_cast<size_t>(std::count_if(names.begin(), names.end(), [](const std::string& n) {
    return n == "idle_kicks" || n.find("extstore") != std::string::npos || n.starts_with("ssl_") ||
           n == "time_since_server_cert_refresh";
  }));
}

TEST(StatsTest, TheOutputIsTheDeclaredListInItsOrder) {
  Options options;
  options.idle_timeout = 1;          // shows idle_kicks
  options.ssl_enabled = true;        // shows the ssl_ lines
  options.tls.session_cache = true;  // and ssl_new_sessions
  std::vector<std::string> declared;
  for (const MetricInfo& info : GeneralStatsInfo()) declared.emplace_back(info.name);
  EXPECT_EQ(GeneralStatNames(options, /*flash=*/true), declared);
}

TEST(StatsTest, ConditionalLinesAreShownOnlyWithTheirOptionsAsInMemcached) {
  Options options;
  const std::vector<std::string> names = GeneralStatNames(options);
  EXPECT_EQ(Conditional(names), 0u);
  std::vector<std::string> declared;
  for (const MetricInfo& info : GeneralStatsInfo()) declared.emplace_back(info.name);
  EXPECT_EQ(names.size() + Conditional(declared), declared.size());
  EXPECT_EQ(Conditional(GeneralStatNames(options, /*flash=*/true)), Conditional(declared) - 5);
}

// memcached 1.6.45's ssl_ lines: with -Z, ssl_new_sessions only with ssl_session_cache.
TEST(StatsTest, TlsLinesShowWithTlsAsInMemcached) {
  Options options;
  options.ssl_enabled = true;
  std::vector<std::string> names = GeneralStatNames(options);
  const std::vector<std::string> tls = {"ssl_handshake_errors", "ssl_proto_errors",
                                        "time_since_server_cert_refresh"};
  // After memcached's lines, before mnemo's own replication lines.
  const auto first = std::find(names.begin(), names.end(), tls.front());
  ASSERT_LE(first + 3, names.end());
  EXPECT_EQ(std::vector<std::string>(first, first + 3), tls);
  EXPECT_TRUE(first + 3 == names.end() || (first + 3)->starts_with("repl_")) << *(first + 3);
  options.tls.session_cache = true;
  names = GeneralStatNames(options);
  EXPECT_EQ(*(std::find(names.begin(), names.end(), tls.front()) - 1), "ssl_new_sessions");
}

TEST(StatsTest, EveryLineIsNamedOnceAndDescribedOnOneLine) {
  std::set<std::string_view> seen;
  for (const MetricInfo& info : GeneralStatsInfo()) {
    EXPECT_TRUE(seen.insert(info.name).second) << info.name << " is declared twice";
    EXPECT_FALSE(info.description.empty()) << info.name;
    EXPECT_EQ(info.description.find('\n'), std::string_view::npos) << info.name;
  }
}

// A statistic the engine keeps but `stats` does not show is a statistic nobody sees: every field
// of CacheStats must have its place in MNEMO_GENERAL_STATS, but for those other sub-commands
// show.
TEST(StatsTest, EveryCacheStatisticHasItsPlaceInStats) {
  const std::set<std::string_view> elsewhere = {"age"};  // stats items: items:1:age
  std::set<std::string_view> shown;
  for (const MetricInfo& info : GeneralStatsInfo()) shown.insert(info.name);
  auto check = [&](const storage::CacheMetricInfo& info) {
    EXPECT_NE(shown.count(info.metric.name) + elsewhere.count(info.metric.name), 0u)
        << info.metric.name
        << " is declared in storage/cache_stats.h but has no CACHE() line in "
           "MNEMO_GENERAL_STATS (server/stats.h)";
  };
  for (const storage::CacheMetricInfo& info : storage::kCacheCounters) check(info);
  for (const storage::CacheMetricInfo& info : storage::kCacheState) check(info);
}

// memcached 1.6.45's `stats`, in its order: the lines mnemod shares with it keep that order.
TEST(StatsTest, SharedLinesKeepMemcachedsOrder) {
  const std::vector<std::string> memcached = {"pid",
                                              "uptime",
                                              "time",
                                              "version",
                                              "libevent",
                                              "pointer_size",
                                              "rusage_user",
                                              "rusage_system",
                                              "max_connections",
                                              "curr_connections",
                                              "total_connections",
                                              "rejected_connections",
                                              "connection_structures",
                                              "response_obj_oom",
                                              "response_obj_count",
                                              "response_obj_bytes",
                                              "read_buf_count",
                                              "read_buf_bytes",
                                              "read_buf_bytes_free",
                                              "read_buf_oom",
                                              "reserved_fds",
                                              "cmd_get",
                                              "cmd_set",
                                              "cmd_flush",
                                              "cmd_touch",
                                              "cmd_meta",
                                              "get_hits",
                                              "get_misses",
                                              "get_expired",
                                              "get_flushed",
                                              "delete_misses",
                                              "delete_hits",
                                              "incr_misses",
                                              "incr_hits",
                                              "decr_misses",
                                              "decr_hits",
                                              "cas_misses",
                                              "cas_hits",
                                              "cas_badval",
                                              "touch_hits",
                                              "touch_misses",
                                              "store_too_large",
                                              "store_no_memory",
                                              "auth_cmds",
                                              "auth_errors",
                                              "idle_kicks",
                                              "bytes_read",
                                              "bytes_written",
                                              "limit_maxbytes",
                                              "accepting_conns",
                                              "listen_disabled_num",
                                              "time_in_listen_disabled_us",
                                              "threads",
                                              "conn_yields",
                                              "hash_power_level",
                                              "hash_bytes",
                                              "hash_is_expanding",
                                              "slab_reassign_rescues",
                                              "slab_reassign_chunk_rescues",
                                              "slab_reassign_inline_reclaim",
                                              "slab_reassign_busy_items",
                                              "slab_reassign_busy_deletes",
                                              "slab_reassign_busy_nomem",
                                              "slab_reassign_last_busy_status",
                                              "slab_reassign_running",
                                              "slabs_moved",
                                              "lru_crawler_running",
                                              "lru_crawler_starts",
                                              "lru_maintainer_juggles",
                                              "malloc_fails",
                                              "log_worker_dropped",
                                              "log_worker_written",
                                              "log_watcher_skipped",
                                              "log_watcher_sent",
                                              "log_watchers",
                                              "unexpected_napi_ids",
                                              "round_robin_fallback",
                                              "bytes",
                                              "curr_items",
                                              "total_items",
                                              "slab_global_page_pool",
                                              "expired_unfetched",
                                              "evicted_unfetched",
                                              "evicted_active",
                                              "evictions",
                                              "reclaimed",
                                              "crawler_reclaimed",
                                              "crawler_items_checked",
                                              "lrutail_reflocked",
                                              "moves_to_cold",
                                              "moves_to_warm",
                                              "moves_within_lru",
                                              "direct_reclaims",
                                              "lru_bumps_dropped"};
  std::vector<std::string> shared;
  for (const MetricInfo& info : GeneralStatsInfo()) {
    if (std::find(memcached.begin(), memcached.end(), info.name) != memcached.end()) {
      shared.emplace_back(info.name);
    }
  }
  std::vector<std::string> expected;
  for (const std::string& name : memcached) {
    if (std::find(shared.begin(), shared.end(), name) != shared.end()) expected.push_back(name);
  }
  EXPECT_EQ(shared, expected);
}

TEST(StatsTest, ResetRestartsCountersFromZero) {
  ThreadStats thread;
  StatsRegistry registry;
  registry.Register(&thread);
  thread.Add(Stat::kCmdGet, 5);
  registry.Reset();
  thread.Add(Stat::kCmdGet, 2);
  EXPECT_EQ(registry.Totals()[static_cast<size_t>(Stat::kCmdGet)], 2u);
}

}  // namespace
}  // namespace mnemo::server
