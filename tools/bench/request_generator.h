// RequestGenerator decides what one client asks next: get or set, which key, how large a value.
// Two kinds:
//  - Preload: client c of C sets keys c, c + C, c + 2C, ... below key_space, then is done, so
//    that all clients together write every key exactly once.
//  - Load: an endless stream. The set:get mix is a fixed cycle (set_ratio sets, then get_ratio
//    gets), so the mix is exact over any whole cycle; each client starts at a different point of
//    the cycle so that clients do not set in lockstep. Keys follow the key pattern; sequential
//    clients start evenly spread over the key space. Value sizes are uniform in
//    [value_min, value_max].
//
// Invariants:
//  (1) key_id < key_space; value_min <= value_size <= value_max; value_size is 0 for gets.
//  (2) The stream depends only on the options, the client index and the seed.
// Thread safety: none; each client owns one.
#pragma once

#include <cstdint>

#include "key_distribution.h"
#include "options.h"
#include "rng.h"

namespace mnemo::bench {

enum class Op : uint8_t { kGet, kSet };

struct Request {
  Op op = Op::kGet;
  uint64_t key_id = 0;
  uint32_t value_size = 0;
};

class RequestGenerator {
 public:
  // REQUIRES: client < clients.
  static RequestGenerator Preload(const LoadOptions& options, uint64_t client, uint64_t clients);
  static RequestGenerator Load(const LoadOptions& options, uint64_t client, uint64_t clients);

  // The next request; false when a preload has written its share.
  bool Next(Request* out) {
    if (preload_) {
      if (next_key_ >= key_space_) return false;
      out->op = Op::kSet;
      out->key_id = next_key_;
      next_key_ = key_space_ - next_key_ > stride_ ? next_key_ + stride_ : key_space_;
    } else {
      out->op = position_ < set_ratio_ ? Op::kSet : Op::kGet;
      if (++position_ == cycle_) position_ = 0;
      out->key_id = keys_.Next(rng_);
    }
    out->value_size = out->op == Op::kGet ? 0 : ValueSize();
    return true;
  }

 private:
  RequestGenerator(const LoadOptions& options, uint64_t seed, KeyDistribution keys);

  uint32_t ValueSize() {
    return value_span_ == 0 ? value_min_
                            : value_min_ + static_cast<uint32_t>(rng_.Below(value_span_ + 1));
  }

  Rng rng_;
  KeyDistribution keys_;
  uint64_t key_space_;
  uint32_t value_min_;
  uint32_t value_span_;  // value_max - value_min
  bool preload_ = false;
  uint64_t next_key_ = 0;  // preload
  uint64_t stride_ = 1;    // preload
  uint32_t set_ratio_ = 0;
  uint32_t cycle_ = 1;     // set_ratio + get_ratio
  uint32_t position_ = 0;  // in the cycle
};

}  // namespace mnemo::bench
