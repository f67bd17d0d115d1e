#include "flash/flash_reader.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

namespace mnemo::flash {
namespace {

constexpr size_t kFileSize = 300000;  // not a multiple of 4096: the last block is short

uint8_t ByteAt(uint64_t offset) { return static_cast<uint8_t>((offset * 131) ^ (offset >> 9)); }

struct Outcome {
  bool ok = false;
  std::vector<uint8_t> bytes;
  std::string error;
};

class FlashReaderTest : public ::testing::TestWithParam<FlashReader::Backend> {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/flash_reader_test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    fd_ = open((dir_ + "/data").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    ASSERT_GE(fd_, 0);
    std::vector<uint8_t> data(kFileSize);
    for (size_t i = 0; i < kFileSize; ++i) data[i] = ByteAt(i);
    ASSERT_EQ(pwrite(fd_, data.data(), data.size(), 0), static_cast<ssize_t>(data.size()));
  }
  void TearDown() override {
    close(fd_);
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<FlashReader> NewReader(uint32_t depth = 64) {
    FlashReader::Options options;
    options.queue_depth = depth;
    options.force_thread_pool = GetParam() == FlashReader::Backend::kThreadPool;
    auto reader = FlashReader::Create(options);
    EXPECT_TRUE(reader.ok()) << reader.status().message();
    if (!reader.ok()) return nullptr;
    return std::move(reader.value());
  }

  // Waits on the eventfd, as a worker's epoll loop would, until `count` reads have completed.
  std::map<uint64_t, Outcome> WaitFor(FlashReader& reader, size_t count) {
    std::map<uint64_t, Outcome> outcomes;
    while (outcomes.size() < count) {
      pollfd ready = {reader.event_fd(), POLLIN, 0};
      if (poll(&ready, 1, 10000) != 1) {
        ADD_FAILURE() << "no completion within 10 s; " << outcomes.size() << " of " << count;
        break;
      }
      reader.DrainCompletions([&outcomes](uint64_t cookie, Result<std::span<const uint8_t>> bytes) {
        Outcome& outcome = outcomes[cookie];
        outcome.ok = bytes.ok();
        if (bytes.ok()) {
          outcome.bytes.assign(bytes.value().begin(), bytes.value().end());
        } else {
          outcome.error = bytes.status().message();
        }
      });
    }
    return outcomes;
  }

  bool Skipped(const FlashReader& reader) {
    return GetParam() == FlashReader::Backend::kIoUring &&
           reader.backend() != FlashReader::Backend::kIoUring;
  }

  std::string dir_;
  int fd_ = -1;
};

std::vector<uint8_t> Expected(uint64_t offset, uint32_t length) {
  std::vector<uint8_t> bytes(length);
  for (uint32_t i = 0; i < length; ++i) bytes[i] = ByteAt(offset + i);
  return bytes;
}

TEST_P(FlashReaderTest, ReadsUnalignedRanges) {
  auto reader = NewReader();
  ASSERT_NE(reader, nullptr);
  if (Skipped(*reader)) GTEST_SKIP() << reader->fallback_reason();
  const std::vector<std::pair<uint64_t, uint32_t>> ranges = {
      {0, 1}, {1, 4095}, {4095, 2}, {8192, 4096}, {12345, 70000}, {kFileSize - 10, 10}, {77, 0}};
  for (size_t i = 0; i < ranges.size(); ++i) {
    ASSERT_TRUE(reader->Submit({fd_, ranges[i].first, ranges[i].second, 1000 + i}));
  }
  EXPECT_EQ(reader->in_flight(), ranges.size());
  const auto outcomes = WaitFor(*reader, ranges.size());
  for (size_t i = 0; i < ranges.size(); ++i) {
    const Outcome& outcome = outcomes.at(1000 + i);
    ASSERT_TRUE(outcome.ok) << i << ": " << outcome.error;
    EXPECT_EQ(outcome.bytes, Expected(ranges[i].first, ranges[i].second)) << i;
  }
  EXPECT_EQ(reader->in_flight(), 0u);
}

TEST_P(FlashReaderTest, RefusesBeyondItsQueueDepth) {
  auto reader = NewReader(4);
  ASSERT_NE(reader, nullptr);
  if (Skipped(*reader)) GTEST_SKIP() << reader->fallback_reason();
  for (uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(reader->Submit({fd_, i * 100, 100, i}));
  EXPECT_FALSE(reader->Submit({fd_, 0, 100, 99}));
  EXPECT_EQ(WaitFor(*reader, 4).size(), 4u);
  EXPECT_TRUE(reader->Submit({fd_, 0, 100, 5}));
  EXPECT_TRUE(WaitFor(*reader, 1).at(5).ok);
}

TEST_P(FlashReaderTest, ReportsReadsPastTheEndAndBadDescriptorsAsErrors) {
  auto reader = NewReader();
  ASSERT_NE(reader, nullptr);
  if (Skipped(*reader)) GTEST_SKIP() << reader->fallback_reason();
  const int closed = dup(fd_);
  ASSERT_GE(closed, 0);
  close(closed);
  ASSERT_TRUE(reader->Submit({fd_, kFileSize + 5000, 10, 1}));  // wholly past the end
  ASSERT_TRUE(reader->Submit({fd_, kFileSize - 5, 10, 2}));     // across the end
  ASSERT_TRUE(reader->Submit({closed, 0, 10, 3}));
  ASSERT_TRUE(reader->Submit({fd_, 0, 10, 4}));  // and a good one among them
  const auto outcomes = WaitFor(*reader, 4);
  EXPECT_FALSE(outcomes.at(1).ok);
  EXPECT_EQ(outcomes.at(1).error, "flash read of 10 bytes at " + std::to_string(kFileSize + 5000) +
                                      ": past the end of the file");
  EXPECT_FALSE(outcomes.at(2).ok);
  EXPECT_NE(outcomes.at(2).error.find("past the end"), std::string::npos);
  EXPECT_FALSE(outcomes.at(3).ok);
  EXPECT_EQ(outcomes.at(3).error, "flash read of 10 bytes at 0: Bad file descriptor");
  ASSERT_TRUE(outcomes.at(4).ok);
  EXPECT_EQ(outcomes.at(4).bytes, Expected(0, 10));
}

TEST_P(FlashReaderTest, ManyReadsThroughABoundedQueue) {
  auto reader = NewReader(16);
  ASSERT_NE(reader, nullptr);
  if (Skipped(*reader)) GTEST_SKIP() << reader->fallback_reason();
  std::mt19937 random(11);
  std::map<uint64_t, std::pair<uint64_t, uint32_t>> asked;
  size_t completed = 0;
  uint64_t next = 0;
  while (completed < 2000) {
    while (next < 2000 && reader->in_flight() < 16) {
      const uint64_t offset = random() % (kFileSize - 9000);
      const auto length = static_cast<uint32_t>(random() % 9000);
      ASSERT_TRUE(reader->Submit({fd_, offset, length, next}));
      asked[next++] = {offset, length};
    }
    for (const auto& [cookie, outcome] : WaitFor(*reader, 1)) {
      ASSERT_TRUE(outcome.ok) << outcome.error;
      ASSERT_EQ(outcome.bytes, Expected(asked[cookie].first, asked[cookie].second));
      ++completed;
    }
  }
  EXPECT_EQ(reader->in_flight(), 0u);
}

TEST_P(FlashReaderTest, DestroyedWithReadsInFlight) {
  auto reader = NewReader();
  ASSERT_NE(reader, nullptr);
  for (uint64_t i = 0; i < 32; ++i) ASSERT_TRUE(reader->Submit({fd_, i * 4000, 65536, i}));
  reader.reset();  // waits for them; ASan would see a write into freed buffers
}

TEST(FlashReaderBackendTest, TheThreadPoolSaysWhy) {
  FlashReader::Options options;
  options.force_thread_pool = true;
  auto reader = FlashReader::Create(options);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(reader.value()->backend(), FlashReader::Backend::kThreadPool);
  EXPECT_EQ(reader.value()->fallback_reason(), "the thread pool was asked for");
}

INSTANTIATE_TEST_SUITE_P(Backends, FlashReaderTest,
                         ::testing::Values(FlashReader::Backend::kIoUring,
                                           FlashReader::Backend::kThreadPool),
                         [](const ::testing::TestParamInfo<FlashReader::Backend>& backend) {
                           return backend.param == FlashReader::Backend::kIoUring ? "IoUring"
                                                                                  : "ThreadPool";
                         });

}  // namespace
}  // namespace mnemo::flash
