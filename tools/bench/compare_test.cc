#include "compare.h"

#include <gtest/gtest.h>

#include <vector>

namespace mnemo::bench {
namespace {

TEST(CompareTest, SpreadTakesTheMedianAndRange) {
  const Spread odd = SpreadOf({5, 1, 3});
  EXPECT_EQ(odd.median, 3);
  EXPECT_EQ(odd.min, 1);
  EXPECT_EQ(odd.max, 5);
  const Spread even = SpreadOf({4, 1, 3, 10});
  EXPECT_EQ(even.median, 3.5);
  EXPECT_EQ(even.min, 1);
  EXPECT_EQ(even.max, 10);
  const Spread one = SpreadOf({7});
  EXPECT_EQ(one.median, 7);
}

TEST(CompareTest, FiguresReadARound) {
  CompareRound round;
  round.run.elapsed_s = 2;
  round.run.client_cpu_s = 0.5;
  round.server_cpu_s = 0.25;
  round.run.stats.counters.gets = 900;
  round.run.stats.counters.sets = 100;
  for (int i = 1; i <= 100; ++i) round.run.stats.get_latency_ns.Record(i * 1000);
  double figures[kCompareFigures.size()];
  for (size_t i = 0; i < kCompareFigures.size(); ++i) figures[i] = kCompareFigures[i].of(round);
  EXPECT_EQ(figures[0], 500);              // 1000 requests in 2 s
  EXPECT_NEAR(figures[1], 50, 50 * 0.01);  // p50 of 1..100 us
  EXPECT_NEAR(figures[2], 99, 99 * 0.01);  // p99
  EXPECT_EQ(figures[3], 250);              // 0.25 s of server CPU over 1000 requests
  EXPECT_EQ(figures[4], 500);
}

TEST(CompareTest, ChecksEveryServerCommandBeforeTheFirstRound) {
  Options options;
  // A first server that listens (python3's HTTP server, enough for the start check) and a second
  // that cannot start: the run ends at the check, naming the second, before any round's load.
  options.server_commands = {{"listens", "python3 -m http.server --bind 127.0.0.1 {port}"},
                             {"broken", "/nonexistent/server -p {port}"}};
  options.rounds = 1;
  std::vector<ServerRounds> rounds;
  const Status status = RunCompare(options, nullptr, &rounds);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.message().rfind("broken: ", 0), 0u) << status.message();
  EXPECT_TRUE(rounds.size() == 1 && rounds[0].rounds.empty());
}

}  // namespace
}  // namespace mnemo::bench
