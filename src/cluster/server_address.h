// ServerAddress names one memcached-protocol server as clients name it: a host, a port and a
// ketama weight. The text form is libmemcached's and pylibmc's, "host[:port[:weight]]" with
// "[v6-address]" for IPv6 hosts, so a server list can be pasted between them and mnemo's tools.
//
// Thread safety: plain values and a pure function.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace mnemo::cluster {

inline constexpr uint16_t kDefaultMemcachedPort = 11211;

struct ServerAddress {
  std::string host;
  uint16_t port = kDefaultMemcachedPort;
  uint32_t weight = 1;  // ketama share, relative to the other servers' weights; never 0

  friend bool operator==(const ServerAddress&, const ServerAddress&) = default;
};

// Parses "host", "host:port", "host:port:weight", "[::1]:port". The port defaults to 11211 and
// the weight to 1, as in libmemcached.
Status ParseServerAddress(std::string_view text, ServerAddress* out);

}  // namespace mnemo::cluster
