#include "flash/write_buffer.h"

#include <gtest/gtest.h>

#include <vector>

#include "flash/flash_segment.h"

namespace mnemo::flash {
namespace {

constexpr size_t kSegment = 16 << 10;

TEST(WriteBufferTest, AppendsAfterTheHeaderUntilFull) {
  WriteBuffer buffer(kSegment);
  ASSERT_TRUE(buffer.valid());
  buffer.Reset(5);
  EXPECT_EQ(buffer.segment(), 5u);
  EXPECT_FALSE(buffer.has_records());
  const std::vector<uint8_t> record(1000, 7);
  EXPECT_EQ(buffer.Append(record), kSegmentHeaderSize);
  EXPECT_EQ(buffer.Append(record), kSegmentHeaderSize + 1000);
  EXPECT_EQ(buffer.used(), kSegmentHeaderSize + 2000);
  const std::vector<uint8_t> rest(kSegment - buffer.used(), 9);
  EXPECT_FALSE(buffer.Append(std::vector<uint8_t>(rest.size() + 1)).has_value());
  EXPECT_EQ(buffer.Append(rest), kSegmentHeaderSize + 2000);
  EXPECT_EQ(buffer.used(), kSegment);
  EXPECT_FALSE(buffer.Append(std::vector<uint8_t>(1)).has_value());
}

TEST(WriteBufferTest, ReadsOnlyWhatWasAppended) {
  WriteBuffer buffer(kSegment);
  buffer.Reset(0);
  const std::vector<uint8_t> record = {1, 2, 3, 4};
  const uint32_t offset = *buffer.Append(record);
  std::vector<uint8_t> out(2);
  ASSERT_TRUE(buffer.Read(offset + 1, out));
  EXPECT_EQ(out, (std::vector<uint8_t>{2, 3}));
  std::vector<uint8_t> too_long(5);
  EXPECT_FALSE(buffer.Read(offset, too_long));
  EXPECT_FALSE(buffer.Read(0, out)) << "the header is not a record";
}

TEST(WriteBufferTest, SealWritesTheHeaderAndPadsToABlock) {
  WriteBuffer buffer(kSegment);
  buffer.Reset(2);
  ASSERT_TRUE(buffer.Append(std::vector<uint8_t>(5000, 0xAB)).has_value());
  const std::span<const uint8_t> bytes = buffer.Seal(77);
  EXPECT_TRUE(buffer.sealed());
  EXPECT_EQ(bytes.size(), 8192u);  // 64 + 5000, rounded up to 4096
  EXPECT_EQ(reinterpret_cast<uintptr_t>(bytes.data()) % kIoAlignment, 0u);
  const auto header = DecodeSegmentHeader(bytes.first<kSegmentHeaderSize>(), kSegment);
  ASSERT_TRUE(header.ok()) << header.status().message();
  EXPECT_EQ(header.value(), (SegmentHeader{77, 5000}));
  EXPECT_EQ(bytes[kSegmentHeaderSize + 4999], 0xAB);
  EXPECT_EQ(bytes[kSegmentHeaderSize + 5000], 0);
  EXPECT_EQ(bytes.back(), 0);
  EXPECT_FALSE(buffer.Append(std::vector<uint8_t>(1)).has_value()) << "sealed";
  buffer.Reset(3);
  EXPECT_FALSE(buffer.sealed());
  EXPECT_EQ(buffer.Append(std::vector<uint8_t>(1)), kSegmentHeaderSize);
}

}  // namespace
}  // namespace mnemo::flash
