// InboundLink is the receiving side's standing of one peer's replication link: current until the
// same peer opens another link, superseded from then on.
//
// Why: a peer that drops its stream to this node (a backlog overflow, a lag past
// repl_lag_max_ms while this node was stalled) closes the connection, but what it had written
// before is still in the sockets' buffers, and this node reads it when it runs again, possibly
// after a full resync's flush. Those records are older than what the resync brings, and the
// writes that followed them (a delete, say) were dropped with the stream: applied, they would
// bring back a value that is no longer current. A peer writes its stream on one connection at a
// time and closes the old one before it opens the next, so once a newer link of the same peer has
// introduced itself, nothing more of the old one may be applied.
//
// Invariant: once Supersede() has returned, no BeginApply() of this link returns true, and no
// apply bracketed by one is still running (the two are ordered as Dekker's flags are: a store
// then a load on each side, both sequentially consistent).
// Thread safety: BeginApply/EndApply from the worker serving the link; Supersede from the worker
// that opened the newer one, never while it holds a lock the applying worker may need.
#pragma once

#include <atomic>
#include <thread>

namespace mnemo::replication {

class InboundLink {
 public:
  // Brackets the apply of one of the link's records: false (and nothing to end) once superseded.
  bool BeginApply() {
    applying_.fetch_add(1);
    if (!superseded_.load()) return true;
    applying_.fetch_sub(1);
    return false;
  }
  void EndApply() { applying_.fetch_sub(1); }
  bool superseded() const { return superseded_.load(std::memory_order_relaxed); }

  // A newer link of the same peer opened: waits out an apply in progress (one record).
  void Supersede() {
    superseded_.store(true);
    while (applying_.load() != 0) std::this_thread::yield();
  }

 private:
  std::atomic<bool> superseded_{false};
  std::atomic<int> applying_{0};
};

}  // namespace mnemo::replication
