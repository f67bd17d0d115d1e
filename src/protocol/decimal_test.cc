#include "protocol/decimal.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string_view>

namespace mnemo::protocol {
namespace {

std::optional<uint64_t> U64(std::string_view token) {
  uint64_t value = 0;
  if (!ParseDecimalU64(token, &value)) return std::nullopt;
  return value;
}

std::optional<uint32_t> U32(std::string_view token) {
  uint32_t value = 0;
  if (!ParseDecimalU32(token, &value)) return std::nullopt;
  return value;
}

std::optional<int64_t> I64(std::string_view token) {
  int64_t value = 0;
  if (!ParseDecimalI64(token, &value)) return std::nullopt;
  return value;
}

std::optional<int32_t> I32(std::string_view token) {
  int32_t value = 0;
  if (!ParseDecimalI32(token, &value)) return std::nullopt;
  return value;
}

TEST(DecimalTest, PlainNumbers) {
  EXPECT_EQ(U64("0"), 0u);
  EXPECT_EQ(U64("42"), 42u);
  EXPECT_EQ(U64("007"), 7u);
  EXPECT_EQ(I32("123456"), 123456);
  EXPECT_EQ(I32("-5"), -5);
  EXPECT_EQ(I64("-9223372036854775808"), INT64_MIN);
  EXPECT_EQ(I64("9223372036854775807"), INT64_MAX);
}

TEST(DecimalTest, RefusesWhatHasNoDigits) {
  for (std::string_view token : {"", "abc", "+", "-", " ", "\t", "x1", "0x10"}) {
    EXPECT_EQ(U64(token), std::nullopt) << token;
    EXPECT_EQ(I32(token), std::nullopt) << token;
  }
}

TEST(DecimalTest, SignsAndLeadingWhiteSpace) {
  EXPECT_EQ(U64("+5"), 5u);
  EXPECT_EQ(U64("-0"), 0u);
  EXPECT_EQ(I32("+7"), 7);
  EXPECT_EQ(I32("\t\v\f\r12"), 12);
  EXPECT_EQ(U64("+-1"), std::nullopt);
  EXPECT_EQ(U64("--1"), std::nullopt);
}

TEST(DecimalTest, TrailingBytesMustStartWithWhiteSpace) {
  EXPECT_EQ(U64("5\r"), 5u);
  EXPECT_EQ(U64("5\tjunk"), 5u);
  EXPECT_EQ(I32("5\v"), 5);
  EXPECT_EQ(U64("5x"), std::nullopt);
  EXPECT_EQ(I32("1.5"), std::nullopt);
  EXPECT_EQ(U64(std::string_view("5\0", 2)), std::nullopt);
}

TEST(DecimalTest, UnsignedOverflowIsRefused) {
  EXPECT_EQ(U64("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(U64("18446744073709551616"), std::nullopt);
  EXPECT_EQ(U64("99999999999999999999999"), std::nullopt);
  EXPECT_EQ(U64("99999999999999999999999\t"), std::nullopt);
}

// strtoull negates a '-' number modulo 2^64; memcached refuses the result only when it is then
// negative as a signed number. memcached 1.6.18 answers "incr n -18446744073709551615" with n+1.
TEST(DecimalTest, UnsignedNegativesFollowStrtoull) {
  EXPECT_EQ(U64("-1"), std::nullopt);
  EXPECT_EQ(U64("-9223372036854775808"), std::nullopt);
  EXPECT_EQ(U64("-18446744073709551615"), 1u);
  EXPECT_EQ(U64("-9223372036854775809"), 9223372036854775807u);
  EXPECT_EQ(U64("-18446744073709551616"), std::nullopt);
}

// memcached 1.6.18 stores flags 4294967296 as 0 and 18446744073709551615 as 4294967295.
TEST(DecimalTest, U32KeepsTheLow32Bits) {
  EXPECT_EQ(U32("4294967295"), 4294967295u);
  EXPECT_EQ(U32("4294967296"), 0u);
  EXPECT_EQ(U32("18446744073709551615"), 4294967295u);
  EXPECT_EQ(U32("-1"), std::nullopt);
  EXPECT_EQ(U32("18446744073709551616"), std::nullopt);
}

TEST(DecimalTest, SignedOverflowIsRefused) {
  EXPECT_EQ(I64("9223372036854775808"), std::nullopt);
  EXPECT_EQ(I64("-9223372036854775809"), std::nullopt);
  EXPECT_EQ(I32("9223372036854775808"), std::nullopt);
}

// memcached 1.6.18 takes exptime 4294967297 as 1 ("mg k t" answers t1).
TEST(DecimalTest, I32KeepsTheLow32Bits) {
  EXPECT_EQ(I32("2147483647"), 2147483647);
  EXPECT_EQ(I32("2147483648"), INT32_MIN);
  EXPECT_EQ(I32("4294967295"), -1);
  EXPECT_EQ(I32("4294967297"), 1);
  EXPECT_EQ(I32("-2147483649"), 2147483647);
}

template <typename T, bool (*kParse)(std::string_view, T*)>
std::optional<T> Strict(std::string_view token) {
  T value = 0;
  if (!kParse(token, &value)) return std::nullopt;
  return value;
}
std::optional<uint32_t> TokenU32(std::string_view token) {
  return Strict<uint32_t, ParseTokenU32>(token);
}
std::optional<uint64_t> TokenU64(std::string_view token) {
  return Strict<uint64_t, ParseTokenU64>(token);
}
std::optional<int32_t> TokenI32(std::string_view token) {
  return Strict<int32_t, ParseTokenI32>(token);
}

// Expected results were checked against memcached 1.6.45 on loopback ("touch k <token>",
// "incr k <token>", "verbosity <token>").
TEST(DecimalTest, TokenReadsTakeDigitsOnly) {
  EXPECT_EQ(TokenU32("0"), 0u);
  EXPECT_EQ(TokenU32("007"), 7u);
  EXPECT_EQ(TokenU32("4294967295"), 4294967295u);
  EXPECT_EQ(TokenU32("4294967296"), std::nullopt);
  EXPECT_EQ(TokenU32("00000000001"), 1u);
  EXPECT_EQ(TokenU32("000000000001"), std::nullopt);  // 12 bytes
  for (const std::string_view bad : {"+1", "-1", "1.5", "1x", "0x10", "1\t", " 1", "\t1"}) {
    EXPECT_EQ(TokenU32(bad), std::nullopt) << bad;
    EXPECT_EQ(TokenU64(bad), std::nullopt) << bad;
  }
  EXPECT_EQ(TokenU64("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(TokenU64("18446744073709551616"), std::nullopt);
  EXPECT_EQ(TokenU64("0000000000000000000001"), 1u);
  EXPECT_EQ(TokenU64("00000000000000000000001"), std::nullopt);  // 23 bytes
}

TEST(DecimalTest, TokenI32TakesOneMinus) {
  EXPECT_EQ(TokenI32("-1"), -1);
  EXPECT_EQ(TokenI32("-"), 0);
  EXPECT_EQ(TokenI32("2147483647"), INT32_MAX);
  EXPECT_EQ(TokenI32("2147483648"), std::nullopt);
  EXPECT_EQ(TokenI32("-2147483648"), INT32_MIN);
  EXPECT_EQ(TokenI32("-2147483649"), std::nullopt);
  EXPECT_EQ(TokenI32("--1"), std::nullopt);
  EXPECT_EQ(TokenI32("+1"), std::nullopt);
  EXPECT_EQ(TokenI32("1-"), std::nullopt);
}

}  // namespace
}  // namespace mnemo::protocol
