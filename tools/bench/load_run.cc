#include "load_run.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cluster/ketama.h"
#include "load_thread.h"
#include "rng.h"

namespace mnemo::bench {
namespace {

constexpr int64_t kSecondNs = 1'000'000'000;
// How often the main thread checks whether the workers are done between progress lines.
constexpr auto kPollPeriod = std::chrono::milliseconds(10);

// A preload wants deep pipelines to be quick, but not megabytes of values in flight per
// connection.
constexpr uint32_t kPreloadPipeline = 64;
constexpr uint64_t kPreloadBytesInFlight = 1 << 20;

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// Random letters and digits: realistic for a cache (not trivially compressible, as a run of one
// byte would be) and free of the bytes that frame the text protocol.
std::string MakeValues(uint32_t size, uint64_t seed) {
  static constexpr char kAlphabet[] =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  Rng rng(seed ^ 0x76616c756573);  // "values"
  std::string values(size, ' ');
  for (char& c : values) c = kAlphabet[rng.Below(sizeof(kAlphabet) - 1)];
  return values;
}

void PrintProgress(FILE* out, Phase phase, double at_s, const RunStats& interval,
                   double interval_s) {
  const RunCounters& c = interval.counters;
  const double p99_ms = static_cast<double>(interval.AllLatencyNs().ValueAtQuantile(0.99)) / 1e6;
  std::fprintf(out, "[%4.0fs] %s %10.0f req/s  hit %5.1f%%  p99 %7.3f ms%s\n", at_s,
               phase == Phase::kPreload ? "preload" : "load", c.requests() / interval_s,
               100 * c.HitRatio(), p99_ms, c.errors > 0 ? "  (errors)" : "");
}

}  // namespace

Status RunLoad(const LoadOptions& options, Phase phase, FILE* progress, RunResult* out) {
  *out = RunResult();
  LoadPlan plan;
  plan.options = &options;
  for (const cluster::ServerAddress& server : options.servers) {
    Endpoint endpoint;
    Status status = ResolveEndpoint(server, &endpoint);
    if (!status.ok()) return status;
    plan.endpoints.push_back(std::move(endpoint));
  }
  std::optional<cluster::KetamaRing> ring;
  if (options.servers.size() > 1) {
    ring.emplace(options.servers);
    plan.ring = &*ring;
  }
  const std::string values = MakeValues(options.value_max, options.seed);
  plan.values = values;
  plan.preload = phase == Phase::kPreload;
  plan.clients = uint64_t{options.threads} * options.connections;
  if (plan.preload) {
    const uint64_t fits = std::max<uint64_t>(1, kPreloadBytesInFlight / options.value_max);
    plan.pipeline = static_cast<uint32_t>(
        std::max<uint64_t>(options.pipeline, std::min<uint64_t>(kPreloadPipeline, fits)));
  } else {
    plan.pipeline = options.pipeline;
    plan.duration_ns = static_cast<int64_t>(options.duration_s * 1e9);
    if (options.rate > 0) {
      plan.client_interval_ns = 1e9 * static_cast<double>(plan.clients) / options.rate;
    }
  }

  std::vector<std::unique_ptr<LoadThread>> threads;
  for (uint32_t t = 0; t < options.threads; ++t) {
    uint64_t quota = UINT64_MAX;
    if (!plan.preload && options.requests > 0) {
      quota = options.requests / options.threads + (t < options.requests % options.threads);
    }
    threads.push_back(std::make_unique<LoadThread>(&plan, t * options.connections, quota));
    Status status = threads.back()->Connect();
    if (!status.ok()) return status;
  }

  const double cpu_before = CpuSeconds();
  const int64_t start_ns = NowNs();
  for (auto& thread : threads) thread->Start(start_ns);
  RunStats interval;
  int64_t next_tick_ns = start_ns + kSecondNs;
  while (!std::all_of(threads.begin(), threads.end(), [](auto& t) { return t->finished(); })) {
    std::this_thread::sleep_for(kPollPeriod);
    if (std::any_of(threads.begin(), threads.end(),
                    [](auto& t) { return t->finished() && !t->status().ok(); })) {
      for (auto& thread : threads) thread->Abort();
    }
    const int64_t now = NowNs();
    if (now < next_tick_ns) continue;
    for (auto& thread : threads) thread->CollectInto(&interval);
    if (progress != nullptr) {
      PrintProgress(progress, phase, static_cast<double>(now - start_ns) / 1e9, interval,
                    static_cast<double>(now - next_tick_ns + kSecondNs) / 1e9);
    }
    out->stats.Merge(interval);
    interval.Reset();
    next_tick_ns = now + kSecondNs;
  }
  int64_t finish_ns = start_ns;
  for (auto& thread : threads) {
    thread->Join();
    thread->CollectInto(&out->stats);
    if (!thread->status().ok()) return thread->status();
    finish_ns = std::max(finish_ns, thread->finish_ns());
    out->unanswered += thread->unanswered();
  }
  out->elapsed_s = static_cast<double>(finish_ns - start_ns) / 1e9;
  out->client_cpu_s = CpuSeconds() - cpu_before;
  return Status::Ok();
}

}  // namespace mnemo::bench
