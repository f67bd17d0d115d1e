#include "server/dispatcher.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>

#include "net/buffer_pool.h"
#include "net/memory_budget.h"
#include "net/output_queue.h"
#include "protocol/meta_command.h"
#include "protocol/meta_parser.h"
#include "protocol/text_parser.h"
#include "server/value_writer.h"
#include "testing/server/stat_line.h"
#include "testing/storage/cache_calls.h"
#include "testing/storage/cache_test_util.h"

namespace mnemo::server {
namespace {

class DispatcherTest : public ::testing::Test {
 protected:
  DispatcherTest() {
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sockets_), 0);
    Reset(Options());
  }
  ~DispatcherTest() override {
    close(sockets_[0]);
    close(sockets_[1]);
  }

  void Reset(const Options& options) {
    dispatcher_.reset();
    context_.reset();
    server_.reset();
    options_ = options;
    cache_ = storage::CreateCacheOrDie(options_.ToCacheOptions());
    server_ = std::make_unique<ServerContext>(options_, *cache_);
    server_->stats.Register(&stats_);
    server_->request_shutdown = [this](bool graceful) {
      ++shutdowns_;
      graceful_shutdowns_ += graceful ? 1 : 0;
    };
    context_ = cache_->NewContext();
    dispatcher_ = std::make_unique<Dispatcher>(*server_, *context_, stats_);
  }

  // Parses and runs every command in `input`, as a session would, and returns the replies.
  std::string Run(std::string_view input) {
    std::string replies;
    uint64_t skip = 0;
    while (!input.empty()) {
      if (skip > 0) {
        const size_t n = std::min<uint64_t>(skip, input.size());
        input.remove_prefix(n);
        skip -= n;
        continue;
      }
      protocol::Command cmd;
      const protocol::ParseResult result = protocol::ParseTextCommand(input, limits_, &cmd);
      if (result.status == protocol::ParseStatus::kNeedMore) break;
      Dispatcher::Outcome outcome;
      while ((outcome = dispatcher_->Dispatch(result, &cmd, out_, values_)) ==
             Dispatcher::Outcome::kSuspended) {
        Drain(&replies);
      }
      last_outcome_ = outcome;
      Drain(&replies);
      input.remove_prefix(result.consumed);
      skip = result.skip;
    }
    return replies;
  }

  // Sends the output, copied bytes and views of item memory alike, through a socket pair, as a
  // session would, and appends what arrives to *replies.
  void Drain(std::string* replies) {
    ++drains_;
    while (!out_.empty()) {
      uint64_t sent = 0;
      uint64_t external = 0;
      ASSERT_NE(out_.Flush(sockets_[0], &sent, &external), net::OutputQueue::FlushStatus::kError);
      zero_copy_bytes_ += external;
      char buffer[64 << 10];
      for (;;) {
        const ssize_t n = recv(sockets_[1], buffer, sizeof(buffer), MSG_DONTWAIT);
        if (n <= 0) break;
        replies->append(buffer, static_cast<size_t>(n));
      }
    }
  }

  std::string Stat(std::string_view name) { return StatLine(Run("stats\r\n"), name); }

  Options options_;
  std::unique_ptr<storage::Cache> cache_;
  std::unique_ptr<ServerContext> server_;
  std::unique_ptr<storage::Cache::Context> context_;
  ThreadStats stats_;
  std::unique_ptr<Dispatcher> dispatcher_;
  net::BufferPool pool_;
  net::OutputQueue out_{pool_};
  ValueWriter values_;
  int sockets_[2] = {-1, -1};  // the output is flushed into [0] and read from [1]
  uint64_t zero_copy_bytes_ = 0;
  protocol::ParserLimits limits_;
  Dispatcher::Outcome last_outcome_ = Dispatcher::Outcome::kDone;
  int drains_ = 0;
  int shutdowns_ = 0;
  int graceful_shutdowns_ = 0;
};

TEST_F(DispatcherTest, StoresAndRetrieves) {
  EXPECT_EQ(Run("set a 5 0 3\r\nabc\r\nget a b\r\n"), "STORED\r\nVALUE a 5 3\r\nabc\r\nEND\r\n");
  const std::string gets = Run("gets a\r\n");
  EXPECT_EQ(gets.rfind("VALUE a 5 3 ", 0), 0u) << gets;
  EXPECT_EQ(Run("append a 0 0 1\r\nd\r\nprepend a 0 0 1\r\nz\r\nget a\r\n"),
            "STORED\r\nSTORED\r\nVALUE a 5 5\r\nzabcd\r\nEND\r\n");
  EXPECT_EQ(Run("add a 0 0 1\r\nx\r\nreplace nope 0 0 1\r\nx\r\n"), "NOT_STORED\r\nNOT_STORED\r\n");
}

TEST_F(DispatcherTest, CasAnswersAndCounts) {
  Run("set c 0 0 1\r\nx\r\n");
  const std::string gets = Run("gets c\r\n");
  const std::string token =
      gets.substr(gets.rfind(' ') + 1, gets.find("\r\n") - gets.rfind(' ') - 1);
  EXPECT_EQ(Run("cas c 0 0 1 " + token + "\r\ny\r\n"), "STORED\r\n");
  EXPECT_EQ(Run("cas c 0 0 1 " + token + "\r\nz\r\n"), "EXISTS\r\n");
  EXPECT_EQ(Run("cas nope 0 0 1 1\r\nz\r\n"), "NOT_FOUND\r\n");
  EXPECT_EQ(Stat("cas_hits"), "1");
  EXPECT_EQ(Stat("cas_badval"), "1");
  EXPECT_EQ(Stat("cas_misses"), "1");
  EXPECT_EQ(Stat("cmd_set"), "4");
}

TEST_F(DispatcherTest, ArithmeticDeleteAndTouch) {
  EXPECT_EQ(Run("set n 0 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\nincr nope 1\r\n"),
            "STORED\r\n15\r\n0\r\nNOT_FOUND\r\n");
  EXPECT_EQ(Run("set s 0 0 1\r\nx\r\nincr s 1\r\n"),
            "STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
  EXPECT_EQ(Run("touch n 100\r\ntouch nope 100\r\n"), "TOUCHED\r\nNOT_FOUND\r\n");
  EXPECT_EQ(Run("delete n\r\ndelete n\r\n"), "DELETED\r\nNOT_FOUND\r\n");
  EXPECT_EQ(Stat("incr_hits"), "1");
  EXPECT_EQ(Stat("incr_misses"), "1");
  EXPECT_EQ(Stat("decr_hits"), "1");
  EXPECT_EQ(Stat("touch_hits"), "1");
  EXPECT_EQ(Stat("touch_misses"), "1");
  EXPECT_EQ(Stat("cmd_touch"), "2");
  EXPECT_EQ(Stat("delete_hits"), "1");
  EXPECT_EQ(Stat("delete_misses"), "1");
}

TEST_F(DispatcherTest, CountsGetsAndGatsAsMemcachedDoes) {
  Run("set a 0 0 1\r\nx\r\nget a b\r\ngat 100 a b\r\n");
  EXPECT_EQ(Stat("cmd_get"), "2");
  EXPECT_EQ(Stat("get_hits"), "1");
  EXPECT_EQ(Stat("get_misses"), "1");
  EXPECT_EQ(Stat("cmd_touch"), "2");  // gat counts as touches
  EXPECT_EQ(Stat("touch_hits"), "1");
  EXPECT_EQ(Stat("touch_misses"), "1");
}

TEST_F(DispatcherTest, NoreplySuppressesEveryReplyErrorsIncluded) {
  EXPECT_EQ(Run("set q 0 0 1 noreply\r\nx\r\n"), "");
  EXPECT_EQ(Run("incr q 1 noreply\r\n"), "");  // non-numeric: an error, unanswered
  EXPECT_EQ(Run("delete nope noreply\r\n"), "");
  EXPECT_EQ(Run("touch q abc noreply\r\n"), "");  // refused by the parser
  EXPECT_EQ(Run("flush_all noreply\r\n"), "");
  EXPECT_EQ(Run("get q\r\n"), "END\r\n");
}

TEST_F(DispatcherTest, TooLargeSetRemovesTheOldValueAndSwallowsTheData) {
  Run("set big 0 0 1\r\nx\r\n");
  const std::string value(limits_.item_size_max + 1, 'v');
  EXPECT_EQ(Run("set big 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\nget big\r\n"),
            "SERVER_ERROR object too large for cache\r\nEND\r\n");
  EXPECT_EQ(Stat("store_too_large"), "1");
}

TEST_F(DispatcherTest, ALongRetrievalStopsAtTheOutputLimitAndResumes) {
  const std::string value(100 << 10, 'v');
  Run("set v 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n");
  std::string get = "get";
  for (int i = 0; i < 100; ++i) get += " v";
  drains_ = 0;
  const std::string replies = Run(get + "\r\n");
  const std::string one = "VALUE v 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n";
  EXPECT_EQ(replies.size(), 100 * one.size() + 5);
  EXPECT_EQ(replies.substr(replies.size() - 5), "END\r\n");
  // 10 MB of replies in pieces of about the 4 MiB limit: held in memory a piece at a time.
  EXPECT_GE(drains_, 3);
}

TEST_F(DispatcherTest, AdminCommands) {
  EXPECT_EQ(Run("version\r\n"), "VERSION 1.6.45\r\n");
  EXPECT_EQ(Run("verbosity 1\r\n"), "OK\r\n");
  EXPECT_EQ(Run("cache_memlimit 4\r\n"),
            "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n");
  EXPECT_EQ(Run("cache_memlimit 128\r\n"), "OK\r\n");
  EXPECT_EQ(Stat("limit_maxbytes"), std::to_string(128 << 20));
  EXPECT_EQ(Run("shutdown\r\n"), "SERVER_ERROR: shutdown not enabled\r\n");
  EXPECT_EQ(shutdowns_, 0);
  EXPECT_EQ(Run("quit\r\n"), "");
  EXPECT_EQ(last_outcome_, Dispatcher::Outcome::kQuit);
}

TEST_F(DispatcherTest, ShutdownWithDashA) {
  Options options;
  options.enable_shutdown = true;
  Reset(options);
  EXPECT_EQ(Run("shutdown bogus\r\n"), "CLIENT_ERROR invalid shutdown mode\r\n");
  EXPECT_EQ(Run("shutdown\r\n"), "");
  EXPECT_EQ(last_outcome_, Dispatcher::Outcome::kClose);
  EXPECT_EQ(shutdowns_, 1);
  EXPECT_EQ(graceful_shutdowns_, 0);
  // memcached compares with the start of "graceful" only.
  EXPECT_EQ(Run("shutdown graceful\r\n"), "");
  EXPECT_EQ(Run("shutdown g\r\n"), "");
  EXPECT_EQ(shutdowns_, 3);
  EXPECT_EQ(graceful_shutdowns_, 2);
}

TEST_F(DispatcherTest, StatsSubcommands) {
  Run("set a 0 0 1\r\nx\r\nget a\r\n");
  EXPECT_EQ(Stat("get_hits"), "1");
  EXPECT_EQ(Stat("curr_items"), "1");
  EXPECT_EQ(Stat("version"), "1.6.45");
  EXPECT_EQ(Run("stats reset\r\n"), "RESET\r\n");
  EXPECT_EQ(Stat("get_hits"), "0");
  EXPECT_EQ(Run("stats sizes\r\n"), "STAT sizes_status disabled\r\nEND\r\n");
  EXPECT_EQ(Run("stats bogus\r\n"), "ERROR\r\n");
  EXPECT_EQ(Run("stats detail on\r\nget p:1\r\nstats r\r\nstats detail dump\r\n"),
            "OK\r\nEND\r\nRESET\r\nEND\r\n");
  EXPECT_EQ(Run("stats extstore\r\n"), "END\r\n");
  const std::string settings = Run("stats settings\r\n");
  EXPECT_NE(settings.find("STAT maxbytes 67108864\r\n"), std::string::npos);
  EXPECT_NE(settings.find("STAT evictions on\r\n"), std::string::npos);
  EXPECT_NE(settings.find("STAT eviction_policy merge\r\n"), std::string::npos);
  EXPECT_EQ(settings.substr(settings.size() - 5), "END\r\n");
  const std::string items = Run("stats items\r\n");
  EXPECT_EQ(items.rfind("STAT items:1:number 1\r\n", 0), 0u) << items;
  const std::string slabs = Run("stats slabs\r\n");
  EXPECT_NE(slabs.find("STAT active_slabs 1\r\n"), std::string::npos);
}

// Letters that snappy cannot shrink, so that they are stored as they come.
std::string Incompressible(size_t size) {
  std::string value(size, '\0');
  uint64_t x = 88172645463325252ull;
  for (char& c : value) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    c = static_cast<char>('a' + x % 26);
  }
  return value;
}

TEST_F(DispatcherTest, ALargeValueGoesOutStraightFromItemMemory) {
  // -I's default: a chain of several segments at -m 64.
  const std::string value = Incompressible(1 << 20);
  ASSERT_EQ(Run("set big 5 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n"),
            "STORED\r\n");
  const std::string small(ValueWriter::kSendInPlaceMin - 1, 's');
  ASSERT_EQ(Run("set small 0 0 " + std::to_string(small.size()) + "\r\n" + small + "\r\n"),
            "STORED\r\n");
  zero_copy_bytes_ = 0;
  EXPECT_EQ(Run("get big small\r\n"), "VALUE big 5 1048576\r\n" + value + "\r\nVALUE small 0 " +
                                          std::to_string(small.size()) + "\r\n" + small +
                                          "\r\nEND\r\n");
  EXPECT_EQ(zero_copy_bytes_, value.size()) << "the large value copied, or the small one not";
  EXPECT_EQ(cache_->Stats().value_holds, 1u);
}

TEST_F(DispatcherTest, MetaGetSendsALargeValueStraightFromItemMemory) {
  const std::string value = Incompressible(300 << 10);
  ASSERT_EQ(Run("set big 5 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n"),
            "STORED\r\n");
  zero_copy_bytes_ = 0;
  protocol::MetaCommand cmd;
  const protocol::MetaParseResult result =
      protocol::ParseMetaCommand("mg big s v f k Oq\r\n", limits_, &cmd);
  ASSERT_EQ(dispatcher_->DispatchMeta(result, cmd, out_, values_), Dispatcher::Outcome::kDone);
  std::string replies;
  Drain(&replies);
  EXPECT_EQ(replies, "VA 307200 s307200 f5 kbig Oq\r\n" + value + "\r\n");
  EXPECT_EQ(zero_copy_bytes_, value.size());
  EXPECT_EQ(cache_->Stats().value_holds, 1u);
}

TEST_F(DispatcherTest, ALargeCompressedValueIsDecodedIntoTheReply) {
  const std::string value(1 << 20, 'v');
  ASSERT_EQ(Run("set big 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n"),
            "STORED\r\n");
  ASSERT_EQ(cache_->Stats().compress_items, 1u);
  zero_copy_bytes_ = 0;
  EXPECT_EQ(Run("gets big\r\n").substr(0, 20), "VALUE big 0 1048576 ");
  EXPECT_EQ(Run("get big\r\n"), "VALUE big 0 1048576\r\n" + value + "\r\nEND\r\n");
  EXPECT_EQ(zero_copy_bytes_, 0u);
  EXPECT_EQ(cache_->Stats().segments_draining, 0u);
}

TEST_F(DispatcherTest, AHeldValueOutlivesItsItemAndItsSegment) {
  const std::string value = Incompressible(200 << 10);
  ASSERT_EQ(Run("set k 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n"),
            "STORED\r\n");
  protocol::Command cmd;
  const protocol::ParseResult result = protocol::ParseTextCommand("get k\r\n", limits_, &cmd);
  ASSERT_EQ(dispatcher_->Dispatch(result, &cmd, out_, values_), Dispatcher::Outcome::kDone);
  // Before the reply is sent: the item goes, and the cache fills its memory several times over,
  // reusing every segment it can.
  cache_->FlushAll({});
  const std::string filler = Incompressible(100 << 10);
  for (int i = 0; i < 2000; ++i) {
    ASSERT_EQ(cache_calls::Store(*cache_, *context_, storage::StoreMode::kSet,
                                 "f" + std::to_string(i), 0, 0, filler),
              storage::StoreResult::kStored);
  }
  EXPECT_EQ(cache_->Stats().segments_draining, 1u) << "the held segment was reused, or freed";
  std::string replies;
  Drain(&replies);
  EXPECT_EQ(replies, "VALUE k 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\nEND\r\n");
  EXPECT_EQ(cache_->Stats().segments_draining, 0u) << "sent, the segment goes back to the pool";
}

// Once a reply could not get memory the connection is closed (IoBuffer::failed): what the get
// finds is neither copied nor queued, and no segment stays held for it.
TEST_F(DispatcherTest, AGetIntoAFailedOutputQueuesNothingAndHoldsNoSegment) {
  const std::string value = Incompressible(200 << 10);
  ASSERT_EQ(Run("set k 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n"),
            "STORED\r\n");
  ASSERT_EQ(Run("set small 0 0 1\r\ns\r\n"), "STORED\r\n");
  net::BufferPool no_memory(size_t{1} << 60);  // blocks of an exabyte: Take() has none to give
  net::OutputQueue failed(no_memory);
  failed.copied().Append("STORED\r\n");
  ASSERT_TRUE(failed.copied().failed());
  protocol::Command cmd;
  const protocol::ParseResult result = protocol::ParseTextCommand("get k small\r\n", limits_, &cmd);
  EXPECT_EQ(dispatcher_->Dispatch(result, &cmd, failed, values_), Dispatcher::Outcome::kDone);
  EXPECT_TRUE(failed.empty()) << "a view of item memory queued for a connection that closes";
  EXPECT_FALSE(values_.pending());
  cache_->FlushAll({});
  const std::string filler = Incompressible(100 << 10);
  for (int i = 0; i < 2000; ++i) {
    ASSERT_EQ(cache_calls::Store(*cache_, *context_, storage::StoreMode::kSet,
                                 "f" + std::to_string(i), 0, 0, filler),
              storage::StoreResult::kStored);
  }
  EXPECT_EQ(cache_->Stats().segments_draining, 0u) << "the value's segment is still held";
  uint64_t sent = 0;
  uint64_t external = 0;
  EXPECT_EQ(failed.Flush(sockets_[0], &sent, &external), net::OutputQueue::FlushStatus::kError);
  EXPECT_EQ(sent, 0u);
}

TEST_F(DispatcherTest, ACompressedValueWaitsForConnectionMemoryBeforeItIsDecoded) {
  const std::string value(Dispatcher::kOutputSoftLimit / 2, 'v');  // all three fit in one call
  ASSERT_EQ(Run("set big 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n" +
                "set small 0 0 2\r\nhi\r\n"),
            "STORED\r\nSTORED\r\n");
  net::MemoryBudget budget(1 << 20);
  budget.Charge(2 << 20);  // exhausted by other connections
  Dispatcher limited(*server_, *context_, stats_, CopyBudget{&budget, 16 << 10});
  protocol::Command cmd;
  const protocol::ParseResult result =
      protocol::ParseTextCommand("get small big small\r\n", limits_, &cmd);
  ASSERT_EQ(limited.Dispatch(result, &cmd, out_, values_), Dispatcher::Outcome::kNeedMemory);
  EXPECT_TRUE(values_.pending());
  // Still exhausted: it keeps waiting, and answers nothing more.
  ASSERT_EQ(limited.Dispatch(result, &cmd, out_, values_), Dispatcher::Outcome::kNeedMemory);
  std::string replies;
  Drain(&replies);
  EXPECT_EQ(replies, "VALUE small 0 2\r\nhi\r\n");
  budget.Credit(2 << 20);
  ASSERT_EQ(limited.Dispatch(result, &cmd, out_, values_), Dispatcher::Outcome::kDone);
  EXPECT_FALSE(values_.pending());
  Drain(&replies);
  EXPECT_EQ(replies, "VALUE small 0 2\r\nhi\r\nVALUE big 0 " + std::to_string(value.size()) +
                         "\r\n" + value + "\r\nVALUE small 0 2\r\nhi\r\nEND\r\n");
  EXPECT_EQ(Stat("get_hits"), "3") << "a key that waited is counted once";
}

TEST_F(DispatcherTest, AMetaGetsCompressedValueWaitsForMemoryAndGoesOutOnce) {
  const std::string value(1 << 20, 'v');
  ASSERT_EQ(Run("set big 0 0 " + std::to_string(value.size()) + "\r\n" + value + "\r\n"),
            "STORED\r\n");
  net::MemoryBudget budget(1 << 20);
  budget.Charge(2 << 20);  // exhausted by other connections
  Dispatcher limited(*server_, *context_, stats_, CopyBudget{&budget, 16 << 10});
  protocol::MetaCommand cmd;
  const protocol::MetaParseResult result =
      protocol::ParseMetaCommand("mg big v s t\r\n", limits_, &cmd);
  ASSERT_EQ(limited.DispatchMeta(result, cmd, out_, values_), Dispatcher::Outcome::kNeedMemory);
  EXPECT_TRUE(values_.pending());
  ASSERT_EQ(limited.DispatchMeta(result, cmd, out_, values_), Dispatcher::Outcome::kNeedMemory);
  std::string replies;
  Drain(&replies);
  EXPECT_EQ(replies, "");
  budget.Credit(2 << 20);
  ASSERT_EQ(limited.DispatchMeta(result, cmd, out_, values_), Dispatcher::Outcome::kDone);
  EXPECT_FALSE(values_.pending());
  Drain(&replies);
  EXPECT_EQ(replies, "VA 1048576 s1048576 t-1\r\n" + value + "\r\n");
  EXPECT_EQ(Stat("get_hits"), "1") << "a key that waited is counted once";
}

TEST_F(DispatcherTest, ParserRefusalsGetMemcachedsReplies) {
  EXPECT_EQ(Run("bogus\r\n"), "ERROR\r\n");
  EXPECT_EQ(Run("set k 0 0 -1\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(Run("get\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(Run("incr k abc\r\n"), "CLIENT_ERROR invalid numeric delta argument\r\n");
  // The "\n" left after the declared block is a line of its own, too short to be a command.
  EXPECT_EQ(Run("set k 0 0 1\r\nxy\r\n"),
            "CLIENT_ERROR bad data chunk\r\nCLIENT_ERROR bad command line format\r\n");
  // Under noreply an unknown command's ERROR goes unanswered.
  EXPECT_EQ(Run("bogus noreply\r\n"), "");
}

}  // namespace
}  // namespace mnemo::server
