#include "flash/flash_space.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "flash/aligned_buffer.h"
#include "flash/flash_segment.h"
#include "flash/write_buffer.h"

namespace mnemo::flash {
namespace {

constexpr size_t kSegment = 64 << 10;

class FlashSpaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/flash_space_test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
};

TEST_F(FlashSpaceTest, NumbersTheDevicesSegmentsInOrder) {
  const std::vector<DeviceSpec> specs = {
      {dir_ + "/a", 3 * kSegment}, {dir_ + "/b", 2 * kSegment}, {dir_ + "/c", 4 * kSegment}};
  auto opened = FlashSpace::Open(specs, kSegment);
  ASSERT_TRUE(opened.ok()) << opened.status().message();
  const FlashSpace& space = *opened.value();
  EXPECT_EQ(space.segment_count(), 9u);
  EXPECT_EQ(space.segment_size(), kSegment);
  ASSERT_EQ(space.devices().size(), 3u);
  const std::vector<std::pair<size_t, uint64_t>> expected = {
      {0, 0}, {0, kSegment}, {0, 2 * kSegment}, {1, 0},           {1, kSegment},
      {2, 0}, {2, kSegment}, {2, 2 * kSegment}, {2, 3 * kSegment}};
  for (uint32_t segment = 0; segment < 9; ++segment) {
    const FlashSpace::Place place = space.Locate(segment);
    EXPECT_EQ(place.device, space.devices()[expected[segment].first].get()) << segment;
    EXPECT_EQ(place.offset, expected[segment].second) << segment;
  }
}

TEST_F(FlashSpaceTest, FailsWithTheDeviceThatFails) {
  const std::vector<DeviceSpec> specs = {{dir_ + "/a", 3 * kSegment},
                                         {dir_ + "/missing/b", 2 * kSegment}};
  auto space = FlashSpace::Open(specs, kSegment);
  ASSERT_FALSE(space.ok());
  EXPECT_NE(space.status().message().find(dir_ + "/missing/b"), std::string::npos)
      << space.status().message();
}

TEST_F(FlashSpaceTest, SegmentsWrittenWhereLocatedFillEveryDevice) {
  const std::vector<DeviceSpec> specs = {{dir_ + "/a", 2 * kSegment}, {dir_ + "/b", 2 * kSegment}};
  auto space = FlashSpace::Open(specs, kSegment);
  ASSERT_TRUE(space.ok());
  WriteBuffer buffer(kSegment);
  ASSERT_TRUE(buffer.valid());
  for (uint32_t segment = 0; segment < 4; ++segment) {
    buffer.Reset(segment);
    const std::vector<uint8_t> record(kIoAlignment, static_cast<uint8_t>(segment + 1));
    ASSERT_TRUE(buffer.Append(record).has_value());
    const FlashSpace::Place place = space.value()->Locate(segment);
    ASSERT_TRUE(place.device->Write(place.offset, buffer.Seal(segment)).ok());
  }
  for (uint32_t segment = 0; segment < 4; ++segment) {
    const FlashSpace::Place place = space.value()->Locate(segment);
    AlignedBuffer block(2 * kIoAlignment);
    ASSERT_TRUE(place.device->Read(place.offset, block.span()).ok());
    // The record's last byte, after the segment header.
    EXPECT_EQ(block.data()[kSegmentHeaderSize + kIoAlignment - 1], segment + 1) << segment;
  }
}

}  // namespace
}  // namespace mnemo::flash
