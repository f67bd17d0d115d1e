// Expected results were checked against memcached 1.6.45 on loopback (the reply each status stands
// for), except where a test says mnemo deliberately differs (see meta_parser.h).
#include "protocol/meta_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "protocol/meta_command.h"
#include "testing/protocol/parse_transcript.h"

namespace mnemo::protocol {
namespace {

using namespace std::string_literals;

// One parse of `input`, described as parse_transcript.h does.
std::string Parse(std::string_view input, const ParserLimits& limits = {}) {
  MetaCommand cmd;
  return DescribeMetaResult(ParseMetaCommand(input, limits, &cmd), cmd);
}

MetaStatus StatusOf(std::string_view input) {
  MetaCommand cmd;
  return ParseMetaCommand(input, {}, &cmd).status;
}

const std::string kLongOpaque = "O" + std::string(32, 'x');

// --- Lines that are not meta commands -----------------------------------------------------------

// AsciiParser gives those to ParseTextCommand (ascii_parser_test.cc). Given one anyway, this
// parser answers ERROR for the line and stays in step.
TEST(MetaParserTest, OtherLinesAreErrors) {
  EXPECT_EQ(Parse("get a\r\n"), "Error consumed=7");
  EXPECT_EQ(Parse("mgx foo\r\n"), "Error consumed=9");
  EXPECT_EQ(Parse("m\r\n"), "Error consumed=3");
  EXPECT_EQ(Parse("   \r\n"), "Error consumed=5");
  EXPECT_EQ(Parse(" m g\r\n"), "Error consumed=6");
  EXPECT_EQ(Parse("\r\n"), "Error consumed=2");
  EXPECT_EQ(Parse(""), "NeedMore consumed=0");
  EXPECT_EQ(Parse("mg "), "NeedMore consumed=0");
}

TEST(MetaParserTest, AMetaWordIsTwoBytesStartingWithM) {
  EXPECT_EQ(Parse("mn\r\n"), "Ok consumed=4 mn");
  EXPECT_EQ(Parse("mn\n"), "Ok consumed=3 mn");
  EXPECT_EQ(Parse("  mn  \r\n"), "Ok consumed=8 mn");
  EXPECT_EQ(Parse("mn foo bar\r\n"), "Ok consumed=12 mn");
  // Unknown meta commands answer ERROR, as memcached's meta dispatch does.
  EXPECT_EQ(Parse("mz\r\n"), "Error consumed=4");
  EXPECT_EQ(Parse("mz foo\r\n"), "Error consumed=8");
  EXPECT_EQ(Parse("mG foo\r\n"), "Error consumed=8");
  EXPECT_EQ(Parse("m\x01 foo\r\n"), "Error consumed=8");
  // "\r\r\n" ends the line "m\r", whose word is two bytes long.
  EXPECT_EQ(Parse("m\r\r\n"), "Error consumed=4");
}

TEST(MetaParserTest, LinesFollowTheTextProtocolRules) {
  // Deliberate, as for text commands: a NUL makes the line an error (1.6.18 ends the line there).
  EXPECT_EQ(Parse("mg foo\0 v\r\n"s), "Error consumed=11");
  EXPECT_EQ(Parse("mn \0\r\n"s), "Error consumed=6");
  // A tab is part of a token: "mg\tfoo" is not a meta word.
  EXPECT_EQ(Parse("mg\tfoo v\r\n"), "Error consumed=10");
  ParserLimits limits;
  limits.max_line = 16;
  EXPECT_EQ(Parse("mg " + std::string(14, 'k'), limits), "Close consumed=0");
  EXPECT_EQ(Parse("mg " + std::string(14, 'k') + "\r\n", limits), "Close consumed=0");
  EXPECT_EQ(Parse("mg " + std::string(13, 'k'), limits), "NeedMore consumed=0");
  EXPECT_EQ(Parse("mg " + std::string(12, 'k') + "\n", limits),
            "Ok consumed=16 mg key=kkkkkkkkkkkk");
}

// --- mg ------------------------------------------------------------------------------------------

TEST(MetaParserTest, Get) {
  EXPECT_EQ(Parse("mg foo\r\n"), "Ok consumed=8 mg key=foo");
  EXPECT_EQ(Parse("mg foo v\r\n"), "Ok consumed=10 mg key=foo flags=v");
  EXPECT_EQ(Parse("  mg   foo  v   k \r\n"), "Ok consumed=20 mg key=foo flags=vk");
  EXPECT_EQ(Parse("mg foo v\n"), "Ok consumed=9 mg key=foo flags=v");
}

TEST(MetaParserTest, GetFlagsKeepTheirRequestOrder) {
  EXPECT_EQ(Parse("mg foo s t c f l h k O1 q u v\r\n"),
            "Ok consumed=31 mg key=foo flags=stcflhkOquv opaque=1");
  EXPECT_EQ(Parse("mg foo v k c O9 s\r\n"), "Ok consumed=19 mg key=foo flags=vkcOs opaque=9");
}

TEST(MetaParserTest, GetTokenFlags) {
  EXPECT_EQ(Parse("mg foo T30 N-1 R15 E77 C99\r\n"),
            "Ok consumed=28 mg key=foo flags=TNREC ttl=30 vivify=-1 recache=15 compare_cas=99 "
            "new_cas=77");
  // 1.6.45 reads numbers as tokens of digits (1.6.18 kept the low 32 bits of strtol's value).
  EXPECT_EQ(Parse("mg foo T-\r\n"), "Ok consumed=11 mg key=foo flags=T ttl=0");
  EXPECT_EQ(Parse("mg foo T2147483647\r\n"), "Ok consumed=20 mg key=foo flags=T ttl=2147483647");
  EXPECT_EQ(Parse("mg foo T4294967297\r\n"), "BadToken consumed=20");
  EXPECT_EQ(Parse("mg foo T+5\r\n"), "BadToken consumed=12");
  EXPECT_EQ(Parse("mg foo T5\tx\r\n"), "BadToken consumed=13");
  EXPECT_EQ(Parse("mg foo O\r\n"), "Ok consumed=10 mg key=foo flags=O opaque=");
}

// memcached accepts every known flag on every meta command and ignores the ones it does not use.
TEST(MetaParserTest, FlagsOfOtherCommandsAreAccepted) {
  EXPECT_EQ(Parse("mg foo D5 J6 F7 I x MX\r\n"),
            "Ok consumed=24 mg key=foo flags=DJFIxM client_flags=7");
  EXPECT_EQ(Parse("md foo v s t\r\n"), "Ok consumed=14 md key=foo flags=vst");
}

TEST(MetaParserTest, ProxyHintsAreIgnored) {
  EXPECT_EQ(Parse("mg foo Pa La/b k\r\n"), "Ok consumed=18 mg key=foo flags=k");
  EXPECT_EQ(Parse("mg foo P L\r\n"), "Ok consumed=12 mg key=foo");
  // ...but still counted as flags for repeats.
  EXPECT_EQ(Parse("mg foo P L Pa v\r\n"), "DuplicateFlag consumed=17");
}

TEST(MetaParserTest, GetNeedsAKey) {
  EXPECT_EQ(Parse("mg\r\n"), "BadFormat consumed=4");
  EXPECT_EQ(Parse("mg   \r\n"), "BadFormat consumed=7");
}

TEST(MetaParserTest, KeyLength) {
  const std::string key250(250, 'k');
  EXPECT_EQ(Parse("mg " + key250 + " v\r\n"), "Ok consumed=257 mg key=" + key250 + " flags=v");
  for (const char* cmd : {"mg", "md", "me"}) {
    EXPECT_EQ(StatusOf(cmd + (" " + key250 + "k v\r\n")), MetaStatus::kBadFormat) << cmd;
  }
  // ma names none of its key's and flags' errors precisely.
  EXPECT_EQ(StatusOf("ma " + key250 + "k v\r\n"), MetaStatus::kInvalidOrDuplicateFlag);
  // The length is checked before the flags.
  EXPECT_EQ(StatusOf("mg " + key250 + "k zz\r\n"), MetaStatus::kBadFormat);
}

// Deliberate: memcached accepts control bytes in keys; mnemo answers ERROR, as for text.
TEST(MetaParserTest, KeysMayNotHoldControlBytes) {
  EXPECT_EQ(Parse("mg foo\x01 v\r\n"), "Error consumed=11");
  EXPECT_EQ(Parse("md a\x7f\r\n"), "Error consumed=7");
  EXPECT_EQ(Parse("me a\tb\r\n"), "Error consumed=8");
  EXPECT_EQ(Parse("mg a\xff v\r\n"), "Ok consumed=9 mg key=a\\xff flags=v");
  EXPECT_EQ(StatusOf("mg " + std::string(251, 'k') + "\x01\r\n"), MetaStatus::kBadFormat);
}

TEST(MetaParserTest, TooManyFlags) {
  // 20 tokens are accepted, 21 are not; ma names the error vaguely.
  const std::string flags18 = "k s t c f v h l u O1 P L q I D5 J5 T0 N0";
  EXPECT_EQ(StatusOf("mg foo " + flags18 + "\r\n"), MetaStatus::kOk);
  EXPECT_EQ(StatusOf("mg foo " + flags18 + " R0\r\n"), MetaStatus::kTooManyFlags);
  EXPECT_EQ(StatusOf("md foo " + flags18 + "\r\n"), MetaStatus::kOk);
  EXPECT_EQ(StatusOf("md foo " + flags18 + " R0\r\n"), MetaStatus::kTooManyFlags);
  EXPECT_EQ(StatusOf("ma foo " + flags18 + " R0\r\n"), MetaStatus::kInvalidOrDuplicateFlag);
  // Too many wins over bad flags.
  std::string zz;
  for (int i = 0; i < 30; ++i) zz += " zz";
  EXPECT_EQ(StatusOf("mg foo" + zz + "\r\n"), MetaStatus::kTooManyFlags);
  // me ignores its flags altogether.
  EXPECT_EQ(StatusOf("me foo" + zz + "\r\n"), MetaStatus::kOk);
}

// --- Flag errors ---------------------------------------------------------------------------------

TEST(MetaParserTest, InvalidFlag) {
  for (const char* flag : {"zz", "S5", "e", "w", "W", "X", "Z", "K", "o", "A", "_", "5"}) {
    EXPECT_EQ(StatusOf("mg foo "s + flag + "\r\n"), MetaStatus::kInvalidFlag) << Escape(flag);
  }
}

// memcached's tokenizer gives up on a line with a flag token that starts with neither a digit
// nor one of 'A' to 'z': the line is malformed, and an ms's block is not swallowed.
TEST(MetaParserTest, UnreadableFlagTokens) {
  for (const char* flag : {"!", "\x01", "\t", "{", "\x7f", "\x80", "\xff"}) {
    EXPECT_EQ(StatusOf("mg foo v "s + flag + "\r\n"), MetaStatus::kBadFormat) << Escape(flag);
    EXPECT_EQ(StatusOf("ma foo "s + flag + "\r\n"), MetaStatus::kBadFormat) << Escape(flag);
  }
  EXPECT_EQ(Parse("ms foo 1 !\r\na\r\n"), "BadFormat consumed=12");
}

TEST(MetaParserTest, DuplicateFlag) {
  EXPECT_EQ(StatusOf("mg foo v v\r\n"), MetaStatus::kDuplicateFlag);
  EXPECT_EQ(StatusOf("mg foo T1 T2\r\n"), MetaStatus::kDuplicateFlag);
  // md names it too (1.6.45; 1.6.18 did not), ma does not.
  EXPECT_EQ(StatusOf("md foo T1 T2\r\n"), MetaStatus::kDuplicateFlag);
  EXPECT_EQ(StatusOf("ma foo T1 T2\r\n"), MetaStatus::kInvalidOrDuplicateFlag);
}

TEST(MetaParserTest, BadTokens) {
  // Numbers are tokens of digits (decimal.h's ParseToken*): no sign but T's, N's and R's '-'.
  for (const char* flag :
       {"Tabc", "T", "T+1", "T4294967297", "Nabc", "R", "Cabc", "C", "C-1", "C+1", "E", "Ex"}) {
    EXPECT_EQ(StatusOf("mg foo "s + flag + " v\r\n"), MetaStatus::kBadToken) << flag;
    EXPECT_EQ(StatusOf("md foo "s + flag + "\r\n"), MetaStatus::kBadToken) << flag;
  }
  EXPECT_EQ(StatusOf("mg foo T- v\r\n"), MetaStatus::kOk);
  EXPECT_EQ(StatusOf("mg foo Jx\r\n"), MetaStatus::kBadInitial);
  EXPECT_EQ(StatusOf("mg foo J+1\r\n"), MetaStatus::kBadInitial);
  EXPECT_EQ(StatusOf("mg foo D-1\r\n"), MetaStatus::kBadDelta);
  // A bad client-flags token has no message of its own.
  EXPECT_EQ(StatusOf("mg foo Fx\r\n"), MetaStatus::kBadFormat);
  EXPECT_EQ(StatusOf("mg foo F-1\r\n"), MetaStatus::kBadFormat);
  EXPECT_EQ(StatusOf("mg foo F4294967296\r\n"), MetaStatus::kBadFormat);
}

// The scan goes on past a bad token: an unknown or repeated letter later still decides, and
// otherwise the last bad token does (a bad F token keeps what was chosen before it).
TEST(MetaParserTest, TheLastErrorWins) {
  EXPECT_EQ(StatusOf("mg foo Tabc zz\r\n"), MetaStatus::kInvalidFlag);
  EXPECT_EQ(StatusOf("mg foo Tabc v v\r\n"), MetaStatus::kDuplicateFlag);
  EXPECT_EQ(StatusOf("mg foo Cx Jx\r\n"), MetaStatus::kBadInitial);
  EXPECT_EQ(StatusOf("mg foo Jx Cx\r\n"), MetaStatus::kBadToken);
  EXPECT_EQ(StatusOf("mg foo Tabc Fx\r\n"), MetaStatus::kBadToken);
  EXPECT_EQ(StatusOf("mg foo Fx Tabc\r\n"), MetaStatus::kBadToken);
  EXPECT_EQ(StatusOf("mg !!! b Tx\r\n"), MetaStatus::kBadToken);
  EXPECT_EQ(StatusOf("mg foo Tx b\r\n"), MetaStatus::kBadKeyEncoding);
  // An error in the flags wins over an opaque token that is too long.
  EXPECT_EQ(StatusOf("mg foo " + kLongOpaque + " Tx\r\n"), MetaStatus::kBadToken);
}

// 1.6.45's md names its flag errors as mg does (1.6.18's did not); ma still does not.
TEST(MetaParserTest, ArithmeticNamesNoFlagErrorPrecisely) {
  for (const char* flags : {"zz", "q q", "Cabc", "Tabc", "Fx", "Dabc", "Jabc"}) {
    EXPECT_EQ(StatusOf("ma foo "s + flags + "\r\n"), MetaStatus::kInvalidOrDuplicateFlag) << flags;
  }
  EXPECT_EQ(StatusOf("ma !!! b\r\n"), MetaStatus::kInvalidOrDuplicateFlag);
  EXPECT_EQ(StatusOf("md foo zz\r\n"), MetaStatus::kInvalidFlag);
  EXPECT_EQ(StatusOf("md foo q q\r\n"), MetaStatus::kDuplicateFlag);
  EXPECT_EQ(StatusOf("md foo Cabc\r\n"), MetaStatus::kBadToken);
  EXPECT_EQ(StatusOf("md !!! b\r\n"), MetaStatus::kBadKeyEncoding);
}

TEST(MetaParserTest, OpaqueTokens) {
  const std::string opaque31(31, 'x');
  EXPECT_EQ(Parse("mg foo O" + opaque31 + " k\r\n"),
            "Ok consumed=43 mg key=foo flags=Ok opaque=" + opaque31);
  // Deliberate: refused before the command runs (1.6.18 applies mg's T and ma's delta first).
  for (const char* cmd : {"mg foo ", "md foo ", "ma foo "}) {
    EXPECT_EQ(StatusOf(cmd + kLongOpaque + "\r\n"), MetaStatus::kOpaqueTooLong) << cmd;
  }
  // ma checks its mode first.
  EXPECT_EQ(StatusOf("ma foo " + kLongOpaque + " MX\r\n"), MetaStatus::kBadArithMode);
}

// --- Base64 keys ---------------------------------------------------------------------------------

TEST(MetaParserTest, Base64Keys) {
  EXPECT_EQ(Parse("mg Zm9v b k v\r\n"), "Ok consumed=15 mg key=foo binary flags=bkv");
  EXPECT_EQ(Parse("mg AA== b\r\n"), "Ok consumed=11 mg key=\\x00 binary flags=b");
  // A decoded key may hold any byte, control bytes included.
  EXPECT_EQ(Parse("mg AQID b\r\n"), "Ok consumed=11 mg key=\\x01\\x02\\x03 binary flags=b");
  // memcached's decoder skips bytes outside the alphabet (base64.h).
  EXPECT_EQ(Parse("mg Zm9v! b\r\n"), "Ok consumed=12 mg key=foo binary flags=b");
  for (const char* cmd : {"mg", "ms"}) {
    for (const char* key : {"!!!", "foo", "AAA", "===="}) {
      EXPECT_EQ(StatusOf(cmd + " "s + key + (cmd[1] == 's' ? " 1" : "") + " b\r\n"),
                MetaStatus::kBadKeyEncoding)
          << cmd << " " << key;
    }
  }
}

// The length limit applies to the key as sent: a binary key is at most 186 bytes.
TEST(MetaParserTest, Base64KeyLength) {
  std::string encoded;
  for (int i = 0; i < 62; ++i) encoded += "/w==";  // 248 bytes; decodes to one byte
  std::string longest;
  for (int i = 0; i < 62; ++i) longest += "////";
  MetaCommand cmd;
  ASSERT_EQ(ParseMetaCommand("mg " + longest + " b\r\n", {}, &cmd).status, MetaStatus::kOk);
  EXPECT_EQ(cmd.Key(), std::string(kMaxBinaryKeyLength, '\xff'));
  EXPECT_EQ(ParseMetaCommand("mg " + longest + "!! b\r\n", {}, &cmd).status, MetaStatus::kOk);
  EXPECT_EQ(ParseMetaCommand("mg " + longest + "AAA b\r\n", {}, &cmd).status,
            MetaStatus::kBadFormat);
  EXPECT_EQ(Parse("mg " + encoded + " b\r\n"), "Ok consumed=255 mg key=\\xff binary flags=b");
}

TEST(MetaParserTest, ACopiedCommandKeepsItsDecodedKey) {
  MetaCommand cmd;
  ASSERT_EQ(ParseMetaCommand("mg Zm9v b\r\n", {}, &cmd).status, MetaStatus::kOk);
  const MetaCommand copy = cmd;
  cmd = MetaCommand{};
  EXPECT_EQ(copy.Key(), "foo");
  EXPECT_NE(copy.Key().data(), cmd.binary_key);
}

// --- ms ------------------------------------------------------------------------------------------

TEST(MetaParserTest, Set) {
  EXPECT_EQ(Parse("ms foo 3\r\nbar\r\n"), "Ok consumed=15 ms key=foo mode=set value=\"bar\"");
  EXPECT_EQ(Parse("ms foo 0\r\n\r\n"), "Ok consumed=12 ms key=foo mode=set value=\"\"");
  EXPECT_EQ(Parse("ms foo 3 T0 F5 c k s O1 q I C9 E10\r\nbar\r\nmn\r\n"),
            "Ok consumed=41 ms key=foo flags=TFcksOqICE opaque=1 ttl=0 client_flags=5 "
            "compare_cas=9 new_cas=10 mode=set value=\"bar\"");
  EXPECT_EQ(Parse("ms Zm9v 2 b k c\r\nhi\r\n"),
            "Ok consumed=21 ms key=foo binary flags=bkc mode=set value=\"hi\"");
  EXPECT_EQ(Parse("ms foo 5\r\na\r\nb\0\r\n"s),
            "Ok consumed=17 ms key=foo mode=set value=\"a\\r\\nb\\x00\"");
  // The data length and the client flags are tokens of digits (decimal.h's ParseToken*).
  EXPECT_EQ(Parse("ms foo +1 F1\r\na\r\n"), "BadFormat consumed=14");
  EXPECT_EQ(Parse("ms foo 1 F4294967295\r\na\r\n"),
            "Ok consumed=25 ms key=foo flags=F client_flags=4294967295 mode=set value=\"a\"");
  EXPECT_EQ(Parse("ms foo 1 F4294967296\r\na\r\n"), "BadFormat consumed=22 skip=3");
}

TEST(MetaParserTest, SetModes) {
  const std::pair<const char*, const char*> modes[] = {
      {"S", "set"}, {"E", "add"}, {"R", "replace"}, {"A", "append"}, {"P", "prepend"}};
  for (const auto& [letter, name] : modes) {
    EXPECT_EQ(Parse("ms k 1 M"s + letter + " N30\r\na\r\n"),
              "Ok consumed=18 ms key=k flags=MN vivify=30 mode="s + name + " value=\"a\"");
  }
  for (const char* mode : {"X", "s", "e", "a", "p", "r", "I", "+"}) {
    EXPECT_EQ(Parse("ms k 1 M"s + mode + "\r\na\r\n"), "BadSetMode consumed=11 skip=3") << mode;
  }
  // memcached 1.6.45 reads the byte after M, whatever follows it; a bare M has none.
  EXPECT_EQ(Parse("ms k 1 MSS\r\na\r\n"), "Ok consumed=15 ms key=k flags=M mode=set value=\"a\"");
  EXPECT_EQ(Parse("ms k 1 M\r\na\r\n"), "BadSetMode consumed=10 skip=3");
  // The mode is checked before the opaque token's length.
  EXPECT_EQ(Parse("ms k 1 " + kLongOpaque + " MX\r\na\r\n"), "BadSetMode consumed=45 skip=3");
  EXPECT_EQ(Parse("ms k 1 MX " + kLongOpaque + "\r\na\r\n"), "BadSetMode consumed=45 skip=3");
}

TEST(MetaParserTest, SetWaitsForTheWholeBlock) {
  EXPECT_EQ(Parse("ms foo 3\r\nba"), "NeedMore consumed=0");
  EXPECT_EQ(Parse("ms foo 3\r\nbar\r"), "NeedMore consumed=0");
  EXPECT_EQ(Parse("ms foo 3\r\nbar\n"), "NeedMore consumed=0");
}

TEST(MetaParserTest, AnUnfinishedSetSaysHowLargeItIs) {
  MetaCommand cmd;
  EXPECT_EQ(ParseMetaCommand("ms foo 3 T0\r\nba", {}, &cmd).needed, 18u);
  EXPECT_EQ(ParseMetaCommand("ms foo 3", {}, &cmd).needed, 0u);
  EXPECT_EQ(ParseMetaCommand("mg foo", {}, &cmd).needed, 0u);
}

TEST(MetaParserTest, BadDataChunkConsumesExactlyTheDeclaredBlock) {
  EXPECT_EQ(Parse("ms foo 3\r\nbarx\r\nmn\r\n"),
            "BadDataChunk consumed=15 ms key=foo mode=set value=\"\"");
  // The q flag hides no error.
  EXPECT_EQ(Parse("ms foo 3 q\r\nba\r\n\r\n"),
            "BadDataChunk consumed=17 ms key=foo flags=q mode=set value=\"\"");
}

TEST(MetaParserTest, SetLineErrors) {
  EXPECT_EQ(Parse("ms\r\n"), "BadFormat consumed=4");
  EXPECT_EQ(Parse("ms \r\n"), "BadFormat consumed=5");
  EXPECT_EQ(Parse("ms foo\r\n"), "BadFormat consumed=8");
  // A data length that does not parse skips nothing: its bytes are read as commands.
  for (const char* bytes : {"abc", "-1", "3x", "+1", "2147483646", "99999999999999999999"}) {
    EXPECT_EQ(Parse("ms foo "s + bytes + "\r\n"),
              "BadFormat consumed=" + std::to_string(9 + strlen(bytes)))
        << bytes;
  }
}

// Once the data length is valid, a refused line swallows its block, so that a value never runs as
// a command (1.6.18 did so only for errors found past the flags).
TEST(MetaParserTest, RefusedSetsSwallowTheirBlock) {
  EXPECT_EQ(Parse("ms " + std::string(251, 'k') + " 9\r\nflush_all\r\n"),
            "BadFormat consumed=258 skip=11");
  EXPECT_EQ(Parse("ms fo\x01 9\r\nflush_all\r\n"), "Error consumed=10 skip=11");
  const std::string flags18 = "k s t c f v h l u O1 P L q I D5 J5 T0 N0";
  EXPECT_EQ(Parse("ms foo 1 " + flags18 + "\r\na\r\n"),
            "TooManyFlags consumed=" + std::to_string(11 + flags18.size()) + " skip=3");
  EXPECT_EQ(Parse("ms foo 3 zz\r\nbar\r\n"), "InvalidFlag consumed=13 skip=5");
  EXPECT_EQ(Parse("ms foo 3 v v\r\nbar\r\n"), "DuplicateFlag consumed=14 skip=5");
  EXPECT_EQ(Parse("ms foo 3 Cabc\r\nbar\r\n"), "BadToken consumed=15 skip=5");
  EXPECT_EQ(Parse("ms foo 3 Fx\r\nbar\r\n"), "BadFormat consumed=13 skip=5");
  EXPECT_EQ(Parse("ms foo 3 Ta\r\nbar\r\n"), "BadToken consumed=13 skip=5");
  EXPECT_EQ(Parse("ms !!! 3 b\r\nbar\r\n"), "BadKeyEncoding consumed=12 skip=5");
  EXPECT_EQ(Parse("ms foo 3 " + kLongOpaque + "\r\nbar\r\n"), "OpaqueTooLong consumed=44 skip=5");
  // The header's own errors are not affected by the block that follows.
  EXPECT_EQ(Parse("ms foo 3 zz\r\n"), "InvalidFlag consumed=13 skip=5");
}

TEST(MetaParserTest, SetTooLarge) {
  ParserLimits limits;
  limits.item_size_max = 4;
  EXPECT_EQ(Parse("ms foo 4\r\nabcd\r\n", limits),
            "Ok consumed=16 ms key=foo mode=set value=\"abcd\"");
  EXPECT_EQ(Parse("ms foo 5 q\r\n", limits),
            "TooLarge consumed=12 skip=7 ms key=foo flags=q mode=set value=\"\"");
  EXPECT_EQ(Parse("ms Zm9v 5 b MA\r\n", limits),
            "TooLarge consumed=16 skip=7 ms key=foo binary flags=bM mode=append value=\"\"");
  EXPECT_EQ(Parse("ms foo 2147483645\r\n"),
            "TooLarge consumed=19 skip=2147483647 ms key=foo mode=set value=\"\"");
  // Errors in the line come first.
  EXPECT_EQ(Parse("ms foo 5 zz\r\n", limits), "InvalidFlag consumed=13 skip=7");
  EXPECT_EQ(Parse("ms foo 5 MX\r\n", limits), "BadSetMode consumed=13 skip=7");
}

// --- md ------------------------------------------------------------------------------------------

TEST(MetaParserTest, Delete) {
  EXPECT_EQ(Parse("md foo\r\n"), "Ok consumed=8 md key=foo");
  EXPECT_EQ(Parse("md foo q k O5 C12 E13 I T30 x\r\n"),
            "Ok consumed=31 md key=foo flags=qkOCEITx opaque=5 ttl=30 compare_cas=12 new_cas=13");
  EXPECT_EQ(Parse("md Zm9v b\r\n"), "Ok consumed=11 md key=foo binary flags=b");
  EXPECT_EQ(Parse("md\r\n"), "BadFormat consumed=4");
}

// --- ma ------------------------------------------------------------------------------------------

TEST(MetaParserTest, Arithmetic) {
  EXPECT_EQ(Parse("ma foo\r\n"), "Ok consumed=8 ma key=foo incr delta=1 initial=0");
  EXPECT_EQ(Parse("ma foo N0 J5 D10 T60 q O1 t c v k C3 E4\r\n"),
            "Ok consumed=41 ma key=foo flags=NJDTqOtcvkCE opaque=1 ttl=60 vivify=0 compare_cas=3 "
            "new_cas=4 incr delta=10 initial=5");
  EXPECT_EQ(Parse("ma foo D18446744073709551615\r\n"),
            "Ok consumed=30 ma key=foo flags=D incr delta=18446744073709551615 initial=0");
  EXPECT_EQ(Parse("ma\r\n"), "BadFormat consumed=4");
}

TEST(MetaParserTest, ArithmeticModes) {
  const std::pair<const char*, const char*> modes[] = {
      {"I", "incr"}, {"+", "incr"}, {"D", "decr"}, {"-", "decr"}};
  for (const auto& [letter, name] : modes) {
    EXPECT_EQ(Parse("ma k M"s + letter + "\r\n"),
              "Ok consumed=9 ma key=k flags=M "s + name + " delta=1 initial=0");
  }
  for (const char* mode : {"X", "i", "d", "S", "E"}) {
    EXPECT_EQ(Parse("ma k M"s + mode + "\r\n"), "BadArithMode consumed=9") << mode;
  }
}

// --- me ------------------------------------------------------------------------------------------

TEST(MetaParserTest, Debug) {
  EXPECT_EQ(Parse("me foo\r\n"), "Ok consumed=8 me key=foo");
  // 1.6.45 decodes the key only when another token follows the "b" (a slip in its token count),
  // so "me <key> b" looks up the base64 text itself.
  EXPECT_EQ(Parse("me Zm9v b\r\n"), "Ok consumed=11 me key=Zm9v");
  EXPECT_EQ(Parse("me Zm9v b x\r\n"), "Ok consumed=13 me key=foo binary flags=b");
  // Only a "b" right after the key counts; everything else is ignored.
  EXPECT_EQ(Parse("me Zm9v v b\r\n"), "Ok consumed=13 me key=Zm9v");
  EXPECT_EQ(Parse("me Zm9v bx y\r\n"), "Ok consumed=14 me key=Zm9v");
  EXPECT_EQ(Parse("me foo zz v v\r\n"), "Ok consumed=15 me key=foo");
  // me answers a format error where the others answer a flag error.
  EXPECT_EQ(Parse("me\r\n"), "BadFormat consumed=4");
  EXPECT_EQ(Parse("me  \r\n"), "BadFormat consumed=6");
  EXPECT_EQ(Parse("me foo b x\r\n"), "BadFormat consumed=12");
  EXPECT_EQ(Parse("me foo b b\r\n"), "BadFormat consumed=12");
  EXPECT_EQ(Parse("me foo !\r\n"), "BadFormat consumed=10");
}

// --- Streams -------------------------------------------------------------------------------------

// A pipeline of both protocols that touches every path that carries state from one command to
// the next.
const std::string& Pipeline() {
  static const std::string stream =
      "ms a 3 T0 F1\r\nabc\r\n"
      "mg a v k c O7 q\r\n"
      "get a\r\n"
      "ms a 5 zz\r\nmn\r\nx\r\n"
      "ms big 20 q\r\n01234567890123456789\r\n"
      "ms k 1\r\nab\r\n"
      "set k 0 0 1\r\nz\r\n"
      "  mn  \n"
      "ms k abc\r\nmn\r\n"
      "md Zm9v b q\r\n"
      "ma n MD D3 N0 J9 v\r\n"
      "me a\r\n"
      "mz\r\n"
      "mg a " +
      kLongOpaque +
      "\r\n"
      "mg a zz\r\n"
      "mg " +
      std::string(40, 'k') + "\r\nmn\r\n";
  return stream;
}

ParserLimits PipelineLimits() {
  ParserLimits limits;
  limits.item_size_max = 16;
  limits.max_line = 40;
  return limits;
}

TEST(MetaParserStreamTest, PipelineTranscript) {
  const std::vector<std::string> expected = {
      "Ok consumed=19 ms key=a flags=TF ttl=0 client_flags=1 mode=set value=\"abc\"",
      "Ok consumed=17 mg key=a flags=vkcOq opaque=7",
      "Ok consumed=7 get k=a",
      "InvalidFlag consumed=11 skip=7",
      "TooLarge consumed=13 skip=22 ms key=big flags=q mode=set value=\"\"",
      "BadDataChunk consumed=11 ms key=k mode=set value=\"\"",
      "BadFormat consumed=1",
      "Ok consumed=16 set key=k value=\"z\"",
      "Error consumed=7",
      "BadFormat consumed=10",
      "Ok consumed=4 mn",
      "Ok consumed=13 md key=foo binary flags=bq",
      "Ok consumed=20 ma key=n flags=MDNJv vivify=0 decr delta=3 initial=9",
      "Ok consumed=6 me key=a",
      "Error consumed=4",
      "OpaqueTooLong consumed=40",
      "InvalidFlag consumed=9",
      "Close consumed=0",
      "closed",
  };
  std::vector<std::string> violations;
  EXPECT_EQ(TranscriptOf(Pipeline(), {}, PipelineLimits(), &violations), expected);
  EXPECT_TRUE(violations.empty()) << violations.front();
}

TEST(MetaParserStreamTest, EveryCuttingGivesTheSameTranscript) {
  const std::string problems =
      CutProblems(Pipeline(), EveryTwoWayCutAndByteByByte(Pipeline().size()), PipelineLimits());
  EXPECT_TRUE(problems.empty()) << problems;
}

TEST(MetaParserStreamTest, ARefusedBlockIsSkippedAsItStreamsIn) {
  ParserLimits limits;
  limits.item_size_max = 4;
  EXPECT_EQ(
      TranscriptOf("ms k 9 q\r\nabc", {12}, limits),
      (std::vector<std::string>{"TooLarge consumed=10 skip=11 ms key=k flags=q mode=set value=\"\"",
                                "pending=0 discarding"}));
  EXPECT_EQ(TranscriptOf("ms k 3\r\nab", {9}, limits), (std::vector<std::string>{"pending=10"}));
}

}  // namespace
}  // namespace mnemo::protocol
