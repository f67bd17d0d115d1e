#include "compare.h"

#include <algorithm>

#include "server_process.h"

namespace mnemo::bench {
namespace {

double LatencyUs(const CompareRound& r, double q) {
  return static_cast<double>(r.run.stats.AllLatencyNs().ValueAtQuantile(q)) / 1e3;
}

double PerRequestUs(double seconds, const CompareRound& r) {
  const uint64_t requests = r.run.stats.counters.requests();
  return requests == 0 ? 0 : seconds * 1e6 / static_cast<double>(requests);
}

Status RunRound(const Options& options, const ServerCommand& server, CompareRound* round) {
  ServerProcess process;
  Status status = process.Start(server.command);
  if (!status.ok()) return status;
  LoadOptions load = options.load;
  load.servers = {cluster::ServerAddress{"127.0.0.1", process.port(), 1}};
  RunResult preload;
  status = RunLoad(load, Phase::kPreload, nullptr, &preload);
  if (!status.ok()) return status;
  double cpu_before = 0, cpu_after = 0;
  status = process.CpuSeconds(&cpu_before);
  if (!status.ok()) return status;
  status = RunLoad(load, Phase::kLoad, nullptr, &round->run);
  if (!status.ok()) return status;
  status = process.CpuSeconds(&cpu_after);
  if (!status.ok()) return status;
  round->server_cpu_s = cpu_after - cpu_before;
  process.Stop();
  return Status::Ok();
}

}  // namespace

double ServerCpuUsPerRequest(const CompareRound& round) {
  return PerRequestUs(round.server_cpu_s, round);
}

const std::array<CompareFigure, 5> kCompareFigures = {{
    {"throughput", "req/s", [](const CompareRound& r) { return r.run.Throughput(); }},
    {"p50_us", "p50 us", [](const CompareRound& r) { return LatencyUs(r, 0.50); }},
    {"p99_us", "p99 us", [](const CompareRound& r) { return LatencyUs(r, 0.99); }},
    {"server_cpu_us_per_request", "server CPU us/req", ServerCpuUsPerRequest},
    {"client_cpu_us_per_request", "client CPU us/req",
     [](const CompareRound& r) { return PerRequestUs(r.run.client_cpu_s, r); }},
}};

std::string FormatFigure(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), value >= 1000 ? "%.0f" : value >= 10 ? "%.1f" : "%.3f", value);
  return text;
}

Spread SpreadOf(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  const double median = n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return Spread{median, values.front(), values.back()};
}

Status RunCompare(const Options& options, FILE* progress, std::vector<ServerRounds>* out) {
  out->clear();
  // Every command is started once before the first round, so a mistyped second server fails the
  // run at once rather than after the first server's round.
  for (const ServerCommand& server : options.server_commands) {
    ServerProcess process;
    Status status = process.Start(server.command);
    if (!status.ok()) return Status::Error(server.name + ": " + status.message());
    process.Stop();
    out->push_back({server, {}});
  }
  for (uint32_t round = 1; round <= options.rounds; ++round) {
    for (ServerRounds& server : *out) {
      CompareRound result;
      Status status = RunRound(options, server.server, &result);
      if (!status.ok()) {
        return Status::Error(server.server.name + ", round " + std::to_string(round) + ": " +
                             status.message());
      }
      if (progress != nullptr) {
        std::fprintf(progress, "round %u/%u  %-20s", round, options.rounds,
                     server.server.name.c_str());
        for (const CompareFigure& figure : kCompareFigures) {
          std::fprintf(progress, "  %s %s", std::string(figure.label).c_str(),
                       FormatFigure(figure.of(result)).c_str());
        }
        std::fprintf(progress, "%s\n", result.run.stats.counters.errors > 0 ? "  (errors)" : "");
      }
      server.rounds.push_back(std::move(result));
    }
  }
  return Status::Ok();
}

}  // namespace mnemo::bench
