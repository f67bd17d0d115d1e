#include "key_distribution.h"

#include <algorithm>
#include <cmath>

namespace mnemo::bench {
namespace {

// log1p(x) / x and expm1(x) / x, with their series near 0 where the quotients lose precision.
double Log1pOverX(double x) {
  if (std::abs(x) > 1e-8) return std::log1p(x) / x;
  return 1 - x * (0.5 - x * (1.0 / 3 - 0.25 * x));
}
double Expm1OverX(double x) {
  if (std::abs(x) > 1e-8) return std::expm1(x) / x;
  return 1 + x * 0.5 * (1 + x * (1.0 / 3) * (1 + 0.25 * x));
}

}  // namespace

KeyDistribution KeyDistribution::Sequential(uint64_t key_space, uint64_t start) {
  KeyDistribution d(KeyPattern::kSequential, key_space);
  d.next_ = start;
  return d;
}

KeyDistribution KeyDistribution::Uniform(uint64_t key_space) {
  return KeyDistribution(KeyPattern::kUniform, key_space);
}

KeyDistribution KeyDistribution::Zipf(uint64_t key_space, double exponent) {
  KeyDistribution d(KeyPattern::kZipf, key_space);
  d.exponent_ = exponent;
  d.h_integral_x1_ = d.HIntegral(1.5) - 1;
  d.h_integral_n_ = d.HIntegral(static_cast<double>(key_space) + 0.5);
  d.squeeze_ = 2 - d.HIntegralInverse(d.HIntegral(2.5) - d.H(2));
  return d;
}

double KeyDistribution::HIntegral(double x) const {
  const double log_x = std::log(x);
  return Expm1OverX((1 - exponent_) * log_x) * log_x;
}

double KeyDistribution::H(double x) const { return std::exp(-exponent_ * std::log(x)); }

double KeyDistribution::HIntegralInverse(double x) const {
  const double t = std::max(-1.0, x * (1 - exponent_));
  return std::exp(Log1pOverX(t) * x);
}

// Draws u uniformly under the integral of the continuous envelope h over [0.5, n + 0.5], maps it
// back to x, and rounds to the rank k nearest x; k is accepted at once when x is close enough to
// k (the squeeze), else when u falls under the part of the envelope that belongs to k exactly.
uint64_t KeyDistribution::NextZipf(Rng& rng) const {
  const double n = static_cast<double>(key_space_);
  while (true) {
    const double u = h_integral_n_ + rng.NextDouble() * (h_integral_x1_ - h_integral_n_);
    const double x = HIntegralInverse(u);
    const double k = std::clamp(std::floor(x + 0.5), 1.0, n);
    if (k - x <= squeeze_ || u >= HIntegral(k + 0.5) - H(k)) {
      return static_cast<uint64_t>(k) - 1;
    }
  }
}

}  // namespace mnemo::bench
