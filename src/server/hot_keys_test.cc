#include "server/hot_keys.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"

namespace mnemo::server {
namespace {

std::vector<std::string> Keys(const std::vector<HotKeys::Entry>& top) {
  std::vector<std::string> keys;
  for (const HotKeys::Entry& entry : top) keys.push_back(entry.key);
  return keys;
}

TEST(HotKeysTest, OffRecordsNothing) {
  HotKeys hot(0);
  hot.Record("a");
  EXPECT_TRUE(hot.Top(HotKeys::Window::kOverall).empty());
}

TEST(HotKeysTest, RateOneCountsEveryRequestInOrder) {
  HotKeys hot(1);
  for (int i = 0; i < 3; ++i) hot.Record("c");
  for (int i = 0; i < 5; ++i) hot.Record("a");
  for (int i = 0; i < 3; ++i) hot.Record("b");
  const auto top = hot.Top(HotKeys::Window::kOverall);
  EXPECT_EQ(Keys(top), (std::vector<std::string>{"a", "b", "c"}));  // ties by key
  EXPECT_EQ(top[0].count, 5u);
  EXPECT_EQ(top[1].count, 3u);
}

TEST(HotKeysTest, ReportsAtMostKReported) {
  HotKeys hot(1);
  for (size_t i = 0; i < 2 * HotKeys::kReported; ++i) hot.Record("k" + std::to_string(i));
  EXPECT_EQ(hot.Top(HotKeys::Window::kOverall).size(), HotKeys::kReported);
}

// A sample is 1 in sample_rate on average, and counts are scaled back to requests.
TEST(HotKeysTest, SampledCountsEstimateRequests) {
  HotKeys hot(10);
  for (int i = 0; i < 100000; ++i) hot.Record("only");
  const auto top = hot.Top(HotKeys::Window::kOverall);
  ASSERT_EQ(top.size(), 1u);
  EXPECT_GT(top[0].count, 95000u);
  EXPECT_LT(top[0].count, 105000u);
  EXPECT_EQ(top[0].count % 10, 0u);
}

TEST(HotKeysTest, MergesThreadsByKey) {
  HotKeys hot(1);
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&hot, t] {
      for (int i = 0; i < 100; ++i) hot.Record("shared");
      for (int i = 0; i < 50 * (t + 1); ++i) hot.Record("own" + std::to_string(t));
    });
  }
  for (std::thread& thread : threads) thread.join();
  const auto top = hot.Top(HotKeys::Window::kOverall);
  EXPECT_EQ(Keys(top), (std::vector<std::string>{"shared", "own2", "own1", "own0"}));
  EXPECT_EQ(top[0].count, 300u);
}

TEST(HotKeysTest, LastSecondIsTheWholeSecondBefore) {
  HotKeys hot(1);
  hot.Record("old");
  AdvanceClockForTesting(1);
  hot.Record("new");
  hot.Record("new");
  // The second "old" was recorded in is the last whole one; "new"'s is still going on.
  EXPECT_EQ(Keys(hot.Top(HotKeys::Window::kLastSecond)), (std::vector<std::string>{"old"}));
  AdvanceClockForTesting(1);
  const auto last = hot.Top(HotKeys::Window::kLastSecond);
  EXPECT_EQ(Keys(last), (std::vector<std::string>{"new"}));
  EXPECT_EQ(last[0].count, 2u);
  AdvanceClockForTesting(1);
  EXPECT_TRUE(hot.Top(HotKeys::Window::kLastSecond).empty());
  EXPECT_EQ(Keys(hot.Top(HotKeys::Window::kOverall)), (std::vector<std::string>{"new", "old"}));
}

TEST(HotKeysTest, ClearForgetsEverything) {
  HotKeys hot(1);
  hot.Record("a");
  hot.Clear();
  EXPECT_TRUE(hot.Top(HotKeys::Window::kOverall).empty());
  hot.Record("b");
  EXPECT_EQ(Keys(hot.Top(HotKeys::Window::kOverall)), (std::vector<std::string>{"b"}));
}

TEST(HotKeysTest, ReportedKeyEscapesWhatBreaksALine) {
  EXPECT_EQ(ReportedKey("user:1/a"), "user:1/a");
  EXPECT_EQ(ReportedKey(std::string("a b\r\n%\x00\xff", 8)), "a%20b%0D%0A%25%00%FF");
  std::string text;
  AppendHotKeysStats({{"a b", 30}, {"c", 7}}, &text);
  EXPECT_EQ(text, "STAT a%20b 30\r\nSTAT c 7\r\n");
}

}  // namespace
}  // namespace mnemo::server
