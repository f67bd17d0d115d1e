// Expected decodings were checked against Debian's memcached 1.6.18 on loopback, through the key
// that "mg <token> b k" echoes (re-encoded) or the "error decoding key" it answers.
#include "protocol/base64.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <string_view>

namespace mnemo::protocol {
namespace {

std::optional<std::string> Decode(std::string_view encoded) {
  std::string out(Base64DecodedCapacity(encoded.size()), '?');
  size_t size = 0;
  if (!Base64Decode(encoded, out.data(), &size)) return std::nullopt;
  EXPECT_LE(size, out.size());
  out.resize(size);
  return out;
}

std::string Encode(std::string_view bytes) {
  std::string out(Base64EncodedSize(bytes.size()), '?');
  out.resize(Base64Encode(bytes, out.data()));
  EXPECT_EQ(out.size(), Base64EncodedSize(bytes.size()));
  return out;
}

TEST(Base64Test, DecodesTheStandardAlphabet) {
  EXPECT_EQ(Decode("Zm9v"), "foo");
  EXPECT_EQ(Decode("Zm9vYg=="), "foob");
  EXPECT_EQ(Decode("Zm9vYmE="), "fooba");
  EXPECT_EQ(Decode("+/+/"), "\xfb\xff\xbf");
  EXPECT_EQ(Decode("AAAA"), std::string(3, '\0'));
}

TEST(Base64Test, SkipsBytesOutsideTheAlphabet) {
  EXPECT_EQ(Decode("Zm9v!"), "foo");
  EXPECT_EQ(Decode("Z\x01m9\xffv"), "foo");
  EXPECT_EQ(Decode("Zm-9_v"), "foo");
}

TEST(Base64Test, RefusesAnInputWhoseDigitsAreNotGroupsOfFour) {
  EXPECT_EQ(Decode(""), std::nullopt);
  EXPECT_EQ(Decode("!!!"), std::nullopt);
  EXPECT_EQ(Decode("AAA"), std::nullopt);
  EXPECT_EQ(Decode("foo"), std::nullopt);
  EXPECT_EQ(Decode("Zm9vY"), std::nullopt);
}

TEST(Base64Test, ThePaddedGroupEndsTheInput) {
  EXPECT_EQ(Decode("AA=="), std::string(1, '\0'));
  EXPECT_EQ(Decode("AA==AAAA"), std::string(1, '\0'));
  // '=' is a zero digit wherever it stands in its group; each one drops an output byte.
  EXPECT_EQ(Decode("A=AA"), std::string(2, '\0'));
  EXPECT_EQ(Decode("Zm=v"), Decode("ZmA="));
  EXPECT_EQ(Decode("A==="), std::nullopt);
  EXPECT_EQ(Decode("===="), std::nullopt);
  // The digits after the padded group still count toward the groups of four.
  EXPECT_EQ(Decode("AA==A"), std::nullopt);
}

TEST(Base64Test, Encodes) {
  EXPECT_EQ(Encode(""), "");
  EXPECT_EQ(Encode("f"), "Zg==");
  EXPECT_EQ(Encode("fo"), "Zm8=");
  EXPECT_EQ(Encode("foo"), "Zm9v");
  EXPECT_EQ(Encode("\xfb\xff\xbf"), "+/+/");
}

TEST(Base64Test, EveryByteStringRoundTrips) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) {
    bytes.push_back(static_cast<char>(i));
    EXPECT_EQ(Decode(Encode(bytes)), bytes) << i;
  }
}

}  // namespace
}  // namespace mnemo::protocol
