// Expected answers to long retrieval lines were checked against memcached 1.6.45 on loopback,
// except where ascii_parser.h says mnemo deliberately differs.
#include "protocol/ascii_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "protocol/command.h"
#include "testing/protocol/parse_transcript.h"

namespace mnemo::protocol {
namespace {

using namespace std::string_literals;
using Kind = AsciiRequest::Kind;

ParserLimits SmallLines() {
  ParserLimits limits;
  limits.max_line = 16;
  return limits;
}

// The transcript of `stream` parsed whole, after checking that every cutting gives the same one.
std::vector<std::string> Transcript(std::string_view stream, const ParserLimits& limits = {}) {
  const std::string problems =
      CutProblems(stream, EveryTwoWayCutAndByteByByte(stream.size()), limits);
  EXPECT_TRUE(problems.empty()) << problems;
  return TranscriptOf(stream, {}, limits);
}

// --- Routing -------------------------------------------------------------------------------------

TEST(AsciiParserTest, MetaWordsGoToTheMetaParser) {
  AsciiParser parser({});
  Command cmd;
  MetaCommand meta;
  AsciiRequest request = parser.Parse("mg foo v\r\n", &cmd, &meta);
  EXPECT_EQ(request.kind, Kind::kMeta);
  EXPECT_EQ(request.meta.status, MetaStatus::kOk);
  EXPECT_EQ(request.consumed, 10u);
  EXPECT_EQ(meta.Key(), "foo");
  for (const std::string_view input :
       {"get a\r\n", "m\r\n", "mgx foo\r\n", "meta\r\n", "   \r\n", "\r\n", "mg\rfoo\r\n",
        " m g\r\n", "mg\tfoo\r\n", "GET / HTTP/1.1\r\n", "  mn\r\n", "mn\n", "m\r\r\n",
        "mz foo\r\n", "mx HTTP/1.1\r\n"}) {
    request = parser.Parse(input, &cmd, &meta);
    EXPECT_EQ(request.kind, Kind::kText) << Escape(input);
    EXPECT_EQ(request.consumed, request.text.consumed) << Escape(input);
  }
  for (const std::string_view input :
       {"mn\r\n", "mn x\n", "mg\r\n", "ms k\r\n", "md k q\r\n", "ma k\r\n", "me k\r\n"}) {
    EXPECT_EQ(parser.Parse(input, &cmd, &meta).kind, Kind::kMeta) << Escape(input);
  }
}

// Until the first word is complete nothing is decided: both parsers would wait.
TEST(AsciiParserTest, AnUnfinishedFirstWordWaits) {
  AsciiParser parser({});
  Command cmd;
  MetaCommand meta;
  for (const std::string_view input : {"", "m", "mg", "  mg", "mg\r", "mg ", "get"}) {
    const AsciiRequest request = parser.Parse(input, &cmd, &meta);
    EXPECT_EQ(request.kind, Kind::kNeedMore) << Escape(input);
    EXPECT_EQ(request.consumed, 0u);
  }
}

// An unfinished storage command says how many bytes it needs in all, so that its connection can
// make room for the whole data block at once; a retrieval or an unfinished line cannot say.
TEST(AsciiParserTest, AnUnfinishedStorageCommandSaysWhatItNeeds) {
  AsciiParser parser({});
  Command cmd;
  MetaCommand meta;
  EXPECT_EQ(parser.Parse("set k 0 0 100\r\nabc", &cmd, &meta).needed, 15u + 100 + 2);
  EXPECT_EQ(parser.Parse("ms k 100\r\nabc", &cmd, &meta).needed, 10u + 100 + 2);
  EXPECT_EQ(parser.Parse("set k 0 0 10", &cmd, &meta).needed, 0u);
  EXPECT_EQ(parser.Parse("get k", &cmd, &meta).needed, 0u);
}

TEST(AsciiParserTest, RefusedDataBlocksAreDiscardedAsTheyArrive) {
  ParserLimits limits;
  limits.item_size_max = 4;
  AsciiParser parser(limits);
  Command cmd;
  MetaCommand meta;
  AsciiRequest request = parser.Parse("set k 0 0 9\r\nabc", &cmd, &meta);
  EXPECT_EQ(request.kind, Kind::kText);
  EXPECT_EQ(request.text.status, ParseStatus::kTooLarge);
  EXPECT_EQ(request.consumed, 13u);
  EXPECT_TRUE(parser.discarding());
  EXPECT_FALSE(parser.at_line_start());
  request = parser.Parse("abc", &cmd, &meta);
  EXPECT_EQ(request.kind, Kind::kDiscard);
  EXPECT_EQ(request.consumed, 3u);
  EXPECT_EQ(parser.Parse("", &cmd, &meta).kind, Kind::kNeedMore);
  request = parser.Parse("defghi\r\nversion\r\n", &cmd, &meta);
  EXPECT_EQ(request.kind, Kind::kDiscard);
  EXPECT_EQ(request.consumed, 8u);
  EXPECT_TRUE(parser.at_line_start());
  request = parser.Parse("version\r\n", &cmd, &meta);
  EXPECT_EQ(request.kind, Kind::kText);
  EXPECT_EQ(cmd.type, CommandType::kVersion);

  request = parser.Parse("ms k 9 T0\r\n", &cmd, &meta);
  EXPECT_EQ(request.kind, Kind::kMeta);
  EXPECT_EQ(request.meta.status, MetaStatus::kTooLarge);
  EXPECT_EQ(parser.Parse("123456789\r\nmn\r\n", &cmd, &meta).consumed, 11u);
  EXPECT_EQ(parser.Parse("mn\r\n", &cmd, &meta).kind, Kind::kMeta);
}

// --- Long retrieval lines ------------------------------------------------------------------------

TEST(AsciiParserTest, LongLinesAreAnsweredPieceByPiece) {
  AsciiParser parser(SmallLines());
  Command cmd;
  MetaCommand meta;
  // 17 bytes without a "\n": longer than max_line.
  AsciiRequest request = parser.Parse("get aa bb cc dd e", &cmd, &meta);
  EXPECT_EQ(request.kind, Kind::kText);
  EXPECT_TRUE(request.long_line);
  EXPECT_EQ(request.text.status, ParseStatus::kOk);
  EXPECT_EQ(request.consumed, 16u);  // up to the key still arriving
  EXPECT_EQ(cmd.type, CommandType::kGet);
  EXPECT_TRUE(cmd.more_keys);
  std::string_view key;
  std::vector<std::string_view> keys;
  while (cmd.keys.Next(&key)) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string_view>{"aa", "bb", "cc", "dd"}));
  EXPECT_FALSE(parser.at_line_start());

  EXPECT_EQ(parser.Parse("e", &cmd, &meta).kind, Kind::kNeedMore);
  request = parser.Parse("ee  ", &cmd, &meta);
  EXPECT_EQ(request.kind, Kind::kText);
  EXPECT_EQ(request.consumed, 4u);
  ASSERT_TRUE(cmd.keys.Next(&key));
  EXPECT_EQ(key, "ee");
  EXPECT_FALSE(cmd.keys.Next(&key));
  EXPECT_TRUE(cmd.more_keys);

  // Spaces alone answer nothing.
  request = parser.Parse("   ", &cmd, &meta);
  EXPECT_EQ(request.kind, Kind::kDiscard);
  EXPECT_EQ(request.consumed, 3u);

  request = parser.Parse("ff\r\nversion\r\n", &cmd, &meta);
  EXPECT_EQ(request.kind, Kind::kText);
  EXPECT_EQ(request.consumed, 4u);
  EXPECT_FALSE(cmd.more_keys);
  ASSERT_TRUE(cmd.keys.Next(&key));
  EXPECT_EQ(key, "ff");
  EXPECT_TRUE(parser.at_line_start());
  EXPECT_EQ(parser.Parse("version\r\n", &cmd, &meta).text.status, ParseStatus::kOk);
  EXPECT_EQ(cmd.type, CommandType::kVersion);
}

TEST(AsciiParserTest, LongLinesKeyByKey) {
  EXPECT_EQ(Transcript("get a bb ccc dddd eeeee\r\nversion\r\n", SmallLines()),
            (std::vector<std::string>{"  key=a", "  key=bb", "  key=ccc", "  key=dddd",
                                      "  key=eeeee", "Ok end of a long get line",
                                      "Ok consumed=9 version", "pending=0"}));
  EXPECT_EQ(Transcript("  gets a b c d e f g h\nmn\r\n", SmallLines()),
            (std::vector<std::string>{"  key=a", "  key=b", "  key=c", "  key=d", "  key=e",
                                      "  key=f", "  key=g", "  key=h", "Ok end of a long gets line",
                                      "Ok consumed=4 mn", "pending=0"}));
  // A line that ends in spaces, or in a bare "\n".
  EXPECT_EQ(Transcript("get a b c d e f g       \r\n", SmallLines()).size(), 9u);
  EXPECT_EQ(Transcript("get a b c d e f g       \n", SmallLines()).size(), 9u);
}

TEST(AsciiParserTest, LongGatLinesReadTheirExptimeFirst) {
  EXPECT_EQ(
      Transcript("gat 100 a b c d e f\r\n", SmallLines()),
      (std::vector<std::string>{"  key=a exptime=100", "  key=b exptime=100", "  key=c exptime=100",
                                "  key=d exptime=100", "  key=e exptime=100", "  key=f exptime=100",
                                "Ok end of a long gat line", "pending=0"}));
  // No key is a valid gat, and finds nothing.
  EXPECT_EQ(Transcript("gats 100              \r\n", SmallLines()),
            (std::vector<std::string>{"Ok end of a long gats line", "pending=0"}));
  EXPECT_EQ(Transcript("gat xyz a b c d e f g\r\nversion\r\n", SmallLines()),
            (std::vector<std::string>{"BadExptime in a long gat line", "Ok consumed=9 version",
                                      "pending=0"}));
  // An exptime token too long for any key is refused as it arrives.
  EXPECT_EQ(Transcript("gat " + std::string(300, '0') + "1 a\r\nversion\r\n", SmallLines()),
            (std::vector<std::string>{"BadExptime in a long gat line", "Ok consumed=9 version",
                                      "pending=0"}));
  EXPECT_EQ(Transcript("gat                   \r\n", SmallLines()),
            (std::vector<std::string>{"Error in a long gat line", "pending=0"}));
}

TEST(AsciiParserTest, ALongGetLineWithoutKeysIsAnError) {
  EXPECT_EQ(
      Transcript("get" + std::string(20, ' ') + "\r\nversion\r\n", SmallLines()),
      (std::vector<std::string>{"Error in a long get line", "Ok consumed=9 version", "pending=0"}));
}

// The keys before a bad key are answered; the error ends the answer and the rest of the line is
// discarded (memcached, which holds the whole line, answers the error alone: see the header).
TEST(AsciiParserTest, ABadKeyEndsALongLine) {
  const std::string key251(251, 'k');
  EXPECT_EQ(Transcript("get a b " + key251 + " c d e f\r\nversion\r\n", SmallLines()),
            (std::vector<std::string>{"  key=a", "  key=b", "BadFormat in a long get line",
                                      "Ok consumed=9 version", "pending=0"}));
  // Too long is known once 252 bytes of it have arrived, before its end.
  EXPECT_EQ(TranscriptOf("get a b " + key251 + "k", {}, SmallLines()),
            (std::vector<std::string>{"  key=a", "  key=b", "BadFormat in a long get line",
                                      "pending=0 discarding"}));
  // 250 bytes and a "\r" may still be a key.
  EXPECT_EQ(TranscriptOf("get a b " + std::string(250, 'k') + "\r", {}, SmallLines()),
            (std::vector<std::string>{"  key=a", "  key=b", "pending=251"}));
  EXPECT_EQ(Transcript("get a b " + std::string(250, 'k') + "\r\n", SmallLines()),
            (std::vector<std::string>{"  key=a", "  key=b", "  key=" + std::string(250, 'k'),
                                      "Ok end of a long get line", "pending=0"}));
  // mnemo's rule for every key: no control byte, NUL included.
  EXPECT_EQ(Transcript("get a b c\x01 d e f g\r\nversion\r\n", SmallLines()),
            (std::vector<std::string>{"  key=a", "  key=b", "Error in a long get line",
                                      "Ok consumed=9 version", "pending=0"}));
  EXPECT_EQ(Transcript("get a b c\0 d e f g\r\nversion\r\n"s, SmallLines()),
            (std::vector<std::string>{"  key=a", "  key=b", "Error in a long get line",
                                      "Ok consumed=9 version", "pending=0"}));
  EXPECT_EQ(Transcript("get a b c\r d e f g\r\nversion\r\n", SmallLines()),
            (std::vector<std::string>{"  key=a", "  key=b", "Error in a long get line",
                                      "Ok consumed=9 version", "pending=0"}));
}

// However long, a line costs one partial key of input: everything before it is consumed.
TEST(AsciiParserTest, ALongLineHoldsAtMostAPartialKey) {
  std::string line = "get";
  for (int i = 0; i < 100000; ++i) line += " key" + std::to_string(i);
  AsciiParser parser({});
  Command cmd;
  MetaCommand meta;
  std::string_view input = line;
  size_t keys = 0;
  while (!input.empty()) {
    const AsciiRequest request = parser.Parse(input.substr(0, 4096), &cmd, &meta);
    if (request.kind == Kind::kNeedMore) break;
    ASSERT_TRUE(request.kind == Kind::kText || request.kind == Kind::kDiscard);
    std::string_view key;
    while (cmd.keys.Next(&key)) ++keys;
    cmd = Command{};
    input.remove_prefix(request.consumed);
  }
  EXPECT_LE(input.size(), std::string_view("key99999").size());
  const std::string end = std::string(input) + "\r\n";  // the keys point into it
  const AsciiRequest last = parser.Parse(end, &cmd, &meta);
  EXPECT_FALSE(cmd.more_keys);
  EXPECT_EQ(last.text.status, ParseStatus::kOk);
  std::string_view key;
  while (cmd.keys.Next(&key)) ++keys;
  EXPECT_EQ(keys, 100000u);
}

TEST(AsciiParserTest, LongLinesOfOtherCommandsClose) {
  for (const std::string_view word : {"set", "bget", "getx", "mg"}) {
    EXPECT_EQ(Transcript(std::string(word) + " a b c d e f g h i j\r\n", SmallLines()),
              (std::vector<std::string>{"Close consumed=0", "closed"}))
        << word;
  }
}

TEST(AsciiParserTest, PipelinesMixingEverythingGiveOneTranscript) {
  ParserLimits limits = SmallLines();
  limits.item_size_max = 8;
  const std::string stream =
      "set a 0 0 3\r\nabc\r\n"
      "get a b c d e f g h i\r\n"
      "mg a v\r\n"
      "set big 0 0 20\r\n01234567890123456789\r\n"
      "gat 5 x y z w v u t\r\n"
      "ms k 12 T0\r\n0123456789ab\r\n"
      "get a " +
      std::string(260, 'k') + " b\r\n" + "get a\r\n" + "mn\r\n";
  const std::vector<std::string> transcript = Transcript(stream, limits);
  EXPECT_EQ(transcript.back(), "pending=0");
  EXPECT_EQ(transcript[transcript.size() - 2], "Ok consumed=4 mn");
}

}  // namespace
}  // namespace mnemo::protocol
