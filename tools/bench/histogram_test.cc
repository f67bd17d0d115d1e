#include "histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace mnemo::bench {
namespace {

// The exact quantile of sorted samples, by the same rank rule as Histogram::ValueAtQuantile.
uint64_t ExactQuantile(const std::vector<uint64_t>& sorted, double q) {
  const auto rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * sorted.size())));
  return sorted[rank - 1];
}

void ExpectQuantilesWithinRelativeError(const std::vector<uint64_t>& samples) {
  Histogram h;
  for (uint64_t v : samples) h.Record(v);
  std::vector<uint64_t> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  for (double q : {0.0, 0.001, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999, 1.0}) {
    const uint64_t exact = ExactQuantile(sorted, q);
    const uint64_t reported = h.ValueAtQuantile(q);
    EXPECT_GE(reported, exact) << "q=" << q;
    EXPECT_LE(static_cast<double>(reported),
              static_cast<double>(exact) * (1 + Histogram::kRelativeError))
        << "q=" << q;
  }
  EXPECT_EQ(h.count(), samples.size());
  EXPECT_EQ(h.min(), sorted.front());
  EXPECT_EQ(h.max(), sorted.back());
}

TEST(HistogramTest, UniformValuesGiveQuantilesWithinRelativeError) {
  std::vector<uint64_t> samples;
  for (uint64_t v = 1; v <= 1000000; ++v) samples.push_back(v);
  ExpectQuantilesWithinRelativeError(samples);
}

// Latencies look like this: most near a mode, a long tail over several powers of ten.
TEST(HistogramTest, LogNormalValuesGiveQuantilesWithinRelativeError) {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> latency_ns(std::log(50000.0), 1.0);
  std::vector<uint64_t> samples(500000);
  for (auto& v : samples) v = static_cast<uint64_t>(latency_ns(rng));
  ExpectQuantilesWithinRelativeError(samples);
}

TEST(HistogramTest, ExponentialQuantilesMatchTheory) {
  constexpr double kMeanNs = 200000;
  std::mt19937_64 rng(11);
  std::exponential_distribution<double> latency_ns(1 / kMeanNs);
  Histogram h;
  for (int i = 0; i < 2000000; ++i) h.Record(static_cast<uint64_t>(latency_ns(rng)));
  // The q-quantile of an exponential is -mean * ln(1 - q); 2M samples pin p50 and p99 to well
  // under 1%, and the histogram adds at most kRelativeError.
  for (double q : {0.5, 0.9, 0.99}) {
    const double theory = -kMeanNs * std::log(1 - q);
    EXPECT_NEAR(static_cast<double>(h.ValueAtQuantile(q)), theory,
                theory * (0.01 + Histogram::kRelativeError))
        << "q=" << q;
  }
  EXPECT_NEAR(h.Mean(), kMeanNs, kMeanNs * 0.01);
}

TEST(HistogramTest, SmallValuesAreExact) {
  Histogram h;
  for (uint64_t v = 0; v < 256; ++v) h.Record(v);
  for (uint64_t v = 0; v < 256; ++v) {
    EXPECT_EQ(h.ValueAtQuantile(static_cast<double>(v + 1) / 256), v);
  }
}

TEST(HistogramTest, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 rng(3);
  Histogram a, b, all;
  for (int i = 0; i < 100000; ++i) {
    const uint64_t v = rng() % 10000000;
    (i % 3 == 0 ? a : b).Record(v);
    all.Record(v);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  EXPECT_DOUBLE_EQ(a.Mean(), all.Mean());
  for (double q = 0; q <= 1; q += 0.01) EXPECT_EQ(a.ValueAtQuantile(q), all.ValueAtQuantile(q));
}

TEST(HistogramTest, HugeValuesShareTheLastBucketButMaxStaysExact) {
  Histogram h;
  h.Record(5);
  h.Record(Histogram::kMaxTrackable * 4);
  EXPECT_EQ(h.max(), Histogram::kMaxTrackable * 4);
  EXPECT_EQ(h.ValueAtQuantile(1.0), Histogram::kMaxTrackable * 4);
  EXPECT_EQ(h.ValueAtQuantile(0.5), 5u);
}

TEST(HistogramTest, EmptyAndResetReportZero) {
  Histogram h;
  EXPECT_EQ(h.ValueAtQuantile(0.99), 0u);
  EXPECT_EQ(h.min(), 0u);
  h.Record(1000);
  h.Reset();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.ValueAtQuantile(0.5), 0u);
}

}  // namespace
}  // namespace mnemo::bench
