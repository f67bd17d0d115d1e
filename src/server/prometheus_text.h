// PrometheusText renders what `stats` reports in Prometheus' text exposition format (0.0.4), for
// the metrics endpoint (-o metrics_port, metrics_endpoint.h). It works from the text of `stats`,
// `stats settings` and `stats items`, exactly as an exporter reading a memcached would, so the
// two families of names it gives cannot drift from what `stats` shows:
//  - memcached_exporter's (github.com/prometheus/memcached_exporter): each series it derives
//    from memcached's stats, with its name, type, labels and meaning, so that dashboards and
//    alerts written for memcached read mnemod unchanged. A series whose stat mnemod does not show
//    is left out, as the exporter leaves out what a memcached lacks (extstore without ext_path).
//  - mnemo_<name> for every numeric line of `stats`, typed and described as its declaration in
//    server/stats.h says (a counter's name ends in _total): mnemod's own statistics (segments,
//    compression, the flash tier, replication) and memcached's under their `stats` names.
// FiguresText renders what no `stats` line carries: the latency histograms of gets and sets, each
// worker's commands and bytes, and the hot keys, all under mnemo_ names.
//
// Thread safety: pure functions.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/metric.h"
#include "server/hot_keys.h"
#include "server/latency_histogram.h"
#include "server/stats.h"

namespace mnemo::server {

// The text of the three replies, each "STAT name value\r\n" lines (an "END" line is ignored);
// `general` is described by `general_info` (GeneralStatsInfo()).
struct StatsReplies {
  std::string_view general;
  std::string_view settings;
  std::string_view items;
  std::span<const MetricInfo> general_info;
};

std::string PrometheusText(const StatsReplies& replies);

struct Figures {
  LatencyHistogram::Totals get_latency;  // summed over the workers
  LatencyHistogram::Totals set_latency;
  std::vector<StatTotals> workers;                   // each worker's counters, in worker order
  std::vector<HotKeys::Entry> hot_keys;              // HotKeys::Window::kOverall
  std::vector<HotKeys::Entry> hot_keys_last_second;  // HotKeys::Window::kLastSecond
};

// mnemo_command_duration_seconds{command="get"|"set"} (a histogram),
// mnemo_thread_commands_total{thread,command}, mnemo_thread_read_bytes_total{thread},
// mnemo_thread_written_bytes_total{thread}, mnemo_hot_key_requests{window,key}.
std::string FiguresText(const Figures& figures);

}  // namespace mnemo::server
