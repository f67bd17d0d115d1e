// Compare mode: the same load against two or more servers that mnemo-bench starts itself, in
// alternating rounds (A B A B ...), so that a machine that gets busier or quieter during the
// comparison hurts every server alike. Each round of each server: start it on a free port,
// preload every key, read its CPU time, run the load, read its CPU time again, stop it.
//
// A comparison is reported per figure (kCompareFigures) as the median and range over rounds of
// each server, and as the ratio of each server to the first: the median and range of the
// per-round ratios, since two servers measured in the same round share that round's conditions.
//
// Thread safety: RunCompare runs on the calling thread (starting load threads per run).
#pragma once

#include <array>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "load_run.h"
#include "options.h"

namespace mnemo::bench {

struct CompareRound {
  RunResult run;
  double server_cpu_s = 0;  // the server's utime + stime during the load (not the preload)
};

struct ServerRounds {
  ServerCommand server;
  std::vector<CompareRound> rounds;
};

// Runs options.rounds rounds over options.server_commands with options.load; `progress` gets a
// line per round and server (nullptr: none).
Status RunCompare(const Options& options, FILE* progress, std::vector<ServerRounds>* out);

// The server's CPU time per request of a round's load, in microseconds.
double ServerCpuUsPerRequest(const CompareRound& round);

// One figure of a round, as compare mode reports it.
struct CompareFigure {
  std::string_view key;    // JSON name
  std::string_view label;  // table heading
  double (*of)(const CompareRound&);
};
extern const std::array<CompareFigure, 5> kCompareFigures;

// A figure with as many digits as it needs: figures span requests per second in the millions
// to microseconds below one.
std::string FormatFigure(double value);

// The median and range of a figure over rounds.
struct Spread {
  double median = 0;
  double min = 0;
  double max = 0;
};
// REQUIRES: !values.empty(). The median of an even count is the mean of the middle two.
Spread SpreadOf(std::vector<double> values);

}  // namespace mnemo::bench
