// SyncWait is what one client write waits for under -o replication=sync before it is answered:
// for each peer its records were appended to, the ticket of its last record there (PeerStream,
// "Tickets"). It is settled once every one of those peers acknowledged its record (MN), or
// stopped streaming (a peer that is down is not waited for), or had its stream dropped.
//
// Thread safety: none; a wait belongs to one session, on its worker's thread. The streams it
// points to live as long as the server (Replication keeps them), and Settled() reads only their
// atomics.
#pragma once

#include <cstdint>
#include <vector>

#include "replication/peer_stream.h"

namespace mnemo::replication {

class SyncWait {
 public:
  // Notes that a record with `ticket` was appended to `stream`.
  void Add(const PeerStream* stream, uint64_t ticket) {
    for (Entry& entry : entries_) {
      if (entry.stream == stream) {
        entry.ticket = ticket > entry.ticket ? ticket : entry.ticket;
        return;
      }
    }
    entries_.push_back({stream, ticket});
  }
  void Clear() { entries_.clear(); }
  bool empty() const { return entries_.empty(); }
  bool Settled() const {
    for (const Entry& entry : entries_) {
      if (!entry.stream->Settled(entry.ticket)) return false;
    }
    return true;
  }

  // When the write gives up waiting (SteadyMillis).
  int64_t deadline_ms = 0;

 private:
  struct Entry {
    const PeerStream* stream;
    uint64_t ticket;
  };
  std::vector<Entry> entries_;
};

}  // namespace mnemo::replication
