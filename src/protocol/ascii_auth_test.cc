#include "protocol/ascii_auth.h"

#include <gtest/gtest.h>

#include <string>

namespace mnemo::protocol {
namespace {

using Kind = AsciiAuthRequest::Kind;

TEST(AsciiAuthTest, ReadsTheSetHandshake) {
  const std::string input = "set anykey 0 0 12\r\nalice secret\r\nget a\r\n";
  const AsciiAuthRequest request = ParseAsciiAuth(input);
  ASSERT_EQ(request.kind, Kind::kCredentials);
  EXPECT_EQ(request.user, "alice");
  EXPECT_EQ(request.password, "secret");
  EXPECT_EQ(request.consumed, input.size() - 7);
}

TEST(AsciiAuthTest, ThePasswordKeepsItsSpaces) {
  const AsciiAuthRequest request = ParseAsciiAuth("set k 1 2 9\r\nbob  a b \r\n");
  ASSERT_EQ(request.kind, Kind::kCredentials);
  EXPECT_EQ(request.user, "bob");
  EXPECT_EQ(request.password, " a b ");
}

TEST(AsciiAuthTest, WaitsForTheWholeHandshakeAndSaysHowMuch) {
  const std::string input = "set k 0 0 12\r\nalice secret\r\n";
  for (size_t cut = 0; cut < input.size(); ++cut) {
    const AsciiAuthRequest request = ParseAsciiAuth(input.substr(0, cut));
    EXPECT_EQ(request.kind, Kind::kNeedMore) << cut;
    EXPECT_EQ(request.consumed, 0u);
    if (cut >= 14) {
      EXPECT_EQ(request.needed, input.size()) << cut;
    }
  }
}

TEST(AsciiAuthTest, AnyOtherLineIsUnauthenticated) {
  for (const std::string line :
       {"get foo\r\n", "version\r\n", "set a 0 0\r\n", "mg foo v\r\n", "set a 0 0 x\r\n",
        "set a 0 0 -1\r\n", "set a 0 0 99999999999\r\n", "  set a 0 0 5\r\n"}) {
    const AsciiAuthRequest request = ParseAsciiAuth(line + "rest");
    ASSERT_EQ(request.kind, Kind::kReply) << line;
    EXPECT_EQ(request.reply, kUnauthenticated);
    EXPECT_EQ(request.consumed, line.size()) << line;
  }
}

TEST(AsciiAuthTest, KeepsMemcachedsQuirks) {
  // Only the first three bytes name the command.
  EXPECT_EQ(ParseAsciiAuth("setx k 0 0 3\r\na b\r\n").kind, Kind::kCredentials);
  // A bare "\n" costs the line its last byte: the size is read as "1", not "12".
  const AsciiAuthRequest bare = ParseAsciiAuth("set k 0 0 12\nab\r\n");
  ASSERT_EQ(bare.kind, Kind::kReply);
  EXPECT_EQ(bare.reply, kAuthBadTermination);
  // ... and a size alone at the end of such a line is lost.
  EXPECT_EQ(ParseAsciiAuth("set k 0 0 3\na b\r\n").reply, kUnauthenticated);
}

TEST(AsciiAuthTest, ShortOrEndlessLinesClose) {
  EXPECT_EQ(ParseAsciiAuth("ab").kind, Kind::kNeedMore);
  EXPECT_EQ(ParseAsciiAuth("quit\r\n").kind, Kind::kClose);
  EXPECT_EQ(ParseAsciiAuth("\r\n\r\n\r\n").kind, Kind::kClose);
  EXPECT_EQ(ParseAsciiAuth(std::string(kMaxLineWait, 'x')).kind, Kind::kNeedMore);
  EXPECT_EQ(ParseAsciiAuth(std::string(kMaxLineWait + 1, 'x')).kind, Kind::kClose);
}

TEST(AsciiAuthTest, RefusesBadTokens) {
  const AsciiAuthRequest big = ParseAsciiAuth("set k 0 0 16385\r\nalice secret\r\n");
  ASSERT_EQ(big.kind, Kind::kReply);
  EXPECT_EQ(big.reply, kAuthTokenTooLong);
  EXPECT_EQ(big.consumed, 17u);  // the line only
  EXPECT_EQ(ParseAsciiAuth("set k 0 0 16384\r\n").kind, Kind::kNeedMore);
  const AsciiAuthRequest unterminated = ParseAsciiAuth("set k 0 0 3\r\na bxx");
  ASSERT_EQ(unterminated.kind, Kind::kReply);
  EXPECT_EQ(unterminated.reply, kAuthBadTermination);
  EXPECT_EQ(unterminated.consumed, 18u);
  const AsciiAuthRequest no_space = ParseAsciiAuth("set k 0 0 5\r\nalice\r\n");
  ASSERT_EQ(no_space.kind, Kind::kReply);
  EXPECT_EQ(no_space.reply, kAuthBadFormat);
}

}  // namespace
}  // namespace mnemo::protocol
