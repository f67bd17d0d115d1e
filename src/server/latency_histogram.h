// LatencyHistogram counts how long a worker took over its gets and sets, in fixed buckets, for
// the Prometheus histograms of /metrics (mnemo_command_duration_seconds). The time is the
// worker's, from the dispatcher taking a command to its reply being queued: a retrieval that
// waits for the client to read, for memory or for flash is observed once per part it runs in.
//
// Only 1 command in kTimedOneIn is timed (each histogram counts its own): reading the clock
// twice costs about 65 ns here, several percent of a pipelined request's CPU, and the buckets'
// shares, which quantiles come from, need a sample only. So _count is the commands timed, about
// 1 in kTimedOneIn of them; the command counters count them all.
//
// Like ThreadStats' counters, each histogram belongs to one thread, which alone observes into it
// with a plain relaxed load and store (no locked instruction); readers sum every worker's.
//
// Invariants:
//  (1) Only the owning thread calls Observe.
// Thread safety: Observe from the owner only; AddTo from any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace mnemo::server {

// The buckets' upper bounds, in nanoseconds; a last bucket, +Inf, takes the rest. A get or set
// served from memory takes well under 10 µs, hence the fine steps at the bottom.
inline constexpr std::array<uint64_t, 11> kLatencyBoundsNs = {
    1'000,   2'500,   5'000,     10'000,     25'000,     50'000,
    100'000, 250'000, 1'000'000, 10'000'000, 100'000'000};

class LatencyHistogram {
 public:
  static constexpr uint32_t kTimedOneIn = 8;

  // Per bucket (not cumulative), the last being +Inf, and the sum of the times observed.
  struct Totals {
    std::array<uint64_t, kLatencyBoundsNs.size() + 1> counts = {};
    uint64_t sum_ns = 0;
  };

  void Observe(uint64_t ns) {
    size_t bucket = 0;
    while (bucket < kLatencyBoundsNs.size() && ns > kLatencyBoundsNs[bucket]) {
      ++bucket;
    }
    Bump(counts_[bucket], 1);
    Bump(sum_ns_, ns);
  }

  // Whether to time the command starting now. Owner only.
  bool Due() { return ++commands_ % kTimedOneIn == 0; }

  void AddTo(Totals* totals) const {
    for (size_t i = 0; i < counts_.size(); ++i) {
      totals->counts[i] += counts_[i].load(std::memory_order_relaxed);
    }
    totals->sum_ns += sum_ns_.load(std::memory_order_relaxed);
  }

 private:
  static void Bump(std::atomic<uint64_t>& counter, uint64_t n) {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  std::array<std::atomic<uint64_t>, kLatencyBoundsNs.size() + 1> counts_{};
  std::atomic<uint64_t> sum_ns_{0};
  uint32_t commands_ = 0;  // the owner's alone
};

// Observes into `histogram`, when it goes out of scope, the time since it was made, if the
// histogram was Due() to time a command then.
class LatencyTimer {
 public:
  explicit LatencyTimer(LatencyHistogram& histogram)
      : histogram_(histogram),
        start_(histogram.Due() ? std::chrono::steady_clock::now()
                               : std::chrono::steady_clock::time_point()) {}
  ~LatencyTimer() {
    if (start_ == std::chrono::steady_clock::time_point()) return;
    const auto elapsed = std::chrono::steady_clock::now() - start_;
    histogram_.Observe(static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()));
  }
  LatencyTimer(const LatencyTimer&) = delete;
  LatencyTimer& operator=(const LatencyTimer&) = delete;

 private:
  LatencyHistogram& histogram_;
  const std::chrono::steady_clock::time_point start_;
};

}  // namespace mnemo::server
