#include "base/crc32c.h"

#include <gtest/gtest.h>

#include <random>
#include <string_view>
#include <vector>

namespace mnemo {
namespace {

TEST(Crc32cTest, KnownVectors) {
  constexpr std::string_view kCheck = "123456789";
  EXPECT_EQ(Crc32c(kCheck.data(), kCheck.size()), 0xE3069283u);
  EXPECT_EQ(Crc32cSoftware(kCheck.data(), kCheck.size()), 0xE3069283u);
  // RFC 3720 (iSCSI), appendix B.4.
  std::vector<uint8_t> bytes(32, 0);
  EXPECT_EQ(Crc32c(bytes.data(), bytes.size()), 0x8A9136AAu);
  bytes.assign(32, 0xFF);
  EXPECT_EQ(Crc32c(bytes.data(), bytes.size()), 0x62A8AB43u);
  for (size_t i = 0; i < 32; ++i) bytes[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(Crc32c(bytes.data(), bytes.size()), 0x46DD794Eu);
  for (size_t i = 0; i < 32; ++i) bytes[i] = static_cast<uint8_t>(31 - i);
  EXPECT_EQ(Crc32c(bytes.data(), bytes.size()), 0x113FDB5Cu);
  EXPECT_EQ(Crc32c(nullptr, 0), 0u);
}

TEST(Crc32cTest, SeedChainsPieces) {
  constexpr std::string_view kText = "The quick brown fox jumps over the lazy dog";
  const uint32_t whole = Crc32c(kText.data(), kText.size());
  for (size_t cut = 0; cut <= kText.size(); ++cut) {
    const uint32_t first = Crc32c(kText.data(), cut);
    EXPECT_EQ(Crc32c(kText.data() + cut, kText.size() - cut, first), whole) << cut;
  }
  EXPECT_EQ(Crc32c(kText.data(), 0, 0x12345678), 0x12345678u);
}

TEST(Crc32cTest, HardwareMatchesSoftwareAtEveryLengthAndAlignment) {
  if (!Crc32cHardwareAvailable()) GTEST_SKIP() << "this CPU has no SSE4.2";
  std::mt19937 random(17);
  std::vector<uint8_t> bytes(300 + 8);
  for (uint8_t& byte : bytes) byte = static_cast<uint8_t>(random());
  for (size_t start = 0; start < 8; ++start) {
    for (size_t length = 0; length + start <= bytes.size() && length <= 300; ++length) {
      const uint32_t seed = static_cast<uint32_t>(random());
      ASSERT_EQ(Crc32cHardware(bytes.data() + start, length, seed),
                Crc32cSoftware(bytes.data() + start, length, seed))
          << "start " << start << " length " << length;
    }
  }
}

TEST(Crc32cTest, HardwareMatchesSoftwareOnLongBuffers) {
  if (!Crc32cHardwareAvailable()) GTEST_SKIP() << "this CPU has no SSE4.2";
  // Around the lengths where the three parallel streams of 256 and of 8,192 bytes start and end.
  std::mt19937 random(29);
  std::vector<uint8_t> bytes(70'000);
  for (uint8_t& byte : bytes) byte = static_cast<uint8_t>(random());
  for (const size_t length : {767u, 768u, 769u, 775u, 776u, 1100u, 1536u, 4096u, 24'575u, 24'576u,
                              24'577u, 25'343u, 25'344u, 25'350u, 65'536u, 69'990u}) {
    for (size_t start = 0; start < 8; ++start) {
      const uint32_t seed = static_cast<uint32_t>(random());
      ASSERT_EQ(Crc32cHardware(bytes.data() + start, length, seed),
                Crc32cSoftware(bytes.data() + start, length, seed))
          << "start " << start << " length " << length;
    }
  }
}

}  // namespace
}  // namespace mnemo
