#include "server/log_buffer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mnemo::server {
namespace {

std::vector<std::string> DrainLines(LogBuffer& buffer, std::vector<uint64_t>* gids = nullptr) {
  std::vector<std::string> lines;
  buffer.Drain([&](const LogRecord& record) {
    lines.emplace_back(record.line);
    if (gids != nullptr) gids->push_back(record.gid);
  });
  return lines;
}

TEST(LogBufferTest, DrainsWhatWasPushedInOrderWithItsStamp) {
  LogBuffer buffer(1024);
  ASSERT_TRUE(buffer.Push({4, 7, 1700000000, 12, "type=a\n"}));
  ASSERT_TRUE(buffer.Push({8, 9, 1700000001, 345, "type=b\n"}));
  std::vector<LogRecord> seen;
  std::vector<std::string> lines;
  EXPECT_EQ(buffer.Drain([&](const LogRecord& record) {
    seen.push_back(record);
    lines.emplace_back(record.line);
  }),
            2u);
  ASSERT_EQ(lines, (std::vector<std::string>{"type=a\n", "type=b\n"}));
  EXPECT_EQ(seen[0].event, 4);
  EXPECT_EQ(seen[0].gid, 7u);
  EXPECT_EQ(seen[0].seconds, 1700000000);
  EXPECT_EQ(seen[0].microseconds, 12);
  EXPECT_EQ(seen[1].event, 8);
  EXPECT_EQ(seen[1].microseconds, 345);
  EXPECT_EQ(buffer.written(), 2u);
  EXPECT_EQ(buffer.dropped(), 0u);
  EXPECT_TRUE(DrainLines(buffer).empty());
}

TEST(LogBufferTest, DropsWhatDoesNotFitUntilDrained) {
  LogBuffer buffer(100);
  const std::string line(50, 'x');
  ASSERT_TRUE(buffer.Push({1, 1, 0, 0, line}));
  EXPECT_FALSE(buffer.Push({1, 2, 0, 0, line}));  // 2 * (header + 50) > 100
  EXPECT_EQ(buffer.dropped(), 1u);
  EXPECT_EQ(buffer.written(), 1u);
  EXPECT_EQ(DrainLines(buffer), std::vector<std::string>{line});
  EXPECT_TRUE(buffer.Push({1, 3, 0, 0, line}));
}

TEST(LogBufferTest, RecordsWrapAroundTheEndWhole) {
  LogBuffer buffer(97);  // not a multiple of a record, so that records and headers straddle
  std::vector<uint64_t> gids;
  uint64_t gid = 0;
  for (int round = 0; round < 50; ++round) {
    const std::string a = "line " + std::to_string(round) + "\n";
    const std::string b(static_cast<size_t>(round % 13), 'z');
    ASSERT_TRUE(buffer.Push({1, ++gid, round, round, a}));
    ASSERT_TRUE(buffer.Push({1, ++gid, round, round, b}));
    gids.clear();
    EXPECT_EQ(DrainLines(buffer, &gids), (std::vector<std::string>{a, b}));
    EXPECT_EQ(gids, (std::vector<uint64_t>{gid - 1, gid}));
  }
}

TEST(LogBufferTest, NoRoomAtAllDropsEverything) {
  LogBuffer buffer(0);  // -o worker_logbuf_size=0
  EXPECT_FALSE(buffer.Push({1, 1, 0, 0, "x\n"}));
  EXPECT_EQ(buffer.dropped(), 1u);
  EXPECT_TRUE(DrainLines(buffer).empty());
}

}  // namespace
}  // namespace mnemo::server
