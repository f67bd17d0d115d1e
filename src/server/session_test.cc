#include "server/session.h"

#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/clock.h"
#include "net/buffer_pool.h"
#include "net/event_loop.h"
#include "net/memory_budget.h"
#include "protocol/binary_protocol.h"
#include "server/dispatcher.h"
#include "server/server_context.h"
#include "testing/storage/cache_test_util.h"

namespace mnemo::server {
namespace {

// Drives one Session over a socketpair by calling OnEvents as its worker's loop would; the test
// plays the client on the other end.
class SessionTest : public ::testing::Test, private SessionOwner {
 protected:
  SessionTest() {
    EXPECT_TRUE(net::EventLoop::Create(&loop_).ok());
    server_.stats.Register(&stats_);
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    client_ = fds[1];
    services_ = std::make_unique<SessionServices>(SessionServices{pool_,
                                                                  *loop_,
                                                                  dispatcher_,
                                                                  binary_dispatcher_,
                                                                  stats_,
                                                                  server_.connections,
                                                                  *this,
                                                                  {},
                                                                  reqs_per_event_});
    session_ = std::make_unique<Session>(fds[0], *services_, 0);
    EXPECT_TRUE(session_->Open().ok());
  }
  ~SessionTest() override {
    if (!session_->closed()) session_->Close();
    close(client_);
  }

  // Writes all of `bytes`, letting the session read whenever the socket is full.
  void Send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = write(client_, bytes.data(), bytes.size());
      if (n > 0) bytes.remove_prefix(static_cast<size_t>(n));
      session_->OnEvents(EPOLLIN | EPOLLOUT);
      ASSERT_FALSE(n <= 0 && session_->closed());
    }
  }

  // Reads what the session sent, driving it whenever the socket is drained, until `expected`
  // bytes arrived or nothing more comes.
  std::string Receive(size_t expected) {
    std::string received;
    char buffer[1 << 16];
    for (int idle = 0; received.size() < expected && idle < 3;) {
      const ssize_t n = read(client_, buffer, sizeof(buffer));
      if (n > 0) {
        received.append(buffer, static_cast<size_t>(n));
        idle = 0;
      } else {
        if (n == 0 || session_->closed()) break;
        ++idle;
        session_->OnEvents(EPOLLOUT);
      }
    }
    return received;
  }

  // SessionOwner
  void OnSessionYield(Session*) override { ++yields_; }
  void OnSessionClosed(Session*) override { ++closes_; }
  void OnSessionWaitingForMemory(Session*) override { ++waits_; }
  void OnSessionWaitingForFlash(Session*) override { ADD_FAILURE() << "no flash tier here"; }
  void OnSessionWaitingForReplication(Session*) override { ADD_FAILURE() << "no replication"; }
  void OnSessionWaitingForRejoin(Session*) override { ADD_FAILURE() << "no replication"; }

  Options options_;
  std::unique_ptr<storage::Cache> cache_ = storage::CreateCacheOrDie(options_.ToCacheOptions());
  ServerContext server_{options_, *cache_};
  std::unique_ptr<storage::Cache::Context> context_ = cache_->NewContext();
  ThreadStats stats_;
  Dispatcher dispatcher_{server_, *context_, stats_};
  // Large enough for every test; the tests of the budget exhaust it by charging it directly.
  net::MemoryBudget budget_{size_t{64} << 20};
  net::BufferPool pool_{net::BufferPool::kDefaultBlockSize, net::BufferPool::kDefaultMaxIdle,
                        &budget_};
  BinaryDispatcher binary_dispatcher_{server_, *context_, stats_, dispatcher_, pool_};
  std::unique_ptr<net::EventLoop> loop_;
  int reqs_per_event_ = 20;
  std::unique_ptr<SessionServices> services_;
  std::unique_ptr<Session> session_;
  int client_ = -1;
  int yields_ = 0;
  int closes_ = 0;
  int waits_ = 0;
};

TEST_F(SessionTest, AnswersAPipelineInOrder) {
  Send("set a 0 0 1\r\nx\r\nget a\r\nbogus\r\ndelete a\r\nget a\r\n");
  const std::string expected = "STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nERROR\r\nDELETED\r\nEND\r\n";
  EXPECT_EQ(Receive(expected.size()), expected);
}

TEST_F(SessionTest, InputSplitAtEveryByteGivesTheSameReplies) {
  const std::string pipeline = "set k 7 0 5\r\nhe\r\nl\r\nget k\r\nincr k 1\r\ntouch k 10\r\n";
  for (const char c : pipeline) Send(std::string(1, c));
  const std::string expected =
      "STORED\r\nVALUE k 7 5\r\nhe\r\nl\r\nEND\r\n"
      "CLIENT_ERROR cannot increment or decrement non-numeric value\r\nTOUCHED\r\n";
  EXPECT_EQ(Receive(expected.size()), expected);
}

TEST_F(SessionTest, MetaAndTextCommandsShareTheConnectionSplitAtEveryByte) {
  const std::string pipeline =
      "set k 7 0 2\r\nhi\r\nmg k s f v\r\nms m 3 T0 F1\r\nabc\r\nget m\r\n"
      "mg nope q\r\nmd m q\r\nmg m\r\nmn\r\nmz\r\nme\r\n";
  for (const char c : pipeline) Send(std::string(1, c));
  const std::string expected =
      "STORED\r\nVA 2 s2 f7\r\nhi\r\nHD\r\nVALUE m 1 3\r\nabc\r\nEND\r\nEN\r\nMN\r\n"
      "ERROR\r\nCLIENT_ERROR bad command line format\r\n";
  EXPECT_EQ(Receive(expected.size()), expected);
}

TEST_F(SessionTest, SwallowsARefusedMetaDataBlockAsItStreamsIn) {
  const size_t size = 3 << 20;  // above -I
  Send("ms big " + std::to_string(size) + " T0\r\n");
  const std::string chunk(64 << 10, 'a');
  for (size_t sent = 0; sent < size; sent += chunk.size()) Send(chunk);
  Send("\r\nmg big v\r\n");
  const std::string expected = "SERVER_ERROR object too large for cache\r\nEN\r\n";
  EXPECT_EQ(Receive(expected.size()), expected);
}

TEST_F(SessionTest, SwallowsARefusedDataBlockAsItStreamsIn) {
  const size_t size = 3 << 20;  // above -I
  Send("set big 0 0 " + std::to_string(size) + "\r\n");
  const std::string chunk(64 << 10, 'a');
  for (size_t sent = 0; sent < size; sent += chunk.size()) Send(chunk);
  Send("\r\nget big\r\n");
  const std::string expected = "SERVER_ERROR object too large for cache\r\nEND\r\n";
  EXPECT_EQ(Receive(expected.size()), expected);
}

TEST_F(SessionTest, QuitSendsEarlierRepliesThenCloses) {
  Send("version\r\nquit\r\nversion\r\n");
  EXPECT_EQ(Receive(1000), "VERSION 1.6.45\r\n");
  EXPECT_TRUE(session_->closed());
  EXPECT_EQ(closes_, 1);
}

// A binary-protocol packet: `magic`, `opcode`, then extras, key and value; status 0, opaque and
// CAS as given.
std::string Packet(uint8_t magic, uint8_t opcode, std::string_view extras, std::string_view key,
                   std::string_view value, uint64_t cas = 0, uint32_t opaque = 0) {
  std::string out(protocol::binary::kHeaderSize, '\0');
  out[0] = static_cast<char>(magic);
  out[1] = static_cast<char>(opcode);
  protocol::binary::Store16(out.data() + 2, static_cast<uint16_t>(key.size()));
  out[4] = static_cast<char>(extras.size());
  protocol::binary::Store32(out.data() + 8,
                            static_cast<uint32_t>(extras.size() + key.size() + value.size()));
  std::memcpy(out.data() + 12, &opaque, 4);
  protocol::binary::Store64(out.data() + 16, cas);
  return out.append(extras).append(key).append(value);
}
std::string Request(uint8_t opcode, std::string_view extras, std::string_view key,
                    std::string_view value, uint32_t opaque = 0) {
  return Packet(0x80, opcode, extras, key, value, 0, opaque);
}
std::string Response(uint8_t opcode, std::string_view extras, std::string_view key,
                     std::string_view value, uint64_t cas, uint32_t opaque = 0) {
  return Packet(0x81, opcode, extras, key, value, cas, opaque);
}

TEST_F(SessionTest, BinaryRequestsSplitAtEveryByteGiveTheSameReplies) {
  const std::string flags("\0\0\0\x07", 4);
  const std::string pipeline = Request(0x11, flags + std::string(4, '\0'), "k", "hello", 9) +
                               Request(0x09, "", "nope", "") + Request(0x0c, "", "k", "", 3) +
                               Request(0x0a, "", "", "");
  for (const char c : pipeline) Send(std::string(1, c));
  std::string expected = Response(0x0c, flags, "k", "hello", 0, 3);
  const std::string received = Receive(expected.size() + protocol::binary::kHeaderSize);
  ASSERT_EQ(received.size(), expected.size() + protocol::binary::kHeaderSize);
  // The hit carries the item's CAS, whatever it is.
  const uint64_t cas = protocol::binary::Load64(received.data() + 16);
  EXPECT_NE(cas, 0u);
  expected = Response(0x0c, flags, "k", "hello", cas, 3) + Response(0x0a, "", "", "", 0);
  EXPECT_EQ(received, expected);
}

TEST_F(SessionTest, BinaryGetSendsALargeValueFromItemMemory) {
  std::string value(100 << 10, '\0');  // bytes that do not compress, so it is stored as sent
  uint32_t x = 12345;
  for (char& c : value) c = static_cast<char>((x = x * 1103515245 + 12345) >> 24);
  Send(Request(0x11, std::string(8, '\0'), "big", value) + Request(0x00, "", "big", ""));
  const std::string received = Receive(protocol::binary::kHeaderSize + 4 + value.size());
  ASSERT_EQ(received.size(), protocol::binary::kHeaderSize + 4 + value.size());
  EXPECT_EQ(received.substr(protocol::binary::kHeaderSize + 4), value);
  EXPECT_GE(stats_.Get(Stat::kBytesWrittenZeroCopy), value.size());
}

TEST_F(SessionTest, BinaryConnectionClosesOnAWrongMagicByte) {
  Send(Request(0x0a, "", "", "") + Request(0x0a, "", "", "").replace(0, 1, "\x81"));
  EXPECT_EQ(Receive(1000), Response(0x0a, "", "", "", 0));
  EXPECT_TRUE(session_->closed());
}

TEST_F(SessionTest, BoundToBinaryATextCommandIsNeverRead) {
  services_->binding_protocol = protocol::WireProtocol::kBinary;
  session_->Close();
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  close(client_);
  client_ = fds[1];
  session_ = std::make_unique<Session>(fds[0], *services_, 0);
  ASSERT_TRUE(session_->Open().ok());
  Send("get foo\r\n");  // less than a header: memcached waits for the rest
  EXPECT_EQ(Receive(1), "");
  EXPECT_FALSE(session_->closed());
  Send("get bar baz qux\r\n");  // a header's worth, with no magic byte
  EXPECT_EQ(Receive(1), "");
  EXPECT_TRUE(session_->closed());
}

// memcached counts a step for each command and for each reply batch sent; with -R 2 the first
// event runs three commands, sends their replies, and yields.
TEST_F(SessionTest, YieldsOnceItsRequestsPerEventRunOut) {
  services_->reqs_per_event = 2;
  std::string pipeline;
  while (pipeline.size() < 4 * pool_.block_size()) pipeline += "get nothing\r\n";
  ASSERT_EQ(write(client_, pipeline.data(), pipeline.size()),
            static_cast<ssize_t>(pipeline.size()));
  session_->OnEvents(EPOLLIN | EPOLLOUT);
  EXPECT_EQ(yields_, 1);
  EXPECT_EQ(stats_.Get(Stat::kConnYields), 1u);
}

TEST_F(SessionTest, ASlowReaderIsBoundedAndServedWhole) {
  const std::string value(512 << 10, 'v');
  Send("set v 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n");
  ASSERT_EQ(Receive(8), "STORED\r\n");
  // A set larger than a buffer block (so the input grows past one), then a retrieval of the value
  // 40 times over: 20 MB of replies to a client that reads only later.
  const std::string pad(40 << 10, 'p');
  std::string pipeline = "set pad 0 0 " + std::to_string(pad.size()) + "\r\n" + pad + "\r\nget";
  for (int i = 0; i < 40; ++i) pipeline += " v";
  pipeline += "\r\n";
  Send(pipeline);
  // The session stopped near the soft limit instead of formatting all the replies at once.
  EXPECT_GE(stats_.Get(Stat::kCmdGet), 1u);
  EXPECT_LE(stats_.Get(Stat::kCmdGet), 1 + Dispatcher::kOutputSoftLimit / value.size());

  // The rest comes as the client reads, whole and in order, although the input buffer shrank
  // back while the retrieval waited.
  const std::string one = "VALUE v 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n";
  const size_t expected = 8 + 40 * one.size() + 5;
  const std::string received = Receive(expected);
  ASSERT_EQ(received.size(), expected);
  EXPECT_EQ(received.substr(0, 8 + one.size()), "STORED\r\n" + one);
  EXPECT_EQ(received.substr(received.size() - one.size() - 5), one + "END\r\n");
  EXPECT_EQ(stats_.Get(Stat::kCmdGet), 40u);
}

TEST_F(SessionTest, WithTheBudgetExhaustedSmallRequestsAreServedAndLargeRepliesWait) {
  const std::string value(64 << 10, 'v');
  Send("set big 0 0 65536\r\n" + value + "\r\nset a 0 0 1\r\nx\r\n");
  EXPECT_EQ(Receive(16), "STORED\r\nSTORED\r\n");
  budget_.Charge(budget_.limit());

  // Within the allowance (a pool block each way): answered as usual.
  Send("get a\r\n");
  EXPECT_EQ(Receive(20), "VALUE a 0 1\r\nx\r\nEND\r\n");
  EXPECT_EQ(waits_, 0);

  // Past it: one reply goes into the output, then the session waits for memory.
  const std::string reply = "VALUE big 0 65536\r\n" + value + "\r\nEND\r\n";
  std::string pipeline;
  for (int i = 0; i < 8; ++i) pipeline += "get big\r\n";
  ASSERT_EQ(write(client_, pipeline.data(), pipeline.size()),
            static_cast<ssize_t>(pipeline.size()));
  session_->OnEvents(EPOLLIN);
  EXPECT_EQ(waits_, 1);
  budget_.Credit(budget_.limit());
  session_->Resume();  // what the worker does once the budget has room
  std::string expected;
  for (int i = 0; i < 8; ++i) expected += reply;
  EXPECT_EQ(Receive(expected.size()), expected);
}

TEST_F(SessionTest, WithTheBudgetExhaustedAPartialValueWaitsToGrow) {
  budget_.Charge(budget_.limit());
  const std::string value(100000, 'p');
  const std::string request = "set p 0 0 100000\r\n" + value + "\r\n";
  // More than a pool block: the session reads what fits in its allowance, then waits.
  ssize_t sent = write(client_, request.data(), 40000);
  ASSERT_EQ(sent, 40000);
  session_->OnEvents(EPOLLIN);
  EXPECT_EQ(waits_, 1);
  EXPECT_FALSE(session_->CloseIfStuck(MonotonicSeconds() + 5, 10));
  budget_.Credit(budget_.limit());
  session_->Resume();
  Send(std::string_view(request).substr(40000));
  EXPECT_EQ(Receive(8), "STORED\r\n");
}

TEST_F(SessionTest, ASessionStuckWaitingForMemoryIsClosedAndCounted) {
  budget_.Charge(budget_.limit());
  const std::string partial = "set p 0 0 100000\r\n" + std::string(40000, 'p');
  ASSERT_EQ(write(client_, partial.data(), partial.size()), static_cast<ssize_t>(partial.size()));
  session_->OnEvents(EPOLLIN);
  ASSERT_EQ(waits_, 1);
  const uint32_t now = MonotonicSeconds();
  EXPECT_FALSE(session_->CloseIfStuck(now + 10, 10));
  EXPECT_TRUE(session_->CloseIfStuck(now + 11, 10));
  EXPECT_TRUE(session_->closed());
  EXPECT_EQ(stats_.Get(Stat::kReadBufOom), 1u);
  EXPECT_EQ(stats_.Get(Stat::kResponseObjOom), 0u);
  budget_.Credit(budget_.limit());
}

TEST_F(SessionTest, AnIdleSessionWithNothingHeldIsNeverStuck) {
  budget_.Charge(budget_.limit());
  Send("get a\r\n");
  EXPECT_EQ(Receive(5), "END\r\n");
  EXPECT_FALSE(session_->CloseIfStuck(MonotonicSeconds() + 1000, 10));
  budget_.Credit(budget_.limit());
}

}  // namespace
}  // namespace mnemo::server
