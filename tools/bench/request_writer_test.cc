#include "request_writer.h"

#include <gtest/gtest.h>

namespace mnemo::bench {
namespace {

TEST(RequestWriterTest, WritesTextRequests) {
  std::string out;
  AppendGet(Protocol::kText, "key:7", &out);
  AppendSet(Protocol::kText, "key:8", "abc", &out);
  AppendSet(Protocol::kText, "k", "", &out);
  EXPECT_EQ(out, "get key:7\r\nset key:8 0 0 3\r\nabc\r\nset k 0 0 0\r\n\r\n");
}

TEST(RequestWriterTest, WritesMetaRequests) {
  std::string out;
  AppendGet(Protocol::kMeta, "key:7", &out);
  AppendSet(Protocol::kMeta, "key:8", std::string(1000, 'v'), &out);
  EXPECT_EQ(out, "mg key:7 v\r\nms key:8 1000\r\n" + std::string(1000, 'v') + "\r\n");
}

}  // namespace
}  // namespace mnemo::bench
