#include "report.h"

#include <string_view>

#include "json_writer.h"

namespace mnemo::bench {
namespace {

constexpr struct {
  std::string_view key;
  std::string_view label;
  double quantile;
} kPercentiles[] = {{"p50", "p50", 0.5},
                    {"p90", "p90", 0.9},
                    {"p99", "p99", 0.99},
                    {"p99_9", "p99.9", 0.999},
                    {"max", "max", 1.0}};

double Us(uint64_t ns) { return static_cast<double>(ns) / 1e3; }

std::string_view PatternName(KeyPattern pattern) {
  switch (pattern) {
    case KeyPattern::kSequential:
      return "sequential";
    case KeyPattern::kUniform:
      return "uniform";
    case KeyPattern::kZipf:
      return "zipf";
  }
  return "";
}

std::string ValueSizeText(const LoadOptions& o) {
  return o.value_min == o.value_max
             ? std::to_string(o.value_min)
             : std::to_string(o.value_min) + "-" + std::to_string(o.value_max);
}

std::string ServerText(const cluster::ServerAddress& s) {
  const bool ipv6 = s.host.find(':') != std::string::npos;
  std::string text = ipv6 ? "[" : "";
  text.append(s.host).append(ipv6 ? "]:" : ":").append(std::to_string(s.port));
  if (s.weight != 1) text.append(":").append(std::to_string(s.weight));
  return text;
}

// One line that says what load was offered.
std::string Describe(const LoadOptions& o) {
  std::string text = std::to_string(o.threads) + " threads x " + std::to_string(o.connections) +
                     " connections, pipeline " + std::to_string(o.pipeline) + ", " +
                     std::to_string(o.set_ratio) + ":" + std::to_string(o.get_ratio) +
                     " set:get, " + std::to_string(o.key_space) + " keys " +
                     std::string(PatternName(o.key_pattern));
  if (o.key_pattern == KeyPattern::kZipf) {
    char exponent[32];
    std::snprintf(exponent, sizeof(exponent), "(%g)", o.zipf_exponent);
    text += exponent;
  }
  text += ", " + ValueSizeText(o) + "-byte values, " +
          (o.protocol == Protocol::kText ? "text" : "meta") + " protocol";
  if (o.rate > 0) {
    char rate[48];
    std::snprintf(rate, sizeof(rate), ", %.0f req/s fixed rate", o.rate);
    text += rate;
  }
  return text;
}

void WriteConfig(JsonWriter& json, const Options* options, const LoadOptions& o) {
  json.Key("config").BeginObject();
  json.Key("servers").BeginArray();
  for (const cluster::ServerAddress& s : o.servers) json.String(ServerText(s));
  json.EndArray();
  json.Key("threads").Uint(o.threads);
  json.Key("connections").Uint(o.connections);
  json.Key("pipeline").Uint(o.pipeline);
  json.Key("duration_s").Number(o.duration_s);
  json.Key("requests_limit").Uint(o.requests);
  json.Key("ratio").String(std::to_string(o.set_ratio) + ":" + std::to_string(o.get_ratio));
  json.Key("key_space").Uint(o.key_space);
  json.Key("key_pattern").String(PatternName(o.key_pattern));
  json.Key("zipf_exponent").Number(o.zipf_exponent);
  json.Key("key_prefix").String(o.key_prefix);
  json.Key("value_size").String(ValueSizeText(o));
  json.Key("protocol").String(o.protocol == Protocol::kText ? "text" : "meta");
  json.Key("rate").Number(o.rate);
  json.Key("preload").Bool(o.preload || options != nullptr);  // compare mode always preloads
  json.Key("seed").Uint(o.seed);
  if (options != nullptr) json.Key("rounds").Uint(options->rounds);
  json.EndObject();
}

void WriteLatency(JsonWriter& json, std::string_view key, const Histogram& h) {
  json.Key(key).BeginObject();
  for (const auto& p : kPercentiles) json.Key(p.key).Number(Us(h.ValueAtQuantile(p.quantile)));
  json.Key("mean").Number(h.Mean() / 1e3);
  json.EndObject();
}

// The fields of one run, into the object being written.
void WriteRunFields(JsonWriter& json, const RunResult& run) {
  const RunCounters& c = run.stats.counters;
  json.Key("elapsed_s").Number(run.elapsed_s);
  json.Key("requests").Uint(c.requests());
  json.Key("throughput").Number(run.Throughput());
  json.Key("gets").Uint(c.gets);
  json.Key("sets").Uint(c.sets);
  json.Key("hits").Uint(c.hits);
  json.Key("misses").Uint(c.misses);
  json.Key("hit_ratio").Number(c.HitRatio());
  json.Key("stored").Uint(c.stored);
  json.Key("not_stored").Uint(c.not_stored);
  json.Key("errors").Uint(c.errors);
  json.Key("unanswered").Uint(run.unanswered);
  WriteLatency(json, "latency_us", run.stats.AllLatencyNs());
  WriteLatency(json, "get_latency_us", run.stats.get_latency_ns);
  WriteLatency(json, "set_latency_us", run.stats.set_latency_ns);
  json.Key("client_cpu_us_per_request")
      .Number(c.requests() == 0 ? 0 : run.client_cpu_s * 1e6 / static_cast<double>(c.requests()));
}

void WriteSpread(JsonWriter& json, std::string_view key, const Spread& s) {
  json.Key(key).BeginObject();
  json.Key("median").Number(s.median);
  json.Key("min").Number(s.min);
  json.Key("max").Number(s.max);
  json.EndObject();
}

void PrintLatencyRow(FILE* out, const char* name, const Histogram& h) {
  std::fprintf(out, "  %-6s", name);
  for (const auto& p : kPercentiles)
    std::fprintf(out, " %10.1f", Us(h.ValueAtQuantile(p.quantile)));
  std::fprintf(out, " %10.1f %12llu\n", h.Mean() / 1e3, static_cast<unsigned long long>(h.count()));
}

std::string SpreadText(const Spread& s) {
  return FormatFigure(s.median) + " [" + FormatFigure(s.min) + "-" + FormatFigure(s.max) + "]";
}

Spread FigureSpread(const CompareFigure& figure, const ServerRounds& server) {
  std::vector<double> values;
  for (const CompareRound& r : server.rounds) values.push_back(figure.of(r));
  return SpreadOf(std::move(values));
}

// The per-round ratios of `server` to `first`, rounds paired by index.
Spread RatioSpread(const CompareFigure& figure, const ServerRounds& server,
                   const ServerRounds& first) {
  std::vector<double> ratios;
  for (size_t i = 0; i < server.rounds.size() && i < first.rounds.size(); ++i) {
    const double base = figure.of(first.rounds[i]);
    ratios.push_back(base == 0 ? 0 : figure.of(server.rounds[i]) / base);
  }
  return SpreadOf(std::move(ratios));
}

}  // namespace

void PrintRunTable(FILE* out, const LoadOptions& options, const RunResult& run,
                   const RunResult* preload) {
  const RunCounters& c = run.stats.counters;
  std::fprintf(out, "mnemo-bench: %s\n", Describe(options).c_str());
  std::fprintf(out, "servers:");
  for (const cluster::ServerAddress& s : options.servers)
    std::fprintf(out, " %s", ServerText(s).c_str());
  std::fprintf(out, "\n");
  if (preload != nullptr) {
    std::fprintf(out, "preload:    %llu keys written in %.2f s\n",
                 static_cast<unsigned long long>(preload->stats.counters.requests()),
                 preload->elapsed_s);
  }
  std::fprintf(out, "elapsed:    %.2f s\n", run.elapsed_s);
  std::fprintf(out, "throughput: %.0f requests/s (%llu requests)\n", run.Throughput(),
               static_cast<unsigned long long>(c.requests()));
  std::fprintf(out, "gets:       %llu (hits %llu, misses %llu, hit ratio %.2f%%)\n",
               static_cast<unsigned long long>(c.gets), static_cast<unsigned long long>(c.hits),
               static_cast<unsigned long long>(c.misses), 100 * c.HitRatio());
  std::fprintf(out, "sets:       %llu (stored %llu, not stored %llu)\n",
               static_cast<unsigned long long>(c.sets), static_cast<unsigned long long>(c.stored),
               static_cast<unsigned long long>(c.not_stored));
  std::fprintf(out, "errors:     %llu, unanswered %llu\n",
               static_cast<unsigned long long>(c.errors),
               static_cast<unsigned long long>(run.unanswered));
  std::fprintf(out, "client CPU: %.3f us per request\n",
               c.requests() == 0 ? 0 : run.client_cpu_s * 1e6 / static_cast<double>(c.requests()));
  std::fprintf(out, "latency (us)");
  for (const auto& p : kPercentiles) std::fprintf(out, " %10s", std::string(p.label).c_str());
  std::fprintf(out, " %10s %12s\n", "mean", "count");
  std::fprintf(out, "    ");
  PrintLatencyRow(out, "all", run.stats.AllLatencyNs());
  std::fprintf(out, "    ");
  PrintLatencyRow(out, "get", run.stats.get_latency_ns);
  std::fprintf(out, "    ");
  PrintLatencyRow(out, "set", run.stats.set_latency_ns);
}

std::string RunJson(const LoadOptions& options, const RunResult& run, const RunResult* preload) {
  JsonWriter json;
  json.BeginObject();
  json.Key("mode").String("run");
  WriteConfig(json, nullptr, options);
  WriteRunFields(json, run);
  if (preload != nullptr) {
    json.Key("preload").BeginObject();
    json.Key("requests").Uint(preload->stats.counters.requests());
    json.Key("elapsed_s").Number(preload->elapsed_s);
    json.EndObject();
  }
  json.EndObject();
  return json.str() + "\n";
}

void PrintCompareTable(FILE* out, const Options& options,
                       const std::vector<ServerRounds>& servers) {
  std::fprintf(out, "mnemo-bench compare: %u rounds of %s\n", options.rounds,
               Describe(options.load).c_str());
  std::fprintf(out, "median [min-max] over rounds\n");
  std::fprintf(out, "%-20s", "server");
  for (const CompareFigure& f : kCompareFigures) {
    std::fprintf(out, " %26s", std::string(f.label).c_str());
  }
  std::fprintf(out, "\n");
  for (const ServerRounds& server : servers) {
    std::fprintf(out, "%-20s", server.server.name.c_str());
    for (const CompareFigure& f : kCompareFigures) {
      std::fprintf(out, " %26s", SpreadText(FigureSpread(f, server)).c_str());
    }
    std::fprintf(out, "\n");
  }
  if (servers.size() < 2) return;
  std::fprintf(out, "ratio to %s (median [min-max] of the per-round ratios)\n",
               servers[0].server.name.c_str());
  char cell[64];
  for (size_t i = 1; i < servers.size(); ++i) {
    std::fprintf(out, "%-20s", servers[i].server.name.c_str());
    for (const CompareFigure& f : kCompareFigures) {
      const Spread s = RatioSpread(f, servers[i], servers[0]);
      std::snprintf(cell, sizeof(cell), "%.3f [%.3f-%.3f]", s.median, s.min, s.max);
      std::fprintf(out, " %26s", cell);
    }
    std::fprintf(out, "\n");
  }
}

std::string CompareJson(const Options& options, const std::vector<ServerRounds>& servers) {
  JsonWriter json;
  json.BeginObject();
  json.Key("mode").String("compare");
  WriteConfig(json, &options, options.load);
  json.Key("servers").BeginArray();
  for (const ServerRounds& server : servers) {
    json.BeginObject();
    json.Key("name").String(server.server.name);
    json.Key("command").String(server.server.command);
    json.Key("rounds").BeginArray();
    for (const CompareRound& round : server.rounds) {
      json.BeginObject();
      WriteRunFields(json, round.run);
      json.Key("server_cpu_us_per_request").Number(ServerCpuUsPerRequest(round));
      json.EndObject();
    }
    json.EndArray();
    json.Key("summary").BeginObject();
    for (const CompareFigure& f : kCompareFigures)
      WriteSpread(json, f.key, FigureSpread(f, server));
    json.EndObject();
    json.Key("ratio_to_first").BeginObject();
    for (const CompareFigure& f : kCompareFigures) {
      WriteSpread(json, f.key, RatioSpread(f, server, servers[0]));
    }
    json.EndObject();
    json.EndObject();
  }
  json.EndArray();
  json.EndObject();
  return json.str() + "\n";
}

}  // namespace mnemo::bench
