#include "server/latency_histogram.h"

#include <gtest/gtest.h>

#include <thread>

namespace mnemo::server {
namespace {

uint64_t Count(const LatencyHistogram::Totals& totals) {
  uint64_t n = 0;
  for (const uint64_t c : totals.counts) n += c;
  return n;
}

TEST(LatencyHistogramTest, BucketsByUpperBound) {
  LatencyHistogram histogram;
  histogram.Observe(1'000);        // 1 µs exactly: the first bucket (le is inclusive)
  histogram.Observe(1'001);        // just over: the second
  histogram.Observe(100'000'000);  // the last bound
  histogram.Observe(100'000'001);  // +Inf
  LatencyHistogram::Totals totals;
  histogram.AddTo(&totals);
  EXPECT_EQ(totals.counts[0], 1u);
  EXPECT_EQ(totals.counts[1], 1u);
  EXPECT_EQ(totals.counts[kLatencyBoundsNs.size() - 1], 1u);
  EXPECT_EQ(totals.counts[kLatencyBoundsNs.size()], 1u);
  EXPECT_EQ(totals.sum_ns, 200'002'002u);
  histogram.AddTo(&totals);  // adds, as a reader summing workers does
  EXPECT_EQ(Count(totals), 8u);
}

TEST(LatencyHistogramTest, TimerTimesOneCommandInKTimedOneIn) {
  LatencyHistogram histogram;
  for (uint32_t i = 0; i < 10 * LatencyHistogram::kTimedOneIn; ++i) {
    const LatencyTimer timer(histogram);
    if (i == LatencyHistogram::kTimedOneIn - 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));  // the first one timed
    }
  }
  LatencyHistogram::Totals totals;
  histogram.AddTo(&totals);
  EXPECT_EQ(Count(totals), 10u);
  EXPECT_GE(totals.sum_ns, 2'000'000u);
}

}  // namespace
}  // namespace mnemo::server
