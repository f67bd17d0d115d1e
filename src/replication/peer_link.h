// PeerLink is the replication thread's connection to one peer: it connects (again, with backoff,
// whenever the connection fails), introduces this node with mn_peer, then writes the peer's
// PeerStream batch by batch, each followed by an mn, and forgets a batch when the peer's MN for it
// comes back. It never blocks: the socket is non-blocking and registered edge-triggered with the
// replication thread's event loop.
//
//   kIdle --(due)--> kConnecting --(connected)--> kHandshake --(PEER reply)--> kStreaming
//     ^                                                                            |
//     +--------------------(error, hang-up, drop of the stream)--------------------+
//
// Invariants:
//  (1) The socket is open, and registered with the loop, exactly outside kIdle.
//  (2) In kStreaming, the batches of the stream marked written were written whole, each with
//      its mn, in order, on this connection; partial_ bytes of the first batch not marked written
//      were written too.
//  (3) A link reconnects only from Poll (run after a round of the loop), never from OnEvents, so
//      that an event collected for a closed socket never reaches the one that replaced it.
// Leases: the link notes when it wrote each mn (a batch's, or a ping's, written when the link has
// been quiet for lease_ms / 4); the peer's MNs come back in order, and each extends the link's
// lease to the send time of its mn plus lease_ms, so a reply that was delayed (a stall of
// either side) extends nothing that has passed. A ping's MN acknowledges no batch.
// Control lines (SendControl) go out between batches, never inside one. Before the batches a
// write starts at a boundary comes the line mn_peer lease <now> <until>, written in the same
// writev as they are, so that a stall between the lease's check and the write shows at the peer.
// Thread safety: the replication thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>

#include "cluster/server_address.h"
#include "net/event_loop.h"
#include "replication/peer_stream.h"

namespace mnemo::replication {

struct ReplicationCounters;

// What a link needs from the node it runs in.
inline constexpr int64_t kHoldRecords = -1;

struct LinkContext {
  net::EventLoop& loop;
  ReplicationCounters& counters;
  std::string handshake;  // this node's mn_peer line, up to the applied count
  int64_t lag_max_ms;
  int64_t lease_ms;  // -o repl_lease_ms: an echo extends the lease to its send time plus this
  // The lease records go out under (SteadyMillis), which the link states to the peer before
  // the records it writes from a batch boundary (replication/lease_fence.h); 0: no bound.
  // kHoldRecords while this node's unsent records may be older than writes its peers took
  // meanwhile (its lease lapsed, and its streams are not yet discarded, DiscardStale): the link
  // writes control lines and pings, no batch. The markers a returning node owes its returning
  // peers are records: they must flow while it catches up (with no lease to state).
  std::function<int64_t()> records_lease;
};

class PeerLink final : public net::EventLoop::Handler {
 public:
  enum class State : uint8_t { kIdle, kConnecting, kHandshake, kStreaming };

  PeerLink(const LinkContext& context, std::string name, cluster::ServerAddress address,
           PeerStream& stream)
      : context_(context), name_(std::move(name)), address_(std::move(address)), stream_(stream) {}
  ~PeerLink() { Close(); }
  PeerLink(const PeerLink&) = delete;
  PeerLink& operator=(const PeerLink&) = delete;

  void OnEvents(uint32_t events) override;
  // Connects when due, writes what the stream has, drops the stream if it lags too far behind
  // or overflowed. Returns the age of its oldest unacknowledged record in ms (0: none).
  int64_t Poll(int64_t now_ms);

  // Queues one line (mn_peer sync ...) to be written between batches on this connection; a
  // connection that closes forgets it.
  void SendControl(std::string_view line) { control_ += line; }
  // Until when (SteadyMillis) the peer's echoes vouch that this node is not cut off; 0: none.
  int64_t lease_until_ms() const { return lease_until_ms_; }
  // When the current or last connection attempt began (SteadyMillis); 0: none yet.
  int64_t last_attempt_ms() const { return last_attempt_ms_; }
  // If the link is down and its next attempt is not due, makes it due now (the backoff starts
  // over).
  void Retry(int64_t now_ms);
  // This node was stalled or cut off past its lease: what the stream holds unacknowledged was
  // acknowledged to clients before that, and the peer may since have taken newer writes of the
  // same keys (a proxy routed them around this node). Discards it (the stream is dropped, and
  // says so to the peer's next sync request) rather than apply it over them.
  void DiscardStale(int64_t now_ms);

  State state() const { return state_; }
  const std::string& name() const { return name_; }
  PeerStream& stream() { return stream_; }

 private:
  static constexpr int64_t kFirstRetryMs = 50;
  static constexpr int64_t kMaxRetryMs = 1000;

  void Connect(int64_t now_ms);
  // Closes the socket; the next connection is tried after the backoff, which doubles.
  void Fail(const char* why);
  void Close();
  void Write();
  // Whether every batch taken is wholly written: a line may go out without splitting one.
  bool Idle() const;
  // Writes a whole line, or nothing (the socket is full: false); a part written fails the link.
  bool SendLine(std::string_view line);
  // A lease ping: an mn of its own, when the link is idle.
  void Ping(int64_t now_ms);
  void Read();
  void OnLine(std::string_view line);
  // Discards what the stream holds (overflow, lag) and starts over with a new connection.
  void DropStream(const char* why, int64_t now_ms);

  const LinkContext& context_;
  const std::string name_;
  const cluster::ServerAddress address_;
  PeerStream& stream_;
  State state_ = State::kIdle;
  int fd_ = -1;
  bool write_blocked_ = false;
  bool readable_ = false;
  size_t partial_ = 0;  // invariant 2
  std::string input_;
  int64_t retry_at_ms_ = 0;
  int64_t retry_ms_ = kFirstRetryMs;
  bool drop_handled_ = false;  // the stream's drop was logged and its batches discarded
  bool refused_ = false;       // the peer refused mn_peer, and it was logged
  // Leases: the send time of each mn written and not yet answered, oldest first, and whether it
  // was a ping's.
  struct SentMn {
    int64_t at_ms;
    bool ping;
  };
  std::deque<SentMn> mn_sent_;
  int64_t last_mn_ms_ = 0;
  int64_t lease_until_ms_ = 0;
  int64_t last_attempt_ms_ = 0;
  std::string control_;  // lines to write before the next batch
  // The lease line of the current write, and how much of it went out (all: none pending).
  std::string lease_line_;
  size_t lease_line_sent_ = 0;
};

}  // namespace mnemo::replication
