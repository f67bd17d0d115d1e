#include "replication/peer_stream.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace mnemo::replication {
namespace {

TEST(PeerStreamTest, BatchesAreNumberedInOrderAndForgottenWhenAcknowledged) {
  PeerStream stream(1000);
  EXPECT_FALSE(stream.TakeBatch());
  EXPECT_EQ(stream.Append("a\r\n"), PeerStream::AppendResult::kAppendedFirst);
  EXPECT_EQ(stream.Append("bb\r\n"), PeerStream::AppendResult::kAppended);
  EXPECT_EQ(stream.backlog_bytes(), 7u);
  EXPECT_NE(stream.OldestUnackedMs(), 0);
  ASSERT_TRUE(stream.TakeBatch());
  EXPECT_EQ(stream.Append("c\r\n"), PeerStream::AppendResult::kAppendedFirst);
  ASSERT_TRUE(stream.TakeBatch());
  ASSERT_EQ(stream.unacked().size(), 2u);
  EXPECT_EQ(stream.unacked()[0].bytes, "a\r\nbb\r\n");
  EXPECT_EQ(stream.unacked()[0].first_seq, 1u);
  EXPECT_EQ(stream.unacked()[0].records, 2u);
  EXPECT_EQ(stream.unacked()[1].first_seq, 3u);
  EXPECT_EQ(stream.last_seq(), 3u);
  EXPECT_EQ(stream.backlog_bytes(), 10u) << "taken but unacknowledged records count";
  stream.AckOldest();
  EXPECT_EQ(stream.backlog_bytes(), 3u);
  stream.AckOldest();
  EXPECT_EQ(stream.backlog_bytes(), 0u);
  EXPECT_EQ(stream.OldestUnackedMs(), 0);
}

TEST(PeerStreamTest, AFullBacklogDropsTheStreamUntilReopened) {
  PeerStream stream(10);
  EXPECT_EQ(stream.Append("12345"), PeerStream::AppendResult::kAppendedFirst);
  ASSERT_TRUE(stream.TakeBatch());
  EXPECT_EQ(stream.Append("1234"), PeerStream::AppendResult::kAppendedFirst);
  EXPECT_EQ(stream.backlog_bytes(), 9u);
  EXPECT_EQ(stream.Append("12"), PeerStream::AppendResult::kOverflow);
  EXPECT_TRUE(stream.dropped());
  EXPECT_EQ(stream.Append("1"), PeerStream::AppendResult::kIgnored) << "one overflow per drop";
  EXPECT_FALSE(stream.TakeBatch()) << "the open records are gone";
  stream.Drop();  // the replication thread's part: the batches it took
  EXPECT_TRUE(stream.unacked().empty());
  EXPECT_EQ(stream.backlog_bytes(), 0u);
  stream.Reopen();
  EXPECT_FALSE(stream.dropped());
  EXPECT_EQ(stream.Append("x"), PeerStream::AppendResult::kAppendedFirst);
}

TEST(PeerStreamTest, ResumeSendsAgainWhatThePeerLacksNumberedOnFromItsCount) {
  PeerStream stream(1000);
  for (int batch = 0; batch < 3; ++batch) {
    for (int i = 0; i < 2; ++i)
      ASSERT_NE(stream.Append("r\r\n"), PeerStream::AppendResult::kIgnored);
    ASSERT_TRUE(stream.TakeBatch());
    stream.unacked().back().written = true;
  }
  // Records 1..6 in three batches; the peer applied 3 (the second batch in part).
  EXPECT_EQ(stream.Resume(3), 4u);
  ASSERT_EQ(stream.unacked().size(), 2u);
  EXPECT_FALSE(stream.unacked()[0].written);
  EXPECT_EQ(stream.unacked()[0].first_seq, 4u) << "sent whole again, numbered as the peer counts";
  EXPECT_EQ(stream.unacked()[1].first_seq, 6u);
  EXPECT_EQ(stream.last_seq(), 7u);
  EXPECT_EQ(stream.backlog_bytes(), 12u);

  // After a drop nothing is kept: the next record follows the peer's count.
  stream.Drop();
  stream.Reopen();
  EXPECT_EQ(stream.Resume(5), 0u);
  ASSERT_NE(stream.Append("r\r\n"), PeerStream::AppendResult::kIgnored);
  ASSERT_TRUE(stream.TakeBatch());
  EXPECT_EQ(stream.unacked().back().first_seq, 6u);
}

// Workers append concurrently while the replication thread takes and acknowledges: every record
// arrives once, each writer's in its order, and the backlog ends empty.
TEST(PeerStreamTest, ConcurrentAppendsArriveOnceInEachWritersOrder) {
  PeerStream stream(size_t{1} << 30);
  constexpr int kWriters = 4;
  constexpr int kRecords = 20000;
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&stream, w] {
      for (int i = 0; i < kRecords; ++i) {
        const std::string record = std::to_string(w) + ":" + std::to_string(i) + "\n";
        ASSERT_NE(stream.Append(record), PeerStream::AppendResult::kIgnored);
      }
    });
  }
  std::vector<int> next(kWriters, 0);
  uint64_t records = 0;
  const auto drain = [&] {
    while (stream.TakeBatch()) {
      const Batch& batch = stream.unacked().back();
      EXPECT_EQ(batch.first_seq, records + 1);
      records += batch.records;
      size_t start = 0;
      for (size_t end = batch.bytes.find('\n'); end != std::string::npos;
           end = batch.bytes.find('\n', start)) {
        const std::string line = batch.bytes.substr(start, end - start);
        start = end + 1;
        const int w = std::stoi(line.substr(0, line.find(':')));
        EXPECT_EQ(std::stoi(line.substr(line.find(':') + 1)), next[w]++);
      }
      stream.AckOldest();
    }
  };
  for (int spins = 0; spins < 1000; ++spins) drain();
  for (std::thread& writer : writers) writer.join();
  drain();
  EXPECT_EQ(records, uint64_t{kWriters} * kRecords);
  for (int w = 0; w < kWriters; ++w) EXPECT_EQ(next[w], kRecords);
  EXPECT_EQ(stream.backlog_bytes(), 0u);
}

}  // namespace
}  // namespace mnemo::replication
