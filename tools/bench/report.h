// What mnemo-bench prints at the end: a table for people, or JSON (--json) for scripts such as
// bench/plot_compare.py. Latencies are reported in microseconds.
//
// JSON of a run: {"mode": "run", "config": {...}, "elapsed_s", "requests", "throughput",
//   "gets", "sets", "hits", "misses", "hit_ratio", "stored", "not_stored", "errors",
//   "unanswered", "latency_us": {"p50", "p90", "p99", "p99_9", "max", "mean"},
//   "get_latency_us": {...}, "set_latency_us": {...}, "client_cpu_us_per_request",
//   "preload": {"requests", "elapsed_s"} (with --preload)}
// JSON of a comparison: {"mode": "compare", "config": {..., "rounds"}, "servers": [{"name",
//   "command", "rounds": [<run fields> + "server_cpu_us_per_request"], "summary": {<figure>:
//   {"median", "min", "max"}}, "ratio_to_first": {<figure>: {"median", "min", "max"}}}]}
//
// Thread safety: pure functions of their arguments (they write only to `out`).
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "compare.h"
#include "load_run.h"
#include "options.h"

namespace mnemo::bench {

// `preload` is null when there was none.
void PrintRunTable(FILE* out, const LoadOptions& options, const RunResult& run,
                   const RunResult* preload);
std::string RunJson(const LoadOptions& options, const RunResult& run, const RunResult* preload);

void PrintCompareTable(FILE* out, const Options& options, const std::vector<ServerRounds>& servers);
std::string CompareJson(const Options& options, const std::vector<ServerRounds>& servers);

}  // namespace mnemo::bench
