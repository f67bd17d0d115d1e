#include "cluster/node_list.h"

#include <gtest/gtest.h>

#include <string>

namespace mnemo::cluster {
namespace {

TEST(NodeListTest, ReadsNutcrackersServersOfTheFirstPool) {
  const Result<NodeList> list = ParseNodeList(R"(mnemo:
  listen: 127.0.0.1:22121
  hash: md5   # the hash
  servers:
   - 127.0.0.1:31001:1
   - "127.0.0.1:31002:2 cache-b"   # named
   -   10.0.0.3:11211:1
  timeout: 400
other:
  servers:
   - 127.0.0.1:9:1
)");
  ASSERT_TRUE(list.ok()) << list.status().message();
  ASSERT_EQ(list->nodes.size(), 3u);
  EXPECT_EQ(list->nodes[0].server, (KetamaServer{"127.0.0.1:31001", 1}));
  EXPECT_EQ(list->nodes[0].address, (ServerAddress{"127.0.0.1", 31001, 1}));
  EXPECT_EQ(list->nodes[1].server, (KetamaServer{"cache-b", 2}));
  EXPECT_EQ(list->nodes[1].address, (ServerAddress{"127.0.0.1", 31002, 2}));
  EXPECT_EQ(list->nodes[2].server, (KetamaServer{"10.0.0.3", 1}));  // port 11211 left out
}

TEST(NodeListTest, ReadsPlainLines) {
  const Result<NodeList> list = ParseNodeList(
      "# the cluster\n"
      "127.0.0.1:31001:1\n"
      "\n"
      "  127.0.0.1:31002   # weight 1\n"
      "[::1]:31003:3 six\r\n");
  ASSERT_TRUE(list.ok()) << list.status().message();
  ASSERT_EQ(list->nodes.size(), 3u);
  EXPECT_EQ(list->nodes[1].server, (KetamaServer{"127.0.0.1:31002", 1}));
  EXPECT_EQ(list->nodes[2].server, (KetamaServer{"six", 3}));
  EXPECT_EQ(list->nodes[2].address, (ServerAddress{"::1", 31003, 3}));
}

TEST(NodeListTest, RefusesWhatCannotBeARing) {
  EXPECT_EQ(ParseNodeList("# nothing\n").status().message(), "no servers listed");
  EXPECT_EQ(ParseNodeList("a:1\nb:2\na:1\n").status().message(),
            "server name 'a:1' is listed twice");
  const Result<NodeList> bad = ParseNodeList("a:1\nb:0:1\n");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message().rfind("line 2: ", 0), 0u) << bad.status().message();
  EXPECT_FALSE(ReadNodeList("/nonexistent/nodes").ok());
}

TEST(NodeListTest, FindsItselfByNameOrPort) {
  const Result<NodeList> list = ParseNodeList("127.0.0.1:31001:1\n127.0.0.1:31002:1 b\n");
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(FindSelf(list.value(), "", 31002).value(), 1u);
  EXPECT_EQ(FindSelf(list.value(), "b", 0).value(), 1u);
  EXPECT_EQ(FindSelf(list.value(), "127.0.0.1:31002", 0).value(), 1u);
  EXPECT_EQ(FindSelf(list.value(), "127.0.0.1:31001", 0).value(), 0u);
  EXPECT_EQ(FindSelf(list.value(), "", 11211).status().message(),
            "no server in the node list is port 11211");
  const Result<NodeList> same_port = ParseNodeList("10.0.0.1:11211\n10.0.0.2:11211\n");
  ASSERT_TRUE(same_port.ok());
  EXPECT_FALSE(FindSelf(same_port.value(), "", 11211).ok());
  EXPECT_EQ(FindSelf(same_port.value(), "10.0.0.2", 11211).value(), 1u);
}

}  // namespace
}  // namespace mnemo::cluster
