#include "server/prometheus_text.h"

#include <gtest/gtest.h>

#include <string>

namespace mnemo::server {
namespace {

constexpr MetricInfo kInfo[] = {
    {"version", MetricKind::kGauge, "The version"},
    {"uptime", MetricKind::kGauge, "Seconds up"},
    {"rusage_user", MetricKind::kCounter, "User CPU"},
    {"cmd_set", MetricKind::kCounter, "Stores"},
    {"get_hits", MetricKind::kCounter, "Hits"},
    {"cas_hits", MetricKind::kCounter, "CAS hits"},
    {"cas_badval", MetricKind::kCounter, "CAS \\ bad\nvalues"},
    {"segments_free", MetricKind::kGauge, "Free segments"},
};

std::string Render(std::string_view general) {
  return PrometheusText({general, "STAT maxconns 1024\r\nSTAT lru_crawler yes\r\nEND\r\n",
                         "STAT items:1:number 3\r\nSTAT items:1:age 9\r\nEND\r\n", kInfo});
}

bool Has(const std::string& text, std::string_view line) {
  return text.find("\n" + std::string(line) + "\n") != std::string::npos ||
         text.starts_with(std::string(line) + "\n");
}

TEST(PrometheusTextTest, GivesMemcachedExportersSeries) {
  const std::string text = Render(
      "STAT version 1.6.45\r\nSTAT uptime 12\r\nSTAT rusage_user 0.250000\r\n"
      "STAT cmd_set 10\r\nSTAT get_hits 7\r\nSTAT cas_hits 2\r\nSTAT cas_badval 1\r\nEND\r\n");
  EXPECT_TRUE(Has(text, "memcached_up 1")) << text;
  EXPECT_TRUE(Has(text, "memcached_version{version=\"1.6.45\"} 1")) << text;
  EXPECT_TRUE(Has(text, "memcached_uptime_seconds 12")) << text;
  EXPECT_TRUE(Has(text, "memcached_process_user_cpu_seconds_total 0.250000")) << text;
  EXPECT_TRUE(Has(text, "memcached_commands_total{command=\"get\",status=\"hit\"} 7")) << text;
  EXPECT_TRUE(Has(text, "memcached_commands_total{command=\"cas\",status=\"badval\"} 1")) << text;
  // cmd_set counts the 3 cas commands too; the exporter's set/hit does not.
  EXPECT_TRUE(Has(text, "memcached_commands_total{command=\"set\",status=\"hit\"} 7")) << text;
  EXPECT_TRUE(Has(text, "memcached_max_connections 1024")) << text;
  EXPECT_TRUE(Has(text, "memcached_slab_current_items{slab=\"1\"} 3")) << text;
  EXPECT_TRUE(Has(text, "memcached_slab_items_age_seconds{slab=\"1\"} 9")) << text;
  // What this `stats` lacks is left out, not shown as 0.
  EXPECT_EQ(text.find("memcached_commands_total{command=\"get\",status=\"miss\"}"),
            std::string::npos);
  EXPECT_EQ(text.find("memcached_extstore"), std::string::npos);
}

TEST(PrometheusTextTest, GivesEveryNumericStatUnderItsOwnName) {
  const std::string text = Render(
      "STAT version 1.6.45\r\nSTAT cmd_set 10\r\nSTAT cas_badval 1\r\n"
      "STAT segments_free 4\r\nEND\r\n");
  EXPECT_TRUE(Has(text, "# TYPE mnemo_cmd_set_total counter")) << text;
  EXPECT_TRUE(Has(text, "mnemo_cmd_set_total 10")) << text;
  EXPECT_TRUE(Has(text, "# HELP mnemo_segments_free Free segments")) << text;
  EXPECT_TRUE(Has(text, "# TYPE mnemo_segments_free gauge")) << text;
  EXPECT_TRUE(Has(text, "mnemo_segments_free 4")) << text;
  EXPECT_TRUE(Has(text, "# HELP mnemo_cas_badval_total CAS \\\\ bad\\nvalues")) << text;
  EXPECT_EQ(text.find("mnemo_version"), std::string::npos);  // text, not a number
}

TEST(PrometheusTextTest, DeclaresEachFamilyOnce) {
  const std::string text = Render(
      "STAT get_hits 1\r\nSTAT get_misses 2\r\nSTAT delete_hits 3\r\nSTAT cmd_set 4\r\nEND\r\n");
  size_t declarations = 0;
  for (size_t at = 0; (at = text.find("# TYPE memcached_commands_total ", at)) != std::string::npos;
       ++at) {
    ++declarations;
  }
  EXPECT_EQ(declarations, 1u) << text;
}

TEST(PrometheusTextTest, FiguresGiveHistogramsThreadsAndHotKeys) {
  Figures figures;
  LatencyHistogram gets;
  gets.Observe(8'000);        // 8 µs: le 1e-05
  gets.Observe(30'000);       // 30 µs: le 5e-05
  gets.Observe(200'000'000);  // 0.2 s: +Inf only
  gets.AddTo(&figures.get_latency);
  figures.workers.resize(2);
  figures.workers[1][static_cast<size_t>(Stat::kCmdGet)] = 5;
  figures.workers[1][static_cast<size_t>(Stat::kDeleteHits)] = 2;
  figures.workers[1][static_cast<size_t>(Stat::kDeleteMisses)] = 1;
  figures.workers[0][static_cast<size_t>(Stat::kBytesRead)] = 99;
  figures.hot_keys = {{"a\"b c", 40}, {"d", 8}};
  figures.hot_keys_last_second = {{"d", 3}};
  const std::string text = FiguresText(figures);
  EXPECT_TRUE(Has(text, "# TYPE mnemo_command_duration_seconds histogram")) << text;
  EXPECT_TRUE(Has(text, "mnemo_command_duration_seconds_bucket{command=\"get\",le=\"1e-06\"} 0"))
      << text;
  EXPECT_TRUE(Has(text, "mnemo_command_duration_seconds_bucket{command=\"get\",le=\"1e-05\"} 1"))
      << text;
  EXPECT_TRUE(Has(text, "mnemo_command_duration_seconds_bucket{command=\"get\",le=\"2.5e-05\"} 1"))
      << text;
  EXPECT_TRUE(Has(text, "mnemo_command_duration_seconds_bucket{command=\"get\",le=\"5e-05\"} 2"))
      << text;
  EXPECT_TRUE(Has(text, "mnemo_command_duration_seconds_bucket{command=\"get\",le=\"0.1\"} 2"))
      << text;
  EXPECT_TRUE(Has(text, "mnemo_command_duration_seconds_bucket{command=\"get\",le=\"+Inf\"} 3"))
      << text;
  EXPECT_TRUE(Has(text, "mnemo_command_duration_seconds_sum{command=\"get\"} 0.200038000")) << text;
  EXPECT_TRUE(Has(text, "mnemo_command_duration_seconds_count{command=\"get\"} 3")) << text;
  EXPECT_TRUE(Has(text, "mnemo_command_duration_seconds_count{command=\"set\"} 0")) << text;
  EXPECT_TRUE(Has(text, "mnemo_thread_commands_total{thread=\"1\",command=\"get\"} 5")) << text;
  EXPECT_TRUE(Has(text, "mnemo_thread_commands_total{thread=\"1\",command=\"delete\"} 3")) << text;
  EXPECT_TRUE(Has(text, "mnemo_thread_read_bytes_total{thread=\"0\"} 99")) << text;
  EXPECT_TRUE(Has(text, "mnemo_hot_key_requests{window=\"overall\",key=\"a\\\"b%20c\"} 40"))
      << text;
  EXPECT_TRUE(Has(text, "mnemo_hot_key_requests{window=\"second\",key=\"d\"} 3")) << text;
  // One header per family, whatever the number of series.
  size_t headers = 0;
  for (size_t at = 0;
       (at = text.find("# TYPE mnemo_thread_commands_total", at)) != std::string::npos; ++at) {
    ++headers;
  }
  EXPECT_EQ(headers, 1u);
}

}  // namespace
}  // namespace mnemo::server
