// SyncWait is what one client write waits for under -o replication=sync before it is answered:
// for each peer its records were appended to, the ticket of its last record there (PeerStream,
// "Tickets"). It is settled once every one of those peers acknowledged its record (MN), or
// stopped streaming (a peer that is down is not waited for), or had its stream dropped. Without
// sync, a write taken for a key whose owner is another node waits for the owner alone while the
// owner is live (docs/design/replication.md: forwarded synchronously, so that an owner back from
// a stall never misses a write acknowledged elsewhere once it serves).
//
// Thread safety: none; a wait belongs to one session, on its worker's thread. The streams it
// points to live as long as the server (Replication keeps them), and Settled() reads only their
// atomics.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "replication/peer_stream.h"

namespace mnemo::replication {

class SyncWait {
 public:
  // Notes that a record with `ticket` was appended to `stream`. `forward`: a write forwarded to
  // the key's owner, waited for only while the owner's echoes say it is live (Live()).
  void Add(const PeerStream* stream, uint64_t ticket, bool forward = false) {
    for (Entry& entry : entries_) {
      if (entry.stream == stream) {
        entry.ticket = ticket > entry.ticket ? ticket : entry.ticket;
        entry.forward = entry.forward && forward;
        return;
      }
    }
    entries_.push_back({stream, ticket, forward});
  }
  // The write cannot be vouched for (it ran across a lapse of this node's lease, and the node
  // drops it): it never settles, and is answered as timed out.
  void Refuse() { refused_ = true; }
  void Clear() {
    entries_.clear();
    refused_ = false;
  }
  bool empty() const { return entries_.empty() && !refused_; }
  bool Settled() const {
    return !refused_ && std::ranges::all_of(entries_, [](const Entry& entry) {
      return entry.stream->Settled(entry.ticket) || (entry.forward && !entry.stream->Live());
    });
  }

  // When the write gives up waiting (SteadyMillis).
  int64_t deadline_ms = 0;

 private:
  struct Entry {
    const PeerStream* stream;
    uint64_t ticket;
    bool forward;
  };
  std::vector<Entry> entries_;
  bool refused_ = false;
};

}  // namespace mnemo::replication
