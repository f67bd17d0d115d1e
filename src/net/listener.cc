#include "net/listener.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "net/socket_address.h"

namespace mnemo::net {
namespace {

// Binds `address`, with the options accepted sockets inherit, and listens.
Status OpenOne(const PassiveAddress& address, int backlog, int* out_fd) {
  int fd = -1;
  Status status = BindPassive(address, &fd);
  if (!status.ok()) return status;
  const int on = 1;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
  // Replies of a batch go out at once instead of waiting for the client's delayed ACK.
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
  if (listen(fd, backlog) != 0) {
    status = Status::Error(strerror(errno));
    close(fd);
    return status;
  }
  *out_fd = fd;
  return Status::Ok();
}

}  // namespace

Status Listener::Open(const std::string& host, uint16_t port, int backlog,
                      std::vector<std::unique_ptr<Listener>>* listeners) {
  std::vector<PassiveAddress> addresses;
  Status status = ResolvePassive(host, port, SOCK_STREAM, &addresses);
  if (!status.ok()) return status;
  if (addresses.empty()) return Status::Error("no address to listen on for \"" + host + "\"");
  for (const PassiveAddress& address : addresses) {
    int fd = -1;
    status = OpenOne(address, backlog, &fd);
    if (!status.ok()) {
      return Status::Error("failed to listen on TCP port " + std::to_string(port) + ": " +
                           status.message());
    }
    listeners->emplace_back(new Listener(fd, LocalAddressOf(fd)));
  }
  return Status::Ok();
}

Status Listener::OpenUnix(const std::string& path, int access_mask, int backlog,
                          std::vector<std::unique_ptr<Listener>>* listeners) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(address.sun_path)) {
    return Status::Error("failed to listen on UNIX socket: " + path + ": path too long");
  }
  path.copy(address.sun_path, path.size());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::Error(std::string("socket(): ") + strerror(errno));
  struct stat existing {};
  if (lstat(path.c_str(), &existing) == 0 && S_ISSOCK(existing.st_mode)) unlink(path.c_str());
  // The umask is process-wide; nothing else creates files while the server starts.
  const mode_t old_umask = umask(static_cast<mode_t>(~access_mask & 0777));
  const bool bound = bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  const int bind_errno = errno;
  umask(old_umask);
  if (!bound || listen(fd, backlog) != 0) {
    Status status = Status::Error("failed to listen on UNIX socket: " + path + ": " +
                                  strerror(bound ? errno : bind_errno));
    close(fd);
    return status;
  }
  listeners->emplace_back(new Listener(fd, LocalAddressOf(fd)));
  return Status::Ok();
}

Listener::~Listener() { close(fd_); }

Listener::AcceptStatus Listener::Accept(int* fd) {
  for (;;) {
    const int accepted = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (accepted >= 0) {
      *fd = accepted;
      return AcceptStatus::kAccepted;
    }
    switch (errno) {
      case EINTR:
        continue;
      case EAGAIN:
        return AcceptStatus::kWouldBlock;
      case EMFILE:
      case ENFILE:
        return AcceptStatus::kOutOfFiles;
      default:
        return AcceptStatus::kFailed;
    }
  }
}

Status ParseListenAddress(std::string_view entry, uint16_t default_port, std::string* host,
                          uint16_t* port) {
  std::string_view host_part = entry;
  std::string_view port_part;
  if (!entry.empty() && entry.front() == '[') {
    const size_t close = entry.find(']');
    if (close == std::string_view::npos) {
      return Status::Error("bad listen address \"" + std::string(entry) + "\": missing ']'");
    }
    host_part = entry.substr(1, close - 1);
    std::string_view rest = entry.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        return Status::Error("bad listen address \"" + std::string(entry) + "\"");
      }
      port_part = rest.substr(1);
    }
  } else if (const size_t colon = entry.find(':');
             colon != std::string_view::npos &&
             entry.find(':', colon + 1) == std::string_view::npos) {
    // Exactly one colon: host:port. More than one is a bare IPv6 address.
    host_part = entry.substr(0, colon);
    port_part = entry.substr(colon + 1);
  }
  *port = default_port;
  if (!port_part.empty()) {
    unsigned value = 0;
    const auto [end, ec] =
        std::from_chars(port_part.data(), port_part.data() + port_part.size(), value);
    if (ec != std::errc() || end != port_part.data() + port_part.size() || value == 0 ||
        value > 65535) {
      return Status::Error("bad port in listen address \"" + std::string(entry) + "\"");
    }
    *port = static_cast<uint16_t>(value);
  }
  *host = std::string(host_part);
  return Status::Ok();
}

}  // namespace mnemo::net
