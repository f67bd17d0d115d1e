// Histogram counts non-negative values (mnemo-bench records latencies in nanoseconds) in
// log-linear buckets, as HdrHistogram does: values below 2^kSubBucketBits get a bucket each, and
// every power of two above is cut into 2^(kSubBucketBits-1) equal buckets. So a reported
// percentile is never below the true one and never more than kRelativeError above it, recording
// is a shift and an add, and histograms of several threads merge by adding their counts.
//
// Invariants:
//  (1) count_ is the sum of counts_; min_ and max_ are the exact extremes recorded (min_ is
//      UINT64_MAX and max_ 0 while empty).
//  (2) A value v lands in the bucket whose range [low, high] holds it, and
//      high - low < low * kRelativeError; values at or above kMaxTrackable share the last bucket.
// Thread safety: none; each thread records into its own histogram, and they are merged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mnemo::bench {

class Histogram {
 public:
  static constexpr int kSubBucketBits = 8;
  static constexpr double kRelativeError = 1.0 / (1 << (kSubBucketBits - 1));
  // About 18 minutes in nanoseconds: no request of a benchmark run waits that long.
  static constexpr int kMaxTrackableBits = 40;
  static constexpr uint64_t kMaxTrackable = uint64_t{1} << kMaxTrackableBits;

  Histogram();

  void Record(uint64_t value) {
    ++counts_[BucketOf(value)];
    ++count_;
    sum_ += value;
    if (value < min_) min_ = value;
    if (value > max_) max_ = value;
  }
  void Merge(const Histogram& other);
  void Reset();

  uint64_t count() const { return count_; }
  uint64_t min() const { return count_ == 0 ? 0 : min_; }
  uint64_t max() const { return max_; }
  double Mean() const;

  // The value below or at which a fraction `q` (0..1) of the recorded values lie: the top of the
  // bucket that holds the ceil(q * count)-th smallest value, capped at max(); max() itself when
  // that is the last bucket, which holds every value too large to track. 0 when empty.
  uint64_t ValueAtQuantile(double q) const;

 private:
  // Values of bit width w > kSubBucketBits are in group w - kSubBucketBits; group g's buckets
  // end at index (g + 2) << (kSubBucketBits - 1).
  static constexpr int kTopGroup = kMaxTrackableBits - kSubBucketBits;
  static constexpr size_t kBuckets = (size_t{kTopGroup} + 2) << (kSubBucketBits - 1);

  static size_t BucketOf(uint64_t value) {
    if (value >= kMaxTrackable) value = kMaxTrackable - 1;
    const int width = 64 - __builtin_clzll(value | 1);
    const int group = width > kSubBucketBits ? width - kSubBucketBits : 0;
    return (static_cast<size_t>(group) << (kSubBucketBits - 1)) + (value >> group);
  }
  // The largest value that lands in bucket `index`.
  static uint64_t HighestIn(size_t index);

  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint64_t min_ = UINT64_MAX;
  uint64_t max_ = 0;
};

}  // namespace mnemo::bench
