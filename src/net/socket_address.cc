#include "net/socket_address.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
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

Status ResolvePassive(const std::string& host, uint16_t port, int socktype,
                      std::vector<PassiveAddress>* addresses) {
  addrinfo hints{};
  hints.ai_flags = AI_PASSIVE | AI_ADDRCONFIG;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = socktype;
  addrinfo* infos = nullptr;
  const std::string service = std::to_string(port);
  const int error =
      getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &infos);
  if (error != 0) {
    return Status::Error("getaddrinfo(\"" + host + "\"): " + gai_strerror(error));
  }
  for (const addrinfo* info = infos; info != nullptr; info = info->ai_next) {
    PassiveAddress address;
    address.family = info->ai_family;
    address.socktype = info->ai_socktype;
    address.protocol = info->ai_protocol;
    address.length = info->ai_addrlen;
    std::memcpy(&address.address, info->ai_addr, info->ai_addrlen);
    addresses->push_back(address);
  }
  freeaddrinfo(infos);
  return Status::Ok();
}

Status BindPassive(const PassiveAddress& address, int* fd) {
  const int s =
      socket(address.family, address.socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, address.protocol);
  if (s < 0) return Status::Error(std::string("socket(): ") + strerror(errno));
  const int on = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  // Without it an IPv6 wildcard socket would also claim the IPv4 port, and the IPv4 bind of the
  // same resolve would fail.
  if (address.family == AF_INET6) setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
  if (bind(s, reinterpret_cast<const sockaddr*>(&address.address), address.length) != 0) {
    Status status = Status::Error(strerror(errno));
    close(s);
    return status;
  }
  *fd = s;
  return Status::Ok();
}

}  // namespace mnemo::net
