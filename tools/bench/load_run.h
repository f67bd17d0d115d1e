// RunLoad runs one phase of a benchmark against the servers of LoadOptions: it resolves them,
// builds the ketama ring when there are several, starts one LoadThread per --threads, prints a
// progress line each second, and returns what all threads observed.
//
// Phases:
//  - kPreload writes every key once (deeper pipeline, no time limit, no request limit);
//  - kLoad offers the configured load for --duration or --requests.
// Thread safety: call from one thread at a time; it starts and joins its own threads.
#pragma once

#include <cstdint>
#include <cstdio>

#include "base/status.h"
#include "options.h"
#include "run_stats.h"

namespace mnemo::bench {

enum class Phase : uint8_t { kPreload, kLoad };

struct RunResult {
  RunStats stats;
  double elapsed_s = 0;     // from the start until the last thread stopped
  double client_cpu_s = 0;  // user + system CPU time mnemo-bench spent in the phase
  uint64_t unanswered = 0;  // requests without a reply when the drain timed out

  double Throughput() const {
    return elapsed_s > 0 ? static_cast<double>(stats.counters.requests()) / elapsed_s : 0;
  }
};

// Runs `phase`; `progress` gets a line each second (nullptr: none).
Status RunLoad(const LoadOptions& options, Phase phase, FILE* progress, RunResult* out);

}  // namespace mnemo::bench
