// LeaseFence is the receiving side's check, on one peer's replication link, that no record of the
// peer is applied after the lease it was sent under ran out (docs/design/replication.md, "Rejoin
// without stale reads").
//
// Why: a node whose lease lapsed (stalled, cut off) may have been written around meanwhile: the
// proxy ejected it and sent the writes of its keys to this node. The sender discards what its
// streams held once it finds the lapse, but a stall can fall between its last check of the lease
// and the write of a batch (the process stopped inside that window): on resuming it sends
// records older than the writes this node took since. So the sender states, before the records
// it writes from a batch boundary, the lease they go out under, in its own clock:
// "mn_peer lease <now> <until>". This node maps `until` to its own clock and refuses the records
// that it reads past it, if it took writes of other nodes' keys since the link opened (only then
// can one be newer; server/session.cc); the link is closed, and what the sender still holds goes
// out on its next link under a lease checked again (a sender that found its lapse discards it
// instead).
//
// Mapping clocks: a line read here at `here` was sent at `now` in the peer's clock, so
// here - now is at least the offset between the clocks (plus the line's delay). The least of the
// recent lines' differences bounds the offset from above, so `until` + that least difference is
// no earlier, here, than the moment the peer's lease really ended: a record refused was read after
// it. (The recent lines only: two machines' clocks drift apart over hours.) A record that waited
// here that long (this node slow to read) is refused too; the cost is a reconnection, and the
// sender sends it again under its current lease.
//
// A line with `until` 0 sets no bound: the records of a node that caught up after a lapse and
// has no lease yet, or of a returning node (its markers), are newer than anything it may have
// been written around with.
//
// Thread safety: none; the worker serving the link.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

namespace mnemo::replication {

class LeaseFence {
 public:
  // The peer's line "mn_peer lease <peer_now_ms> <peer_until_ms>" (its steady clock), read at
  // `here_ms` (this node's).
  void NoteLease(int64_t here_ms, int64_t peer_now_ms, int64_t peer_until_ms) {
    offsets_[next_] = here_ms - peer_now_ms;
    next_ = (next_ + 1) % kSamples;
    count_ = std::min(count_ + 1, kSamples);
    const int64_t offset = *std::min_element(offsets_.begin(), offsets_.begin() + count_);
    until_here_ms_ = peer_until_ms == 0 ? 0 : peer_until_ms + offset;
  }
  // Whether a record read at `here_ms` comes after the lease the peer sent it under.
  bool Expired(int64_t here_ms) const { return until_here_ms_ != 0 && here_ms > until_here_ms_; }

 private:
  static constexpr size_t kSamples = 32;
  std::array<int64_t, kSamples> offsets_{};
  size_t next_ = 0;
  size_t count_ = 0;
  int64_t until_here_ms_ = 0;  // 0: no bound
};

}  // namespace mnemo::replication
