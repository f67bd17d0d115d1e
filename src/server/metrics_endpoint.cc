#include "server/metrics_endpoint.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <utility>

#include "base/logging.h"

namespace mnemo::server {
namespace {

constexpr int kListenBacklog = 16;

std::string Response(std::string_view status, std::string_view content_type, std::string_view body,
                     bool with_body) {
  std::string response = "HTTP/1.1 ";
  response += status;
  response += "\r\nContent-Type: ";
  response += content_type;
  response += "\r\nContent-Length: ";
  response += std::to_string(body.size());
  response += "\r\nConnection: close\r\n\r\n";
  if (with_body) response += body;
  return response;
}

// Waits until `fd` is ready for `events`, at most until `deadline_ms` of the monotonic clock
// passes; false on a timeout or an error.
bool WaitFor(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  int ready = 0;
  do {
    ready = poll(&p, 1, timeout_ms);
  } while (ready < 0 && errno == EINTR);
  return ready > 0;
}

}  // namespace

std::string HttpResponseFor(std::string_view request, const std::function<std::string()>& render) {
  const size_t line_end = request.find("\r\n");
  const std::string_view line = request.substr(0, line_end);
  const size_t first_space = line.find(' ');
  const size_t second_space = line.find(' ', first_space + 1);
  if (line_end == std::string_view::npos || first_space == std::string_view::npos ||
      second_space == std::string_view::npos ||
      !line.substr(second_space + 1).starts_with("HTTP/")) {
    return Response("400 Bad Request", "text/plain", "bad request\n", true);
  }
  const std::string_view method = line.substr(0, first_space);
  std::string_view path = line.substr(first_space + 1, second_space - first_space - 1);
  path = path.substr(0, path.find('?'));
  if (method != "GET" && method != "HEAD") {
    return Response("405 Method Not Allowed", "text/plain", "only GET and HEAD\n", true);
  }
  if (path != "/metrics") {
    return Response("404 Not Found", "text/plain", "metrics are at /metrics\n", method == "GET");
  }
  return Response("200 OK", "text/plain; version=0.0.4; charset=utf-8", render(), method == "GET");
}

Result<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    const std::string& host, uint16_t port, std::function<std::string()> render) {
  std::vector<std::unique_ptr<net::Listener>> listeners;
  Status status = net::Listener::Open(host, port, kListenBacklog, &listeners);
  if (!status.ok()) return Status::Error("metrics_port: " + status.message());
  const int stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd < 0) return Status::Error(std::string("eventfd: ") + std::strerror(errno));
  return std::unique_ptr<MetricsEndpoint>(
      new MetricsEndpoint(std::move(listeners), stop_fd, std::move(render)));
}

MetricsEndpoint::MetricsEndpoint(std::vector<std::unique_ptr<net::Listener>> listeners, int stop_fd,
                                 std::function<std::string()> render)
    : listeners_(std::move(listeners)), stop_fd_(stop_fd), render_(std::move(render)) {
  thread_ = std::thread([this] { Run(); });
}

MetricsEndpoint::~MetricsEndpoint() {
  const uint64_t one = 1;
  if (write(stop_fd_, &one, sizeof(one)) != sizeof(one)) {
    MNEMO_LOG(0, "metrics endpoint: cannot signal its thread to stop: %s\n", std::strerror(errno));
  }
  thread_.join();
  close(stop_fd_);
}

void MetricsEndpoint::Run() {
  std::vector<pollfd> fds;
  fds.push_back({stop_fd_, POLLIN, 0});
  for (const auto& listener : listeners_) fds.push_back({listener->fd(), POLLIN, 0});
  for (;;) {
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      MNEMO_LOG(0, "metrics endpoint: poll: %s\n", std::strerror(errno));
      return;
    }
    if (fds[0].revents != 0) return;
    for (size_t i = 1; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      int fd = -1;
      if (listeners_[i - 1]->Accept(&fd) == net::Listener::AcceptStatus::kAccepted) {
        Serve(fd);
        close(fd);
      }
    }
  }
}

void MetricsEndpoint::Serve(int fd) {
  std::string request;
  char buffer[1024];
  while (request.find("\r\n\r\n") == std::string::npos) {
    if (request.size() >= kMaxRequestBytes || !WaitFor(fd, POLLIN, kClientTimeoutMs)) return;
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return;
    request.append(buffer, static_cast<size_t>(n));
  }
  const std::string response = HttpResponseFor(request, render_);
  for (size_t sent = 0; sent < response.size();) {
    const ssize_t n = send(fd, response.data() + sent, response.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
      if (!WaitFor(fd, POLLOUT, kClientTimeoutMs)) return;
      continue;
    }
    if (n <= 0) return;
    sent += static_cast<size_t>(n);
  }
}

}  // namespace mnemo::server
