// PeerStream is the outgoing stream of records from this node to one peer: the backlog of records
// not yet acknowledged, bounded in bytes (-o repl_backlog_mb). Workers append records under the
// stripe lock of the key they changed; the replication thread takes what they appended as a batch,
// numbers its records, writes it, and forgets it once the peer's MN acknowledges it.
//
// Numbering: records are numbered as the peer counts what it applies: the n-th record this node
// sends the peer is record n, and at each handshake (Resume) the records kept are numbered on from
// the count the peer gives. Records that a drop discarded get no number.
//
// Dropping: an append that would take the backlog past its limit drops the stream (Append returns
// kOverflow, once per drop): the records not yet acknowledged are discarded, and appends are
// ignored until the replication thread reopens it after a new handshake with the peer. The
// replication thread drops it too when its oldest unacknowledged record is too old (Drop).
//
// Tickets (for sync replication): each record appended gets the next ticket, 1, 2, ..., never
// renumbered; acked_ticket() is the ticket of the last record the peer acknowledged, or that a
// drop discarded, so a writer waiting for its record waits until acked_ticket() reaches its ticket
// or the link stops streaming (streaming()).
//
// Invariants:
//  (1) backlog_bytes() is the size of the open records plus that of the batches taken and not yet
//      acknowledged; Append never takes it past the limit.
//  (2) Batches are acknowledged in the order they were taken, and numbered consecutively.
// Lock order: a key's stripe lock, then mu_ (Append runs under the stripe lock); mu_ is a leaf.
// Thread safety: Append from any thread; the rest from the replication thread only (the one that
// owns the batches taken), except the accessors, which any thread may read.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

#include "base/mutex.h"
#include "base/thread_annotations.h"

namespace mnemo::replication {

// A run of records taken from a stream, written as one piece followed by an mn.
struct Batch {
  std::string bytes;
  uint64_t first_seq = 0;  // the number of its first record
  uint64_t records = 0;
  int64_t since_ms = 0;      // when its first record was appended (SteadyMillis)
  bool written = false;      // wholly written to the current connection, its mn included
  uint64_t last_ticket = 0;  // the ticket of its last record (see Tickets)
};

// Milliseconds of a monotonic clock, for ages of records.
int64_t SteadyMillis();

class PeerStream {
 public:
  enum class AppendResult : uint8_t {
    kAppended,
    kAppendedFirst,  // the first record since the last TakeBatch: the sender may be asleep
    kIgnored,        // the stream is dropped
    kOverflow,       // this record would pass the limit: the stream is dropped now
  };

  explicit PeerStream(size_t backlog_limit) : backlog_limit_(backlog_limit) {}
  PeerStream(const PeerStream&) = delete;
  PeerStream& operator=(const PeerStream&) = delete;

  // Appends one encoded record; `ticket`, if given, receives its ticket (0 if not appended).
  AppendResult Append(std::string_view record, uint64_t* ticket = nullptr) EXCLUDES(mu_);

  // Replication thread. Moves the records appended since the last call into a new batch at the
  // end of unacked(), numbered after the last; false if there were none.
  bool TakeBatch() EXCLUDES(mu_);
  // The peer acknowledged the oldest batch (its MN): forgets it.
  void AckOldest() EXCLUDES(mu_);
  // A new connection's handshake: the peer has applied `applied` records. Forgets the batches it
  // has wholly, marks the rest to be written again, numbered from applied + 1 (see Numbering).
  // Returns how many kept records will be sent again.
  uint64_t Resume(uint64_t applied) EXCLUDES(mu_);
  // Discards every record not yet acknowledged and ignores appends until Reopen().
  void Drop() EXCLUDES(mu_);
  // Takes appends again.
  void Reopen() EXCLUDES(mu_);
  // When the oldest record not yet acknowledged was appended (SteadyMillis); 0 if none.
  int64_t OldestUnackedMs() EXCLUDES(mu_);

  // The batches taken and not yet acknowledged, oldest first. Replication thread only.
  std::deque<Batch>& unacked() { return unacked_; }

  size_t backlog_bytes() const { return backlog_bytes_.load(std::memory_order_relaxed); }
  bool dropped() const { return dropped_flag_.load(std::memory_order_relaxed); }
  // The number of the last record taken into a batch.
  uint64_t last_seq() const { return last_seq_; }
  // See Tickets. Any thread.
  uint64_t acked_ticket() const { return acked_ticket_.load(std::memory_order_acquire); }
  bool streaming() const { return streaming_.load(std::memory_order_acquire); }
  // Whether a record with `ticket` needs no more waiting for: acknowledged, discarded, or the
  // peer is not streaming (down peers are not waited for). Any thread.
  bool Settled(uint64_t ticket) const {
    return !streaming() || dropped() || acked_ticket() >= ticket;
  }
  // Whether records were discarded (a drop) since the last call: the peer then misses writes
  // that only a full resync gives it back. Any thread.
  bool TakeLost() { return lost_.exchange(false, std::memory_order_acq_rel); }
  // How many times the stream was dropped: a move whose records a drop discarded sends them
  // again (docs/design/partitioning.md). Any thread.
  uint64_t drops() const { return drops_.load(std::memory_order_acquire); }
  // Whether the peer's echoes vouch for it now (its link's lease: see peer_link.h). Any thread.
  bool Live() const { return SteadyMillis() <= live_until_ms_.load(std::memory_order_relaxed); }
  void SetLiveUntil(int64_t ms) { live_until_ms_.store(ms, std::memory_order_relaxed); }
  // The replication thread's link says whether it streams to the peer.
  void SetStreaming(bool streaming) { streaming_.store(streaming, std::memory_order_release); }

 private:
  void SetBacklog(size_t bytes) REQUIRES(mu_) {
    backlog_ = bytes;
    backlog_bytes_.store(bytes, std::memory_order_relaxed);
  }

  // Raises acked_ticket_ to `ticket`, never lowering it.
  void AdvanceAcked(uint64_t ticket);

  const size_t backlog_limit_;
  Mutex mu_;
  std::string open_ GUARDED_BY(mu_);  // records appended since the last TakeBatch
  uint64_t open_records_ GUARDED_BY(mu_) = 0;
  int64_t open_since_ms_ GUARDED_BY(mu_) = 0;
  size_t backlog_ GUARDED_BY(mu_) = 0;  // invariant 1
  bool dropped_ GUARDED_BY(mu_) = false;
  std::atomic<size_t> backlog_bytes_{0};   // backlog_, for readers without the lock
  std::atomic<bool> dropped_flag_{false};  // dropped_, likewise
  uint64_t appended_ GUARDED_BY(mu_) = 0;  // the last ticket given
  std::atomic<uint64_t> acked_ticket_{0};
  std::atomic<bool> streaming_{false};
  std::atomic<bool> lost_{false};
  std::atomic<uint64_t> drops_{0};
  std::atomic<int64_t> live_until_ms_{0};
  // Replication thread only.
  std::deque<Batch> unacked_;
  uint64_t last_seq_ = 0;
};

}  // namespace mnemo::replication
