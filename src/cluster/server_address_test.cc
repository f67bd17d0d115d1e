#include "cluster/server_address.h"

#include <gtest/gtest.h>

namespace mnemo::cluster {
namespace {

ServerAddress Parse(std::string_view text) {
  ServerAddress address;
  const Status status = ParseServerAddress(text, &address);
  EXPECT_TRUE(status.ok()) << text << ": " << status.message();
  return address;
}

TEST(ServerAddressTest, ParsesTheFormsLibmemcachedAccepts) {
  EXPECT_EQ(Parse("localhost"), (ServerAddress{"localhost", 11211, 1}));
  EXPECT_EQ(Parse("127.0.0.1:21211"), (ServerAddress{"127.0.0.1", 21211, 1}));
  EXPECT_EQ(Parse("127.0.0.1:21211:3"), (ServerAddress{"127.0.0.1", 21211, 3}));
  EXPECT_EQ(Parse("[::1]"), (ServerAddress{"::1", 11211, 1}));
  EXPECT_EQ(Parse("[::1]:22122:2"), (ServerAddress{"::1", 22122, 2}));
}

TEST(ServerAddressTest, RejectsMalformedAddresses) {
  ServerAddress address;
  for (const char* bad : {"", ":11211", "host:", "host:0", "host:65536", "host:12x", "host:1:0",
                          "host:1:-2", "[::1", "[::1]x", "[]:1"}) {
    EXPECT_FALSE(ParseServerAddress(bad, &address).ok()) << bad;
  }
}

}  // namespace
}  // namespace mnemo::cluster
