#include "server/stats_doc.h"

#include <initializer_list>
#include <set>
#include <string_view>

#include "base/metric.h"
#include "server/settings.h"
#include "server/stats.h"
#include "storage/cache_stats.h"

namespace mnemo::server {
namespace {

void Row(std::initializer_list<std::string_view> cells, std::string* out) {
  *out += '|';
  for (std::string_view cell : cells) {
    *out += ' ';
    *out += cell;
    *out += " |";
  }
  *out += '\n';
}

std::string Code(std::string_view text) {
  return text.empty() ? std::string() : "`" + std::string(text) + "`";
}

}  // namespace

std::string RenderStatsDoc() {
  std::string out =
      "# Statistics and settings\n"
      "\n"
      "<!-- Generated from src/server/stats.h, src/storage/cache_stats.h and\n"
      "     src/server/settings.h: do not edit. Regenerate with\n"
      "     build/mnemo-stats-doc > docs/stats.md -->\n"
      "\n"
      "## `stats`\n"
      "\n"
      "In the order `stats` prints them. A counter counts events and `stats reset` restarts the\n"
      "counters mnemod keeps; a gauge is a level at the time it is read.\n"
      "\n";
  Row({"name", "kind", "description"}, &out);
  Row({"---", "---", "---"}, &out);
  std::set<std::string_view> shown;
  for (const MetricInfo& info : GeneralStatsInfo()) {
    shown.insert(info.name);
    Row({Code(info.name), MetricKindName(info.kind), info.description}, &out);
  }

  out +=
      "\n"
      "## Storage engine statistics shown elsewhere\n"
      "\n"
      "Kept by the engine and shown by `stats items` (as `items:1:<name>`).\n"
      "\n";
  Row({"name", "kind", "description"}, &out);
  Row({"---", "---", "---"}, &out);
  auto elsewhere = [&](const storage::CacheMetricInfo& info) {
    if (!shown.contains(info.metric.name)) {
      Row({Code(info.metric.name), MetricKindName(info.metric.kind), info.metric.description},
          &out);
    }
  };
  for (const storage::CacheMetricInfo& info : storage::kCacheCounters) elsewhere(info);
  for (const storage::CacheMetricInfo& info : storage::kCacheState) elsewhere(info);

  out +=
      "\n"
      "## `stats settings` and `-o` options\n"
      "\n"
      "In the order `stats settings` prints them. The default is the one `-h` states, or else\n"
      "what a server started with no flags shows. An option with no line of its own changes the\n"
      "lines its description names.\n"
      "\n";
  Row({"line", "-o option", "default", "description"}, &out);
  Row({"---", "---", "---", "---"}, &out);
  for (const Setting& setting : Settings()) {
    std::string value(setting.default_value);
    if (value.empty() && setting.show != nullptr) {
      value = setting.show(Options(), RuntimeSettings());
    }
    std::string option = Code(setting.option);
    if (!setting.option.empty() && setting.needs_value)
      option = Code(std::string(setting.option) + "=");
    Row({Code(setting.name), option, Code(value), setting.help}, &out);
  }
  return out;
}

}  // namespace mnemo::server
