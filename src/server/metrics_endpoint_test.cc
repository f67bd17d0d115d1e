#include "server/metrics_endpoint.h"

#include <gtest/gtest.h>

#include <string>

namespace mnemo::server {
namespace {

std::string Metrics() { return "m 1\n"; }

TEST(HttpResponseTest, ServesMetricsAtItsPathOnly) {
  const std::string ok = HttpResponseFor("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", Metrics);
  EXPECT_TRUE(ok.starts_with("HTTP/1.1 200 OK\r\n")) << ok;
  EXPECT_NE(ok.find("Content-Type: text/plain; version=0.0.4"), std::string::npos) << ok;
  EXPECT_NE(ok.find("Content-Length: 4\r\n"), std::string::npos) << ok;
  EXPECT_TRUE(ok.ends_with("\r\n\r\nm 1\n")) << ok;
  EXPECT_TRUE(
      HttpResponseFor("GET /metrics?x=1 HTTP/1.0\r\n\r\n", Metrics).starts_with("HTTP/1.1 200"));
  const std::string head = HttpResponseFor("HEAD /metrics HTTP/1.1\r\n\r\n", Metrics);
  EXPECT_TRUE(head.starts_with("HTTP/1.1 200 OK\r\n") && head.ends_with("\r\n\r\n")) << head;
  EXPECT_TRUE(HttpResponseFor("GET / HTTP/1.1\r\n\r\n", Metrics).starts_with("HTTP/1.1 404"));
  EXPECT_TRUE(
      HttpResponseFor("POST /metrics HTTP/1.1\r\n\r\n", Metrics).starts_with("HTTP/1.1 405"));
  EXPECT_TRUE(HttpResponseFor("stats\r\n\r\n", Metrics).starts_with("HTTP/1.1 400"));
  EXPECT_TRUE(HttpResponseFor("GET /metrics\r\n\r\n", Metrics).starts_with("HTTP/1.1 400"));
}

}  // namespace
}  // namespace mnemo::server
