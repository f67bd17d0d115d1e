// LoopbackClient is a blocking test client of a server on 127.0.0.1, for the tests of the worker
// and the server over real sockets: it sends requests and reads replies until an expected end, or
// until the server closes. Reads give up after 10 seconds, so that a hang fails a test instead of
// stalling it. Test code; not thread-safe.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace mnemo::server {

class LoopbackClient {
 public:
  explicit LoopbackClient(uint16_t port) : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    timeval timeout{};
    timeout.tv_sec = 10;
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  }
  ~LoopbackClient() { close(fd_); }
  LoopbackClient(const LoopbackClient&) = delete;
  LoopbackClient& operator=(const LoopbackClient&) = delete;

  bool connected() const { return connected_; }

  // Sends `request` and returns what arrives up to and including `end` (or until the server
  // closes or 10 seconds pass: then whatever arrived, which the caller's comparison rejects).
  std::string Call(std::string_view request, std::string_view end) {
    send(fd_, request.data(), request.size(), MSG_NOSIGNAL);
    std::string got;
    while (got.size() < end.size() || got.compare(got.size() - end.size(), end.size(), end) != 0) {
      if (!ReadSome(&got)) break;
    }
    return got;
  }

  // Everything the server sends until it closes; "<open>" appended if it has not closed within
  // 10 seconds.
  std::string ReadToEof() {
    std::string got;
    while (ReadSome(&got)) {
    }
    if (!closed_) got += "<open>";
    return got;
  }

 private:
  // False at EOF (closed_ set), on a reset (closed_ set) or after the timeout.
  bool ReadSome(std::string* got) {
    char buf[4096];
    const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
    if (n > 0) {
      got->append(buf, static_cast<size_t>(n));
      return true;
    }
    closed_ = n == 0 || errno == ECONNRESET;
    return false;
  }

  const int fd_;
  bool connected_ = false;
  bool closed_ = false;
};

}  // namespace mnemo::server
