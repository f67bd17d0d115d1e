#include "replication/sync_wait.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "replication/peer_stream.h"

namespace mnemo::replication {
namespace {

// Appends a record, returning its ticket.
uint64_t Append(PeerStream& stream) {
  uint64_t ticket = 0;
  (void)stream.Append("r\r\n", &ticket);
  return ticket;
}

TEST(SyncWaitTest, SettlesWhenEveryStreamingPeerAcknowledgedItsLastRecord) {
  PeerStream a(1000);
  PeerStream b(1000);
  a.SetStreaming(true);
  b.SetStreaming(true);
  SyncWait wait;
  EXPECT_TRUE(wait.empty());
  EXPECT_TRUE(wait.Settled());
  ASSERT_EQ(Append(a), 1u);
  wait.Add(&a, 1);
  ASSERT_TRUE(a.TakeBatch());  // batch 1: ticket 1
  ASSERT_EQ(Append(a), 2u);
  wait.Add(&a, 2);  // the later ticket of the same stream is the one waited for
  wait.Add(&b, Append(b));
  EXPECT_FALSE(wait.Settled());
  ASSERT_TRUE(a.TakeBatch());  // batch 2: ticket 2
  ASSERT_TRUE(b.TakeBatch());
  a.AckOldest();
  EXPECT_EQ(a.acked_ticket(), 1u);
  EXPECT_FALSE(wait.Settled()) << "ticket 2 of a is not acknowledged yet";
  a.AckOldest();
  EXPECT_FALSE(wait.Settled()) << "b has not acknowledged";
  b.AckOldest();
  EXPECT_TRUE(wait.Settled());
  wait.Clear();
  EXPECT_TRUE(wait.empty());
}

TEST(SyncWaitTest, ARefusedWriteNeverSettlesUntilCleared) {
  SyncWait wait;
  wait.Refuse();  // with no peer at all: it still waits, to be answered as timed out
  EXPECT_FALSE(wait.empty());
  EXPECT_FALSE(wait.Settled());
  PeerStream down(1000);
  wait.Add(&down, Append(down));
  EXPECT_FALSE(wait.Settled()) << "a peer not waited for does not settle a refused write";
  wait.Clear();  // the session's next write starts afresh
  EXPECT_TRUE(wait.empty());
  EXPECT_TRUE(wait.Settled());
}

TEST(SyncWaitTest, APeerNotStreamingOrDroppedIsNotWaitedFor) {
  PeerStream down(1000);
  SyncWait wait;
  wait.Add(&down, Append(down));
  EXPECT_TRUE(wait.Settled()) << "no link streams to it";

  PeerStream up(1000);
  up.SetStreaming(true);
  SyncWait on_up;
  on_up.Add(&up, Append(up));
  EXPECT_FALSE(on_up.Settled());
  up.SetStreaming(false);  // its link closed
  EXPECT_TRUE(on_up.Settled());
  up.SetStreaming(true);  // reconnected: the record is sent again, and waited for
  EXPECT_FALSE(on_up.Settled());
  up.Drop();
  EXPECT_TRUE(on_up.Settled());
  EXPECT_EQ(up.acked_ticket(), 1u) << "a drop settles what it discarded";
}

TEST(SyncWaitTest, AnOverflowSettlesTheRecordsItDiscardsAndTicketsNeverGoBack) {
  PeerStream stream(8);
  stream.SetStreaming(true);
  const uint64_t first = Append(stream);
  ASSERT_TRUE(stream.TakeBatch());
  const uint64_t second = Append(stream);
  uint64_t ticket = 99;
  EXPECT_EQ(stream.Append("too long\r\n", &ticket), PeerStream::AppendResult::kOverflow);
  EXPECT_EQ(ticket, 0u) << "a record not appended has no ticket";
  EXPECT_GE(stream.acked_ticket(), second);
  stream.AckOldest();  // the MN of the batch taken before the overflow comes late
  EXPECT_GE(stream.acked_ticket(), second) << "went back to " << first;
}

TEST(SyncWaitTest, AResumeSettlesWhatThePeerHadApplied) {
  PeerStream stream(1000);
  stream.SetStreaming(true);
  const uint64_t ticket = Append(stream);
  ASSERT_TRUE(stream.TakeBatch());
  EXPECT_FALSE(stream.Settled(ticket));
  EXPECT_EQ(stream.Resume(1), 0u);  // the peer applied it before the connection broke
  EXPECT_TRUE(stream.Settled(ticket));
}

}  // namespace
}  // namespace mnemo::replication
