#include "response_reader.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace mnemo::bench {
namespace {

// Feeds `stream` to a reader in pieces of the given sizes, as a connection would: bytes stay in a
// buffer until consumed. Returns the replies, or stops at the first kMalformed (recorded as
// kError with `malformed` set).
struct Outcome {
  std::vector<ReplyKind> replies;
  bool malformed = false;
  size_t left_over = 0;
};

Outcome Feed(const std::string& stream, const std::vector<size_t>& pieces) {
  ResponseReader reader;
  Outcome outcome;
  std::string buffer;
  size_t pos = 0;
  for (size_t piece : pieces) {
    buffer.append(stream, pos, piece);
    pos += piece;
    while (true) {
      const ReadResult r = reader.Next(buffer);
      EXPECT_LE(r.consumed, buffer.size());
      buffer.erase(0, r.consumed);
      if (r.status == ReadStatus::kMalformed) {
        outcome.malformed = true;
        return outcome;
      }
      if (r.status == ReadStatus::kNeedMore) break;
      outcome.replies.push_back(r.kind);
    }
  }
  outcome.left_over = buffer.size();
  return outcome;
}

Outcome FeedWhole(const std::string& stream) { return Feed(stream, {stream.size()}); }

const std::string kValue1k(1024, 'v');
const std::string kMixedStream =
    "VALUE key:1 0 5\r\nhello\r\nEND\r\n"
    "END\r\n"
    "STORED\r\n"
    "VALUE key:2 7 5 99\r\nEND\r\n\r\nEND\r\n"  // a value that looks like framing
    "NOT_STORED\r\nEXISTS\r\nNOT_FOUND\r\n"
    "SERVER_ERROR out of memory storing object\r\n"
    "CLIENT_ERROR bad data chunk\r\n"
    "ERROR\r\n"
    "VA 3 f0 t-1\r\nabc\r\n"
    "EN\r\n"
    "HD\r\n"
    "NS\r\nEX\r\nNF\r\n"
    "VALUE big 0 1024\r\n" +
    kValue1k + "\r\nEND\r\n" + "VA 1024\r\n" + kValue1k + "\r\n";

const std::vector<ReplyKind> kMixedReplies = {
    ReplyKind::kHit,       ReplyKind::kMiss,      ReplyKind::kStored,    ReplyKind::kHit,
    ReplyKind::kNotStored, ReplyKind::kNotStored, ReplyKind::kNotStored, ReplyKind::kError,
    ReplyKind::kError,     ReplyKind::kError,     ReplyKind::kHit,       ReplyKind::kMiss,
    ReplyKind::kStored,    ReplyKind::kNotStored, ReplyKind::kNotStored, ReplyKind::kNotStored,
    ReplyKind::kHit,       ReplyKind::kHit};

TEST(ResponseReaderTest, RecognisesEveryReply) {
  const Outcome outcome = FeedWhole(kMixedStream);
  EXPECT_FALSE(outcome.malformed);
  EXPECT_EQ(outcome.replies, kMixedReplies);
  EXPECT_EQ(outcome.left_over, 0u);
}

TEST(ResponseReaderTest, ByteByByteGivesTheSameReplies) {
  const Outcome outcome = Feed(kMixedStream, std::vector<size_t>(kMixedStream.size(), 1));
  EXPECT_FALSE(outcome.malformed);
  EXPECT_EQ(outcome.replies, kMixedReplies);
}

TEST(ResponseReaderTest, RandomSplitsGiveTheSameReplies) {
  std::mt19937 rng(17);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<size_t> pieces;
    for (size_t left = kMixedStream.size(); left > 0;) {
      const size_t piece = std::min<size_t>(left, 1 + rng() % 40);
      pieces.push_back(piece);
      left -= piece;
    }
    const Outcome outcome = Feed(kMixedStream, pieces);
    EXPECT_FALSE(outcome.malformed);
    EXPECT_EQ(outcome.replies, kMixedReplies) << "trial " << trial;
  }
}

// A value streams through: once its header is read, the reader consumes value bytes as they come
// and never asks the caller to hold the whole value.
TEST(ResponseReaderTest, SkipsValuesWithoutBufferingThem) {
  const std::string header = "VALUE k 0 100000\r\n";
  ResponseReader reader;
  ReadResult r = reader.Next(header + std::string(500, 'x'));
  EXPECT_EQ(r.status, ReadStatus::kNeedMore);
  EXPECT_EQ(r.consumed, header.size() + 500);
  r = reader.Next(std::string(99500, 'x') + "\r\nEND\r\n");
  EXPECT_EQ(r.status, ReadStatus::kReply);
  EXPECT_EQ(r.kind, ReplyKind::kHit);
  EXPECT_EQ(r.consumed, 99500u + 7);
}

TEST(ResponseReaderTest, IncompleteLinesAreLeftInTheBuffer) {
  ResponseReader reader;
  const ReadResult r = reader.Next("STOR");
  EXPECT_EQ(r.status, ReadStatus::kNeedMore);
  EXPECT_EQ(r.consumed, 0u);
}

TEST(ResponseReaderTest, RejectsWhatIsNotAReply) {
  for (const char* bad :
       {"HELLO\r\n", "STORED\n", "VALUE k 0\r\n", "VALUE k 0 x\r\n", "VA\r\n",
        "VALUE k 0 2\r\nabXY", "VALUE k 0 2\r\nab\r\nSTORED\r\n", "VA 2\r\nabc\r\n", "\r\n"}) {
    EXPECT_TRUE(FeedWhole(bad).malformed) << bad;
  }
  EXPECT_TRUE(FeedWhole(std::string(ResponseReader::kMaxLine, 'a')).malformed);
}

}  // namespace
}  // namespace mnemo::bench
