#include "net/connection.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

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

TEST(ConnectionTest, FlushSendsEverythingAndGivesTheBufferBack) {
  BufferPool pool;
  SocketPair pair;
  Connection conn(pair.fds[0], pool);
  conn.output().Append("VALUE a 0 1\r\nx\r\nEND\r\n");
  uint64_t bytes = 0;
  EXPECT_EQ(conn.Flush(&bytes), Connection::FlushStatus::kDone);
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
  Connection::FlushStatus status = Connection::FlushStatus::kDone;
  for (int i = 0; i < 64 && status == Connection::FlushStatus::kDone; ++i) {
    conn.output().Append(chunk);
    status = conn.Flush(&bytes);
  }
  EXPECT_EQ(status, Connection::FlushStatus::kBlocked);
  EXPECT_FALSE(conn.output().empty());
}

TEST(ConnectionTest, FlushReportsABrokenConnection) {
  BufferPool pool;
  SocketPair pair;
  Connection conn(pair.fds[0], pool);
  pair.ClosePeer();
  conn.output().Append("STORED\r\n");
  uint64_t bytes = 0;
  EXPECT_EQ(conn.Flush(&bytes), Connection::FlushStatus::kError);  // EPIPE, and no SIGPIPE
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
  EXPECT_EQ(conn.Flush(&bytes), Connection::FlushStatus::kError);
  EXPECT_EQ(bytes, 0u) << "the replies after the one that failed are missing";
}

}  // namespace
}  // namespace mnemo::net
