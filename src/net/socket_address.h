// Socket addresses: their text forms, as memcached prints them in `stats conns`
// ("tcp:127.0.0.1:11211", "tcp6:[::1]:11211" and "unix:/path/to/socket"), and the addresses a
// server binds for memcached's -l, -p and -U.
//
// Thread safety: the functions may be called from any thread.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace mnemo::net {

// One address a server listens on: what socket() and bind() need.
struct PassiveAddress {
  int family = 0;
  int socktype = 0;
  int protocol = 0;
  sockaddr_storage address{};
  socklen_t length = 0;
};

// The addresses `host` resolves to for a server (every interface, IPv4 and IPv6, when `host` is
// empty) on `port`, for sockets of `socktype` (SOCK_STREAM, SOCK_DGRAM), in getaddrinfo's order.
Status ResolvePassive(const std::string& host, uint16_t port, int socktype,
                      std::vector<PassiveAddress>* addresses);

// Opens a non-blocking socket bound to `address`, with SO_REUSEADDR; an IPv6 one takes IPv6 only,
// so that the IPv4 address of the same resolve can be bound too. The error is strerror's text.
Status BindPassive(const PassiveAddress& address, int* fd);

std::string FormatSocketAddress(const sockaddr_storage& address);

// The local (getsockname) or remote (getpeername) address of a socket; "<closed>" if the call
// fails.
std::string LocalAddressOf(int fd);
std::string PeerAddressOf(int fd);

}  // namespace mnemo::net
