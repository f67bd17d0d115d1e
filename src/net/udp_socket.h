// Opening the UDP sockets of memcached's -U: bound with SO_REUSEADDR, non-blocking, one per
// address that the -l entry (or every interface) resolves to.
//
// Thread safety: the function may be called from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace mnemo::net {

// Opens a UDP socket on every address that `host` resolves to (every interface, IPv4 and IPv6,
// when `host` is empty), on `port`, and appends their descriptors to *fds; the caller closes them.
Status OpenUdpSockets(const std::string& host, uint16_t port, std::vector<int>* fds);

}  // namespace mnemo::net
