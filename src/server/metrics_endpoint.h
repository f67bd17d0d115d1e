// MetricsEndpoint serves GET /metrics over HTTP for Prometheus (-o metrics_port, metrics_addr):
// the text PrometheusText renders from `stats`, made afresh for each request. It runs one thread
// of its own, away from the workers, and answers one connection at a time: a scrape is a request
// every few seconds, and a client that sends nothing or reads nothing is cut off after
// kClientTimeoutMs, so it never holds the endpoint for longer.
//
// Bounded: a request may be at most kMaxRequestBytes (headers included; a body is not read), and
// each response is built, sent and dropped before the next connection is accepted.
//
// Thread safety: Start and the destructor from one thread; `render` is called on the endpoint's
// thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "net/listener.h"

namespace mnemo::server {

class MetricsEndpoint {
 public:
  static constexpr size_t kMaxRequestBytes = 8192;
  static constexpr int kClientTimeoutMs = 2000;

  // Listens on `host` (every interface if empty) and `port`, and serves until destroyed.
  static Result<std::unique_ptr<MetricsEndpoint>> Start(const std::string& host, uint16_t port,
                                                        std::function<std::string()> render);

  ~MetricsEndpoint();
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

 private:
  MetricsEndpoint(std::vector<std::unique_ptr<net::Listener>> listeners, int stop_fd,
                  std::function<std::string()> render);

  void Run();
  void Serve(int fd);

  std::vector<std::unique_ptr<net::Listener>> listeners_;
  int stop_fd_;  // an eventfd: readable once the destructor asks the thread to end
  std::function<std::string()> render_;
  std::thread thread_;
};

// The response to one HTTP request, whole: `request` is its bytes up to the end of its headers.
// GET or HEAD of /metrics (a query string is ignored) gets `render()`; other paths 404, other
// methods 405, anything unreadable 400.
std::string HttpResponseFor(std::string_view request, const std::function<std::string()>& render);

}  // namespace mnemo::server
