#include "net/connection.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bit>
#include <string>

namespace mnemo::net {
namespace {

// A connected pair of non-blocking stream sockets: [0] for the Connection, [1] for the peer.
struct SocketPair {
  SocketPair() { EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0); }
  ~SocketPair() {
    if (fds[1] >= 0) close(fds[1]);
  }
  void ClosePeer() {
    close(fds[1]);
    fds[1] = -1;
  }
  int fds[2] = {-1, -1};
};

TEST(ConnectionTest, ReadReportsDrainedFilledAndEof) {
  BufferPool pool;
  SocketPair pair;
  Connection conn(pair.fds[0], pool);
  uint64_t bytes = 0;
  EXPECT_EQ(conn.Read(&bytes), Connection::ReadStatus::kDrained);
  EXPECT_EQ(bytes, 0u);

  ASSERT_EQ(write(pair.fds[1], "get a\r\n", 7), 7);
  EXPECT_EQ(conn.Read(&bytes), Connection::ReadStatus::kDrained);
  EXPECT_EQ(conn.input().readable(), "get a\r\n");
  EXPECT_EQ(bytes, 7u);

  // More than the buffer has room for: the read fills it and says more may be waiting.
  const std::string big(2 * pool.block_size(), 'x');
  ASSERT_EQ(write(pair.fds[1], big.data(), big.size()), static_cast<ssize_t>(big.size()));
  EXPECT_EQ(conn.Read(&bytes), Connection::ReadStatus::kFilled);

  pair.ClosePeer();
  Connection::ReadStatus status;
  while ((status = conn.Read(&bytes)) == Connection::ReadStatus::kFilled) {
  }
  EXPECT_EQ(status, Connection::ReadStatus::kDrained);
  EXPECT_EQ(conn.Read(&bytes), Connection::ReadStatus::kEof);
  EXPECT_EQ(bytes, 7 + big.size());
}

TEST(ConnectionTest, ReadNeedsGrowthOnlyPastAPoolBlock) {
  BufferPool pool;
  SocketPair pair;
  Connection conn(pair.fds[0], pool);
  EXPECT_FALSE(conn.ReadNeedsGrowth());
  conn.input().Append(std::string(pool.block_size() - Connection::kMinRead, 'x'));
  EXPECT_FALSE(conn.ReadNeedsGrowth());
  conn.input().Append("x");
  EXPECT_TRUE(conn.ReadNeedsGrowth());
  conn.input().Append(std::string(pool.block_size() / 2, 'x'));  // a heap block of 2 blocks
  EXPECT_FALSE(conn.ReadNeedsGrowth());
}

TEST(ConnectionTest, ReadGrowsOnceToHoldTheWantedCommand) {
  BufferPool pool;
  SocketPair pair;
  Connection conn(pair.fds[0], pool);
  const size_t wanted = 40 * pool.block_size();
  uint64_t bytes = 0;
  // Within the pool block, a read takes no more room than the block has, whatever is wanted.
  const std::string chunk(pool.block_size() - Connection::kMinRead + 1, 'x');
  ASSERT_EQ(write(pair.fds[1], chunk.data(), chunk.size()), static_cast<ssize_t>(chunk.size()));
  EXPECT_EQ(conn.Read(&bytes, wanted), Connection::ReadStatus::kDrained);
  EXPECT_EQ(conn.input().capacity(), pool.block_size());
  // Past it, the input grows at once to hold all that is wanted, instead of doubling.
  ASSERT_EQ(write(pair.fds[1], "yy", 2), 2);
  EXPECT_EQ(conn.Read(&bytes, wanted), Connection::ReadStatus::kDrained);
  EXPECT_EQ(conn.input().capacity(), std::bit_ceil(wanted));
  EXPECT_EQ(conn.input().readable(), chunk + "yy");
  // Nothing wanted: it grows only by what a read needs.
  Connection other(dup(pair.fds[0]), pool);
  other.input().Append(chunk);
  EXPECT_EQ(other.Read(&bytes), Connection::ReadStatus::kDrained);
  EXPECT_EQ(other.input().capacity(), 2 * pool.block_size());
}

TEST(ConnectionTest, FlushSendsEverythingAndGivesTheBufferBack) {
  BufferPool pool;
  SocketPair pair;
  Connection conn(pair.fds[0], pool);
  conn.output().Append("VALUE a 0 1\r\nx\r\nEND\r\n");
  uint64_t bytes = 0;
  uint64_t external = 0;
  EXPECT_EQ(conn.Flush(&bytes, &external), Connection::FlushStatus::kDone);
  EXPECT_EQ(bytes, 21u);
  EXPECT_EQ(conn.output().capacity(), 0u);
  char received[64];
  EXPECT_EQ(read(pair.fds[1], received, sizeof(received)), 21);
}

TEST(ConnectionTest, FlushStopsWhenThePeerDoesNotRead) {
  BufferPool pool;
  SocketPair pair;
  Connection conn(pair.fds[0], pool);
  const std::string chunk(1 << 20, 'v');
  uint64_t bytes = 0;
  uint64_t external = 0;
  Connection::FlushStatus status = Connection::FlushStatus::kDone;
  for (int i = 0; i < 64 && status == Connection::FlushStatus::kDone; ++i) {
    conn.output().Append(chunk);
    status = conn.Flush(&bytes, &external);
  }
  EXPECT_EQ(status, Connection::FlushStatus::kBlocked);
  EXPECT_FALSE(conn.output().empty());
}

TEST(ConnectionTest, ExternalBytesCountAsOutputAndAreReported) {
  BufferPool pool;
  SocketPair pair;
  int released = 0;
  {
    Connection conn(pair.fds[0], pool);
    conn.output().Append("VALUE a 0 5\r\n");
    const std::string_view value[] = {"hello"};
    conn.AppendExternal(
        value, OutputPin{[](void* owner, uint64_t) { ++*static_cast<int*>(owner); }, &released, 0});
    conn.output().Append("\r\nEND\r\n");
    EXPECT_EQ(conn.output_size(), 13u + 5u + 7u);
    EXPECT_EQ(conn.output_external_bytes(), 5u);
    uint64_t bytes = 0;
    uint64_t external = 0;
    EXPECT_EQ(conn.Flush(&bytes, &external), Connection::FlushStatus::kDone);
    EXPECT_EQ(bytes, 25u);
    EXPECT_EQ(external, 5u);
    EXPECT_TRUE(conn.output_empty());
    EXPECT_EQ(released, 1);
  }
  char received[64];
  EXPECT_EQ(read(pair.fds[1], received, sizeof(received)), 25);
  EXPECT_EQ(std::string_view(received, 25), "VALUE a 0 5\r\nhello\r\nEND\r\n");
  EXPECT_EQ(released, 1);
}

TEST(ConnectionTest, FlushReportsABrokenConnection) {
  BufferPool pool;
  SocketPair pair;
  Connection conn(pair.fds[0], pool);
  pair.ClosePeer();
  conn.output().Append("STORED\r\n");
  uint64_t bytes = 0;
  uint64_t external = 0;
  EXPECT_EQ(conn.Flush(&bytes, &external),
            Connection::FlushStatus::kError);  // EPIPE, and no SIGPIPE
}

TEST(ConnectionTest, ReadWithNoMemoryToReadIntoIsAnError) {
  BufferPool pool(size_t{1} << 60);  // blocks of an exabyte: Take() has none to give
  SocketPair pair;
  Connection conn(pair.fds[0], pool);
  uint64_t bytes = 0;
  EXPECT_EQ(conn.Read(&bytes), Connection::ReadStatus::kError);
  EXPECT_EQ(bytes, 0u);
}

TEST(ConnectionTest, FlushSendsNothingOnceTheOutputFailed) {
  BufferPool pool;
  SocketPair pair;
  Connection conn(pair.fds[0], pool);
  conn.output().Append("STORED\r\n");
  ASSERT_EQ(conn.output().PrepareAppend(size_t{1} << 60), nullptr);
  uint64_t bytes = 0;
  uint64_t external = 0;
  EXPECT_EQ(conn.Flush(&bytes, &external), Connection::FlushStatus::kError);
  EXPECT_EQ(bytes, 0u) << "the replies after the one that failed are missing";
}

}  // namespace
}  // namespace mnemo::net
