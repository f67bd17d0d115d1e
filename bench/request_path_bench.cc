// What the request path pays for the hot-key sampler (server/hot_keys.h) and the latency
// histograms (server/latency_histogram.h), per request, without a network around them: the
// figures memtier's end-to-end rounds are too noisy to show on a shared machine. Results in
// RESULTS.md.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "server/hot_keys.h"
#include "server/latency_histogram.h"

namespace mnemo::server {
namespace {

// 10,000 keys like memtier's, visited in a scattered order.
std::vector<std::string> Keys() {
  std::vector<std::string> keys;
  for (int i = 0; i < 10000; ++i) keys.push_back("memtier-" + std::to_string(i * 7919 % 10000));
  return keys;
}

// Arg: -o hot_keys_sample (0: off).
void HotKeysRecord(benchmark::State& state) {
  HotKeys hot(static_cast<uint32_t>(state.range(0)));
  const std::vector<std::string> keys = Keys();
  size_t i = 0;
  for (auto _ : state) {
    hot.Record(keys[i]);
    i = i + 1 == keys.size() ? 0 : i + 1;
  }
}
BENCHMARK(HotKeysRecord)->Arg(0)->Arg(100)->Arg(10)->Arg(1);

void LatencyTimerScope(benchmark::State& state) {
  LatencyHistogram histogram;
  for (auto _ : state) {
    const LatencyTimer timer(histogram);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(LatencyTimerScope);

}  // namespace
}  // namespace mnemo::server

BENCHMARK_MAIN();
