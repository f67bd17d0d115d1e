// Listener is one listening stream socket, TCP or unix domain: bound with SO_REUSEADDR,
// non-blocking, accepting with accept4 so that accepted sockets are non-blocking from the start.
//
// Thread safety: Accept() from one thread at a time; the rest is immutable after Open().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "net/tls_context.h"

namespace mnemo::net {

class Listener {
 public:
  // Opens a listener on every address that `host` resolves to (every interface, IPv4 and IPv6,
  // when `host` is empty), on `port`, and appends them to *listeners.
  static Status Open(const std::string& host, uint16_t port, int backlog,
                     std::vector<std::unique_ptr<Listener>>* listeners);

  // Opens a unix domain socket listener at `path` (memcached's -s) whose file gets the permission
  // bits `access_mask` (-a), as memcached sets them: through the umask while binding. A socket
  // file left at `path` by an earlier server is removed first; any other kind of file is not,
  // and then the bind fails.
  static Status OpenUnix(const std::string& path, int access_mask, int backlog,
                         std::vector<std::unique_ptr<Listener>>* listeners);

  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  int fd() const { return fd_; }
  // How its connections speak with -Z (memcached's -l prefixes).
  TlsMode tls_mode() const { return tls_mode_; }
  void set_tls_mode(TlsMode mode) { tls_mode_ = mode; }
  // Where it listens, e.g. "tcp:127.0.0.1:11211" or "unix:/run/mnemod.sock".
  const std::string& address() const { return address_; }

  enum class AcceptStatus : uint8_t {
    kAccepted,    // *fd is a new non-blocking connection
    kWouldBlock,  // no connection is waiting
    kOutOfFiles,  // EMFILE or ENFILE: a connection is waiting but no fd is left for it
    kFailed,      // the waiting connection failed (e.g. reset before accept); try again
  };
  [[nodiscard]] AcceptStatus Accept(int* fd);

 private:
  Listener(int fd, std::string address) : fd_(fd), address_(std::move(address)) {}

  const int fd_;
  TlsMode tls_mode_ = TlsMode::kConfigured;
  const std::string address_;
};

// Splits one -l entry, "host", "host:port", "[v6]" or "[v6]:port", into host and port; the port
// is `default_port` when the entry names none.
Status ParseListenAddress(std::string_view entry, uint16_t default_port, std::string* host,
                          uint16_t* port);

}  // namespace mnemo::net
