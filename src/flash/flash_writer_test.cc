#include "flash/flash_writer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <semaphore.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "flash/aligned_buffer.h"
#include "flash/flash_segment.h"

namespace mnemo::flash {
namespace {

constexpr size_t kSegment = 64 << 10;

std::vector<uint8_t> Record(size_t size, uint8_t seed) {
  std::vector<uint8_t> record(size);
  for (size_t i = 0; i < size; ++i) record[i] = static_cast<uint8_t>(seed + i * 31);
  return record;
}

class FlashWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/flash_writer_test.XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
    const DeviceSpec spec{dir_ + "/flash", 16 * kSegment};
    auto space = FlashSpace::Open(std::span(&spec, 1), kSegment);
    ASSERT_TRUE(space.ok()) << space.status().message();
    space_ = std::move(space.value());
    device_ = space_->devices().front().get();
  }
  void TearDown() override {
    space_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::vector<uint8_t> ReadFlash(FlashWriter::Location location, size_t size) {
    AlignedBuffer segment(kSegment);
    EXPECT_TRUE(device_->Read(device_->SegmentOffset(location.segment), segment.span()).ok());
    return {segment.data() + location.offset, segment.data() + location.offset + size};
  }

  SegmentHeader ReadHeader(uint32_t segment) {
    AlignedBuffer block(kIoAlignment);
    EXPECT_TRUE(device_->Read(device_->SegmentOffset(segment), block.span()).ok());
    auto header = DecodeSegmentHeader(
        std::span<const uint8_t, kSegmentHeaderSize>(block.data(), kSegmentHeaderSize), kSegment);
    EXPECT_TRUE(header.ok()) << header.status().message();
    return header.ok() ? header.value() : SegmentHeader{};
  }

  std::string dir_;
  std::unique_ptr<FlashSpace> space_;
  const FlashDevice* device_ = nullptr;  // the space's only device
};

TEST_F(FlashWriterTest, RecordsAreReadFromTheBufferThenFromFlash) {
  auto writer = FlashWriter::Create(*space_);
  ASSERT_TRUE(writer.ok());
  const std::vector<uint8_t> a = Record(100, 1);
  const std::vector<uint8_t> b = Record(5000, 2);
  const auto at_a = writer.value()->Append(a);
  const auto at_b = writer.value()->Append(b);
  ASSERT_TRUE(at_a.has_value() && at_b.has_value());
  EXPECT_EQ(*at_a, (FlashWriter::Location{0, kSegmentHeaderSize}));
  EXPECT_EQ(*at_b, (FlashWriter::Location{0, kSegmentHeaderSize + 100}));

  std::vector<uint8_t> out(5000);
  ASSERT_TRUE(writer.value()->ReadBuffered(*at_b, out));
  EXPECT_EQ(out, b);
  std::vector<uint8_t> too_long(5001);
  EXPECT_FALSE(writer.value()->ReadBuffered({0, kSegmentHeaderSize + 100}, too_long))
      << "past the records appended";
  EXPECT_FALSE(writer.value()->ReadBuffered({1, kSegmentHeaderSize}, out)) << "no such segment";

  writer.value()->Flush();
  EXPECT_FALSE(writer.value()->ReadBuffered(*at_b, out));
  EXPECT_EQ(ReadFlash(*at_a, a.size()), a);
  EXPECT_EQ(ReadFlash(*at_b, b.size()), b);
  EXPECT_EQ(ReadHeader(0), (SegmentHeader{1, 5100}));
  const FlashWriter::Stats stats = writer.value()->stats();
  EXPECT_EQ(stats.appended, 2u);
  EXPECT_EQ(stats.segments_written, 1u);
  EXPECT_EQ(stats.bytes_written, AlignUp(kSegmentHeaderSize + 5100));
  EXPECT_TRUE(writer.value()->error().ok());
}

TEST_F(FlashWriterTest, AFullBufferMovesOnToTheNextSegmentInSequence) {
  auto writer = FlashWriter::Create(*space_, {}, /*first_sequence=*/41);
  ASSERT_TRUE(writer.ok());
  const size_t size = writer.value()->max_record_size() / 2;
  std::vector<FlashWriter::Location> where;
  for (uint8_t i = 0; i < 5; ++i) {
    // Waits for the I/O thread now and then, so that no append is refused.
    if (i % 2 == 0) writer.value()->Flush();
    const auto location = writer.value()->Append(Record(size, i));
    ASSERT_TRUE(location.has_value()) << int{i};
    where.push_back(*location);
  }
  writer.value()->Flush();
  for (uint8_t i = 0; i < 5; ++i) EXPECT_EQ(ReadFlash(where[i], size), Record(size, i));
  EXPECT_EQ(where[1].segment, 0u);
  EXPECT_EQ(where[2].segment, 1u);
  EXPECT_EQ(where[4].segment, 2u);
  EXPECT_EQ(ReadHeader(0).sequence, 41u);
  EXPECT_EQ(ReadHeader(2).sequence, 43u);
}

TEST_F(FlashWriterTest, RefusesARecordLargerThanASegment) {
  auto writer = FlashWriter::Create(*space_);
  ASSERT_TRUE(writer.ok());
  EXPECT_EQ(writer.value()->max_record_size(), kSegment - kSegmentHeaderSize);
  EXPECT_FALSE(writer.value()->Append(Record(kSegment - kSegmentHeaderSize + 1, 0)).has_value());
  EXPECT_TRUE(writer.value()->Append(Record(kSegment - kSegmentHeaderSize, 0)).has_value());
  EXPECT_EQ(writer.value()->stats().refused, 1u);
}

TEST_F(FlashWriterTest, SegmentsComeFromNextSegment) {
  std::vector<uint32_t> order = {7, 3};
  auto writer = FlashWriter::Create(*space_, [&order]() -> std::optional<uint32_t> {
    if (order.empty()) return std::nullopt;
    const uint32_t next = order.front();
    order.erase(order.begin());
    return next;
  });
  ASSERT_TRUE(writer.ok());
  const size_t size = writer.value()->max_record_size();
  EXPECT_EQ(writer.value()->Append(Record(size, 1))->segment, 7u);
  writer.value()->Flush();
  EXPECT_EQ(writer.value()->Append(Record(size, 2))->segment, 3u);
  writer.value()->Flush();
  EXPECT_FALSE(writer.value()->Append(Record(1, 3)).has_value()) << "no segment to fill";
  EXPECT_EQ(ReadFlash({7, kSegmentHeaderSize}, size), Record(size, 1));
  EXPECT_EQ(ReadFlash({3, kSegmentHeaderSize}, size), Record(size, 2));
}

// Holds the writer's I/O thread in a signal handler until released, so that buffers stay in
// flight for as long as the test needs.
sem_t g_release;
void Hold(int) {
  while (sem_wait(&g_release) != 0) {
  }
}

TEST_F(FlashWriterTest, RefusesWithoutWaitingWhenBothBuffersAreInFlight) {
  std::set<std::string> before;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    before.insert(task.path().filename());
  }
  auto writer = FlashWriter::Create(*space_);
  ASSERT_TRUE(writer.ok());
  pid_t io_thread = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    if (!before.contains(task.path().filename())) io_thread = std::stoi(task.path().filename());
  }
  ASSERT_NE(io_thread, 0);
  ASSERT_EQ(sem_init(&g_release, 0, 0), 0);
  struct sigaction action = {};
  action.sa_handler = Hold;
  ASSERT_EQ(sigaction(SIGUSR1, &action, nullptr), 0);
  ASSERT_EQ(syscall(SYS_tgkill, getpid(), io_thread, SIGUSR1), 0);

  const size_t size = writer.value()->max_record_size();
  const auto first = writer.value()->Append(Record(size, 1));   // fills buffer A
  const auto second = writer.value()->Append(Record(size, 2));  // seals A, fills B
  const auto third = writer.value()->Append(Record(size, 3));   // seals B: none left
  ASSERT_TRUE(first.has_value() && second.has_value());
  EXPECT_FALSE(third.has_value());
  EXPECT_FALSE(writer.value()->Append(Record(1, 4)).has_value());
  // Still answered from RAM while the I/O thread is held.
  std::vector<uint8_t> out(size);
  ASSERT_TRUE(writer.value()->ReadBuffered(*first, out));
  EXPECT_EQ(out, Record(size, 1));
  ASSERT_TRUE(writer.value()->ReadBuffered(*second, out));
  EXPECT_EQ(out, Record(size, 2));

  sem_post(&g_release);
  writer.value()->Flush();
  EXPECT_EQ(ReadFlash(*first, size), Record(size, 1));
  EXPECT_EQ(ReadFlash(*second, size), Record(size, 2));
  EXPECT_TRUE(writer.value()->Append(Record(1, 5)).has_value());
  EXPECT_EQ(writer.value()->stats().refused, 2u);
  sem_destroy(&g_release);
}

TEST_F(FlashWriterTest, AnIoErrorTurnsItOff) {
  const std::string path = dir_ + "/flash";
  auto writer = FlashWriter::Create(*space_);
  ASSERT_TRUE(writer.ok());
  // Swap the device's descriptor for a read-only one: every pwrite fails with EBADF.
  const int read_only = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(read_only, 0);
  ASSERT_GE(dup2(read_only, device_->fd()), 0);
  close(read_only);
  ASSERT_TRUE(writer.value()->Append(Record(10, 1)).has_value());
  writer.value()->Flush();
  const Status error = writer.value()->error();
  EXPECT_FALSE(error.ok());
  EXPECT_NE(error.message().find("Bad file descriptor"), std::string::npos) << error.message();
  EXPECT_FALSE(writer.value()->Append(Record(10, 2)).has_value());
  EXPECT_EQ(writer.value()->stats().io_errors, 1u);
}

TEST_F(FlashWriterTest, ConcurrentAppendsAndReadsSeeWholeRecords) {
  auto writer = FlashWriter::Create(*space_);
  ASSERT_TRUE(writer.ok());
  FlashWriter& w = *writer.value();
  std::atomic<uint64_t> accepted{0};
  std::vector<std::thread> threads;
  for (uint8_t t = 0; t < 4; ++t) {
    threads.emplace_back([&w, &accepted, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::vector<uint8_t> record = Record(100 + (i % 300), static_cast<uint8_t>(t + i));
        const auto location = w.Append(record);
        if (!location.has_value()) continue;
        accepted.fetch_add(1);
        std::vector<uint8_t> out(record.size());
        // Either still buffered, and then whole, or already written.
        if (w.ReadBuffered(*location, out)) {
          ASSERT_EQ(out, record);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  w.Flush();
  const FlashWriter::Stats stats = w.stats();
  EXPECT_EQ(stats.appended, accepted.load());
  EXPECT_EQ(stats.appended + stats.refused, 8000u);
  EXPECT_GT(stats.segments_written, 0u);
  EXPECT_TRUE(w.error().ok());
}

}  // namespace
}  // namespace mnemo::flash
