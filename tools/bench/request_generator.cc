#include "request_generator.h"

namespace mnemo::bench {
namespace {

// Distinct, reproducible streams per client and per phase; Rng's splitmix64 seeding spreads
// neighbouring seeds apart.
uint64_t StreamSeed(uint64_t seed, uint64_t client, bool preload) {
  return seed * 0x9e3779b97f4a7c15 + client * 2 + (preload ? 1 : 0);
}

KeyDistribution KeysFor(const LoadOptions& options, uint64_t client, uint64_t clients) {
  switch (options.key_pattern) {
    case KeyPattern::kSequential: {
      // Spread starts without overflow for key spaces near 2^64.
      const uint64_t start =
          static_cast<uint64_t>(static_cast<long double>(options.key_space) * client / clients);
      return KeyDistribution::Sequential(options.key_space, start);
    }
    case KeyPattern::kUniform:
      return KeyDistribution::Uniform(options.key_space);
    case KeyPattern::kZipf:
      return KeyDistribution::Zipf(options.key_space, options.zipf_exponent);
  }
  return KeyDistribution::Uniform(options.key_space);
}

}  // namespace

RequestGenerator::RequestGenerator(const LoadOptions& options, uint64_t seed, KeyDistribution keys)
    : rng_(seed),
      keys_(keys),
      key_space_(options.key_space),
      value_min_(options.value_min),
      value_span_(options.value_max - options.value_min) {}

RequestGenerator RequestGenerator::Preload(const LoadOptions& options, uint64_t client,
                                           uint64_t clients) {
  RequestGenerator g(options, StreamSeed(options.seed, client, true),
                     KeyDistribution::Uniform(options.key_space));
  g.preload_ = true;
  g.next_key_ = client;
  g.stride_ = clients;
  return g;
}

RequestGenerator RequestGenerator::Load(const LoadOptions& options, uint64_t client,
                                        uint64_t clients) {
  RequestGenerator g(options, StreamSeed(options.seed, client, false),
                     KeysFor(options, client, clients));
  g.set_ratio_ = options.set_ratio;
  g.cycle_ = options.set_ratio + options.get_ratio;
  g.position_ = static_cast<uint32_t>(client % g.cycle_);
  return g;
}

}  // namespace mnemo::bench
