#include "flash/flash_segment.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <random>

namespace mnemo::flash {
namespace {

constexpr size_t kSegment = 1 << 20;
using Bytes = std::array<uint8_t, kSegmentHeaderSize>;

Bytes Encode(const SegmentHeader& header) {
  Bytes bytes;
  EncodeSegmentHeader(header, bytes);
  return bytes;
}

TEST(FlashSegmentTest, RoundTrips) {
  const SegmentHeader header{0x0123456789ABCDEF, kSegment - kSegmentHeaderSize};
  const auto decoded = DecodeSegmentHeader(Encode(header), kSegment);
  ASSERT_TRUE(decoded.ok()) << decoded.status().message();
  EXPECT_EQ(decoded.value(), header);
}

TEST(FlashSegmentTest, StartsWithTheMagicInLittleEndian) {
  const Bytes bytes = Encode({7, 100});
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 4), "MNFS");
  EXPECT_EQ(bytes[8], 7);
  EXPECT_EQ(bytes[16], 100);
}

TEST(FlashSegmentTest, EveryFlippedBitIsRefused) {
  const Bytes good = Encode({42, 4096});
  for (size_t bit = 0; bit < kSegmentHeaderSize * 8; ++bit) {
    Bytes bad = good;
    bad[bit / 8] ^= static_cast<uint8_t>(1 << (bit % 8));
    EXPECT_FALSE(DecodeSegmentHeader(bad, kSegment).ok()) << "bit " << bit;
  }
}

TEST(FlashSegmentTest, ZerosAndGarbageAreRefused) {
  Bytes zeros{};
  const auto decoded = DecodeSegmentHeader(zeros, kSegment);
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().message(), "not a flash segment: bad magic");
  std::mt19937 random(3);
  for (int i = 0; i < 1000; ++i) {
    Bytes garbage;
    for (uint8_t& byte : garbage) byte = static_cast<uint8_t>(random());
    if (i % 2 == 0) std::memcpy(garbage.data(), "MNFS", 4);  // past the magic, to the checksum
    EXPECT_FALSE(DecodeSegmentHeader(garbage, kSegment).ok());
  }
}

TEST(FlashSegmentTest, RecordsLargerThanTheSegmentAreRefused) {
  const Bytes bytes = Encode({1, kSegment - kSegmentHeaderSize + 1});
  const auto decoded = DecodeSegmentHeader(bytes, kSegment);
  ASSERT_FALSE(decoded.ok());
  EXPECT_NE(decoded.status().message().find("do not fit"), std::string::npos);
  EXPECT_TRUE(DecodeSegmentHeader(bytes, 2 * kSegment).ok());
}

}  // namespace
}  // namespace mnemo::flash
