#include "server_process.h"

#include <gtest/gtest.h>

namespace mnemo::bench {
namespace {

TEST(ServerProcessTest, SubstitutesEveryPortPlaceholder) {
  EXPECT_EQ(SubstitutePort("memcached -p {port} -U 0", 21211), "memcached -p 21211 -U 0");
  EXPECT_EQ(SubstitutePort("a {port} b={port}", 7), "a 7 b=7");
  EXPECT_EQ(SubstitutePort("{port}", 65535), "65535");
  EXPECT_EQ(SubstitutePort("no placeholder", 1), "no placeholder");
}

TEST(ServerProcessTest, ReadsUtimePlusStimeFromProcStat) {
  // A command name with spaces and parentheses, as /proc shows it: fields count from the last ')'.
  const char* stat =
      "4395 (memc (a) b) S 1 4395 4395 0 -1 4194560 1139 0 0 0 123 45 0 0 20 0 10 0 2081 "
      "1268512768 231692 18446744073709551615";
  uint64_t ticks = 0;
  ASSERT_TRUE(ParseCpuTicks(stat, &ticks));
  EXPECT_EQ(ticks, 168u);
  EXPECT_FALSE(ParseCpuTicks("4395 (x) S 1 2 3", &ticks));
  EXPECT_FALSE(ParseCpuTicks("garbage", &ticks));
}

// The process mnemo-bench itself runs in has a readable /proc/PID/stat.
TEST(ServerProcessTest, ParsesThisProcessStat) {
  std::string stat;
  FILE* f = std::fopen("/proc/self/stat", "r");
  ASSERT_NE(f, nullptr);
  char buffer[4096];
  const size_t n = std::fread(buffer, 1, sizeof(buffer), f);
  std::fclose(f);
  stat.assign(buffer, n);
  uint64_t ticks = 0;
  EXPECT_TRUE(ParseCpuTicks(stat, &ticks));
}

}  // namespace
}  // namespace mnemo::bench
