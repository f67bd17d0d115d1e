#include "net/udp_socket.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace mnemo::net {

Status OpenUdpSockets(const std::string& host, uint16_t port, std::vector<int>* fds) {
  addrinfo hints{};
  hints.ai_flags = AI_PASSIVE | AI_ADDRCONFIG;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* infos = nullptr;
  const std::string service = std::to_string(port);
  const int error =
      getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &infos);
  if (error != 0) {
    return Status::Error("getaddrinfo(\"" + host + "\"): " + gai_strerror(error));
  }
  Status status = Status::Ok();
  for (const addrinfo* info = infos; info != nullptr && status.ok(); info = info->ai_next) {
    const int fd = socket(info->ai_family, info->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                          info->ai_protocol);
    if (fd < 0) {
      status = Status::Error(std::string("socket(): ") + strerror(errno));
      break;
    }
    const int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    // As for TCP (listener.cc): the IPv4 bind of the same result must not collide with it.
    if (info->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
    if (bind(fd, info->ai_addr, info->ai_addrlen) != 0) {
      status = Status::Error("failed to listen on UDP port " + service + ": " + strerror(errno));
      close(fd);
      break;
    }
    fds->push_back(fd);
  }
  freeaddrinfo(infos);
  return status;
}

}  // namespace mnemo::net
