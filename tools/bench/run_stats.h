// RunStats is what one thread, or a whole run, observed: request and reply counts, and the
// latency of gets and sets in nanoseconds. Threads fill their own and merge them.
//
// Invariants:
//  (1) counters.gets == hits + misses + errors among gets, and the get histogram holds one value
//      per get (likewise for sets with stored, not_stored and errors).
// Thread safety: none; merged under the owner's lock.
#pragma once

#include <cstdint>

#include "histogram.h"

namespace mnemo::bench {

struct RunCounters {
  uint64_t gets = 0;  // replies to gets
  uint64_t sets = 0;  // replies to sets
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t stored = 0;
  uint64_t not_stored = 0;  // NOT_STORED, EXISTS, NOT_FOUND (and meta NS, EX, NF)
  uint64_t errors = 0;      // ERROR, CLIENT_ERROR, SERVER_ERROR

  uint64_t requests() const { return gets + sets; }
  // hits / gets; 0 when there were no gets.
  double HitRatio() const {
    return gets == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(gets);
  }
};

struct RunStats {
  RunCounters counters;
  Histogram get_latency_ns;
  Histogram set_latency_ns;

  void Merge(const RunStats& other);
  void Reset();
  // The latency of every request, gets and sets together.
  Histogram AllLatencyNs() const;
};

}  // namespace mnemo::bench
