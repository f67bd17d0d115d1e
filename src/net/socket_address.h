// Text forms of socket addresses, as memcached prints them in `stats conns`: "tcp:127.0.0.1:11211",
// "tcp6:[::1]:11211" and "unix:/path/to/socket".
//
// Thread safety: the functions may be called from any thread.
#pragma once

#include <sys/socket.h>

#include <string>

namespace mnemo::net {

std::string FormatSocketAddress(const sockaddr_storage& address);

// The local (getsockname) or remote (getpeername) address of a socket; "<closed>" if the call
// fails.
std::string LocalAddressOf(int fd);
std::string PeerAddressOf(int fd);

}  // namespace mnemo::net
