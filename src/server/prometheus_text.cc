#include "server/prometheus_text.h"

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <utility>

namespace mnemo::server {
namespace {

using StatMap = std::map<std::string, std::string, std::less<>>;

// "STAT name value\r\n" lines, by name.
StatMap ParseStats(std::string_view text) {
  StatMap stats;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.starts_with("STAT ")) continue;
    line.remove_prefix(5);
    const size_t space = line.find(' ');
    if (space == std::string_view::npos) continue;
    stats.emplace(std::string(line.substr(0, space)), std::string(line.substr(space + 1)));
  }
  return stats;
}

// A value Prometheus can take: an unsigned decimal, or seconds.microseconds as `stats` shows
// times. Text (version, "yes") is not one.
bool IsNumber(std::string_view value) {
  if (value.empty()) return false;
  size_t dots = 0;
  for (const char c : value) {
    if (c == '.') {
      ++dots;
    } else if (c < '0' || c > '9') {
      return false;
    }
  }
  return dots <= 1 && value.front() != '.' && value.back() != '.';
}

uint64_t ToUnsigned(std::string_view value) {
  uint64_t n = 0;
  std::from_chars(value.data(), value.data() + value.size(), n);
  return n;
}

// Where an exporter series takes its value from.
enum class Source : uint8_t { kGeneral, kSettings, kItems };

// A series of memcached_exporter: its family name, type and help as the exporter declares them,
// its labels, and the stat it reads. Series of one family are adjacent.
struct ExporterSeries {
  std::string_view family;
  MetricKind kind;
  std::string_view help;
  std::string_view labels;  // `name="value",...`, or empty
  Source source;
  std::string_view stat;  // for kItems, the part after "items:<class>:"
};

constexpr ExporterSeries kExporterSeries[] = {
    {"memcached_uptime_seconds", MetricKind::kCounter,
     "Number of seconds since the server started.", "", Source::kGeneral, "uptime"},
    {"memcached_time_seconds", MetricKind::kGauge, "current UNIX time according to the server.", "",
     Source::kGeneral, "time"},
    {"memcached_process_user_cpu_seconds_total", MetricKind::kCounter,
     "Accumulated user time for this process.", "", Source::kGeneral, "rusage_user"},
    {"memcached_process_system_cpu_seconds_total", MetricKind::kCounter,
     "Accumulated system time for this process.", "", Source::kGeneral, "rusage_system"},
    {"memcached_read_bytes_total", MetricKind::kCounter,
     "Total number of bytes read by this server from network.", "", Source::kGeneral, "bytes_read"},
    {"memcached_written_bytes_total", MetricKind::kCounter,
     "Total number of bytes sent by this server to network.", "", Source::kGeneral,
     "bytes_written"},
    {"memcached_current_connections", MetricKind::kGauge, "Current number of open connections.", "",
     Source::kGeneral, "curr_connections"},
    {"memcached_max_connections", MetricKind::kGauge, "Maximum number of clients allowed.", "",
     Source::kSettings, "maxconns"},
    {"memcached_connections_total", MetricKind::kCounter,
     "Total number of connections opened since the server started running.", "", Source::kGeneral,
     "total_connections"},
    {"memcached_connections_rejected_total", MetricKind::kCounter,
     "Total number of connections rejected due to hitting the memcached's -c limit in "
     "maxconns_fast mode.",
     "", Source::kGeneral, "rejected_connections"},
    {"memcached_connections_yielded_total", MetricKind::kCounter,
     "Total number of connections yielded running due to hitting the memcached's -R limit.", "",
     Source::kGeneral, "conn_yields"},
    {"memcached_connections_listener_disabled_total", MetricKind::kCounter,
     "Number of times that memcached has hit its connections limit and disabled its listener.", "",
     Source::kGeneral, "listen_disabled_num"},
    {"memcached_current_bytes", MetricKind::kGauge, "Current number of bytes used to store items.",
     "", Source::kGeneral, "bytes"},
    {"memcached_limit_bytes", MetricKind::kGauge,
     "Number of bytes this server is allowed to use for storage.", "", Source::kGeneral,
     "limit_maxbytes"},
#define MNEMO_COMMAND(command, status, stat)                                                \
  {                                                                                         \
    "memcached_commands_total", MetricKind::kCounter,                                       \
        "Total number of all requests broken down by command (get, set, etc.) and status.", \
        "command=\"" command "\",status=\"" status "\"", Source::kGeneral, stat             \
  }
    MNEMO_COMMAND("get", "hit", "get_hits"),
    MNEMO_COMMAND("get", "miss", "get_misses"),
    MNEMO_COMMAND("delete", "hit", "delete_hits"),
    MNEMO_COMMAND("delete", "miss", "delete_misses"),
    MNEMO_COMMAND("incr", "hit", "incr_hits"),
    MNEMO_COMMAND("incr", "miss", "incr_misses"),
    MNEMO_COMMAND("decr", "hit", "decr_hits"),
    MNEMO_COMMAND("decr", "miss", "decr_misses"),
    MNEMO_COMMAND("cas", "hit", "cas_hits"),
    MNEMO_COMMAND("cas", "miss", "cas_misses"),
    MNEMO_COMMAND("cas", "badval", "cas_badval"),
    MNEMO_COMMAND("touch", "hit", "touch_hits"),
    MNEMO_COMMAND("touch", "miss", "touch_misses"),
    MNEMO_COMMAND("flush", "hit", "cmd_flush"),
    // cmd_set counts cas commands too; the exporter takes them out (SetHits below).
    MNEMO_COMMAND("set", "hit", "cmd_set"),
#undef MNEMO_COMMAND
    {"memcached_current_items", MetricKind::kGauge,
     "Current number of items stored by this instance.", "", Source::kGeneral, "curr_items"},
    {"memcached_items_total", MetricKind::kCounter,
     "Total number of items stored during the life of this instance.", "", Source::kGeneral,
     "total_items"},
    {"memcached_items_evicted_total", MetricKind::kCounter,
     "Total number of valid items removed from cache to free memory for new items.", "",
     Source::kGeneral, "evictions"},
    {"memcached_items_reclaimed_total", MetricKind::kCounter,
     "Total number of times an entry was stored using memory from an expired entry.", "",
     Source::kGeneral, "reclaimed"},
    {"memcached_item_too_large_total", MetricKind::kCounter,
     "The number of times an item exceeded the max-item-size when being stored.", "",
     Source::kGeneral, "store_too_large"},
    {"memcached_item_no_memory_total", MetricKind::kCounter,
     "The number of times an item could not be stored due to no more memory.", "", Source::kGeneral,
     "store_no_memory"},
    {"memcached_accepting_connections", MetricKind::kGauge,
     "The Memcached server is currently accepting new connections.", "", Source::kGeneral,
     "accepting_conns"},
    {"memcached_slab_current_items", MetricKind::kGauge,
     "Number of items currently stored in this slab class.", "slab=\"1\"", Source::kItems,
     "number"},
    {"memcached_slab_items_age_seconds", MetricKind::kGauge,
     "Number of seconds the oldest item has been in the slab class.", "slab=\"1\"", Source::kItems,
     "age"},
    {"memcached_slab_items_evicted_total", MetricKind::kCounter,
     "Total number of times an item had to be evicted from the LRU before it expired.",
     "slab=\"1\"", Source::kItems, "evicted"},
    {"memcached_slab_items_evicted_unfetched_total", MetricKind::kCounter,
     "Total nmber of items evicted and never fetched.", "slab=\"1\"", Source::kItems,
     "evicted_unfetched"},
    {"memcached_slab_items_expired_unfetched_total", MetricKind::kCounter,
     "Total number of valid items evicted from the LRU which were never touched after being set.",
     "slab=\"1\"", Source::kItems, "expired_unfetched"},
    {"memcached_slab_items_outofmemory_total", MetricKind::kCounter,
     "Total number of items for this slab class that have triggered an out of memory error.",
     "slab=\"1\"", Source::kItems, "outofmemory"},
    {"memcached_slab_items_reclaimed_total", MetricKind::kCounter,
     "Total number of items reclaimed.", "slab=\"1\"", Source::kItems, "reclaimed"},
    {"memcached_slab_mem_requested_bytes", MetricKind::kGauge,
     "Number of bytes of memory actual items take up within a slab.", "slab=\"1\"", Source::kItems,
     "mem_requested"},
    {"memcached_extstore_pages_evicted_total", MetricKind::kCounter,
     "Total number of times a page was evicted from extstore.", "", Source::kGeneral,
     "extstore_page_evictions"},
    {"memcached_extstore_pages_reclaimed_total", MetricKind::kCounter,
     "Total number of times an empty extstore page was freed.", "", Source::kGeneral,
     "extstore_page_reclaims"},
    {"memcached_extstore_pages_used", MetricKind::kGauge,
     "Number of extstore pages containing at least one item.", "", Source::kGeneral,
     "extstore_pages_used"},
    {"memcached_extstore_objects_evicted_total", MetricKind::kCounter,
     "Total number of items evicted from extstore to free up space.", "", Source::kGeneral,
     "extstore_objects_evicted"},
    {"memcached_extstore_objects_read_total", MetricKind::kCounter,
     "Total number of items read from extstore.", "", Source::kGeneral, "extstore_objects_read"},
    {"memcached_extstore_objects_written_total", MetricKind::kCounter,
     "Total number of items written to extstore.", "", Source::kGeneral,
     "extstore_objects_written"},
    {"memcached_extstore_objects_used", MetricKind::kGauge, "Number of items stored in extstore.",
     "", Source::kGeneral, "extstore_objects_used"},
    {"memcached_extstore_bytes_evicted_total", MetricKind::kCounter,
     "Total number of bytes evicted from extstore to free up space.", "", Source::kGeneral,
     "extstore_bytes_evicted"},
    {"memcached_extstore_bytes_written_total", MetricKind::kCounter,
     "Total number of bytes written to extstore.", "", Source::kGeneral, "extstore_bytes_written"},
    {"memcached_extstore_bytes_read_total", MetricKind::kCounter,
     "Total number of bytes read from extstore.", "", Source::kGeneral, "extstore_bytes_read"},
    {"memcached_extstore_bytes_used", MetricKind::kGauge,
     "Current number of bytes used to store items in extstore.", "", Source::kGeneral,
     "extstore_bytes_used"},
    {"memcached_extstore_bytes_limit", MetricKind::kGauge,
     "Number of bytes of external storage allocated for this server.", "", Source::kGeneral,
     "extstore_limit_maxbytes"},
};

// Appends one family's header when `family` is not the one written last.
class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}

  void Sample(std::string_view family, MetricKind kind, std::string_view help,
              std::string_view labels, std::string_view value) {
    Sample(family, MetricKindName(kind), help, labels, value);
  }
  // `type` as the format names it; `suffix` follows the family's name in the sample (a
  // histogram's _bucket, _sum and _count).
  void Sample(std::string_view family, std::string_view type, std::string_view help,
              std::string_view labels, std::string_view value, std::string_view suffix = {}) {
    if (family != last_family_) {
      *out_ += "# HELP ";
      *out_ += family;
      *out_ += ' ';
      AppendEscapedHelp(help);
      *out_ += "\n# TYPE ";
      *out_ += family;
      *out_ += ' ';
      *out_ += type;
      *out_ += '\n';
      last_family_ = family;
    }
    *out_ += family;
    *out_ += suffix;
    if (!labels.empty()) {
      *out_ += '{';
      *out_ += labels;
      *out_ += '}';
    }
    *out_ += ' ';
    *out_ += value;
    *out_ += '\n';
  }

 private:
  // The format escapes backslashes and newlines in help text.
  void AppendEscapedHelp(std::string_view help) {
    for (const char c : help) {
      if (c == '\\') {
        *out_ += "\\\\";
      } else if (c == '\n') {
        *out_ += "\\n";
      } else {
        *out_ += c;
      }
    }
  }

  std::string* out_;
  std::string last_family_;
};

// A label value as the format quotes it: backslash, double quote and newline escaped.
std::string LabelValue(std::string_view value) {
  std::string quoted;
  for (const char c : value) {
    if (c == '\\' || c == '"') quoted += '\\';
    quoted += c == '\n' ? 'n' : c;
  }
  return quoted;
}

// memcached counts cas commands in cmd_set as well; memcached_exporter's set/hit leaves them out.
std::string SetHits(const StatMap& general) {
  uint64_t sets = ToUnsigned(general.find("cmd_set")->second);
  for (const char* cas : {"cas_misses", "cas_hits", "cas_badval"}) {
    auto it = general.find(cas);
    if (it != general.end()) sets -= std::min(sets, ToUnsigned(it->second));
  }
  return std::to_string(sets);
}

constexpr std::string_view kDurationFamily = "mnemo_command_duration_seconds";
constexpr std::string_view kDurationHelp =
    "Time a worker took over a get (get, gets, gat, gats, mg) or a set (storage commands, ms), "
    "from taking the command to queueing its reply.";

void AppendHistogram(Writer& w, std::string_view command, const LatencyHistogram::Totals& totals) {
  const std::string label = "command=\"" + std::string(command) + "\"";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < totals.counts.size(); ++i) {
    cumulative += totals.counts[i];
    std::string labels = label;
    labels += ",le=\"";
    if (i < kLatencyBoundsNs.size()) {
      char le[32];
      std::snprintf(le, sizeof(le), "%g", static_cast<double>(kLatencyBoundsNs[i]) / 1e9);
      labels += le;
    } else {
      labels += "+Inf";
    }
    labels += '"';
    w.Sample(kDurationFamily, "histogram", kDurationHelp, labels, std::to_string(cumulative),
             "_bucket");
  }
  char sum[32];
  std::snprintf(sum, sizeof(sum), "%.9f", static_cast<double>(totals.sum_ns) / 1e9);
  w.Sample(kDurationFamily, "histogram", kDurationHelp, label, sum, "_sum");
  w.Sample(kDurationFamily, "histogram", kDurationHelp, label, std::to_string(cumulative),
           "_count");
}

// Each worker's commands by the command's name, from its counters.
struct ThreadCommand {
  std::string_view command;
  Stat first;
  std::optional<Stat> second;  // added to `first`, where one command has two counters
};
constexpr ThreadCommand kThreadCommands[] = {
    {"get", Stat::kCmdGet, std::nullopt},
    {"set", Stat::kCmdSet, std::nullopt},
    {"touch", Stat::kCmdTouch, std::nullopt},
    {"delete", Stat::kDeleteHits, Stat::kDeleteMisses},
    {"incr", Stat::kIncrHits, Stat::kIncrMisses},
    {"decr", Stat::kDecrHits, Stat::kDecrMisses},
    {"flush", Stat::kCmdFlush, std::nullopt},
};

}  // namespace

std::string FiguresText(const Figures& figures) {
  std::string out;
  Writer w(&out);
  AppendHistogram(w, "get", figures.get_latency);
  AppendHistogram(w, "set", figures.set_latency);
  const auto of = [](const StatTotals& totals, Stat stat) {
    return totals[static_cast<size_t>(stat)];
  };
  for (size_t i = 0; i < figures.workers.size(); ++i) {
    const std::string thread = "thread=\"" + std::to_string(i) + "\"";
    for (const ThreadCommand& command : kThreadCommands) {
      uint64_t n = of(figures.workers[i], command.first);
      if (command.second) n += of(figures.workers[i], *command.second);
      w.Sample("mnemo_thread_commands_total", MetricKind::kCounter,
               "Commands a worker thread served, by command (keys, for get and touch).",
               thread + ",command=\"" + std::string(command.command) + "\"", std::to_string(n));
    }
  }
  for (size_t i = 0; i < figures.workers.size(); ++i) {
    w.Sample("mnemo_thread_read_bytes_total", MetricKind::kCounter,
             "Bytes a worker thread read from its clients.", "thread=\"" + std::to_string(i) + "\"",
             std::to_string(of(figures.workers[i], Stat::kBytesRead)));
  }
  for (size_t i = 0; i < figures.workers.size(); ++i) {
    w.Sample("mnemo_thread_written_bytes_total", MetricKind::kCounter,
             "Bytes a worker thread wrote to its clients.", "thread=\"" + std::to_string(i) + "\"",
             std::to_string(of(figures.workers[i], Stat::kBytesWritten)));
  }
  constexpr std::string_view kHotHelp =
      "Estimated requests (reads and writes) of each of the top keys of stats hotkeys: since the "
      "start or stats reset (window=overall), or in the last whole second (window=second).";
  for (const auto& [window, top] : {std::pair{"overall", &figures.hot_keys},
                                    std::pair{"second", &figures.hot_keys_last_second}}) {
    for (const HotKeys::Entry& entry : *top) {
      w.Sample("mnemo_hot_key_requests", MetricKind::kGauge, kHotHelp,
               "window=\"" + std::string(window) + "\",key=\"" +
                   LabelValue(ReportedKey(entry.key)) + "\"",
               std::to_string(entry.count));
    }
  }
  return out;
}

std::string PrometheusText(const StatsReplies& replies) {
  const StatMap general = ParseStats(replies.general);
  const StatMap settings = ParseStats(replies.settings);
  StatMap items;  // of class 1, the only one mnemod shows, by the name after "items:1:"
  for (auto& [name, value] : ParseStats(replies.items)) {
    if (name.starts_with("items:1:")) items.emplace(name.substr(8), value);
  }
  std::string out;
  Writer w(&out);
  w.Sample("memcached_up", MetricKind::kGauge, "Could the memcached server be reached.", "", "1");
  if (auto version = general.find("version"); version != general.end()) {
    w.Sample("memcached_version", MetricKind::kGauge, "The version of this memcached server.",
             "version=\"" + LabelValue(version->second) + "\"", "1");
  }
  for (const ExporterSeries& series : kExporterSeries) {
    const StatMap& source = series.source == Source::kGeneral    ? general
                            : series.source == Source::kSettings ? settings
                                                                 : items;
    auto it = source.find(series.stat);
    if (it == source.end() || !IsNumber(it->second)) continue;
    const std::string value = series.stat == "cmd_set" ? SetHits(general) : it->second;
    w.Sample(series.family, series.kind, series.help, series.labels, value);
  }
  for (const MetricInfo& info : replies.general_info) {
    auto it = general.find(info.name);
    if (it == general.end() || !IsNumber(it->second)) continue;
    std::string family = "mnemo_" + std::string(info.name);
    if (info.kind == MetricKind::kCounter) family += "_total";
    w.Sample(family, info.kind, info.description, "", it->second);
  }
  return out;
}

}  // namespace mnemo::server
