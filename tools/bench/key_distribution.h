// KeyDistribution draws key ids in [0, key_space) for one client, in one of three patterns:
//  - sequential: start, start+1, ..., wrapping at key_space (each client starts elsewhere, so
//    that clients together sweep the space);
//  - uniform: independent draws, each id equally likely;
//  - zipf: P(id = k - 1) proportional to 1 / k^exponent for ranks k = 1..key_space, so id 0 is
//    the hottest key. Drawn by rejection-inversion (Hörmann and Derflinger, "Rejection-inversion
//    to generate variates from monotone discrete distributions", 1996): O(1) per draw and no
//    table, so a key space of 10^9 costs nothing to set up. About 1.1 uniform draws per key.
//
// Invariants:
//  (1) Next() < key_space.
//  (2) A sequential distribution returns every id once in any key_space consecutive draws.
// Thread safety: none; each client owns one, with its own Rng.
#pragma once

#include <cstdint>

#include "rng.h"

namespace mnemo::bench {

enum class KeyPattern : uint8_t { kSequential, kUniform, kZipf };

class KeyDistribution {
 public:
  // REQUIRES: key_space >= 1; start < key_space.
  static KeyDistribution Sequential(uint64_t key_space, uint64_t start);
  // REQUIRES: key_space >= 1.
  static KeyDistribution Uniform(uint64_t key_space);
  // REQUIRES: key_space >= 1; exponent > 0.
  static KeyDistribution Zipf(uint64_t key_space, double exponent);

  uint64_t Next(Rng& rng) {
    switch (pattern_) {
      case KeyPattern::kSequential: {
        const uint64_t id = next_;
        next_ = next_ + 1 == key_space_ ? 0 : next_ + 1;
        return id;
      }
      case KeyPattern::kUniform:
        return rng.Below(key_space_);
      case KeyPattern::kZipf:
        return NextZipf(rng);
    }
    return 0;
  }

 private:
  KeyDistribution(KeyPattern pattern, uint64_t key_space)
      : pattern_(pattern), key_space_(key_space) {}

  uint64_t NextZipf(Rng& rng) const;
  // H(x), the integral of h(x) = x^-exponent, shifted so that H(1) = 0 for every exponent.
  double HIntegral(double x) const;
  double H(double x) const;
  double HIntegralInverse(double x) const;

  KeyPattern pattern_;
  uint64_t key_space_;
  uint64_t next_ = 0;  // sequential
  // Zipf: the exponent and the constants of rejection-inversion.
  double exponent_ = 0;
  double h_integral_x1_ = 0;
  double h_integral_n_ = 0;
  double squeeze_ = 0;
};

}  // namespace mnemo::bench
