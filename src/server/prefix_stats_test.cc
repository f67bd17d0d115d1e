#include "server/prefix_stats.h"

#include <gtest/gtest.h>

#include <string>

namespace mnemo::server {
namespace {

// Published MurmurHash3_x86_32 values for seed 0.
TEST(PrefixStatsTest, Murmur3MatchesTheReference) {
  EXPECT_EQ(MemcachedMurmur3(""), 0u);
  EXPECT_EQ(MemcachedMurmur3("hello"), 0x248bfa47u);
  EXPECT_EQ(MemcachedMurmur3("The quick brown fox jumps over the lazy dog"), 0x2e4ff723u);
}

TEST(PrefixStatsTest, CountsByPrefixOnlyWhileEnabled) {
  PrefixStats stats(':', false);
  stats.RecordGet("a:1", true);
  EXPECT_EQ(stats.Dump(), "END\r\n");
  stats.set_enabled(true);
  stats.RecordGet("a:1", true);
  stats.RecordGet("a:2", false);
  stats.RecordSet("a:");
  stats.RecordDelete("a:x:y");
  stats.RecordSet("nodelimiter");
  EXPECT_EQ(stats.Dump(), "PREFIX a get 2 hit 1 set 1 del 1\r\nEND\r\n");
  stats.Clear();
  EXPECT_EQ(stats.Dump(), "END\r\n");
}

TEST(PrefixStatsTest, TheDelimiterIsConfigurable) {
  PrefixStats stats('#', true);
  stats.RecordSet("a:b#c");
  stats.RecordSet("#c");
  const std::string dump = stats.Dump();
  EXPECT_NE(dump.find("PREFIX a:b get 0 hit 0 set 1 del 0\r\n"), std::string::npos) << dump;
  EXPECT_NE(dump.find("PREFIX  get 0 hit 0 set 1 del 0\r\n"), std::string::npos) << dump;
}

// memcached's order: by MurmurHash3 bucket of 256, the newest prefix first within one.
TEST(PrefixStatsTest, DumpFollowsMemcachedsTableOrder) {
  PrefixStats stats(':', true);
  std::string a;
  std::string b;
  // Two prefixes in one bucket, and one in another.
  for (int i = 0; a.empty() || b.empty(); ++i) {
    const std::string p = "p" + std::to_string(i);
    if (MemcachedMurmur3(p) % 256 != MemcachedMurmur3("p0") % 256) continue;
    (a.empty() ? a : b) = p;
  }
  std::string other = "q";
  while (MemcachedMurmur3(other) % 256 <= MemcachedMurmur3(a) % 256) other += "q";
  stats.RecordSet(other + ":");
  stats.RecordSet(a + ":");
  stats.RecordSet(b + ":");
  EXPECT_EQ(stats.Dump(), "PREFIX " + b + " get 0 hit 0 set 1 del 0\r\nPREFIX " + a +
                              " get 0 hit 0 set 1 del 0\r\nPREFIX " + other +
                              " get 0 hit 0 set 1 del 0\r\nEND\r\n");
}

TEST(PrefixStatsTest, KeepsAtMostMemcachedsCap) {
  PrefixStats stats(':', true);
  for (size_t i = 0; i <= PrefixStats::kMaxPrefixes; ++i) stats.RecordSet(std::to_string(i) + ":");
  const std::string dump = stats.Dump();
  size_t lines = 0;
  for (size_t at = dump.find("PREFIX"); at != std::string::npos; at = dump.find("PREFIX", at + 1)) {
    ++lines;
  }
  EXPECT_EQ(lines, PrefixStats::kMaxPrefixes);
  EXPECT_EQ(dump.find("PREFIX 65536 "), std::string::npos);
}

}  // namespace
}  // namespace mnemo::server
