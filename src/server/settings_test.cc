#include "server/settings.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace mnemo::server {
namespace {

TEST(SettingsTest, EveryStatedDefaultIsTheDefault) {
  for (const Setting& setting : Settings()) {
    if (setting.default_value.empty()) continue;
    Options options;
    ASSERT_TRUE(setting.parse(setting.default_value, &options).ok()) << setting.option;
    EXPECT_TRUE(options == Options())
        << "-o " << setting.option << "=" << setting.default_value
        << " changes the options: the default in server/settings.h is not Options' default";
  }
}

TEST(SettingsTest, NamesAreUniqueAndEveryRowIsDescribed) {
  std::set<std::string_view> lines, options;
  for (const Setting& setting : Settings()) {
    EXPECT_TRUE(!setting.name.empty() || !setting.option.empty());
    EXPECT_EQ(setting.name.empty(), setting.show == nullptr) << setting.name;
    EXPECT_EQ(setting.option.empty(), setting.parse == nullptr) << setting.option;
    EXPECT_TRUE(!setting.in_usage || !setting.option.empty()) << setting.name;
    if (!setting.name.empty()) {
      EXPECT_TRUE(lines.insert(setting.name).second) << setting.name;
    }
    if (!setting.option.empty()) {
      EXPECT_TRUE(options.insert(setting.option).second) << setting.option;
    }
    EXPECT_FALSE(setting.help.empty()) << setting.name << setting.option;
    EXPECT_EQ(setting.help.find('\n'), std::string_view::npos) << setting.name;
  }
}

std::vector<std::string> SettingNames() {
  std::string text;
  AppendSettings(Options(), RuntimeSettings(), &text);
  std::vector<std::string> names;
  std::istringstream lines(text);
  std::string stat, name, rest;
  while (lines >> stat >> name && std::getline(lines, rest)) names.push_back(name);
  return names;
}

// memcached 1.6.45's `stats settings`, in its order: the lines mnemod shares keep that order.
TEST(SettingsTest, SharedLinesKeepMemcachedsOrder) {
  const std::vector<std::string> memcached = {"maxbytes",
                                              "maxconns",
                                              "tcpport",
                                              "udpport",
                                              "inter",
                                              "verbosity",
                                              "oldest",
                                              "evictions",
                                              "domain_socket",
                                              "umask",
                                              "shutdown_command",
                                              "growth_factor",
                                              "chunk_size",
                                              "num_threads",
                                              "num_threads_per_udp",
                                              "stat_key_prefix",
                                              "detail_enabled",
                                              "reqs_per_event",
                                              "cas_enabled",
                                              "tcp_backlog",
                                              "binding_protocol",
                                              "auth_enabled_sasl",
                                              "auth_enabled_ascii",
                                              "item_size_max",
                                              "maxconns_fast",
                                              "hashpower_init",
                                              "slab_reassign",
                                              "slab_automove",
                                              "slab_automove_ratio",
                                              "slab_automove_window",
                                              "slab_chunk_max",
                                              "lru_crawler",
                                              "lru_crawler_sleep",
                                              "lru_crawler_tocrawl",
                                              "tail_repair_time",
                                              "flush_enabled",
                                              "dump_enabled",
                                              "hash_algorithm",
                                              "lru_maintainer_thread",
                                              "lru_segmented",
                                              "hot_lru_pct",
                                              "warm_lru_pct",
                                              "hot_max_factor",
                                              "warm_max_factor",
                                              "temp_lru",
                                              "temporary_ttl",
                                              "idle_timeout",
                                              "watcher_logbuf_size",
                                              "worker_logbuf_size",
                                              "read_buf_mem_limit",
                                              "track_sizes",
                                              "inline_ascii_response",
                                              "ext_item_size",
                                              "ext_item_age",
                                              "ext_low_ttl",
                                              "ext_recache_rate",
                                              "ext_wbuf_size",
                                              "ext_compact_under",
                                              "ext_drop_under",
                                              "ext_max_sleep",
                                              "ext_max_frag",
                                              "slab_automove_freeratio",
                                              "ext_drop_unread",
                                              "ssl_enabled",
                                              "ssl_chain_cert",
                                              "ssl_key",
                                              "ssl_verify_mode",
                                              "ssl_keyformat",
                                              "ssl_ciphers",
                                              "ssl_ca_cert",
                                              "ssl_wbuf_size",
                                              "ssl_session_cache",
                                              "ssl_kernel_tls",
                                              "ssl_min_version",
                                              "num_napi_ids",
                                              "memory_file",
                                              "client_flags_size"};
  std::vector<std::string> shared;
  for (const std::string& name : SettingNames()) {
    if (std::find(memcached.begin(), memcached.end(), name) != memcached.end()) {
      shared.push_back(name);
    }
  }
  std::vector<std::string> expected;
  for (const std::string& name : memcached) {
    if (std::find(shared.begin(), shared.end(), name) != shared.end()) expected.push_back(name);
  }
  EXPECT_EQ(shared, expected);
}

TEST(SettingsTest, UsageListsTheOptionsItShouldWithinItsWidth) {
  const std::string usage = SuboptionsUsage();
  for (const Setting& setting : Settings()) {
    const bool listed =
        usage.find("   - " + std::string(setting.option) + ":") != std::string::npos;
    EXPECT_EQ(listed, setting.in_usage) << setting.option;
  }
  std::istringstream lines(usage);
  std::string line;
  while (std::getline(lines, line)) EXPECT_LE(line.size(), 84u) << line;
  EXPECT_NE(usage.find("   - idle_timeout:        seconds before an idle client is disconnected "
                       "(default: 0)\n"),
            std::string::npos)
      << usage;
  // A help too long for one line continues under its start.
  EXPECT_NE(usage.find("   - compress_ratio:      store compressed only if at most this fraction "
                       "of the\n                          value's length (default: 0.875)\n"),
            std::string::npos)
      << usage;
}

TEST(SettingsTest, AnOptionWithoutALineOfItsOwnChangesTheLinesItNames) {
  Options options;
  ASSERT_TRUE(ParseSuboptions("no_lru_maintainer,temporary_ttl=5", &options).ok());
  std::string text;
  AppendSettings(options, RuntimeSettings(), &text);
  EXPECT_NE(text.find("STAT lru_maintainer_thread no\r\n"), std::string::npos);
  EXPECT_NE(text.find("STAT lru_segmented no\r\n"), std::string::npos);
  EXPECT_NE(text.find("STAT temp_lru yes\r\nSTAT temporary_ttl 5\r\n"), std::string::npos);
}

// The line's value in `stats settings`.
std::string SettingLine(const Options& options, std::string_view name) {
  std::string text;
  AppendSettings(options, RuntimeSettings(), &text);
  const std::string start = "STAT " + std::string(name) + " ";
  const size_t at = text.find(start);
  if (at == std::string::npos) return "(absent)";
  const size_t value = at + start.size();
  return text.substr(value, text.find('\r', value) - value);
}

TEST(SettingsTest, ExtCompactAndDropUnderDeriveFromTheLastExtPathAsMemcachedsDo) {
  Options options;
  EXPECT_EQ(SettingLine(options, "ext_compact_under"), "0");
  EXPECT_EQ(SettingLine(options, "ext_drop_under"), "0");
  EXPECT_EQ(SettingLine(options, "ext_max_frag"), "0.80");
  EXPECT_EQ(SettingLine(options, "slab_automove_freeratio"), "0.010");
  options.ext.paths = {{"/big", uint64_t{640} << 30}, {"/small", uint64_t{1} << 30}};
  // 16 pages of 64m: 1% rounds down to 0, raised to 1.
  EXPECT_EQ(SettingLine(options, "ext_compact_under"), "1");
  EXPECT_EQ(SettingLine(options, "ext_drop_under"), "1");
  options.ext.paths = {{"/small", uint64_t{1} << 30}, {"/big", uint64_t{640} << 30}};
  EXPECT_EQ(SettingLine(options, "ext_compact_under"), "102");
  options.ext.drop_under = 5;  // overridden while compact_under is 0
  EXPECT_EQ(SettingLine(options, "ext_drop_under"), "102");
  options.ext.compact_under = 3;
  EXPECT_EQ(SettingLine(options, "ext_compact_under"), "3");
  EXPECT_EQ(SettingLine(options, "ext_drop_under"), "5");
}

}  // namespace
}  // namespace mnemo::server
