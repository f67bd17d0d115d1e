#include "protocol/negotiation.h"

#include <gtest/gtest.h>

namespace mnemo::protocol {
namespace {

TEST(NegotiationTest, OnlyTheBinaryMagicByteMeansBinary) {
  EXPECT_EQ(NegotiateProtocol('\x80'), WireProtocol::kBinary);
  for (const char first : {'g', 's', 'm', ' ', '\r', '\n', '\0', '\x81', '\x7f', '\xff'}) {
    EXPECT_EQ(NegotiateProtocol(first), WireProtocol::kAscii) << static_cast<int>(first);
  }
  EXPECT_EQ(WireProtocolName(WireProtocol::kAscii), "ascii");
  EXPECT_EQ(WireProtocolName(WireProtocol::kBinary), "binary");
}

}  // namespace
}  // namespace mnemo::protocol
