#include "endpoint.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "errno_text.h"

namespace mnemo::bench {

Status ResolveEndpoint(const cluster::ServerAddress& server, Endpoint* out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(server.port);
  const int rc = getaddrinfo(server.host.c_str(), port.c_str(), &hints, &found);
  out->name = server.host + ":" + port;
  if (rc != 0) return Status::Error("resolve " + out->name + ": " + gai_strerror(rc));
  std::memcpy(&out->address, found->ai_addr, found->ai_addrlen);
  out->address_length = found->ai_addrlen;
  freeaddrinfo(found);
  return Status::Ok();
}

Status ConnectTo(const Endpoint& endpoint, int* fd) {
  const int s = socket(endpoint.address.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return Status::Error("socket: " + ErrnoText(errno));
  int rc;
  do {
    rc = connect(s, reinterpret_cast<const sockaddr*>(&endpoint.address), endpoint.address_length);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    const int error = errno;
    close(s);
    return Status::Error("connect to " + endpoint.name + ": " + ErrnoText(error));
  }
  const int one = 1;
  if (setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0 ||
      fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK) != 0) {
    const int error = errno;
    close(s);
    return Status::Error("configure socket to " + endpoint.name + ": " + ErrnoText(error));
  }
  *fd = s;
  return Status::Ok();
}

}  // namespace mnemo::bench
