#include "histogram.h"

#include <algorithm>
#include <cmath>

namespace mnemo::bench {

Histogram::Histogram() : counts_(kBuckets, 0) {}

void Histogram::Merge(const Histogram& other) {
  for (size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

void Histogram::Reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  sum_ = 0;
  min_ = UINT64_MAX;
  max_ = 0;
}

double Histogram::Mean() const {
  return count_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(count_);
}

uint64_t Histogram::HighestIn(size_t index) {
  constexpr size_t kHalf = size_t{1} << (kSubBucketBits - 1);
  // Group 0 holds the first 2 * kHalf buckets, one value each; group g >= 1 holds kHalf buckets
  // of width 2^g starting at index (g + 1) * kHalf.
  if (index < 2 * kHalf) return index;
  const size_t group = index / kHalf - 1;
  const uint64_t sub = index - group * kHalf;
  return ((sub + 1) << group) - 1;
}

uint64_t Histogram::ValueAtQuantile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const auto rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) return i == kBuckets - 1 ? max_ : std::min(HighestIn(i), max_);
  }
  return max_;
}

}  // namespace mnemo::bench
