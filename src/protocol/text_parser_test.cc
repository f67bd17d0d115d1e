// Expected results were checked against memcached 1.6.45 on loopback, except where a test says
// mnemo deliberately differs (see text_parser.h).
#include "protocol/text_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "protocol/command.h"
#include "testing/protocol/parse_transcript.h"

namespace mnemo::protocol {
namespace {

using namespace std::string_literals;

// One parse of `input`, described as parse_transcript.h does.
std::string Parse(std::string_view input, const ParserLimits& limits = {}) {
  Command cmd;
  return DescribeResult(ParseTextCommand(input, limits, &cmd), cmd);
}

// --- Retrieval -----------------------------------------------------------------------------------

TEST(TextParserTest, Get) {
  EXPECT_EQ(Parse("get a\r\n"), "Ok consumed=7 get k=a");
  EXPECT_EQ(Parse("get a\n"), "Ok consumed=6 get k=a");
  EXPECT_EQ(Parse("gets a b c\r\n"), "Ok consumed=12 gets k=a k=b k=c");
  EXPECT_EQ(Parse("get  a   b  \r\n"), "Ok consumed=14 get k=a k=b");
  // The command word is what precedes the first space; "bget" is gone since 1.6.18.
  EXPECT_EQ(Parse("  get a\r\n"), "Error consumed=9");
  EXPECT_EQ(Parse("bget a\r\n"), "Error consumed=8");
}

TEST(TextParserTest, GetIgnoresNoreply) {
  EXPECT_EQ(Parse("get a noreply\r\n"), "Ok consumed=15 get k=a k=noreply");
}

TEST(TextParserTest, GetWithoutKeysIsAFormatError) {
  EXPECT_EQ(Parse("get\r\n"), "BadFormat consumed=5");
  EXPECT_EQ(Parse("get   \r\n"), "BadFormat consumed=8");
  EXPECT_EQ(Parse("gets\n"), "BadFormat consumed=5");
}

TEST(TextParserTest, CommandWordsAreCaseSensitiveAndSplitOnSpacesOnly) {
  EXPECT_EQ(Parse("GET k\r\n"), "Error consumed=7");
  EXPECT_EQ(Parse("get\ta\r\n"), "Error consumed=7");
  EXPECT_EQ(Parse("\tget a\r\n"), "Error consumed=8");
}

TEST(TextParserTest, KeyLength) {
  const std::string key250(250, 'k');
  const std::string key251(251, 'k');
  EXPECT_EQ(Parse("get " + key250 + "\r\n"), "Ok consumed=256 get k=" + key250);
  EXPECT_EQ(Parse("get " + key251 + "\r\n"), "BadFormat consumed=257");
  // The whole multi-get answers only the error, wherever the long key is.
  EXPECT_EQ(Parse("get a " + key251 + " b\r\n"), "BadFormat consumed=261");
  EXPECT_EQ(Parse("gat 0 a " + key251 + "\r\n"), "BadFormat consumed=261");
}

// Deliberate: memcached accepts control bytes in keys; mnemo answers ERROR.
TEST(TextParserTest, KeysMayNotHoldControlBytes) {
  EXPECT_EQ(Parse("get a\tb\r\n"), "Error consumed=9");
  EXPECT_EQ(Parse("get a\x01\r\n"), "Error consumed=8");
  EXPECT_EQ(Parse("get ok a\x7f\r\n"), "Error consumed=11");
  EXPECT_EQ(Parse("get a\r\r\n"), "Error consumed=8");
  // Length is checked first, as memcached does, so every multi-get it refuses answers the same.
  EXPECT_EQ(Parse("get a\x01 " + std::string(251, 'k') + "\r\n"), "BadFormat consumed=260");
  // Bytes above 0x7f are not control bytes.
  EXPECT_EQ(Parse("get k\xff\r\n"), "Ok consumed=8 get k=k\\xff");
}

// Every byte value at every offset of a key, in a single-key and a multi-key command.
TEST(TextParserTest, ControlBytesAreFoundAnywhereInAKey) {
  for (int byte = 1; byte < 256; ++byte) {
    if (byte == ' ' || byte == '\n') continue;
    const bool control = byte < 0x20 || byte == 0x7f;
    for (size_t at = 0; at < 19; ++at) {
      std::string key(19, 'k');
      key[at] = static_cast<char>(byte);
      Command cmd;
      const ParseStatus status = ParseTextCommand("get a " + key + " b\r\n", {}, &cmd).status;
      EXPECT_EQ(status, control ? ParseStatus::kError : ParseStatus::kOk) << byte << " " << at;
      const ParseStatus single = ParseTextCommand("touch " + key + " 1\r\n", {}, &cmd).status;
      EXPECT_EQ(single, control ? ParseStatus::kError : ParseStatus::kOk) << byte << " " << at;
    }
  }
}

TEST(TextParserTest, GatAndGats) {
  EXPECT_EQ(Parse("gat 10 a b\r\n"), "Ok consumed=12 gat k=a k=b exptime=10");
  EXPECT_EQ(Parse("gats -1 a\r\n"), "Ok consumed=11 gats k=a exptime=-1");
  // A gat needs a key.
  EXPECT_EQ(Parse("gat 10\r\n"), "BadFormat consumed=8");
  EXPECT_EQ(Parse("gat 10   \r\n"), "BadFormat consumed=11");
  EXPECT_EQ(Parse("gat\r\n"), "BadFormat consumed=5");
  EXPECT_EQ(Parse("gat abc k\r\n"), "BadExptime consumed=11");
  EXPECT_EQ(Parse("gat 99999999999999999999 a\r\n"), "BadExptime consumed=28");
  // gat does not look for noreply.
  EXPECT_EQ(Parse("gat x k noreply\r\n"), "BadExptime consumed=17");
  // The exptime is a token of digits (decimal.h's ParseTokenI32): no wrapping, no '+'.
  EXPECT_EQ(Parse("gat 4294967297 k\r\n"), "BadExptime consumed=18");
  EXPECT_EQ(Parse("gat +1 k\r\n"), "BadExptime consumed=10");
}

// --- Storage -------------------------------------------------------------------------------------

TEST(TextParserTest, Set) {
  EXPECT_EQ(Parse("set k 0 0 1\r\na\r\n"), "Ok consumed=16 set key=k value=\"a\"");
  EXPECT_EQ(Parse("set k 5 100 3\r\nabc\r\n"),
            "Ok consumed=20 set key=k flags=5 exptime=100 value=\"abc\"");
  EXPECT_EQ(Parse("set k  0  0  1 \r\na\r\nrest"), "Ok consumed=20 set key=k value=\"a\"");
  EXPECT_EQ(Parse("set k 0 0 1\na\r\n"), "Ok consumed=15 set key=k value=\"a\"");
  EXPECT_EQ(Parse("set k 4294967295 -1 1\r\na\r\n"),
            "Ok consumed=26 set key=k flags=4294967295 exptime=-1 value=\"a\"");
}

TEST(TextParserTest, EveryStorageCommand) {
  EXPECT_EQ(Parse("add k 1 2 1\r\na\r\n"),
            "Ok consumed=16 add key=k flags=1 exptime=2 value=\"a\"");
  EXPECT_EQ(Parse("replace k 0 0 1\r\na\r\n"), "Ok consumed=20 replace key=k value=\"a\"");
  EXPECT_EQ(Parse("append k 0 0 1\r\na\r\n"), "Ok consumed=19 append key=k value=\"a\"");
  EXPECT_EQ(Parse("prepend k 0 0 1\r\na\r\n"), "Ok consumed=20 prepend key=k value=\"a\"");
  EXPECT_EQ(Parse("cas k 0 0 1 99\r\na\r\n"), "Ok consumed=19 cas key=k cas=99 value=\"a\"");
}

TEST(TextParserTest, ValuesAreBytes) {
  EXPECT_EQ(Parse("set k 0 0 4\r\na\r\nb\r\n"), "Ok consumed=19 set key=k value=\"a\\r\\nb\"");
  EXPECT_EQ(Parse("set k 0 0 3\r\na\0b\r\n"s), "Ok consumed=18 set key=k value=\"a\\x00b\"");
  EXPECT_EQ(Parse("set k 0 0 1\r\n\xff\r\n"), "Ok consumed=16 set key=k value=\"\\xff\"");
  EXPECT_EQ(Parse("set k 0 0 0\r\n\r\n"), "Ok consumed=15 set key=k value=\"\"");
  EXPECT_EQ(Parse("set k 0 0 2\r\n\r\n\r\n"), "Ok consumed=17 set key=k value=\"\\r\\n\"");
}

TEST(TextParserTest, StorageWaitsForTheWholeBlock) {
  EXPECT_EQ(Parse("set k 0 0 5\r\n"), "NeedMore consumed=0");
  EXPECT_EQ(Parse("set k 0 0 5\r\nhel"), "NeedMore consumed=0");
  EXPECT_EQ(Parse("set k 0 0 5\r\nhello\r"), "NeedMore consumed=0");
  EXPECT_EQ(Parse("set k 0 0 5\r\nhello\r\n"), "Ok consumed=20 set key=k value=\"hello\"");
}

TEST(TextParserTest, AnUnfinishedBlockSaysHowLargeItsCommandIs) {
  Command cmd;
  EXPECT_EQ(ParseTextCommand("set k 0 0 5\r\nhel", {}, &cmd).needed, 20u);
  EXPECT_EQ(ParseTextCommand("cas k 0 0 1000000 7 noreply\r\n", {}, &cmd).needed, 1000031u);
  // Unknown until the line is complete, and for a line that is all there is.
  EXPECT_EQ(ParseTextCommand("set k 0 0 5", {}, &cmd).needed, 0u);
  EXPECT_EQ(ParseTextCommand("get a b", {}, &cmd).needed, 0u);
}

TEST(TextParserTest, BadDataChunkConsumesExactlyTheDeclaredBlock) {
  // memcached reads bytes + 2 and checks their last two: "ab\r" is refused, "\n" is left over.
  EXPECT_EQ(Parse("set k 0 0 1\r\nab\r\n"), "BadDataChunk consumed=16 set key=k value=\"\"");
  EXPECT_EQ(Parse("set k 0 0 1\r\na\nget k\r\n"), "BadDataChunk consumed=16 set key=k value=\"\"");
  EXPECT_EQ(Parse("set k 0 0 1 noreply\r\nab\r\n"),
            "BadDataChunk consumed=24 noreply set key=k value=\"\"");
}

TEST(TextParserTest, StorageNoreply) {
  EXPECT_EQ(Parse("set k 0 0 1 noreply\r\na\r\n"), "Ok consumed=24 noreply set key=k value=\"a\"");
  EXPECT_EQ(Parse("cas k 0 0 1 2 noreply\r\na\r\n"),
            "Ok consumed=26 noreply cas key=k cas=2 value=\"a\"");
  // Only the exact word counts, as the last token; any other token past the byte count is
  // ignored.
  EXPECT_EQ(Parse("set k 0 0 1 NOREPLY\r\na\r\n"), "Ok consumed=24 set key=k value=\"a\"");
  EXPECT_EQ(Parse("set k 0 0 1 foo\r\na\r\n"), "Ok consumed=20 set key=k value=\"a\"");
  EXPECT_EQ(Parse("set k 0 0 1 foo noreply\r\na\r\n"),
            "Ok consumed=28 noreply set key=k value=\"a\"");
  EXPECT_EQ(Parse("set k 0 0 1 noreply foo\r\na\r\n"), "Ok consumed=28 set key=k value=\"a\"");
  EXPECT_EQ(Parse("set k 0 0 1 a b c d e f g h i\r\na\r\n"),
            "Ok consumed=34 set key=k value=\"a\"");
}

TEST(TextParserTest, StorageWithTooFewTokensIsAFormatError) {
  // Found before memcached looks for noreply, so it is never suppressed, and with no byte count
  // nothing is skipped.
  EXPECT_EQ(Parse("set k 0 0\r\n"), "BadFormat consumed=11");
  EXPECT_EQ(Parse("set k 0 noreply\r\n"), "BadFormat consumed=17");
  EXPECT_EQ(Parse("cas k 0 0 noreply\r\n"), "BadFormat consumed=19");
  // A cas without its unique has a byte count: the block is swallowed.
  EXPECT_EQ(Parse("cas k 0 0 1\r\n"), "BadFormat consumed=13 skip=3");
  EXPECT_EQ(Parse("cas foo 0 0 6 \r\nfoobar\r\n"), "BadFormat consumed=16 skip=8");
}

TEST(TextParserTest, InvalidByteCountsSkipNothing) {
  // noreply is looked for only once the byte count is valid.
  for (std::string_view bytes :
       {"-1", "4294967295", "2147483647", "2147483646", "abc", "1x", "99999999999999999999",
        "noreply", "4294967297", "+1", "1\t", "1\r"}) {
    const std::string line = "set k 0 0 " + std::string(bytes) + "\r\n";
    EXPECT_EQ(Parse(line), "BadFormat consumed=" + std::to_string(line.size())) << bytes;
  }
  EXPECT_EQ(Parse("set k 0 0 -0\r\n\r\n"), "Ok consumed=16 set key=k value=\"\"");
}

// Once the byte count is valid, a refused line swallows its block, so a value never runs as a
// command.
TEST(TextParserTest, RefusedHeadersSwallowTheBlock) {
  EXPECT_EQ(Parse("set k abc 0 9\r\nflush_all\r\n"), "BadFormat consumed=15 skip=11");
  EXPECT_EQ(Parse("set k -1 0 1\r\na\r\n"), "BadFormat consumed=14 skip=3");
  EXPECT_EQ(Parse("set k 18446744073709551616 0 1\r\n"), "BadFormat consumed=32 skip=3");
  EXPECT_EQ(Parse("set k 0 abc 1\r\n"), "BadFormat consumed=15 skip=3");
  EXPECT_EQ(Parse("set k 0 0x10 1\r\n"), "BadFormat consumed=16 skip=3");
  EXPECT_EQ(Parse("set k 0 9223372036854775808 1\r\n"), "BadFormat consumed=31 skip=3");
  EXPECT_EQ(Parse("cas k 0 0 1 abc\r\n"), "BadFormat consumed=17 skip=3");
  EXPECT_EQ(Parse("cas k 0 0 1 -1\r\n"), "BadFormat consumed=16 skip=3");
  EXPECT_EQ(Parse("cas k 0 0 1 noreply\r\n"), "BadFormat consumed=21 skip=3 noreply");
  EXPECT_EQ(Parse("set " + std::string(251, 'k') + " 0 0 1\r\n"), "BadFormat consumed=263 skip=3");
  EXPECT_EQ(Parse("set a\x01 0 0 1\r\n"), "Error consumed=14 skip=3");
  // Refused before the block arrives: the caller discards it as it streams in.
  EXPECT_EQ(Parse("set k x 0 5\r\nhel"), "BadFormat consumed=13 skip=7");
}

TEST(TextParserTest, FlagsFollowStrtoul) {
  EXPECT_EQ(Parse("set k 4294967296 0 1\r\na\r\n"), "Ok consumed=25 set key=k value=\"a\"");
  EXPECT_EQ(Parse("set k 18446744073709551615 0 1\r\na\r\n"),
            "Ok consumed=35 set key=k flags=4294967295 value=\"a\"");
  EXPECT_EQ(Parse("set k +5 0 1\r\na\r\n"), "Ok consumed=17 set key=k flags=5 value=\"a\"");
  EXPECT_EQ(Parse("set k -0 0 1\r\na\r\n"), "Ok consumed=17 set key=k value=\"a\"");
}

TEST(TextParserTest, ExptimeKeepsTheLow32Bits) {
  EXPECT_EQ(Parse("set k 0 4294967297 1\r\na\r\n"),
            "Ok consumed=25 set key=k exptime=1 value=\"a\"");
  EXPECT_EQ(Parse("set k 0 -2147483648 1\r\na\r\n"),
            "Ok consumed=26 set key=k exptime=-2147483648 value=\"a\"");
}

TEST(TextParserTest, TooLarge) {
  ParserLimits limits;
  limits.item_size_max = 10;
  EXPECT_EQ(Parse("set k 0 0 10\r\n0123456789\r\n", limits),
            "Ok consumed=26 set key=k value=\"0123456789\"");
  // Answered from the line alone, whether or not the block has arrived, and the skip is the
  // whole block: the caller drops whatever part of it it already holds.
  EXPECT_EQ(Parse("set k 3 7 11\r\n", limits),
            "TooLarge consumed=14 skip=13 set key=k flags=3 exptime=7 value=\"\"");
  EXPECT_EQ(Parse("set k 3 7 11\r\n0123456789a\r\n", limits),
            "TooLarge consumed=14 skip=13 set key=k flags=3 exptime=7 value=\"\"");
  EXPECT_EQ(Parse("append k 0 0 11 noreply\r\n", limits),
            "TooLarge consumed=25 skip=13 noreply append key=k value=\"\"");
  EXPECT_EQ(Parse("set k 0 0 1048577\r\n"),
            "TooLarge consumed=19 skip=1048579 set key=k value=\"\"");
  EXPECT_EQ(Parse("set k 0 0 1048576\r\n"), "NeedMore consumed=0");
  EXPECT_EQ(Parse("set k 0 0 2147483645\r\n"),
            "TooLarge consumed=22 skip=2147483647 set key=k value=\"\"");
}

// --- delete, incr, decr, touch
// ----------------------------------------------------------------------

TEST(TextParserTest, Delete) {
  EXPECT_EQ(Parse("delete k\r\n"), "Ok consumed=10 delete key=k");
  EXPECT_EQ(Parse("delete k noreply\r\n"), "Ok consumed=18 noreply delete key=k");
  EXPECT_EQ(Parse("delete k 0 noreply\r\n"), "Ok consumed=20 noreply delete key=k");
  // "noreply" as the only argument is both the key and the last token.
  EXPECT_EQ(Parse("delete noreply\r\n"), "Ok consumed=16 noreply delete key=noreply");
}

// 1.6.45 ignores what follows the key (1.6.18 refused all but a hold time of 0).
TEST(TextParserTest, DeleteIgnoresExtraTokens) {
  for (std::string_view line : {"delete k 0\r\n", "delete k 10\r\n", "delete k x\r\n",
                                "delete k 0 0\r\n", "delete k noreply x\r\n"}) {
    EXPECT_EQ(Parse(line), "Ok consumed=" + std::to_string(line.size()) + " delete key=k") << line;
  }
  EXPECT_EQ(Parse("delete k x noreply\r\n"), "Ok consumed=20 noreply delete key=k");
}

// Deliberate, for libmemcached's memccapable: no key, or more than two tokens after it, is an
// ERROR as in 1.6.18 (1.6.45 answers a format error, and ignores the tokens).
TEST(TextParserTest, DeleteKeepsItsTokenCount) {
  EXPECT_EQ(Parse("delete\r\n"), "Error consumed=8");
  EXPECT_EQ(Parse("delete a b c d\r\n"), "Error consumed=16");
  EXPECT_EQ(Parse("delete a b c noreply\r\n"), "Error consumed=22");
  EXPECT_EQ(Parse("delete " + std::string(251, 'k') + "\r\n"), "BadFormat consumed=260");
  EXPECT_EQ(Parse("delete " + std::string(251, 'k') + " noreply\r\n"),
            "BadFormat consumed=268 noreply");
}

TEST(TextParserTest, IncrDecr) {
  EXPECT_EQ(Parse("incr k 1\r\n"), "Ok consumed=10 incr key=k delta=1");
  EXPECT_EQ(Parse("decr k 18446744073709551615\r\n"),
            "Ok consumed=29 decr key=k delta=18446744073709551615");
  EXPECT_EQ(Parse("incr k 0\r\n"), "Ok consumed=10 incr key=k");
  EXPECT_EQ(Parse("incr k 1 noreply\r\n"), "Ok consumed=18 noreply incr key=k delta=1");
  // Tokens past the delta are ignored, but for a last "noreply".
  EXPECT_EQ(Parse("incr k 1 2\r\n"), "Ok consumed=12 incr key=k delta=1");
  EXPECT_EQ(Parse("incr k 1 2 3\r\n"), "Ok consumed=14 incr key=k delta=1");
}

TEST(TextParserTest, BadDelta) {
  EXPECT_EQ(Parse("incr k abc\r\n"), "BadDelta consumed=12");
  EXPECT_EQ(Parse("incr k -1\r\n"), "BadDelta consumed=11");
  EXPECT_EQ(Parse("decr k 18446744073709551616\r\n"), "BadDelta consumed=29");
  EXPECT_EQ(Parse("incr k noreply\r\n"), "BadDelta consumed=16 noreply");
  EXPECT_EQ(Parse("incr k x noreply\r\n"), "BadDelta consumed=18 noreply");
  // A token of digits only (1.6.18's strtoull took these).
  EXPECT_EQ(Parse("incr k +3\r\n"), "BadDelta consumed=11");
  EXPECT_EQ(Parse("incr k -18446744073709551615\r\n"), "BadDelta consumed=30");
  EXPECT_EQ(Parse("incr k\r\n"), "BadFormat consumed=8");
  EXPECT_EQ(Parse("incr " + std::string(251, 'k') + " x\r\n"), "BadFormat consumed=260");
}

TEST(TextParserTest, Touch) {
  EXPECT_EQ(Parse("touch k 10\r\n"), "Ok consumed=12 touch key=k exptime=10");
  EXPECT_EQ(Parse("touch k -1 noreply\r\n"), "Ok consumed=20 noreply touch key=k exptime=-1");
  EXPECT_EQ(Parse("touch k - 1\r\n"), "Ok consumed=13 touch key=k");
  EXPECT_EQ(Parse("touch k 4294967296\r\n"), "BadExptime consumed=20");
  EXPECT_EQ(Parse("touch k abc\r\n"), "BadExptime consumed=13");
  EXPECT_EQ(Parse("touch k x noreply\r\n"), "BadExptime consumed=19 noreply");
  EXPECT_EQ(Parse("touch k\r\n"), "BadFormat consumed=9");
  EXPECT_EQ(Parse("touch " + std::string(251, 'k') + " x\r\n"), "BadFormat consumed=261");
}

// --- Other commands
// --------------------------------------------------------------------------------

TEST(TextParserTest, FlushAll) {
  EXPECT_EQ(Parse("flush_all\r\n"), "Ok consumed=11 flush_all");
  EXPECT_EQ(Parse("flush_all 0\r\n"), "Ok consumed=13 flush_all number=0");
  EXPECT_EQ(Parse("flush_all 10\r\n"), "Ok consumed=14 flush_all number=10");
  EXPECT_EQ(Parse("flush_all -1\r\n"), "Ok consumed=14 flush_all number=0");
  EXPECT_EQ(Parse("flush_all noreply\r\n"), "Ok consumed=19 noreply flush_all");
  EXPECT_EQ(Parse("flush_all 5 noreply\r\n"), "Ok consumed=21 noreply flush_all number=5");
  EXPECT_EQ(Parse("flush_all 1 2\r\n"), "Ok consumed=15 flush_all number=1");
  EXPECT_EQ(Parse("flush_all abc\r\n"), "BadExptime consumed=15");
  EXPECT_EQ(Parse("flush_all noreply 1\r\n"), "BadExptime consumed=21");
  EXPECT_EQ(Parse("flush_all x noreply\r\n"), "BadExptime consumed=21 noreply");
  EXPECT_EQ(Parse("flush_all 1 2 3\r\n"), "Ok consumed=17 flush_all number=1");
  // memcached finds it by its first token, after any spaces.
  EXPECT_EQ(Parse(" flush_all\r\n"), "Ok consumed=12 flush_all");
}

TEST(TextParserTest, VersionAndQuitIgnoreTheirArguments) {
  EXPECT_EQ(Parse("version\r\n"), "Ok consumed=9 version");
  EXPECT_EQ(Parse("version noreply\r\n"), "Ok consumed=17 version args=\"noreply\"");
  EXPECT_EQ(Parse("quit\r\n"), "Ok consumed=6 quit");
  EXPECT_EQ(Parse("quit x\n"), "Ok consumed=7 quit args=\"x\"");
}

TEST(TextParserTest, Verbosity) {
  EXPECT_EQ(Parse("verbosity 1\r\n"), "Ok consumed=13 verbosity number=1");
  EXPECT_EQ(Parse("verbosity 1 noreply\r\n"), "Ok consumed=21 noreply verbosity number=1");
  EXPECT_EQ(Parse("verbosity 1 2\r\n"), "Ok consumed=15 verbosity number=1");
  EXPECT_EQ(Parse("verbosity x\r\n"), "BadFormat consumed=13");
  EXPECT_EQ(Parse("verbosity -1\r\n"), "BadFormat consumed=14");
  EXPECT_EQ(Parse("verbosity noreply\r\n"), "BadFormat consumed=19 noreply");
  EXPECT_EQ(Parse("verbosity\r\n"), "BadFormat consumed=11");
  EXPECT_EQ(Parse("verbosity 1 2 3\r\n"), "Ok consumed=17 verbosity number=1");
}

TEST(TextParserTest, CacheMemlimit) {
  EXPECT_EQ(Parse("cache_memlimit 100\r\n"), "Ok consumed=20 cache_memlimit number=100");
  EXPECT_EQ(Parse("cache_memlimit 100 noreply\r\n"),
            "Ok consumed=28 noreply cache_memlimit number=100");
  EXPECT_EQ(Parse("cache_memlimit 0\r\n"), "Ok consumed=18 cache_memlimit");
  // memcached answers a bad number here with a bare ERROR.
  EXPECT_EQ(Parse("cache_memlimit abc\r\n"), "Error consumed=20");
  EXPECT_EQ(Parse("cache_memlimit -5\r\n"), "Error consumed=19");
  EXPECT_EQ(Parse("cache_memlimit abc noreply\r\n"), "Error consumed=28 noreply");
  EXPECT_EQ(Parse("cache_memlimit\r\n"), "Error consumed=16");
  EXPECT_EQ(Parse("cache_memlimit 4294967296\r\n"), "Error consumed=27");
  EXPECT_EQ(Parse("cache_memlimit 1 2 3\r\n"), "Ok consumed=22 cache_memlimit number=1");
}

TEST(TextParserTest, StatsAndShutdownPassTheirArguments) {
  EXPECT_EQ(Parse("stats\r\n"), "Ok consumed=7 stats");
  EXPECT_EQ(Parse("stats \r\n"), "Ok consumed=8 stats");
  EXPECT_EQ(Parse("stats  detail  on \r\n"), "Ok consumed=20 stats args=\"detail  on\"");
  EXPECT_EQ(Parse("stats noreply\r\n"), "Ok consumed=15 stats args=\"noreply\"");
  EXPECT_EQ(Parse("shutdown\r\n"), "Ok consumed=10 shutdown");
  EXPECT_EQ(Parse("shutdown graceful\r\n"), "Ok consumed=19 shutdown args=\"graceful\"");
  // shutdown's errors honour noreply; stats does not look for it.
  EXPECT_EQ(Parse("shutdown noreply\r\n"), "Ok consumed=18 noreply shutdown args=\"noreply\"");
}

// Their arguments are the server's to read (maintenance_commands.h); noreply is honoured.
TEST(TextParserTest, MaintenanceCommandsPassTheirArguments) {
  EXPECT_EQ(Parse("slabs automove 1\r\n"), "Ok consumed=18 slabs args=\"automove 1\"");
  EXPECT_EQ(Parse("lru_crawler crawl all noreply\r\n"),
            "Ok consumed=31 noreply lru_crawler args=\"crawl all noreply\"");
  EXPECT_EQ(Parse("lru mode flat\r\n"), "Ok consumed=15 lru args=\"mode flat\"");
  EXPECT_EQ(Parse("lru\r\n"), "Ok consumed=5 lru");
}

// A peer's replication link (replication/replication.h): the server reads the arguments, and a
// server without a node list answers ERROR, which noreply withholds as for any unknown command.
TEST(TextParserTest, MnPeerPassesItsArguments) {
  EXPECT_EQ(Parse("mn_peer node1 00ab 0\r\n"), "Ok consumed=22 mn_peer args=\"node1 00ab 0\"");
  EXPECT_EQ(Parse("mn_peer x noreply\r\n"), "Ok consumed=19 noreply mn_peer args=\"x noreply\"");
}

// --- Malformed lines
// -------------------------------------------------------------------------------

TEST(TextParserTest, EmptyAndShortLines) {
  EXPECT_EQ(Parse(""), "NeedMore consumed=0");
  EXPECT_EQ(Parse("get a"), "NeedMore consumed=0");
  // Under four bytes with the "\n": malformed, whatever the bytes.
  EXPECT_EQ(Parse("\r\n"), "BadFormat consumed=2");
  EXPECT_EQ(Parse("\n"), "BadFormat consumed=1");
  EXPECT_EQ(Parse(" \n"), "BadFormat consumed=2");
  EXPECT_EQ(Parse("\t\r\n"), "BadFormat consumed=3");
  EXPECT_EQ(Parse("x\r\n"), "BadFormat consumed=3");
  EXPECT_EQ(Parse("mn\n"), "BadFormat consumed=3");
  EXPECT_EQ(Parse("   \r\n"), "Error consumed=5");
  EXPECT_EQ(Parse("foo bar\r\n"), "Error consumed=9");
  EXPECT_EQ(Parse("foo bar noreply\r\n"), "Error consumed=17 noreply");
  EXPECT_EQ(Parse("mn\r\n"), "Error consumed=4");
}

// Deliberate: memcached 1.6.45 takes a NUL as a byte of its token (1.6.18 ended the line there).
TEST(TextParserTest, ANulByteMakesTheLineAnError) {
  EXPECT_EQ(Parse("get a\0b\r\n"s), "Error consumed=9");
  EXPECT_EQ(Parse("\0\0\r\n"s), "Error consumed=4");
  EXPECT_EQ(Parse("set a\0b 0 0 1\r\na\r\n"s), "Error consumed=15");
  EXPECT_EQ(Parse("set k 0 0 1\0\r\na\r\n"s), "Error consumed=14");
}

TEST(TextParserTest, HttpRequestsCloseTheConnection) {
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), "Close consumed=0");
  EXPECT_EQ(Parse("POST /x HTTP/1.0\r\n"), "Close consumed=0");
  EXPECT_EQ(Parse("foo HTTP/\r\n"), "Close consumed=0");
  EXPECT_EQ(Parse("foo HTTP/1.1 \r\n"), "Close consumed=0");
  EXPECT_EQ(Parse("mgx HTTP/1.1\r\n"), "Close consumed=0");
  EXPECT_EQ(Parse("sfoo HTTP/1.1\r\n"), "Close consumed=0");
  EXPECT_EQ(Parse("mx HTTP/1.1\r\n"), "Close consumed=0");
  // Not the last token, not "HTTP/", the only token, or the arguments of a command.
  EXPECT_EQ(Parse("foo HTTP/1.1 x\r\n"), "Error consumed=16");
  EXPECT_EQ(Parse("foo HTTP\r\n"), "Error consumed=10");
  EXPECT_EQ(Parse("foo http/1.1\r\n"), "Error consumed=14");
  EXPECT_EQ(Parse("HTTP/1.1\r\n"), "Error consumed=10");
  EXPECT_EQ(Parse("GET /\r\n"), "Error consumed=7");
  EXPECT_EQ(Parse("get / HTTP/1.1\r\n"), "Ok consumed=16 get k=/ k=HTTP/1.1");
}

// memcached sees at most 23 tokens; its HTTP check reads the last of those.
TEST(TextParserTest, HttpCheckSeesTwentyThreeTokens) {
  std::string line = "foo";
  for (int i = 0; i < 21; ++i) line += " a";
  EXPECT_EQ(Parse(line + " HTTP/1.1\r\n"), "Close consumed=0");  // the 23rd token
  line += " a";
  EXPECT_EQ(Parse(line + " HTTP/1.1\r\n"), "Error consumed=" + std::to_string(line.size() + 11));
}

// A connection that starts with the binary protocol's magic byte never reaches this parser
// (negotiation.h); later in an ascii connection, the byte starts an unknown command, as in
// memcached 1.6.45.
TEST(TextParserTest, TheBinaryMagicByteStartsAnUnknownCommand) {
  EXPECT_EQ(Parse("\x80"), "NeedMore consumed=0");
  EXPECT_EQ(Parse("\x80\x0b\r\n"), "Error consumed=4");
  EXPECT_EQ(Parse("\x80\r\n"), "BadFormat consumed=3");
  EXPECT_EQ(Parse("\x80 get\r\n"), "Error consumed=7");
}

TEST(TextParserTest, LongLinesCloseTheConnection) {
  const std::string a2047(2047, 'a');
  EXPECT_EQ(Parse(std::string(2048, 'a')), "NeedMore consumed=0");
  EXPECT_EQ(Parse(std::string(2049, 'a')), "Close consumed=0");
  EXPECT_EQ(Parse(a2047 + "\r\n"), "Error consumed=2049");
  EXPECT_EQ(Parse(a2047 + "a\n"), "Error consumed=2049");
  // Deliberate: the bound is on the line, not on what one read brought.
  EXPECT_EQ(Parse(a2047 + "aa\n"), "Close consumed=0");
  EXPECT_EQ(Parse("set " + std::string(3000, 'k') + " 0 0 1\r\na\r\n"), "Close consumed=0");
}

// ParseTextCommand closes every line longer than max_line; IsLongRetrievalLine tells the ones
// that AsciiParser answers piece by piece instead (ascii_parser_test.cc).
TEST(TextParserTest, LongRetrievalLinesAreRecognised) {
  std::string keys;
  for (int i = 0; i < 1500; ++i) keys += " k";
  constexpr struct {
    std::string_view word;
    CommandType type;
  } kCases[] = {{"get", CommandType::kGet},
                {"gets", CommandType::kGets},
                {"  get", CommandType::kGet},
                {"gat 1", CommandType::kGat},
                {"gats 1", CommandType::kGats}};
  for (const auto& [word, type] : kCases) {
    const std::string line = std::string(word) + keys;
    EXPECT_EQ(Parse(line), "Close consumed=0") << word;
    EXPECT_EQ(Parse(line + "\r\n"), "Close consumed=0") << word;
    CommandType found = CommandType::kSet;
    EXPECT_TRUE(IsLongRetrievalLine(line, {}, &found)) << word;
    EXPECT_EQ(found, type) << word;
  }
  CommandType found = CommandType::kSet;
  EXPECT_FALSE(IsLongRetrievalLine("bget" + keys, {}, &found));
  EXPECT_FALSE(IsLongRetrievalLine("getx" + keys, {}, &found));
  EXPECT_FALSE(IsLongRetrievalLine("get" + std::string(3000, 'k'), {}, &found));
  EXPECT_FALSE(IsLongRetrievalLine(std::string(3000, ' ') + "get" + keys, {}, &found));
  // Not longer than max_line: ParseTextCommand parses it whole.
  EXPECT_FALSE(IsLongRetrievalLine("get a b", {}, &found));
  EXPECT_FALSE(IsLongRetrievalLine("get" + keys.substr(0, 2000) + "\r\n", {}, &found));
  EXPECT_EQ(found, CommandType::kSet);
}

// --- Streams -------------------------------------------------------------------------------------

// A pipeline that touches every path that carries state from one command to the next.
const std::string& Pipeline() {
  static const std::string stream =
      "set a 1 2 3\r\nabc\r\n"
      "get a b\r\n"
      "set v 0 0 5 noreply\r\nx\r\ny\0\r\n"s
      "set k abc 0 9\r\nflush_all\r\n"
      "set big 0 0 20\r\n01234567890123456789\r\n"
      "set k 0 0 1\r\nab\r\n"
      "cas k 0 0 0 7\r\n\r\n"
      "gat 5 a\n"
      "mn\n"
      "delete a 0 noreply\r\n"
      "incr n 5\r\n"
      "touch t 1\r\n"
      "stats items\r\n"
      "\r\n"
      "version\r\n"
      "GET / HTTP/1.1\r\n"
      "get after close\r\n";
  return stream;
}

ParserLimits PipelineLimits() {
  ParserLimits limits;
  limits.item_size_max = 16;
  return limits;
}

TEST(TextParserStreamTest, PipelineTranscript) {
  const std::vector<std::string> expected = {
      "Ok consumed=18 set key=a flags=1 exptime=2 value=\"abc\"",
      "Ok consumed=9 get k=a k=b",
      "Ok consumed=28 noreply set key=v value=\"x\\r\\ny\\x00\"",
      "BadFormat consumed=15 skip=11",
      "TooLarge consumed=16 skip=22 set key=big value=\"\"",
      "BadDataChunk consumed=16 set key=k value=\"\"",
      "BadFormat consumed=1",
      "Ok consumed=17 cas key=k cas=7 value=\"\"",
      "Ok consumed=8 gat k=a exptime=5",
      "BadFormat consumed=3",
      "Ok consumed=20 noreply delete key=a",
      "Ok consumed=10 incr key=n delta=5",
      "Ok consumed=11 touch key=t exptime=1",
      "Ok consumed=13 stats args=\"items\"",
      "BadFormat consumed=2",
      "Ok consumed=9 version",
      "Close consumed=0",
      "closed",
  };
  EXPECT_EQ(TranscriptOf(Pipeline(), {}, PipelineLimits()), expected);
}

TEST(TextParserStreamTest, EveryCuttingGivesTheSameTranscript) {
  const std::string problems =
      CutProblems(Pipeline(), EveryTwoWayCutAndByteByByte(Pipeline().size()), PipelineLimits());
  EXPECT_TRUE(problems.empty()) << problems;
}

TEST(TextParserStreamTest, LongLinesCloseAtTheSamePointHoweverCut) {
  ParserLimits limits;
  limits.max_line = 16;
  const std::string stream =
      "get a b c\r\n"
      "verbosity 1\r\n"
      "stats aaaaaaaaaaaa\r\n"
      "version\r\n";
  EXPECT_EQ(TranscriptOf(stream, {}, limits),
            (std::vector<std::string>{"Ok consumed=11 get k=a k=b k=c",
                                      "Ok consumed=13 verbosity number=1", "Close consumed=0",
                                      "closed"}));
  const std::string problems =
      CutProblems(stream, EveryTwoWayCutAndByteByByte(stream.size()), limits);
  EXPECT_TRUE(problems.empty()) << problems;
}

TEST(TextParserStreamTest, AnIncompleteCommandStaysPending) {
  EXPECT_EQ(TranscriptOf("version\r\nset k 0 0 5\r\nab", {3, 12}, {}),
            (std::vector<std::string>{"Ok consumed=9 version", "pending=15"}));
  ParserLimits limits;
  limits.item_size_max = 4;
  EXPECT_EQ(TranscriptOf("set k 0 0 9\r\nabc", {14}, limits),
            (std::vector<std::string>{"TooLarge consumed=13 skip=11 set key=k value=\"\"",
                                      "pending=0 discarding"}));
}

}  // namespace
}  // namespace mnemo::protocol
