// The meta commands (mg, ms, md, ma, mn, me) through MetaDispatcher against a real cache: the
// replies byte for byte, the flags they echo and in which order, quiet mode, opaque tokens, base64
// keys, the parser's refusals, and the stats each command counts. Text commands run through a
// Dispatcher on the same cache and counters, as on a connection, to show that both protocols see
// one set of items.
#include "server/meta_dispatcher.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "base/clock.h"
#include "net/buffer_pool.h"
#include "net/io_buffer.h"
#include "net/output_queue.h"
#include "protocol/ascii_parser.h"
#include "protocol/meta_parser.h"
#include "protocol/text_parser.h"
#include "server/dispatcher.h"
#include "server/value_writer.h"
#include "testing/server/stat_line.h"
#include "testing/storage/cache_test_util.h"

namespace mnemo::server {
namespace {

class MetaDispatcherTest : public ::testing::Test {
 protected:
  MetaDispatcherTest() {
    cache_ = storage::CreateCacheOrDie(options_.ToCacheOptions());
    server_ = std::make_unique<ServerContext>(options_, *cache_);
    server_->stats.Register(&stats_);
    context_ = cache_->NewContext();
    meta_ = std::make_unique<MetaDispatcher>(*server_, *context_, stats_);
    text_ = std::make_unique<Dispatcher>(*server_, *context_, stats_);
  }

  // Runs every command in `input` and returns the replies, routed as a connection routes them
  // (protocol::AsciiParser): meta commands through the MetaDispatcher, the rest through the
  // Dispatcher, a refused data block skipped.
  std::string Run(std::string_view input) {
    std::string replies;
    protocol::AsciiParser parser(limits_);
    for (;;) {
      protocol::Command cmd;
      protocol::MetaCommand meta;
      const protocol::AsciiRequest request = parser.Parse(input, &cmd, &meta);
      if (request.kind == protocol::AsciiRequest::Kind::kNeedMore) {
        EXPECT_TRUE(input.empty()) << "incomplete: " << input;
        break;
      }
      if (request.kind == protocol::AsciiRequest::Kind::kMeta) {
        EXPECT_NE(request.meta.status, protocol::MetaStatus::kClose);
        if (request.meta.status == protocol::MetaStatus::kClose) break;
        EXPECT_EQ(meta_->Dispatch(request.meta, meta, out_, values_),
                  MetaDispatcher::Outcome::kDone);
      } else if (request.kind == protocol::AsciiRequest::Kind::kText) {
        EXPECT_EQ(text_->Dispatch(request.text, &cmd, out_, values_), Dispatcher::Outcome::kDone);
      }
      input.remove_prefix(request.consumed);
      // Values here are small: they are copied, never queued as views of item memory.
      EXPECT_EQ(out_.external_bytes(), 0u);
      net::IoBuffer& copied = out_.copied();
      replies += copied.readable();
      copied.Consume(copied.size());
    }
    return replies;
  }

  std::string Stat(std::string_view name) { return StatLine(Run("stats\r\n"), name); }

  // The CAS that a text `gets` shows for `key`.
  std::string CasOf(std::string_view key) {
    const std::string reply = Run("gets " + std::string(key) + "\r\n");
    const size_t line_end = reply.find("\r\n");
    const size_t space = reply.rfind(' ', line_end);
    return reply.substr(space + 1, line_end - space - 1);
  }

  Options options_;
  std::unique_ptr<storage::Cache> cache_;
  std::unique_ptr<ServerContext> server_;
  std::unique_ptr<storage::Cache::Context> context_;
  ThreadStats stats_;
  std::unique_ptr<MetaDispatcher> meta_;
  std::unique_ptr<Dispatcher> text_;
  net::BufferPool pool_;
  net::OutputQueue out_{pool_};
  ValueWriter values_;
  protocol::ParserLimits limits_;
};

// Whether `text` is `pattern`, where each '#' in the pattern stands for one or more digits.
bool Matches(std::string_view text, std::string_view pattern) {
  size_t at = 0;
  for (const char c : pattern) {
    if (c != '#') {
      if (at == text.size() || text[at] != c) return false;
      ++at;
      continue;
    }
    const size_t start = at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') ++at;
    if (at == start) return false;
  }
  return at == text.size();
}

// The number after the first " <letter>" or " <letter>=" in a reply line; -1 if there is none.
int64_t NumberAfter(std::string_view line, std::string_view marker) {
  const size_t at = line.find(marker);
  if (at == std::string_view::npos) return -1;
  return std::stoll(std::string(line.substr(at + marker.size())));
}

TEST_F(MetaDispatcherTest, MgAnswersAHitWithItsValueAndTheFlagsInRequestOrder) {
  EXPECT_EQ(Run("ms k 3 F5\r\nabc\r\n"), "HD\r\n");
  EXPECT_EQ(Run("mg k s v f k Oab t\r\n"), "VA 3 s3 f5 kk Oab t-1\r\nabc\r\n");
  EXPECT_EQ(Run("mg k t Oab f s\r\n"), "HD t-1 Oab f5 s3\r\n");
  EXPECT_EQ(Run("mg k\r\n"), "HD\r\n");
  EXPECT_EQ(Run("mg k c\r\n"), "HD c" + CasOf("k") + "\r\n");
}

TEST_F(MetaDispatcherTest, MgMissIsEnWithOpaqueAndKeyAndQHidesIt) {
  EXPECT_EQ(Run("mg nope v\r\n"), "EN\r\n");
  EXPECT_EQ(Run("mg nope v s k O7\r\n"), "EN knope O7\r\n");
  EXPECT_EQ(Run("mg nope v q O7\r\n"), "");
  Run("ms k 1\r\nx\r\n");
  // q hides only the miss: a hit is answered, and mn ends a quiet batch.
  EXPECT_EQ(Run("mg nope v q\r\nmg k q\r\nmg k v q\r\nmn\r\n"), "HD\r\nVA 1\r\nx\r\nMN\r\n");
}

TEST_F(MetaDispatcherTest, MgCountsHitsMissesAndTouchesAsMemcachedDoes) {
  Run("ms k 1\r\nx\r\nmg k v\r\nmg nope v\r\nmg k T100\r\n");
  EXPECT_EQ(Stat("cmd_get"), "2");
  EXPECT_EQ(Stat("get_hits"), "1");
  EXPECT_EQ(Stat("get_misses"), "1");
  EXPECT_EQ(Stat("cmd_touch"), "1");
  EXPECT_EQ(Stat("touch_hits"), "1");
  EXPECT_EQ(Stat("cmd_set"), "1");
}

TEST_F(MetaDispatcherTest, TReportsTheTtlAtItsPlaceInTheRequest) {
  Run("ms k 1 T100\r\nx\r\n");
  // A second may pass between the set and the read.
  for (const auto& [request, ttl] :
       {std::pair{"mg k t\r\n", 100}, {"mg k t T500\r\n", 100}, {"mg k T20 t\r\n", 20}}) {
    const std::string reply = Run(request);
    EXPECT_TRUE(Matches(reply, "HD t#\r\n")) << request << reply;
    EXPECT_NEAR(NumberAfter(reply, " t"), ttl, 1) << request << reply;
  }
  AdvanceClockForTesting(21);
  EXPECT_EQ(Run("mg k v\r\n"), "EN\r\n");
  EXPECT_EQ(Stat("get_expired"), "1");
}

TEST_F(MetaDispatcherTest, MgWithNCreatesTheItemAndOnlyTheFirstClientWins) {
  EXPECT_EQ(Run("mg v N30 s v\r\n"), "VA 0 s0 W\r\n\r\n");
  EXPECT_EQ(Run("mg v N30 s v\r\n"), "VA 0 s0 Z\r\n\r\n");
  // Storing a value ends the race.
  EXPECT_EQ(Run("ms v 2\r\nok\r\nmg v N30 v\r\n"), "HD\r\nVA 2\r\nok\r\n");
}

TEST_F(MetaDispatcherTest, MgWithCSendsTheValueOnlyIfTheCasChanged) {
  Run("ms k 3\r\nabc\r\n");
  const std::string cas = CasOf("k");
  EXPECT_EQ(Run("mg k v C" + cas + "\r\n"), "HD\r\n");
  EXPECT_EQ(Run("mg k v C1" + cas + "\r\n"), "VA 3\r\nabc\r\n");
}

TEST_F(MetaDispatcherTest, MsModesAndCas) {
  EXPECT_EQ(Run("ms k 1 MR\r\nx\r\n"), "NS\r\n");
  EXPECT_EQ(Run("ms k 1 MA\r\nx\r\n"), "NS\r\n");
  EXPECT_EQ(Run("ms k 1 ME\r\nx\r\n"), "HD\r\n");
  EXPECT_EQ(Run("ms k 1 ME\r\ny\r\n"), "NS\r\n");
  EXPECT_EQ(Run("ms k 1 MA\r\nz\r\nms k 1 MP\r\na\r\nms k 1 MR\r\nw\r\n"), "HD\r\nHD\r\nHD\r\n");
  EXPECT_EQ(Run("get k\r\n"), "VALUE k 0 1\r\nw\r\nEND\r\n");
  Run("ms k 3 MS\r\nabc\r\n");
  const std::string cas = CasOf("k");
  EXPECT_EQ(Run("ms k 1 C1" + cas + "\r\nx\r\n"), "EX\r\n");
  const std::string stored = Run("ms k 1 C" + cas + " c\r\ny\r\n");
  EXPECT_EQ(stored, "HD c" + CasOf("k") + "\r\n");
  EXPECT_EQ(Run("ms nope 1 C" + cas + "\r\nx\r\n"), "NF\r\n");
  EXPECT_EQ(Stat("cas_hits"), "1");
  EXPECT_EQ(Stat("cas_badval"), "1");
  EXPECT_EQ(Stat("cas_misses"), "1");
}

TEST_F(MetaDispatcherTest, MsEchoesOpaqueKeyAndTheStoredSize) {
  EXPECT_EQ(Run("ms k 2 O9 k s\r\nab\r\n"), "HD O9 kk s2\r\n");
  // After an append, s is the size of the whole value (1.6.18 drops s; later releases agree).
  EXPECT_EQ(Run("ms k 1 MA s\r\nc\r\n"), "HD s3\r\n");
  EXPECT_EQ(Run("ms k 1 ME s O1\r\nz\r\n"), "NS s1 O1\r\n");
  EXPECT_EQ(Run("ms k 1 E12345\r\nx\r\nmg k c\r\n"), "HD\r\nHD c12345\r\n");
}

TEST_F(MetaDispatcherTest, QHidesOnlySuccessesOfMsAndMd) {
  EXPECT_EQ(Run("ms k 1 q\r\nx\r\n"), "");
  EXPECT_EQ(Run("ms k 1 ME q\r\nx\r\n"), "NS\r\n");
  EXPECT_EQ(Run("md k q\r\n"), "");
  EXPECT_EQ(Run("md k q\r\n"), "NF\r\n");
  // Errors are never hidden.
  EXPECT_EQ(Run("ms k 1 q MZ\r\nx\r\n"), "CLIENT_ERROR invalid mode for ms M token\r\n");
}

TEST_F(MetaDispatcherTest, Base64KeysAreDecodedStoredAndEchoedEncoded) {
  // "Zm9v" is "foo"; "AAE=" is the bytes 0x00 0x01, which no text key may hold.
  EXPECT_EQ(Run("ms Zm9v 3 b k\r\nbar\r\n"), "HD kZm9v b\r\n");
  EXPECT_EQ(Run("get foo\r\n"), "VALUE foo 0 3\r\nbar\r\nEND\r\n");
  EXPECT_EQ(Run("mg Zm9v b v k\r\n"), "VA 3 kZm9v b\r\nbar\r\n");
  EXPECT_EQ(Run("ms AAE= 1 b\r\nx\r\nmg AAE= b k v\r\n"), "HD\r\nVA 1 kAAE= b\r\nx\r\n");
  EXPECT_EQ(Run("mg AAI= b k O5\r\n"), "EN kAAI= b O5\r\n");
  EXPECT_EQ(Run("md AAE= b\r\nmg AAE= b v\r\n"), "HD\r\nEN\r\n");
  EXPECT_EQ(Run("mg !!!! b v\r\n"), "CLIENT_ERROR error decoding key\r\n");
}

TEST_F(MetaDispatcherTest, MdDeletesInvalidatesAndChecksCas) {
  Run("ms k 1\r\nx\r\n");
  EXPECT_EQ(Run("md k C1" + CasOf("k") + " O3 k\r\n"), "EX O3 kk\r\n");
  EXPECT_EQ(Run("md k C" + CasOf("k") + "\r\n"), "HD\r\n");
  EXPECT_EQ(Run("md k\r\n"), "NF\r\n");
  EXPECT_EQ(Stat("delete_hits"), "1");
  EXPECT_EQ(Stat("delete_misses"), "2");
  // I marks the item stale instead: the next reader wins the right to recache it.
  Run("ms s 1\r\nx\r\n");
  EXPECT_EQ(Run("md s I T30\r\n"), "HD\r\n");
  EXPECT_EQ(Run("mg s v c\r\n").substr(0, 6), "VA 1 c");
  EXPECT_EQ(Run("mg s v\r\n"), "VA 1 Z X\r\nx\r\n");
  EXPECT_EQ(Stat("delete_hits"), "1");
  // x empties the value and keeps the item.
  Run("ms e 3 F7\r\nabc\r\n");
  EXPECT_EQ(Run("md e x\r\nmg e v f\r\n"), "HD\r\nVA 0 f0\r\n\r\n");
}

TEST_F(MetaDispatcherTest, MaIncrementsDecrementsAndCreates) {
  EXPECT_EQ(Run("ma n\r\n"), "NF\r\n");
  EXPECT_EQ(Run("ma n N0 J10 v\r\n"), "VA 2\r\n10\r\n");
  EXPECT_EQ(Run("ma n v\r\n"), "VA 2\r\n11\r\n");
  EXPECT_EQ(Run("ma n MD D5 v O1 k\r\n"), "VA 1 O1 kn\r\n6\r\n");
  EXPECT_EQ(Run("ma n MD D100 v\r\n"), "VA 1\r\n0\r\n");
  EXPECT_EQ(Run("ma n D18446744073709551615 v\r\nma n v\r\n"),
            "VA 20\r\n18446744073709551615\r\nVA 1\r\n0\r\n");
  const std::string incremented = Run("ma n c\r\n");
  EXPECT_EQ(incremented, "HD c" + CasOf("n") + "\r\n");
  EXPECT_EQ(Run("ma n C1" + CasOf("n") + "\r\n"), "EX\r\n");
  // q hides the answer for an existing item and for one that N created (1.6.45), not a miss.
  EXPECT_EQ(Run("ma n q v\r\nma nope q\r\nma m q N0 J3 v\r\nmg m v\r\n"), "NF\r\nVA 1\r\n3\r\n");
  Run("ms s 1\r\nx\r\n");
  EXPECT_EQ(Run("ma s\r\n"), "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n");
  EXPECT_EQ(Stat("incr_hits"), "5");
  EXPECT_EQ(Stat("incr_misses"), "2");
  EXPECT_EQ(Stat("decr_hits"), "2");
}

TEST_F(MetaDispatcherTest, MeShowsTheItemWithoutCountingARead) {
  EXPECT_EQ(Run("me k\r\n"), "EN\r\n");
  Run("ms k 3 T100\r\nabc\r\n");
  const std::string cas_line = Run("mg k c u\r\n");  // u: not a read either
  ASSERT_TRUE(Matches(cas_line, "HD c#\r\n")) << cas_line;
  const std::string unread = "ME k exp=# la=0 cas=" + cas_line.substr(4, cas_line.size() - 6) +
                             " fetch=no cls=1 size=#\r\n";
  for (int i = 0; i < 2; ++i) {  // the second shows that the first did not count as a read
    const std::string me = Run("me k\r\n");
    EXPECT_TRUE(Matches(me, unread)) << me;
    EXPECT_NEAR(NumberAfter(me, " exp="), 100, 1) << me;
  }
  Run("mg k v\r\n");
  EXPECT_NE(Run("me k\r\n").find(" fetch=yes "), std::string::npos);
  EXPECT_EQ(Stat("cmd_meta"), "4");
  // The key is decoded only when a token follows the b, as in 1.6.45.
  EXPECT_EQ(Run("ms Zm9v 1 b\r\nx\r\nme Zm9v b\r\nme Zm9v b x\r\n").substr(0, 20),
            "HD\r\nEN\r\nME Zm9v exp=");
}

TEST_F(MetaDispatcherTest, ParserRefusalsGetMemcachedsReplies) {
  EXPECT_EQ(Run("mz k\r\n"), "ERROR\r\n");
  EXPECT_EQ(Run("mg k v v\r\n"), "CLIENT_ERROR duplicate flag\r\n");
  EXPECT_EQ(Run("mg k Z\r\n"), "CLIENT_ERROR invalid flag\r\n");
  EXPECT_EQ(Run("mg k !\r\n"), "CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(Run("md k v v\r\n"), "CLIENT_ERROR duplicate flag\r\n");
  EXPECT_EQ(Run("ma k v v\r\n"), "CLIENT_ERROR invalid or duplicate flag\r\n");
  EXPECT_EQ(Run("ma k MX\r\n"), "CLIENT_ERROR invalid mode for ma M token\r\n");
  EXPECT_EQ(Run("mg k O" + std::string(32, 'o') + "\r\n"),
            "CLIENT_ERROR opaque token too long\r\n");
  EXPECT_EQ(Run("ms k 2\r\nabc\r\n"),
            "CLIENT_ERROR bad data chunk\r\nCLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(Run("mg\r\n"), "CLIENT_ERROR bad command line format\r\n");
}

TEST_F(MetaDispatcherTest, MsTooLargeRemovesTheOldValueAndSwallowsTheData) {
  Run("ms big 1\r\nx\r\n");
  const std::string value(limits_.item_size_max + 1, 'v');
  EXPECT_EQ(Run("ms big " + std::to_string(value.size()) + "\r\n" + value + "\r\nmg big v\r\n"),
            "SERVER_ERROR object too large for cache\r\nEN\r\n");
  EXPECT_EQ(Stat("store_too_large"), "1");
}

}  // namespace
}  // namespace mnemo::server
