#include "key_distribution.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace mnemo::bench {
namespace {

std::vector<uint64_t> Counts(KeyDistribution d, uint64_t key_space, int draws, uint64_t seed) {
  Rng rng(seed);
  std::vector<uint64_t> counts(key_space, 0);
  for (int i = 0; i < draws; ++i) {
    const uint64_t id = d.Next(rng);
    EXPECT_LT(id, key_space);
    if (id < key_space) ++counts[id];
  }
  return counts;
}

// Pearson's chi-square statistic of observed counts against expected probabilities.
double ChiSquare(const std::vector<uint64_t>& counts, const std::vector<double>& p, int draws) {
  double chi2 = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    const double expected = p[i] * draws;
    const double diff = static_cast<double>(counts[i]) - expected;
    chi2 += diff * diff / expected;
  }
  return chi2;
}

// For k - 1 degrees of freedom and k in the hundreds, chi-square is about normal with mean k - 1
// and variance 2(k - 1): six standard deviations is a bound a correct sampler never crosses and
// a wrong one (say, off by one rank, or the wrong exponent) crosses by far.
double ChiSquareBound(size_t categories) {
  const double dof = static_cast<double>(categories - 1);
  return dof + 6 * std::sqrt(2 * dof);
}

std::vector<double> ZipfProbabilities(uint64_t n, double s) {
  std::vector<double> p(n);
  double total = 0;
  for (uint64_t k = 1; k <= n; ++k) total += p[k - 1] = std::pow(static_cast<double>(k), -s);
  for (double& x : p) x /= total;
  return p;
}

class ZipfTest : public ::testing::TestWithParam<double> {};

TEST_P(ZipfTest, FrequenciesMatchTheory) {
  const double s = GetParam();
  constexpr uint64_t kKeys = 200;
  constexpr int kDraws = 2000000;
  const std::vector<uint64_t> counts = Counts(KeyDistribution::Zipf(kKeys, s), kKeys, kDraws, 42);
  const std::vector<double> p = ZipfProbabilities(kKeys, s);
  EXPECT_LT(ChiSquare(counts, p, kDraws), ChiSquareBound(kKeys)) << "exponent " << s;
  // The hottest keys, where a workload's hit ratio is decided, each within 2% of theory.
  for (int k = 0; k < 5; ++k) {
    EXPECT_NEAR(static_cast<double>(counts[k]) / kDraws, p[k], p[k] * 0.02) << "rank " << k + 1;
  }
}

INSTANTIATE_TEST_SUITE_P(Exponents, ZipfTest, ::testing::Values(0.5, 0.99, 1.0, 1.2, 2.0));

// A key space far too large for a table: the head still follows 1/k^s, with the normalising sum
// taken from the Euler-Maclaurin approximation of H(n, s).
TEST(KeyDistributionTest, ZipfOverAHugeKeySpaceKeepsItsHead) {
  constexpr uint64_t kKeys = 1000000000;
  constexpr double kS = 0.99;
  constexpr int kDraws = 1000000;
  KeyDistribution d = KeyDistribution::Zipf(kKeys, kS);
  Rng rng(5);
  std::vector<uint64_t> head(3, 0);
  for (int i = 0; i < kDraws; ++i) {
    const uint64_t id = d.Next(rng);
    ASSERT_LT(id, kKeys);
    if (id < head.size()) ++head[id];
  }
  const double n = static_cast<double>(kKeys);
  const double harmonic = (std::pow(n, 1 - kS) - 1) / (1 - kS) + 0.5 * (1 + std::pow(n, -kS)) +
                          kS / 12 * (1 - std::pow(n, -kS - 1));
  for (size_t k = 0; k < head.size(); ++k) {
    const double p = std::pow(static_cast<double>(k + 1), -kS) / harmonic;
    EXPECT_NEAR(static_cast<double>(head[k]) / kDraws, p, p * 0.05) << "rank " << k + 1;
  }
}

TEST(KeyDistributionTest, UniformCoversTheSpaceEvenly) {
  constexpr uint64_t kKeys = 500;
  constexpr int kDraws = 1000000;
  const std::vector<uint64_t> counts = Counts(KeyDistribution::Uniform(kKeys), kKeys, kDraws, 9);
  for (uint64_t c : counts) EXPECT_GT(c, 0u);
  EXPECT_LT(ChiSquare(counts, std::vector<double>(kKeys, 1.0 / kKeys), kDraws),
            ChiSquareBound(kKeys));
}

TEST(KeyDistributionTest, SequentialVisitsEveryKeyOncePerSweep) {
  constexpr uint64_t kKeys = 1000;
  KeyDistribution d = KeyDistribution::Sequential(kKeys, 990);
  Rng rng(1);
  EXPECT_EQ(d.Next(rng), 990u);
  std::vector<int> seen(kKeys, 0);
  for (uint64_t i = 1; i < 3 * kKeys; ++i) ++seen[d.Next(rng)];
  ++seen[990];
  for (int s : seen) EXPECT_EQ(s, 3);
}

TEST(KeyDistributionTest, OneKeySpacesAlwaysGiveKeyZero) {
  Rng rng(1);
  KeyDistribution zipf = KeyDistribution::Zipf(1, 0.99);
  KeyDistribution uniform = KeyDistribution::Uniform(1);
  KeyDistribution sequential = KeyDistribution::Sequential(1, 0);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(zipf.Next(rng), 0u);
    EXPECT_EQ(uniform.Next(rng), 0u);
    EXPECT_EQ(sequential.Next(rng), 0u);
  }
}

}  // namespace
}  // namespace mnemo::bench
