// KetamaRing places keys on servers exactly as libmemcached does with the behaviour
// MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED (pylibmc's {"ketama_weighted": True}), so that mnemo-bench
// spreads a key over several servers where real clients would look for it.
//
// Each server gets 160 points on a ring of 2^32 scaled by its share of the total weight, rounded
// down to a multiple of 4: the MD5 digest of "host:port-i" ("host-i" when the port is 11211) yields
// four points, one per 32-bit little-endian word. A key belongs to the first point at or after the
// first word of the key's MD5, wrapping past the top.
//
// Invariants:
//  (1) points_ is sorted by value; a server owns points in proportion to its weight.
//  (2) ServerFor(key) depends only on the key and the server list (names, ports, weights, order),
//      never on which servers are up.
// Thread safety: immutable after construction; ServerFor may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "server_address.h"

namespace mnemo::bench {

class KetamaRing {
 public:
  // REQUIRES: `servers` is not empty.
  explicit KetamaRing(const std::vector<ServerAddress>& servers);

  // The index in `servers` of the server that owns `key`.
  size_t ServerFor(std::string_view key) const;

  // How many ring points server `index` owns.
  size_t PointsOf(size_t index) const;

 private:
  struct Point {
    uint32_t value;
    uint32_t server;
  };
  std::vector<Point> points_;
};

}  // namespace mnemo::bench
