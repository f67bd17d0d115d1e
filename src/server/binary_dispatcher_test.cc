#include "server/binary_dispatcher.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "net/buffer_pool.h"
#include "net/output_queue.h"
#include "protocol/binary_parser.h"
#include "server/credentials.h"
#include "server/dispatcher.h"
#include "server/sasl.h"
#include "server/value_writer.h"
#include "testing/storage/cache_test_util.h"

namespace mnemo::server {
namespace {

namespace binary = protocol::binary;

std::string Packet(uint8_t magic, uint8_t opcode, std::string_view extras, std::string_view key,
                   std::string_view value, uint64_t cas, uint16_t status = 0) {
  std::string out(binary::kHeaderSize, '\0');
  out[0] = static_cast<char>(magic);
  out[1] = static_cast<char>(opcode);
  binary::Store16(out.data() + 2, static_cast<uint16_t>(key.size()));
  out[4] = static_cast<char>(extras.size());
  binary::Store16(out.data() + 6, status);
  binary::Store32(out.data() + 8, static_cast<uint32_t>(extras.size() + key.size() + value.size()));
  binary::Store64(out.data() + 16, cas);
  return out.append(extras).append(key).append(value);
}
std::string Request(uint8_t opcode, std::string_view extras, std::string_view key,
                    std::string_view value = {}, uint64_t cas = 0) {
  return Packet(0x80, opcode, extras, key, value, cas);
}
std::string Reply(uint8_t opcode, uint16_t status, std::string_view extras, std::string_view key,
                  std::string_view value, uint64_t cas = 0) {
  return Packet(0x81, opcode, extras, key, value, cas, status);
}
std::string Be32(uint32_t v) {
  std::string out(4, '\0');
  binary::Store32(out.data(), v);
  return out;
}
std::string SetExtras(uint32_t flags, uint32_t exptime) { return Be32(flags) + Be32(exptime); }
std::string ArithExtras(uint64_t delta, uint64_t initial, uint32_t exptime) {
  std::string out(20, '\0');
  binary::Store64(out.data(), delta);
  binary::Store64(out.data() + 8, initial);
  binary::Store32(out.data() + 16, exptime);
  return out;
}

class BinaryDispatcherTest : public ::testing::Test {
 protected:
  BinaryDispatcherTest() {
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sockets_), 0);
    server_.stats.Register(&stats_);
  }
  ~BinaryDispatcherTest() override {
    close(sockets_[0]);
    close(sockets_[1]);
  }

  // Parses and answers every request in `input`, as a session would, and returns the replies;
  // with `sasl`, as a connection of a server with -S does.
  std::string Run(std::string_view input, SaslExchange* sasl = nullptr) {
    BinaryDispatcher& dispatcher = sasl == nullptr ? binary_ : *sasl_binary_;
    std::string replies;
    protocol::BinaryParser parser(limits_);
    for (;;) {
      protocol::BinaryCommand cmd;
      const protocol::BinaryRequest request = parser.Parse(input, &cmd);
      if (request.kind == protocol::BinaryRequest::Kind::kNeedMore) break;
      if (request.kind == protocol::BinaryRequest::Kind::kCommand) {
        last_outcome_ = dispatcher.Dispatch(request, cmd, out_, values_, sasl);
        Drain(&replies);
        if (last_outcome_ == Dispatcher::Outcome::kQuit) break;
      }
      input.remove_prefix(request.consumed);
    }
    return replies;
  }

  // Sends the output, copied bytes and views of item memory alike, through a socket pair.
  void Drain(std::string* replies) {
    while (!out_.empty()) {
      uint64_t sent = 0;
      uint64_t external = 0;
      ASSERT_NE(out_.Flush(sockets_[0], &sent, &external), net::OutputQueue::FlushStatus::kError);
      char buffer[64 << 10];
      for (;;) {
        const ssize_t n = recv(sockets_[1], buffer, sizeof(buffer), MSG_DONTWAIT);
        if (n <= 0) break;
        replies->append(buffer, static_cast<size_t>(n));
      }
    }
  }

  std::string RunText(std::string_view input) {
    protocol::Command cmd;
    const protocol::ParseResult result = protocol::ParseTextCommand(input, limits_, &cmd);
    EXPECT_EQ(text_.Dispatch(result, &cmd, out_, values_), Dispatcher::Outcome::kDone);
    std::string replies;
    Drain(&replies);
    return replies;
  }

  static uint64_t CasOf(std::string_view reply) { return binary::Load64(reply.data() + 16); }

  Options options_;
  std::unique_ptr<storage::Cache> cache_ = storage::CreateCacheOrDie(options_.ToCacheOptions());
  ServerContext server_{options_, *cache_};
  std::unique_ptr<storage::Cache::Context> context_ = cache_->NewContext();
  ThreadStats stats_;
  net::BufferPool pool_;
  Dispatcher text_{server_, *context_, stats_};
  BinaryDispatcher binary_{server_, *context_, stats_, text_, pool_};
  net::OutputQueue out_{pool_};
  ValueWriter values_;
  // -S: a dispatcher made once server_.sasl is set.
  std::unique_ptr<BinaryDispatcher> sasl_binary_;
  protocol::ParserLimits limits_;
  Dispatcher::Outcome last_outcome_ = Dispatcher::Outcome::kDone;
  int sockets_[2] = {-1, -1};
};

TEST_F(BinaryDispatcherTest, AnItemLooksTheSameFromBothProtocols) {
  const std::string stored = Run(Request(0x01, SetExtras(42, 0), "k", "abc"));
  ASSERT_EQ(stored.size(), binary::kHeaderSize);
  const uint64_t cas = CasOf(stored);
  EXPECT_EQ(stored, Reply(0x01, 0, "", "", "", cas));
  EXPECT_EQ(RunText("gets k\r\n"), "VALUE k 42 3 " + std::to_string(cas) + "\r\nabc\r\nEND\r\n");
  RunText("set t 7 0 2\r\nhi\r\n");
  const std::string got = Run(Request(0x0c, "", "t"));
  EXPECT_EQ(got, Reply(0x0c, 0, Be32(7), "t", "hi", CasOf(got)));
  EXPECT_EQ(RunText("gets t\r\n"),
            "VALUE t 7 2 " + std::to_string(CasOf(got)) + "\r\nhi\r\nEND\r\n");
}

TEST_F(BinaryDispatcherTest, QuietFormsAnswerOnlyFailures) {
  EXPECT_EQ(Run(Request(0x11, SetExtras(0, 0), "q", "v") + Request(0x09, "", "missing") +
                Request(0x14, "", "q") + Request(0x14, "", "q") + Request(0x18, "", "")),
            Reply(0x14, 1, "", "", "Not found"));
}

TEST_F(BinaryDispatcherTest, ACompressedValueGoesOutDecoded) {
  const std::string value(20000, 'z');  // compresses well, so it is stored compressed
  Run(Request(0x01, SetExtras(1, 0), "z", value));
  const std::string got = Run(Request(0x00, "", "z"));
  EXPECT_EQ(got, Reply(0x00, 0, Be32(1), "", value, CasOf(got)));
  EXPECT_GE(cache_->Stats().compress_items, 1u);
}

TEST_F(BinaryDispatcherTest, ArithmeticCreatesCountsAndRefuses) {
  EXPECT_EQ(Run(Request(0x05, ArithExtras(1, 0, 0xffffffff), "n")),
            Reply(0x05, 1, "", "", "Not found"));
  const std::string created = Run(Request(0x05, ArithExtras(1, 10, 0), "n"));
  EXPECT_EQ(created, Reply(0x05, 0, "", "", std::string("\0\0\0\0\0\0\0\x0a", 8), CasOf(created)));
  const std::string incremented = Run(Request(0x05, ArithExtras(5, 0, 0), "n"));
  EXPECT_EQ(binary::Load64(incremented.data() + binary::kHeaderSize), 15u);
  EXPECT_EQ(Run(Request(0x06, ArithExtras(1, 0, 0), "n", "", CasOf(incremented) + 1)),
            Reply(0x06, 2, "", "", "Data exists for key."));
  // memcached counts the miss without auto-create and the change, not the creation.
  EXPECT_EQ(stats_.Get(Stat::kIncrMisses), 1u);
  EXPECT_EQ(stats_.Get(Stat::kIncrHits), 1u);
}

TEST_F(BinaryDispatcherTest, StatPacketsComeFromTheTextStats) {
  const std::string text = RunText("stats sizes\r\n");
  ASSERT_EQ(text, "STAT sizes_status disabled\r\nEND\r\n");
  EXPECT_EQ(Run(Request(0x10, "", "sizes")),
            Reply(0x10, 0, "", "sizes_status", "disabled") + Reply(0x10, 0, "", "", ""));
  EXPECT_EQ(Run(Request(0x10, "", "resetting")), Reply(0x10, 0, "", "", ""));
  EXPECT_EQ(Run(Request(0x10, "", "conns")), Reply(0x10, 1, "", "", "Not found"));
  const std::string all = Run(Request(0x10, "", ""));
  EXPECT_NE(all.find("curr_items"), std::string::npos);
  EXPECT_EQ(all.substr(all.size() - binary::kHeaderSize), Reply(0x10, 0, "", "", ""));
}

TEST_F(BinaryDispatcherTest, HeadersThatCannotBeTrustedCloseAfterTheirAnswer) {
  std::string bad_lengths = Request(0x00, "", "abc");
  binary::Store32(bad_lengths.data() + 8, 2);
  EXPECT_EQ(Run(bad_lengths), Reply(0x00, 0x81, "", "", "Unknown command"));
  EXPECT_EQ(last_outcome_, Dispatcher::Outcome::kQuit);
  EXPECT_EQ(Run(Request(0x0a, "", "k")), Reply(0x0a, 4, "", "", "Invalid arguments"));
  EXPECT_EQ(last_outcome_, Dispatcher::Outcome::kQuit);
  EXPECT_EQ(Run(Request(0x1b, Be32(1), "")), Reply(0x1b, 0x81, "", "", "Unknown command"));
  EXPECT_EQ(last_outcome_, Dispatcher::Outcome::kDone);
}

TEST_F(BinaryDispatcherTest, SaslGatesEverythingButSaslAndVersion) {
  const std::string path = ::testing::TempDir() + "/binary_dispatcher_test_pwdb";
  FILE* file = std::fopen(path.c_str(), "w");
  ASSERT_NE(file, nullptr);
  std::fputs("alice:secret\n", file);
  std::fclose(file);
  CredentialStore store(Credentials::Format::kSaslPasswordDb, path);
  ASSERT_TRUE(store.Load().ok());
  std::remove(path.c_str());
  server_.sasl = &store;
  sasl_binary_ = std::make_unique<BinaryDispatcher>(server_, *context_, stats_, text_, pool_);
  const std::string auth_failure = "Auth failure.";

  SaslExchange sasl;
  // Nothing is read or written before authentication; the connection closes.
  ASSERT_EQ(Run(Request(0x01, SetExtras(0, 0), "k", "v"), &sasl),
            Reply(0x01, 0x20, "", "", auth_failure));
  EXPECT_EQ(last_outcome_, Dispatcher::Outcome::kQuit);
  EXPECT_EQ(Run(Request(0x00, "", std::string(300, 'k')), &sasl),
            Reply(0x00, 0x20, "", "", auth_failure));  // before the key's length is judged
  EXPECT_EQ(Run(Request(0x0a, "", ""), &sasl), Reply(0x0a, 0x20, "", "", auth_failure));
  EXPECT_EQ(RunText("get k\r\n"), "END\r\n");  // the set above stored nothing
  // Version and list-mechs are answered.
  EXPECT_EQ(Run(Request(0x20, "", ""), &sasl), Reply(0x20, 0, "", "", "PLAIN"));
  EXPECT_EQ(last_outcome_, Dispatcher::Outcome::kDone);
  // A wrong password is refused, without closing; the right one lets the connection in.
  const std::string wrong("\0alice\0secreT", 13);
  const std::string right("\0alice\0secret", 13);
  EXPECT_EQ(Run(Request(0x21, "", "PLAIN", wrong), &sasl), Reply(0x21, 0x20, "", "", auth_failure));
  EXPECT_EQ(last_outcome_, Dispatcher::Outcome::kDone);
  EXPECT_EQ(Run(Request(0x21, "", std::string(33, 'M'), right), &sasl),
            Reply(0x21, 4, "", "", "Invalid arguments"));
  EXPECT_EQ(Run(Request(0x21, "", "PLAIN"), &sasl), Reply(0x21, 0x21, "", "", ""));
  EXPECT_EQ(Run(Request(0x22, "", "PLAIN", right), &sasl), Reply(0x22, 0, "", "", "Authenticated"));
  EXPECT_TRUE(sasl.authenticated());
  EXPECT_EQ(Run(Request(0x0a, "", ""), &sasl), Reply(0x0a, 0, "", "", ""));
  EXPECT_EQ(stats_.Get(Stat::kAuthCmds), 2u);
  EXPECT_EQ(stats_.Get(Stat::kAuthErrors), 1u);
}

}  // namespace
}  // namespace mnemo::server
