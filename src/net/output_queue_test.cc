#include "net/output_queue.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

namespace mnemo::net {
namespace {

// A connected pair of non-blocking stream sockets: [0] sends, [1] is the peer. With `sndbuf`,
// the sending side's buffer is made as small as the kernel allows, so sends stop part way.
struct SocketPair {
  explicit SocketPair(int sndbuf = 0) {
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    if (sndbuf > 0) {
      EXPECT_EQ(setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
    }
  }
  ~SocketPair() {
    for (const int fd : fds) {
      if (fd >= 0) close(fd);
    }
  }
  // Everything the peer can read now.
  std::string Drain() {
    std::string all;
    char chunk[65536];
    ssize_t n;
    while ((n = read(fds[1], chunk, sizeof(chunk))) > 0) all.append(chunk, static_cast<size_t>(n));
    return all;
  }
  int fds[2] = {-1, -1};
};

// The owner of external memory: counts releases per token.
struct FakeOwner {
  static void Release(void* owner, uint64_t token) {
    static_cast<FakeOwner*>(owner)->released.push_back(token);
  }
  OutputPin Pin(uint64_t token) { return OutputPin{&FakeOwner::Release, this, token}; }
  std::vector<uint64_t> released;
};

// Flushes until everything is sent, reading the peer whenever the socket is full.
std::string FlushAll(OutputQueue& queue, SocketPair& pair, uint64_t* bytes, uint64_t* external,
                     int* blocked) {
  std::string received;
  for (;;) {
    const OutputQueue::FlushStatus status = queue.Flush(pair.fds[0], bytes, external);
    received += pair.Drain();
    if (status == OutputQueue::FlushStatus::kDone) break;
    EXPECT_EQ(status, OutputQueue::FlushStatus::kBlocked);
    ++*blocked;
  }
  return received + pair.Drain();
}

TEST(OutputQueueTest, CopiedOnlyIsOneSendAndGivesTheBufferBack) {
  BufferPool pool;
  SocketPair pair;
  OutputQueue queue(pool);
  queue.copied().Append("STORED\r\n");
  uint64_t bytes = 0;
  uint64_t external = 0;
  EXPECT_EQ(queue.Flush(pair.fds[0], &bytes, &external), OutputQueue::FlushStatus::kDone);
  EXPECT_EQ(bytes, 8u);
  EXPECT_EQ(external, 0u);
  EXPECT_EQ(queue.copied().capacity(), 0u);
  EXPECT_EQ(pair.Drain(), "STORED\r\n");
}

TEST(OutputQueueTest, ViewsGoOutBetweenTheCopiedBytesAroundThem) {
  BufferPool pool;
  SocketPair pair;
  FakeOwner owner;
  OutputQueue queue(pool);
  const std::string value = "hello world";
  queue.copied().Append("VALUE a 0 11\r\n");
  const std::string_view pieces[] = {std::string_view(value).substr(0, 5),
                                     std::string_view(value).substr(5)};
  queue.AppendExternal(pieces, owner.Pin(7));
  queue.copied().Append("\r\nEND\r\n");
  EXPECT_EQ(queue.size(), 14u + 11u + 7u);
  EXPECT_EQ(queue.external_bytes(), 11u);
  EXPECT_TRUE(owner.released.empty());
  uint64_t bytes = 0;
  uint64_t external = 0;
  EXPECT_EQ(queue.Flush(pair.fds[0], &bytes, &external), OutputQueue::FlushStatus::kDone);
  EXPECT_EQ(pair.Drain(), "VALUE a 0 11\r\nhello world\r\nEND\r\n");
  EXPECT_EQ(bytes, 32u);
  EXPECT_EQ(external, 11u);
  EXPECT_EQ(owner.released, std::vector<uint64_t>{7});
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.size(), 0u);
}

TEST(OutputQueueTest, DrainToGathersEverythingInOrderAndReleasesThePins) {
  BufferPool pool;
  FakeOwner owner;
  OutputQueue queue(pool);
  queue.AppendExternal({}, owner.Pin(1));
  const std::string value = "hello world";
  queue.copied().Append("VALUE a 0 11\r\n");
  const std::string_view pieces[] = {std::string_view(value).substr(0, 5),
                                     std::string_view(value).substr(5)};
  queue.AppendExternal(pieces, owner.Pin(2));
  queue.copied().Append("\r\nEND\r\n");
  std::string out = "before:";
  EXPECT_EQ(queue.DrainTo(&out), 11u);
  EXPECT_EQ(out, "before:VALUE a 0 11\r\nhello world\r\nEND\r\n");
  EXPECT_EQ(owner.released, (std::vector<uint64_t>{1, 2}));
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.size(), 0u);
  EXPECT_EQ(queue.copied().capacity(), 0u);
}

// What a TLS connection does: copies the front into a buffer of its own, sends it, then drops
// what went out; a Peek that is not followed by Advance leaves everything as it was.
TEST(OutputQueueTest, PeekCopiesTheFrontInOrderAndAdvanceDropsIt) {
  BufferPool pool;
  FakeOwner owner;
  OutputQueue queue(pool);
  queue.AppendExternal({}, owner.Pin(1));
  const std::string value = "hello world";
  queue.copied().Append("VALUE a 0 11\r\n");
  const std::string_view pieces[] = {std::string_view(value).substr(0, 5),
                                     std::string_view(value).substr(5)};
  queue.AppendExternal(pieces, owner.Pin(2));
  queue.copied().Append("\r\nEND\r\n");
  const std::string all = "VALUE a 0 11\r\nhello world\r\nEND\r\n";
  char buffer[64];
  EXPECT_EQ(queue.Peek(buffer, 16), 16u);  // stops inside the first view
  EXPECT_EQ(std::string(buffer, 16), all.substr(0, 16));
  EXPECT_EQ(queue.Peek(buffer, sizeof(buffer)), all.size());  // the same bytes first, again
  EXPECT_EQ(std::string(buffer, all.size()), all);
  EXPECT_TRUE(owner.released.empty());
  EXPECT_EQ(queue.Advance(16), 2u);  // of the 16, "he" was external
  EXPECT_EQ(owner.released, (std::vector<uint64_t>{1}));
  const size_t rest = queue.Peek(buffer, sizeof(buffer));
  EXPECT_EQ(std::string(buffer, rest), all.substr(16));
  EXPECT_EQ(queue.Advance(rest), 9u);
  EXPECT_EQ(owner.released, (std::vector<uint64_t>{1, 2}));
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.copied().capacity(), 0u);  // the buffer went back, as after a Flush
}

// Only empty groups left: Peek finds no bytes, and Advance(0) releases them.
TEST(OutputQueueTest, AdvanceByNothingReleasesEmptyGroups) {
  BufferPool pool;
  FakeOwner owner;
  OutputQueue queue(pool);
  queue.AppendExternal({}, owner.Pin(7));
  char buffer[8];
  EXPECT_FALSE(queue.empty());
  EXPECT_EQ(queue.Peek(buffer, sizeof(buffer)), 0u);
  EXPECT_EQ(queue.Advance(0), 0u);
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(owner.released, (std::vector<uint64_t>{7}));
}

TEST(OutputQueueTest, GroupsWithoutBytesAreReleasedInTheirTurn) {
  BufferPool pool;
  SocketPair pair;
  FakeOwner owner;
  OutputQueue queue(pool);
  queue.AppendExternal({}, owner.Pin(1));  // nothing before it: released at the next flush
  queue.copied().Append("a");
  const std::string_view empty[] = {std::string_view()};
  queue.AppendExternal(empty, owner.Pin(2));
  const std::string_view b[] = {"b"};
  queue.AppendExternal(b, owner.Pin(3));
  uint64_t bytes = 0;
  uint64_t external = 0;
  EXPECT_EQ(queue.Flush(pair.fds[0], &bytes, &external), OutputQueue::FlushStatus::kDone);
  EXPECT_EQ(pair.Drain(), "ab");
  EXPECT_EQ(owner.released, (std::vector<uint64_t>{1, 2, 3}));
}

TEST(OutputQueueTest, PartialSendsStopInsideAnyPieceAndKeepTheOrder) {
  BufferPool pool;
  SocketPair pair(/*sndbuf=*/4096);
  FakeOwner owner;
  OutputQueue queue(pool);
  // Values of sizes that end sends at all sorts of offsets, with copied bytes between them.
  std::vector<std::string> values;
  for (int i = 0; i < 40; ++i)
    values.emplace_back(997 * (i % 7) + 13 * i, static_cast<char>('a' + i % 26));
  std::string expected;
  for (size_t i = 0; i < values.size(); ++i) {
    const std::string header = "VALUE k" + std::to_string(i) + "\r\n";
    queue.copied().Append(header);
    expected += header;
    const std::string_view whole = values[i];
    const std::string_view pieces[] = {whole.substr(0, whole.size() / 3),
                                       whole.substr(whole.size() / 3)};
    queue.AppendExternal(pieces, owner.Pin(i));
    expected += values[i];
    if (i % 3 == 0) {
      queue.copied().Append("\r\n");
      expected += "\r\n";
    }
  }
  queue.copied().Append("END\r\n");
  expected += "END\r\n";
  uint64_t bytes = 0;
  uint64_t external = 0;
  int blocked = 0;
  const std::string received = FlushAll(queue, pair, &bytes, &external, &blocked);
  EXPECT_GT(blocked, 10);  // the small socket buffer did cut the sends
  ASSERT_EQ(received.size(), expected.size());
  const auto [r, e] = std::mismatch(received.begin(), received.end(), expected.begin());
  EXPECT_EQ(r - received.begin(), static_cast<ptrdiff_t>(received.size()))
      << "first difference; received " << received.substr(r - received.begin(), 40) << " expected "
      << expected.substr(e - expected.begin(), 40);
  EXPECT_EQ(bytes, expected.size());
  size_t value_bytes = 0;
  for (const std::string& v : values) value_bytes += v.size();
  EXPECT_EQ(external, value_bytes);
  ASSERT_EQ(owner.released.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) EXPECT_EQ(owner.released[i], i);
}

TEST(OutputQueueTest, PinIsReleasedOnlyOnceItsLastByteIsSent) {
  BufferPool pool;
  SocketPair pair(/*sndbuf=*/4096);
  FakeOwner owner;
  OutputQueue queue(pool);
  const std::string value(1 << 20, 'v');
  const std::string_view pieces[] = {value};
  queue.AppendExternal(pieces, owner.Pin(9));
  uint64_t bytes = 0;
  uint64_t external = 0;
  EXPECT_EQ(queue.Flush(pair.fds[0], &bytes, &external), OutputQueue::FlushStatus::kBlocked);
  EXPECT_GT(bytes, 0u);
  EXPECT_LT(bytes, value.size());
  EXPECT_TRUE(owner.released.empty());
  EXPECT_EQ(queue.external_bytes(), value.size() - bytes);
  int blocked = 0;
  (void)FlushAll(queue, pair, &bytes, &external, &blocked);
  EXPECT_EQ(bytes, value.size());
  EXPECT_EQ(owner.released, std::vector<uint64_t>{9});
}

TEST(OutputQueueTest, MoreViewsThanOneSendmsgTakes) {
  BufferPool pool;
  SocketPair pair;
  FakeOwner owner;
  OutputQueue queue(pool);
  std::string expected;
  const std::string letters = "abcdefghijklmnopqrstuvwxyz";
  for (int i = 0; i < 3000; ++i) {  // 6,000 iovecs, IOV_MAX is 1,024
    queue.copied().Append("+");
    const std::string_view piece[] = {std::string_view(letters).substr(i % 26, 1)};
    queue.AppendExternal(piece, owner.Pin(static_cast<uint64_t>(i)));
    expected += '+';
    expected += letters[i % 26];
  }
  uint64_t bytes = 0;
  uint64_t external = 0;
  int blocked = 0;
  EXPECT_EQ(FlushAll(queue, pair, &bytes, &external, &blocked), expected);
  EXPECT_EQ(external, 3000u);
  EXPECT_EQ(owner.released.size(), 3000u);
}

TEST(OutputQueueTest, DestroyingTheQueueReleasesWhatWasNotSent) {
  BufferPool pool;
  FakeOwner owner;
  {
    SocketPair pair(/*sndbuf=*/4096);
    OutputQueue queue(pool);
    const std::string value(1 << 20, 'v');
    const std::string_view pieces[] = {value};
    queue.AppendExternal(pieces, owner.Pin(1));
    queue.copied().Append("between");
    queue.AppendExternal(pieces, owner.Pin(2));
    queue.AppendExternal({}, owner.Pin(3));
    uint64_t bytes = 0;
    uint64_t external = 0;
    EXPECT_EQ(queue.Flush(pair.fds[0], &bytes, &external), OutputQueue::FlushStatus::kBlocked);
    EXPECT_TRUE(owner.released.empty());
  }
  EXPECT_EQ(owner.released, (std::vector<uint64_t>{1, 2, 3}));
}

TEST(OutputQueueTest, ABrokenConnectionIsAnError) {
  BufferPool pool;
  SocketPair pair;
  FakeOwner owner;
  close(pair.fds[1]);
  pair.fds[1] = -1;
  {
    OutputQueue queue(pool);
    const std::string_view pieces[] = {"x"};
    queue.AppendExternal(pieces, owner.Pin(4));
    uint64_t bytes = 0;
    uint64_t external = 0;
    EXPECT_EQ(queue.Flush(pair.fds[0], &bytes, &external), OutputQueue::FlushStatus::kError);
  }
  EXPECT_EQ(owner.released, std::vector<uint64_t>{4});
}

}  // namespace
}  // namespace mnemo::net
