#include "run_stats.h"

namespace mnemo::bench {

void RunStats::Merge(const RunStats& other) {
  counters.gets += other.counters.gets;
  counters.sets += other.counters.sets;
  counters.hits += other.counters.hits;
  counters.misses += other.counters.misses;
  counters.stored += other.counters.stored;
  counters.not_stored += other.counters.not_stored;
  counters.errors += other.counters.errors;
  get_latency_ns.Merge(other.get_latency_ns);
  set_latency_ns.Merge(other.set_latency_ns);
}

void RunStats::Reset() {
  counters = RunCounters();
  get_latency_ns.Reset();
  set_latency_ns.Reset();
}

Histogram RunStats::AllLatencyNs() const {
  Histogram all = get_latency_ns;
  all.Merge(set_latency_ns);
  return all;
}

}  // namespace mnemo::bench
