#include "protocol/binary_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mnemo::protocol {
namespace {

using binary::Opcode;

std::string Request(uint8_t opcode, std::string_view extras, std::string_view key,
                    std::string_view value, uint32_t opaque = 0, uint64_t cas = 0) {
  std::string out(binary::kHeaderSize, '\0');
  out[0] = static_cast<char>(0x80);
  out[1] = static_cast<char>(opcode);
  binary::Store16(out.data() + 2, static_cast<uint16_t>(key.size()));
  out[4] = static_cast<char>(extras.size());
  binary::Store32(out.data() + 8, static_cast<uint32_t>(extras.size() + key.size() + value.size()));
  binary::Store32(out.data() + 12, opaque);
  binary::Store64(out.data() + 16, cas);
  out.append(extras).append(key).append(value);
  return out;
}

std::string Header(uint8_t opcode, uint16_t key, uint8_t extras, uint32_t body) {
  std::string out(binary::kHeaderSize, '\0');
  out[0] = static_cast<char>(0x80);
  out[1] = static_cast<char>(opcode);
  binary::Store16(out.data() + 2, key);
  out[4] = static_cast<char>(extras);
  binary::Store32(out.data() + 8, body);
  return out;
}

std::string SetExtras(uint32_t flags, uint32_t exptime) {
  std::string extras(8, '\0');
  binary::Store32(extras.data(), flags);
  binary::Store32(extras.data() + 4, exptime);
  return extras;
}

// What a stream parses to, request by request, with discards folded away.
struct Parsed {
  BinaryRequest::Kind kind;
  BinaryError error;
  uint8_t opcode;
  std::string key;
  std::string value;
  bool operator==(const Parsed&) const = default;
};

// Parses `stream` fed `step` bytes at a time, as a connection receives it.
std::vector<Parsed> ParseAll(std::string_view stream, size_t step, size_t item_size_max = 1024) {
  ParserLimits limits;
  limits.item_size_max = item_size_max;
  BinaryParser parser(limits);
  std::vector<Parsed> out;
  std::string buffer;
  size_t fed = 0;
  for (;;) {
    BinaryCommand cmd;
    const BinaryRequest request = parser.Parse(buffer, &cmd);
    EXPECT_LE(request.consumed, buffer.size());
    if (request.kind == BinaryRequest::Kind::kNeedMore) {
      EXPECT_EQ(request.consumed, 0u);
      if (fed == stream.size()) break;
      const size_t n = std::min(step, stream.size() - fed);
      buffer.append(stream.substr(fed, n));
      fed += n;
      continue;
    }
    if (request.kind == BinaryRequest::Kind::kClose) {
      out.push_back({request.kind, request.error, 0, "", ""});
      break;
    }
    if (request.kind == BinaryRequest::Kind::kCommand) {
      out.push_back(
          {request.kind, request.error, cmd.opcode, std::string(cmd.key), std::string(cmd.value)});
      if (request.error == BinaryError::kBadLengths ||
          request.error == BinaryError::kBodyTooLarge || request.error == BinaryError::kInvalid) {
        break;
      }
    }
    buffer.erase(0, request.consumed);
  }
  return out;
}

TEST(BinaryParserTest, ReadsASetWithItsExtrasKeyAndValue) {
  const std::string stream =
      Request(0x11, SetExtras(0xdeadbeef, 300), "key", "value", 0x01020304, 77);
  BinaryParser parser{ParserLimits()};
  BinaryCommand cmd;
  const BinaryRequest request = parser.Parse(stream, &cmd);
  ASSERT_EQ(request.kind, BinaryRequest::Kind::kCommand);
  EXPECT_EQ(request.error, BinaryError::kNone);
  EXPECT_EQ(request.consumed, stream.size());
  EXPECT_EQ(cmd.opcode, 0x11);
  EXPECT_EQ(cmd.base, Opcode::kSet);
  EXPECT_TRUE(cmd.quiet);
  EXPECT_EQ(cmd.key, "key");
  EXPECT_EQ(cmd.value, "value");
  EXPECT_EQ(cmd.flags, 0xdeadbeefu);
  EXPECT_EQ(cmd.exptime, 300u);
  EXPECT_EQ(cmd.cas, 77u);
  char opaque[4];
  std::memcpy(opaque, &cmd.opaque, 4);
  EXPECT_EQ(std::string_view(opaque, 4), std::string_view("\x01\x02\x03\x04", 4));
}

TEST(BinaryParserTest, ReadsIncrementExtras) {
  std::string extras(20, '\0');
  binary::Store64(extras.data(), 5);
  binary::Store64(extras.data() + 8, 1000);
  binary::Store32(extras.data() + 16, 0xffffffff);
  const std::string stream = Request(0x05, extras, "n", "");
  BinaryParser parser{ParserLimits()};
  BinaryCommand cmd;
  ASSERT_EQ(parser.Parse(stream, &cmd).kind, BinaryRequest::Kind::kCommand);
  EXPECT_EQ(cmd.delta, 5u);
  EXPECT_EQ(cmd.initial, 1000u);
  EXPECT_EQ(cmd.exptime, 0xffffffffu);
  EXPECT_FALSE(cmd.quiet);
}

TEST(BinaryParserTest, SaysHowManyBytesAStorageCommandNeeds) {
  const std::string stream = Request(0x01, SetExtras(0, 0), "k", std::string(500, 'v'));
  BinaryParser parser{ParserLimits()};
  BinaryCommand cmd;
  EXPECT_EQ(parser.Parse(stream.substr(0, 10), &cmd).needed, 0u);
  EXPECT_EQ(parser.Parse(stream.substr(0, 30), &cmd).needed, 24u + 8 + 1);
  const BinaryRequest partial = parser.Parse(stream.substr(0, 40), &cmd);
  EXPECT_EQ(partial.kind, BinaryRequest::Kind::kNeedMore);
  EXPECT_EQ(partial.needed, stream.size());
}

TEST(BinaryParserTest, AnySplitGivesTheSameRequests) {
  std::string extras4(4, '\0');
  const std::string stream =
      Request(0x09, "", "a", "") + Request(0x01, SetExtras(1, 2), "bb", "xyz") +
      Request(0x1d, extras4, "c", "") + Request(0x0a, "", "", "") + Request(0x10, "", "items", "") +
      Request(0x0e, "", "d", "tail") + Request(0x1b, extras4, "", "") + Request(0x0b, "", "", "");
  const std::vector<Parsed> whole = ParseAll(stream, stream.size());
  ASSERT_EQ(whole.size(), 8u);
  EXPECT_EQ(whole[1],
            (Parsed{BinaryRequest::Kind::kCommand, BinaryError::kNone, 0x01, "bb", "xyz"}));
  EXPECT_EQ(whole[6].error, BinaryError::kUnknownCommand);
  for (size_t step = 1; step < stream.size(); ++step) {
    EXPECT_EQ(ParseAll(stream, step), whole) << "step " << step;
  }
}

TEST(BinaryParserTest, AWrongMagicByteCloses) {
  std::string stream = Request(0x0a, "", "", "");
  stream[0] = static_cast<char>(0x81);
  const std::vector<Parsed> parsed = ParseAll(stream, 1);
  ASSERT_EQ(parsed.size(), 1u);
  EXPECT_EQ(parsed[0].kind, BinaryRequest::Kind::kClose);
  // Text is not judged before a whole header has arrived, as memcached waits for one.
  BinaryParser parser{ParserLimits()};
  BinaryCommand cmd;
  EXPECT_EQ(parser.Parse("get foo\r\n", &cmd).kind, BinaryRequest::Kind::kNeedMore);
}

TEST(BinaryParserTest, JudgesHeadersInMemcachedsOrder) {
  struct Case {
    std::string stream;
    BinaryError error;
  };
  const std::vector<Case> cases = {
      // The key and extras are longer than the body (judged once they have arrived).
      {Header(0x00, 3, 0, 2) + "abc", BinaryError::kBadLengths},
      {Header(0x01, 2, 8, 9) + std::string(10, 'x'), BinaryError::kBadLengths},
      {Header(0x42, 3, 0, 2) + "abc", BinaryError::kBadLengths},
      // Bodies over 1 GiB, keys over 250 bytes.
      {Header(0x01, 1, 8, (1u << 30) + 1) + std::string(9, 'x'), BinaryError::kBodyTooLarge},
      {Header(0x42, 1, 0, (1u << 30) + 1) + "k", BinaryError::kBodyTooLarge},
      {Header(0x00, 251, 0, 251) + std::string(251, 'k'), BinaryError::kInvalid},
      {Header(0x42, 251, 0, 251) + std::string(251, 'k'), BinaryError::kInvalid},
      // Lengths the opcode does not allow.
      {Header(0x00, 0, 0, 0), BinaryError::kInvalid},
      {Header(0x00, 1, 0, 2) + "kv", BinaryError::kInvalid},
      {Header(0x01, 1, 4, 5) + "eeeek", BinaryError::kInvalid},
      {Header(0x01, 0, 8, 8) + std::string(8, 'e'), BinaryError::kInvalid},
      {Header(0x04, 1, 4, 5) + "eeeek", BinaryError::kInvalid},
      {Header(0x05, 1, 8, 9) + std::string(9, 'e'), BinaryError::kInvalid},
      {Header(0x05, 1, 20, 22) + std::string(22, 'e'), BinaryError::kInvalid},
      {Header(0x07, 0, 0, 1) + "x", BinaryError::kInvalid},
      {Header(0x08, 0, 2, 2) + "ee", BinaryError::kInvalid},
      {Header(0x08, 1, 0, 1) + "k", BinaryError::kInvalid},
      {Header(0x0a, 1, 0, 1) + "k", BinaryError::kInvalid},
      {Header(0x0b, 0, 4, 4) + "eeee", BinaryError::kInvalid},
      {Header(0x0e, 0, 0, 3) + "vvv", BinaryError::kInvalid},
      {Header(0x0e, 1, 4, 6) + "eeeekv", BinaryError::kInvalid},
      {Header(0x10, 0, 4, 4) + "eeee", BinaryError::kInvalid},
      {Header(0x1c, 1, 0, 1) + "k", BinaryError::kInvalid},
      {Header(0x1d, 0, 4, 4) + "eeee", BinaryError::kInvalid},
      {Header(0x20, 0, 0, 1) + "x", BinaryError::kInvalid},
      {Header(0x21, 0, 0, 1) + "x", BinaryError::kInvalid},
      // Unknown opcodes, verbosity among them.
      {Header(0x1b, 0, 4, 4) + "eeee", BinaryError::kUnknownCommand},
      {Header(0xff, 0, 0, 0), BinaryError::kUnknownCommand},
  };
  for (const Case& c : cases) {
    const std::vector<Parsed> parsed = ParseAll(c.stream, 1);
    ASSERT_EQ(parsed.size(), 1u) << testing::PrintToString(c.stream);
    EXPECT_EQ(parsed[0].error, c.error) << testing::PrintToString(c.stream);
  }
}

TEST(BinaryParserTest, WaitsForExtrasAndKeyBeforeJudging) {
  const std::string stream = Header(0x00, 3, 0, 2) + "abc";
  BinaryParser parser{ParserLimits()};
  BinaryCommand cmd;
  const BinaryRequest request = parser.Parse(stream.substr(0, 26), &cmd);
  EXPECT_EQ(request.kind, BinaryRequest::Kind::kNeedMore);
  EXPECT_EQ(request.needed, 27u);
}

TEST(BinaryParserTest, DiscardsTheRestOfABodyAndGoesOn) {
  std::string extras4(4, '\0');
  const std::string noop = Request(0x0a, "", "", "");
  // An unknown opcode with a body; a gat and a stat with bytes past their key.
  const std::string stream = Header(0x1b, 1, 4, 9) + "eeeek" + "junk" + noop +
                             Header(0x1d, 1, 4, 8) + "eeeek" + "abc" + noop +
                             Header(0x10, 5, 0, 7) + "itemsxx" + noop;
  for (size_t step : {size_t{1}, size_t{5}, stream.size()}) {
    const std::vector<Parsed> parsed = ParseAll(stream, step);
    ASSERT_EQ(parsed.size(), 6u);
    EXPECT_EQ(parsed[0].error, BinaryError::kUnknownCommand);
    EXPECT_EQ(parsed[1].opcode, 0x0a);
    EXPECT_EQ(parsed[2],
              (Parsed{BinaryRequest::Kind::kCommand, BinaryError::kNone, 0x1d, "k", ""}));
    EXPECT_EQ(parsed[3].opcode, 0x0a);
    EXPECT_EQ(parsed[4].key, "items");
    EXPECT_EQ(parsed[5].opcode, 0x0a);
  }
}

TEST(BinaryParserTest, RefusesAValueLargerThanTheLimitAndDiscardsIt) {
  const std::string big = Request(0x11, SetExtras(0, 0), "k", std::string(1025, 'v'));
  const std::string fits = Request(0x01, SetExtras(0, 0), "k", std::string(1024, 'v'));
  const std::string stream = big + fits;
  for (size_t step : {size_t{1}, size_t{100}, stream.size()}) {
    const std::vector<Parsed> parsed = ParseAll(stream, step, 1024);
    ASSERT_EQ(parsed.size(), 2u);
    EXPECT_EQ(parsed[0],
              (Parsed{BinaryRequest::Kind::kCommand, BinaryError::kTooLarge, 0x11, "k", ""}));
    EXPECT_EQ(parsed[1].error, BinaryError::kNone);
    EXPECT_EQ(parsed[1].value.size(), 1024u);
  }
  // Refused from the header alone: the value need not arrive first.
  BinaryParser parser{[] {
    ParserLimits limits;
    limits.item_size_max = 1024;
    return limits;
  }()};
  BinaryCommand cmd;
  const BinaryRequest request = parser.Parse(big.substr(0, 33), &cmd);
  EXPECT_EQ(request.error, BinaryError::kTooLarge);
  EXPECT_EQ(request.consumed, 33u);
  EXPECT_TRUE(parser.discarding());
}

TEST(BinaryParserTest, HandsOutSaslDataWholeAndRefusesItOverTheLimit) {
  const std::string auth = Request(0x21, "", "PLAIN", std::string("\0alice\0secret", 13));
  const std::string step = Request(0x22, "", "PLAIN", "");
  const std::string big = Request(0x21, "", "PLAIN", std::string(1025, 'x'));
  const std::string stream = auth + step + big + Request(0x0a, "", "", "");
  for (size_t step_size : {size_t{1}, size_t{7}, stream.size()}) {
    const std::vector<Parsed> parsed = ParseAll(stream, step_size, 1024);
    ASSERT_EQ(parsed.size(), 4u);
    EXPECT_EQ(parsed[0], (Parsed{BinaryRequest::Kind::kCommand, BinaryError::kNone, 0x21, "PLAIN",
                                 std::string("\0alice\0secret", 13)}));
    EXPECT_EQ(parsed[1],
              (Parsed{BinaryRequest::Kind::kCommand, BinaryError::kNone, 0x22, "PLAIN", ""}));
    EXPECT_EQ(parsed[2].error, BinaryError::kTooLarge);
    EXPECT_EQ(parsed[3].opcode, 0x0a);
  }
}

}  // namespace
}  // namespace mnemo::protocol
