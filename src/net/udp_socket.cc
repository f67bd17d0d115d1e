#include "net/udp_socket.h"

#include <sys/socket.h>

#include "net/socket_address.h"

namespace mnemo::net {

Status OpenUdpSockets(const std::string& host, uint16_t port, std::vector<int>* fds) {
  std::vector<PassiveAddress> addresses;
  Status status = ResolvePassive(host, port, SOCK_DGRAM, &addresses);
  if (!status.ok()) return status;
  for (const PassiveAddress& address : addresses) {
    int fd = -1;
    status = BindPassive(address, &fd);
    if (!status.ok()) {
      return Status::Error("failed to listen on UDP port " + std::to_string(port) + ": " +
                           status.message());
    }
    fds->push_back(fd);
  }
  return Status::Ok();
}

}  // namespace mnemo::net
