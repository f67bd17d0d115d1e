#include "flash/flash_device.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>

#include "flash/aligned_buffer.h"

namespace mnemo::flash {
namespace {

constexpr size_t kSegment = 64 << 10;

class FlashDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/flash_device_test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
};

TEST_F(FlashDeviceTest, CreatesTheFileAtItsSizeAndCutsItIntoSegments) {
  const std::string path = dir_ + "/flash";
  auto device = FlashDevice::Open({path, 3 * kSegment + 1000}, kSegment);
  ASSERT_TRUE(device.ok()) << device.status().message();
  EXPECT_EQ(device.value()->segment_count(), 3u);
  EXPECT_EQ(device.value()->size(), 3 * kSegment);
  EXPECT_EQ(device.value()->SegmentOffset(2), 2 * kSegment);
  EXPECT_FALSE(device.value()->block_device());
  EXPECT_EQ(std::filesystem::file_size(path), 3 * kSegment + 1000);
}

TEST_F(FlashDeviceTest, DiscardsWhatAPreviousRunLeft) {
  const std::string path = dir_ + "/flash";
  {
    auto device = FlashDevice::Open({path, 2 * kSegment}, kSegment);
    ASSERT_TRUE(device.ok());
    AlignedBuffer ones(kIoAlignment);
    std::fill(ones.data(), ones.data() + ones.size(), 1);
    ASSERT_TRUE(device.value()->Write(0, ones.span()).ok());
  }
  auto device = FlashDevice::Open({path, 2 * kSegment}, kSegment);
  ASSERT_TRUE(device.ok());
  AlignedBuffer read(kIoAlignment);
  ASSERT_TRUE(device.value()->Read(0, read.span()).ok());
  EXPECT_EQ(read.data()[0], 0);
  EXPECT_EQ(read.data()[kIoAlignment - 1], 0);
}

// DeviceSpec::keep, for a warm restart: a file of SIZE bytes keeps what the last run wrote (and
// synced); a file of another size is emptied and sized as without it.
TEST_F(FlashDeviceTest, KeepsAFileOfItsSizeWhenAskedTo) {
  const std::string path = dir_ + "/flash";
  AlignedBuffer ones(kIoAlignment);
  std::fill(ones.data(), ones.data() + ones.size(), 1);
  {
    auto device = FlashDevice::Open({path, 2 * kSegment}, kSegment);
    ASSERT_TRUE(device.ok());
    ASSERT_TRUE(device.value()->Write(kSegment, ones.span()).ok());
    ASSERT_TRUE(device.value()->Sync().ok());
  }
  AlignedBuffer read(kIoAlignment);
  {
    auto device = FlashDevice::Open({path, 2 * kSegment, true}, kSegment);
    ASSERT_TRUE(device.ok());
    ASSERT_TRUE(device.value()->Read(kSegment, read.span()).ok());
    EXPECT_EQ(std::memcmp(read.data(), ones.data(), ones.size()), 0);
  }
  auto device = FlashDevice::Open({path, 3 * kSegment, true}, kSegment);
  ASSERT_TRUE(device.ok());
  EXPECT_EQ(std::filesystem::file_size(path), 3 * kSegment);
  ASSERT_TRUE(device.value()->Read(kSegment, read.span()).ok());
  EXPECT_EQ(read.data()[0], 0);
}

TEST_F(FlashDeviceTest, WritesAndReadsBackAlignedBlocks) {
  auto opened = FlashDevice::Open({dir_ + "/flash", 4 * kSegment}, kSegment);
  ASSERT_TRUE(opened.ok());
  const FlashDevice& device = *opened.value();
  AlignedBuffer out(2 * kIoAlignment);
  for (size_t i = 0; i < out.size(); ++i) out.data()[i] = static_cast<uint8_t>(i * 7);
  ASSERT_TRUE(device.Write(device.SegmentOffset(3), out.span()).ok());
  AlignedBuffer in(2 * kIoAlignment);
  ASSERT_TRUE(device.Read(device.SegmentOffset(3), in.span()).ok());
  EXPECT_EQ(std::memcmp(in.data(), out.data(), out.size()), 0);
}

TEST_F(FlashDeviceTest, RefusesRangesPastItsEnd) {
  auto device = FlashDevice::Open({dir_ + "/flash", 2 * kSegment}, kSegment);
  ASSERT_TRUE(device.ok());
  AlignedBuffer buffer(kIoAlignment);
  const Status read = device.value()->Read(2 * kSegment, buffer.span());
  EXPECT_FALSE(read.ok());
  EXPECT_NE(read.message().find("past its end"), std::string::npos) << read.message();
  EXPECT_FALSE(device.value()->Write(2 * kSegment - kIoAlignment / 2, buffer.span()).ok());
}

TEST_F(FlashDeviceTest, TryReadCachedSaysWhenBytesAreNotInThePageCache) {
  const std::string path = dir_ + "/flash";
  auto opened = FlashDevice::Open({path, 2 * kSegment}, kSegment);
  ASSERT_TRUE(opened.ok());
  const FlashDevice& device = *opened.value();
  AlignedBuffer pattern(kSegment);
  for (size_t i = 0; i < kSegment; ++i) pattern.data()[i] = static_cast<uint8_t>(i * 7);
  ASSERT_TRUE(device.Write(0, pattern.span()).ok());
  ASSERT_EQ(fdatasync(device.fd()), 0);
  ASSERT_EQ(posix_fadvise(device.cached_fd(), 0, 0, POSIX_FADV_DONTNEED), 0);
  uint8_t out[100];
  size_t done = 1;
  const FlashDevice::TryRead cold = device.TryReadCached(5000, out, &done);
  if (cold == FlashDevice::TryRead::kDone) GTEST_SKIP() << "pages stay cached here (tmpfs?)";
  EXPECT_EQ(cold, FlashDevice::TryRead::kWouldBlock);
  EXPECT_EQ(done, 0u);
  // Read once through the page cache, the bytes are there without waiting.
  ASSERT_TRUE(device.ReadCached(5000, out).ok());
  std::memset(out, 0, sizeof(out));
  EXPECT_EQ(device.TryReadCached(5000, out, &done), FlashDevice::TryRead::kDone);
  EXPECT_EQ(done, sizeof(out));
  EXPECT_EQ(std::memcmp(out, pattern.data() + 5000, sizeof(out)), 0);
  EXPECT_EQ(device.TryReadCached(2 * kSegment - 10, out, &done), FlashDevice::TryRead::kFailed);
}

TEST_F(FlashDeviceTest, RefusesASizeOfFewerThanTwoSegments) {
  auto device = FlashDevice::Open({dir_ + "/flash", 2 * kSegment - 1}, kSegment);
  ASSERT_FALSE(device.ok());
  EXPECT_NE(device.status().message().find("at least 2"), std::string::npos)
      << device.status().message();
  EXPECT_NE(device.status().message().find(dir_ + "/flash"), std::string::npos);
}

TEST_F(FlashDeviceTest, RefusesASegmentSizeThatIsNotBlockAligned) {
  auto device = FlashDevice::Open({dir_ + "/flash", 8 * kSegment}, kSegment + 512);
  ASSERT_FALSE(device.ok());
  EXPECT_NE(device.status().message().find("multiple of 4096"), std::string::npos);
}

TEST_F(FlashDeviceTest, SaysWhenTheDirectoryIsMissing) {
  auto device = FlashDevice::Open({dir_ + "/no/such/flash", 8 * kSegment}, kSegment);
  ASSERT_FALSE(device.ok());
  EXPECT_EQ(device.status().message(), "ext_path " + dir_ +
                                           "/no/such/flash: cannot open: No such file or "
                                           "directory (its directory does not exist)");
}

TEST_F(FlashDeviceTest, RefusesADirectoryAndACharacterDevice) {
  auto directory = FlashDevice::Open({dir_, 8 * kSegment}, kSegment);
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.status().message().find("Is a directory"), std::string::npos)
      << directory.status().message();
  auto null = FlashDevice::Open({"/dev/null", 8 * kSegment}, kSegment);
  ASSERT_FALSE(null.ok());
  EXPECT_NE(null.status().message().find("neither a regular file nor a block device"),
            std::string::npos)
      << null.status().message();
}

TEST_F(FlashDeviceTest, SaysWhenPermissionIsDenied) {
  if (geteuid() == 0) GTEST_SKIP() << "root is never denied";
  ASSERT_EQ(chmod(dir_.c_str(), 0500), 0);
  auto device = FlashDevice::Open({dir_ + "/flash", 8 * kSegment}, kSegment);
  chmod(dir_.c_str(), 0700);
  ASSERT_FALSE(device.ok());
  EXPECT_NE(device.status().message().find("Permission denied"), std::string::npos);
}

TEST_F(FlashDeviceTest, AnotherProcessCannotOpenAFileInUse) {
  const std::string path = dir_ + "/flash";
  auto device = FlashDevice::Open({path, 2 * kSegment}, kSegment);
  ASSERT_TRUE(device.ok());
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto second = FlashDevice::Open({path, 2 * kSegment}, kSegment);
    const bool refused_with_reason =
        !second.ok() && second.status().message().find("another server") != std::string::npos;
    _exit(refused_with_reason ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST_F(FlashDeviceTest, WorksOnTmpfsWithOrWithoutDirectIo) {
  if (!std::filesystem::is_directory("/dev/shm")) GTEST_SKIP() << "no /dev/shm";
  const std::string path = "/dev/shm/flash_device_test." + std::to_string(getpid());
  {
    auto device = FlashDevice::Open({path, 2 * kSegment}, kSegment);
    ASSERT_TRUE(device.ok()) << device.status().message();
    AlignedBuffer out(kIoAlignment);
    std::fill(out.data(), out.data() + out.size(), 0x5A);
    ASSERT_TRUE(device.value()->Write(kSegment, out.span()).ok());
    AlignedBuffer in(kIoAlignment);
    ASSERT_TRUE(device.value()->Read(kSegment, in.span()).ok());
    EXPECT_EQ(in.data()[100], 0x5A);
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace mnemo::flash
