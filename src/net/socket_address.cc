#include "net/socket_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>

namespace mnemo::net {

std::string FormatSocketAddress(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto& v4 = reinterpret_cast<const sockaddr_in&>(address);
    inet_ntop(AF_INET, &v4.sin_addr, text, sizeof(text));
    return std::string("tcp:") + text + ":" + std::to_string(ntohs(v4.sin_port));
  }
  if (address.ss_family == AF_INET6) {
    const auto& v6 = reinterpret_cast<const sockaddr_in6&>(address);
    inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof(text));
    return std::string("tcp6:[") + text + "]:" + std::to_string(ntohs(v6.sin6_port));
  }
  if (address.ss_family == AF_UNIX) {
    const auto& local = reinterpret_cast<const sockaddr_un&>(address);
    const size_t length = strnlen(local.sun_path, sizeof(local.sun_path));
    // A client of a unix socket has no name. memcached does not look up the peer of a unix
    // socket's client and prints the zeroed address it keeps instead; so do we.
    if (length == 0) return "?:<AF 0>";
    return "unix:" + std::string(local.sun_path, length);
  }
  return "?";
}

std::string LocalAddressOf(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return "<closed>";
  return FormatSocketAddress(address);
}

std::string PeerAddressOf(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return "<closed>";
  return FormatSocketAddress(address);
}

}  // namespace mnemo::net
