// KetamaRing places keys on servers exactly as the two consistent-hashing schemes of the memcached
// world that agree with each other do: libmemcached's weighted ketama
// (MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, pylibmc's {"ketama_weighted": True}) and twemproxy's
// (nutcracker's `distribution: ketama` with `hash: md5`). A key written through one is found
// through the other, and mnemo's tools spread keys where both look for them.
//
// Each server gets 160 points on a ring of 2^32, scaled by its share of the total weight times the
// number of servers and rounded down to a multiple of 4: the MD5 digest of "<name>-<i>" yields
// four points, one per 32-bit little-endian word. A server's name is "host:port", or "host" alone
// on port 11211; a nutcracker configuration may give a server an explicit name instead
// ("127.0.0.1:22122:1 cache-a"), which keeps its keys in place when its address changes. A key
// belongs to the first point at or after the first word of the key's MD5, wrapping past the top.
//
// A proxy that ejects a failed server (nutcracker's auto_eject_hosts) rebuilds its ring from the
// servers still live, recomputing their shares: that ring is a KetamaRing of the live servers
// alone, in their configured order.
//
// Invariants:
//  (1) points_ is sorted by value, equal values by server index. Both libmemcached and twemproxy
//      sort with glibc's qsort, a merge sort that keeps equal points in insertion order, that is
//      by server, and both pick the first of equal points; so does ServerFor.
//  (2) ServerFor(key) depends only on the key and the servers (names, weights, order).
// Thread safety: immutable after construction; ServerFor may be called from any thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "cluster/server_address.h"

namespace mnemo::cluster {

// One server as the ring sees it.
struct KetamaServer {
  std::string name;     // the text its points are hashed from, before "-<i>"
  uint32_t weight = 1;  // its share relative to the other servers' weights; never 0

  friend bool operator==(const KetamaServer&, const KetamaServer&) = default;
};

// The name libmemcached and twemproxy hash a server's points from when it has no explicit name:
// "host:port", or "host" on port 11211 (libmemcached's default port, left out for compatibility
// with the first ketama clients).
std::string KetamaName(const ServerAddress& server);

// Parses a server as a nutcracker configuration lists it, "host:port:weight [name]", or as
// libmemcached does, "host[:port[:weight]]"; without a name, the server is named by KetamaName.
Status ParseKetamaServer(std::string_view text, KetamaServer* out);

// Points a server gets on a ring of servers of equal weight.
inline constexpr uint32_t kKetamaPointsPerServer = 160;

// How many points a server of `weight` gets on a ring of `servers` servers weighing
// `total_weight` in all, computed as libmemcached and twemproxy do.
uint32_t KetamaPoints(uint32_t weight, uint64_t total_weight, size_t servers);

class KetamaRing {
 public:
  // REQUIRES: `servers` is not empty; no weight is 0.
  explicit KetamaRing(const std::vector<KetamaServer>& servers);
  // The ring of a libmemcached server list: each server named by KetamaName.
  explicit KetamaRing(const std::vector<ServerAddress>& servers);

  // The index of the server that owns `key`.
  size_t ServerFor(std::string_view key) const { return ServerForHash(KeyHash(key)); }

  // A key's place on the ring: the first little-endian word of its MD5.
  static uint32_t KeyHash(std::string_view key);
  // The server of the first point at or after `hash`, wrapping past the top.
  size_t ServerForHash(uint32_t hash) const {
    return ServerForHash(hash, [](size_t) { return false; });
  }
  // The same, passing over the points of every server for which skip(index) is true. The ring
  // without those servers is this one if it gives every other server as many points as this one
  // does (KetamaPoints; true of equal weights), and only then. REQUIRES: not every server skipped.
  template <typename Skip>
  size_t ServerForHash(uint32_t hash, Skip skip) const;

  // How many ring points server `index` owns.
  size_t PointsOf(size_t index) const;

 private:
  struct Point {
    uint32_t value;
    uint32_t server;
  };
  std::vector<Point> points_;
};

template <typename Skip>
size_t KetamaRing::ServerForHash(uint32_t hash, Skip skip) const {
  auto first = std::lower_bound(points_.begin(), points_.end(), hash,
                                [](const Point& p, uint32_t h) { return p.value < h; });
  for (size_t n = 0; n < points_.size(); ++n) {
    if (first == points_.end()) first = points_.begin();
    if (!skip(size_t{first->server})) return first->server;
    ++first;
  }
  return points_.front().server;  // unreachable while the REQUIRES holds
}

}  // namespace mnemo::cluster
