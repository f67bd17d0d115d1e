// Replication keeps copies of each key on the other members of its replica set
// (docs/design/replication.md; docs/cluster.md, "Replicas"). It is both sides of it on one node:
//
//  - Sending: as the cache's ChangeObserver it encodes each change a client makes (RecordEncoder)
//    and appends it, under the key's stripe lock, to the PeerStream of every other member of the
//    key's replica set (cluster::ReplicaPlacement), or of every peer for a flush; a replication
//    thread, with its own event loop, writes the streams to the peers (PeerLink). A worker never
//    waits for a peer: a stream is bounded, and dropped when full or too far behind.
//  - Receiving: a peer's connection introduces itself with mn_peer (Session); its records are then
//    applied through the ordinary dispatchers with the observer suppressed, and this node counts,
//    per peer and per run of that peer, how many it applied (OpenPeer, NoteApplied), so that a
//    link that reconnects resumes where the peer stopped.
//
// The node list is read at Create and again at each Reload (SIGHUP): links to nodes no longer
// listed close, links to new ones open. A topology, once published, is never freed while the
// server runs (workers read it without a lock); a reload adds one.
//
// A reload that changes the list starts a move (docs/design/partitioning.md), with any number of
// replicas, 1 included: the replication thread walks the cache at -o move_rate_keys and sends
// each item, as a copy record, to the nodes that hold its key under the new ring and did not
// under the old one, then a marker (mn_peer moved <fingerprint>) to every peer; once each peer
// acknowledged its marker it drops the keys it no longer holds. Meanwhile client writes of keys
// another node now owns are forwarded to it, and a node that gains keys applies a copy only if
// nothing else changed its key here since the move began (MoveGuard). A node that finds itself
// no longer in the list (a leave) sends everything and drops everything. Moves are never freed
// while the server runs either.
//
// Invariants:
//  (1) A record of a key reaches each peer in the order the key's changes were applied here (the
//      append happens under the stripe lock, and a stream is written in order).
//  (2) Only client changes are sent: a change applied from a peer is made through a suppressed
//      context (storage::Cache::SuppressChanges) and never reaches OnChange.
// Lock order: a key's stripe lock, then a PeerStream's mutex; topology_mu_ and ledger_mu_ are
// leaves, never taken under a stripe lock.
// Thread safety: OnChange from any worker; OpenPeer, NoteApplied, Stats from any thread; Start,
// Stop and Reload from the main thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "cluster/node_list.h"
#include "cluster/replica_placement.h"
#include "cluster/ring_change.h"
#include "net/event_loop.h"
#include "replication/inbound_link.h"
#include "replication/move_guard.h"
#include "replication/peer_link.h"
#include "replication/peer_stream.h"
#include "replication/replication_counters.h"
#include "replication/sync_wait.h"
#include "storage/cache.h"
#include "storage/change_observer.h"

namespace mnemo::replication {

struct ReplicationOptions {
  std::string cluster_file;  // -o cluster_file: the node list
  std::string cluster_self;  // -o cluster_self: which entry this node is; empty: by port
  uint16_t port = 0;         // -p, to find this node without cluster_self
  size_t replicas = 1;       // -o replicas: copies of each key, the owner's included
  size_t backlog_bytes = size_t{64} << 20;  // -o repl_backlog_mb, per peer
  int64_t lag_max_ms = 5000;                // -o repl_lag_max_ms
  bool sync = false;                        // -o replication=sync
  int64_t timeout_ms = 1000;                // -o repl_timeout_ms
  int64_t lease_ms = 200;                   // -o repl_lease_ms
  int64_t resync_max_ms = 2000;             // -o repl_resync_max_ms
  // -o cluster_previous: the node list before this node joined; a node started with it receives
  // a move from its previous holders (empty: none).
  std::string cluster_previous;
  int64_t move_rate_keys = 50000;  // -o move_rate_keys: items a move's walk visits per second
  int64_t move_max_ms = 120000;    // -o move_max_ms: a move's longest wait for its peers
};

class Replication final : public storage::ChangeObserver {
 public:
  // Reads the node list and finds this node in it; an error says what is wrong with either.
  static Result<std::unique_ptr<Replication>> Create(const ReplicationOptions& options);
  ~Replication();

  // storage::ChangeObserver: appends the change's record to the streams of the key's replica set.
  void OnChange(const storage::Change& change) override;

  // Starts the replication thread. With replicas 1 it sends nothing but moves.
  Status Start();
  // Stops and joins it; the links close. Idempotent.
  void Stop();
  // SIGHUP: reads the node list again. On error, keeps the current one and says why.
  Status Reload();

  // The receiving side. A peer named `name`, in its run `run_id`, opened a link: supersedes the
  // peer's previous link (inbound_link.h; waits out a record it is applying), and returns the
  // new link with how many of the peer's records this node applied in that run (0 for a run it
  // does not know).
  struct OpenedPeer {
    std::shared_ptr<InboundLink> link;
    uint64_t applied = 0;
  };
  OpenedPeer OpenPeer(std::string_view name, std::string_view run_id) EXCLUDES(ledger_mu_);
  // `link` of `name`'s run `run_id` has applied `applied` records in all; ignored once the link
  // is superseded (a newer link counts from where it resumed).
  void NoteApplied(std::string_view name, std::string_view run_id, const InboundLink& link,
                   uint64_t applied) EXCLUDES(ledger_mu_);

  // Sync replication (-o replication=sync; see sync_wait.h). While `wait` is set (on a worker's
  // thread, around one client command), OnChange on this thread notes in it each record it
  // appends (async: only its record to the key's owner, when that is another node); null stops.
  void CollectSyncWait(SyncWait* wait);
  bool sync() const { return options_.sync && options_.replicas > 1; }
  bool replicates() const { return options_.replicas > 1; }
  int64_t timeout_ms() const { return options_.timeout_ms; }
  // How many client writes wait (the workers add and remove theirs); while any does, the
  // replication thread calls every waker after each round with an acknowledgement and at each
  // tick, so that the workers check their waits and their deadlines.
  void AddSyncWaiters(int64_t delta) { sync_waiters_.fetch_add(delta, std::memory_order_relaxed); }
  // Registers a worker's wake-up; before Start. The callbacks must stay callable until Stop.
  void AddWaker(std::function<void()> wake) { wakers_.push_back(std::move(wake)); }
  // On a worker's thread, OnChange does not wake the replication thread itself: it notes the
  // wake, and the worker calls FlushDeferredWake at the end of each round and tick, so that one
  // wake takes what a round appended (a pipelined client's sets would each wake it).
  static void DeferWakesOnThisThread();
  void FlushDeferredWake();
  void CountSyncTimeout() { ReplicationCounters::Add(counters_.sync_timeouts); }

  // Rejoin (docs/design/replication.md, "Rejoin without stale reads"). Whether client requests
  // must wait: this node is returning (it started, or found its lease lapsed: then it becomes
  // returning now) and has not caught up with its live peers yet. Any thread; cheap.
  bool HoldsClients();
  // Moves when the lease lapses (a stall, a partition); a start is no lapse. A client connection
  // taken before may hold requests that waited through the lapse, writes the proxy already gave
  // up on (it answered the client an error): applied now, they would replace newer values
  // written elsewhere, so such a connection is closed unserved (Session). That includes the
  // connections the kernel completed during the stall, still in the listen queue when the lapse
  // is found: `drain` (set before Start) is called with the new count on the thread that found
  // the lapse, before the count moves (meanwhile every client waits), to accept everything
  // queued under the count from before, and tag what is accepted from then on with the new one.
  uint64_t lapses() const { return lapses_.load(std::memory_order_acquire); }
  // When this node last took a client's write of a key another node owns (SteadyMillis; 0:
  // never): in place of an owner the proxy routed around, or for one it forwards to. Only then
  // may a peer's late records land over a newer write (replication/lease_fence.h).
  int64_t wrote_in_place_ms() const { return wrote_in_place_ms_.load(std::memory_order_relaxed); }
  void SetAcceptDrainer(std::function<void(uint64_t lapses)> drain) {
    drain_accepts_ = std::move(drain);
  }
  // The cache, for the items a full resync streams to a returning peer. Before Start.
  void SetCache(storage::Cache* cache) { cache_ = cache; }
  // The serving side of a rejoin, on the link of peer `name`: it asks (mn_peer sync <token>
  // <full|partial>) to be told when it has everything queued for it so far. Appends to its
  // stream every item of its replica sets if it asked for full (each under its stripe lock),
  // then the marker mn_peer synced <token>, with " lost" if it asked for partial and the stream
  // lost records since the last request (it must start a full round). Ignored while the stream
  // is dropped (the peer asks again).
  void OnSyncRequest(std::string_view name, uint64_t token, bool full);
  // The marker came back on the link of peer `name`; `lost`: the peer's stream to this node lost
  // records, so the round must be a full one.
  void NoteSynced(std::string_view name, uint64_t token, bool lost) EXCLUDES(ledger_mu_);

  // Moves (docs/design/partitioning.md). The receiving side: a copy record of the move to the
  // node list `move_fingerprint` names arrived on a peer's link. Stores it through `context` (the
  // caller's own, its changes suppressed) unless the move's guard refuses it, and takes it out
  // again if the key changed meanwhile; drops it if it came after this node's move to that list
  // stopped receiving.
  void ApplyCopy(storage::Cache::Context& context, std::string_view key, bool key_binary,
                 std::string_view value, uint32_t flags, int64_t expires_at,
                 uint64_t move_fingerprint);
  // An ordinary record of `key` from a peer, or a client's delete, is about to be applied
  // (NotePeerFlush: a flush_all): no copy of it is applied after it while a move receives.
  void NotePeerChange(std::string_view key);
  void NotePeerFlush();
  // Peer `name` has sent this node everything of the move to the ring `fingerprint` names
  // (mn_peer moved <fingerprint>).
  void NoteMoved(std::string_view name, uint64_t fingerprint) EXCLUDES(ledger_mu_);
  // Whether a move runs on this node: it sends, or it waits for its peers' copies.
  bool Moving() const;
  // Read-through (docs/design/partitioning.md): a client command's wait for the keys it asked
  // that this node gained in the move and does not hold yet, each fetched from the key's
  // previous owner. The replication thread counts each answered (or failed) fetch down.
  struct FetchTicket {
    std::atomic<int> pending{0};
  };
  // Whether a miss may be fetched now: a move brings this node keys. Any thread; cheap.
  bool ReadsThrough() const;
  // If this node gained `key` in the move, holds no version of it (looked up through
  // `context`) and the move's guard allows a copy, asks the key's previous owner for it on
  // `ticket`'s behalf (ticket->pending counts it) and returns true. Any worker.
  bool FetchIfGained(storage::Cache::Context& context, std::string_view key,
                     const std::shared_ptr<FetchTicket>& ticket) EXCLUDES(fetch_mu_);

  // This process's run id: random, new at each start.
  const std::string& run_id() const { return run_id_; }
  // This node's CAS tag (storage::CacheOptions::cas_tag): its index in the node list read at
  // Create, modulo 255, plus 1. Two nodes' tags differ unless their indexes differ by a multiple
  // of 255, so in a cluster of up to 255 nodes no two nodes issue the same CAS.
  uint8_t cas_tag() const { return cas_tag_; }
  ReplicationStats Stats() const;

 private:
  // One reading of the node list: the placement, and the stream of each node but this one.
  struct Topology {
    Topology(cluster::NodeList list_in, size_t self_in, cluster::ReplicaPlacement placement_in)
        : list(std::move(list_in)), self(self_in), placement(std::move(placement_in)) {}
    cluster::NodeList list;
    size_t self;               // list.nodes.size(): this node is not in the list (it left it)
    uint64_t fingerprint = 0;  // of the list: a move's marker and copies name it
    cluster::ReplicaPlacement placement;
    std::vector<PeerStream*> streams;  // per node; null for this node
  };
  class Thread;

  // One change of the ring, as this node runs it (see above).
  struct Move {
    Move(const Topology* before_in, const Topology* after_in, int64_t now_ms,
         std::shared_ptr<MoveGuard> guard_in);
    const Topology* before;
    const Topology* after;
    cluster::RingChange change;
    uint64_t fingerprint;  // of after's list: the marker's
    int64_t started_ms;
    // The last copy or marker of a previous holder while receiving (at first, started_ms).
    std::atomic<int64_t> heard_ms;
    // Shared with the move that follows it while it still receives; closed when receiving
    // ends.
    std::shared_ptr<MoveGuard> guard;
    // Until every node of `before` but this one sent its marker, or move_max_ms passed without
    // a copy or a marker.
    std::atomic<bool> receiving{false};
    // Until this node's walk was acknowledged by every peer and its lost keys dropped.
    std::atomic<bool> sending{true};
    Mutex mu;
    std::set<std::string, std::less<>> senders_left GUARDED_BY(mu);  // by name
  };

  explicit Replication(ReplicationOptions options);
  // Reads the node list; `previous`: reads -o cluster_previous instead, and publishes nothing.
  Status Load() EXCLUDES(topology_mu_);
  Result<std::unique_ptr<Topology>> ReadTopology(const std::string& path, bool previous);
  void StartMove(const Topology* before, const Topology* after) EXCLUDES(topology_mu_, ledger_mu_);
  // Drops `senders` that already sent their marker for `move`; ends its receiving if none is left.
  void StopReceivingIfDone(Move& move) EXCLUDES(ledger_mu_);
  // Whether this node has read the node list `fingerprint` names (as its own, or as the list
  // before it joined).
  bool HasRead(uint64_t fingerprint) const EXCLUDES(topology_mu_);
  // Stores a value fetched for a miss: as ApplyCopy, but only where the key is absent (a copy
  // or a write may have come first).
  void StoreFetched(storage::Cache::Context& context, Move& move, std::string_view key,
                    std::string_view value, uint32_t flags, int64_t ttl);
  // Read-through requests the workers queued for the replication thread.
  struct PendingFetch {
    Move* move;
    uint32_t owner;  // index in move->before
    std::string key;
    std::shared_ptr<FetchTicket> ticket;
  };
  Mutex fetch_mu_;
  std::vector<PendingFetch> fetches_ GUARDED_BY(fetch_mu_);
  // Says so once neither side of `move` runs any more.
  static void NoteMoveEnd(const Move& move);
  // Whether the streams should carry moves or replication at all: links exist only then.
  bool Links() const { return replicates() || Moving(); }
  void Wake();
  // Wake, or, on a thread that defers them, owed until its FlushDeferredWake.
  void WakeForChange();

  const ReplicationOptions options_;
  const std::string run_id_;
  std::string self_name_;  // this node's ketama name, found at Create
  uint8_t cas_tag_ = 0;    // set by Create
  ReplicationCounters counters_;
  std::atomic<const Topology*> topology_{nullptr};
  mutable Mutex topology_mu_;  // taken by Load and by the thread when it follows a reload
  std::vector<std::unique_ptr<Topology>> topologies_ GUARDED_BY(topology_mu_);
  std::atomic<Move*> move_{nullptr};  // the latest move; null before the first
  std::vector<std::unique_ptr<Move>> moves_ GUARDED_BY(topology_mu_);
  // Streams by peer ("name address"), kept for the life of the server.
  std::map<std::string, std::unique_ptr<PeerStream>> streams_ GUARDED_BY(topology_mu_);
  std::atomic<bool> wake_pending_{false};
  std::atomic<int64_t> sync_waiters_{0};
  // Rejoin: returning_ while catching up, in round sync_token_; the lease the peers' echoes last
  // vouched for (0: none since the last return); whether this round asks for a full resync.
  void StartReturning(bool full);
  // The last marker peer `name` sent back; 0: none.
  uint64_t Synced(std::string_view name) EXCLUDES(ledger_mu_);
  void WakeWorkers();
  // Drops every item (unobserved): a full resync sends them again.
  void FlushForFullResync();
  std::atomic<bool> full_again_{false};
  // A lapse was found and the replication thread has not yet discarded what its streams held
  // from before it (PeerLink::DiscardStale); meanwhile no link writes records (RecordsLease).
  std::atomic<bool> discard_streams_{false};
  // What the links may write (LinkContext::records_lease): kHoldRecords while discard_streams_,
  // else the lease to state to the peers (0: none).
  int64_t RecordsLease();
  std::atomic<uint64_t> lapses_{0};  // moved when a lapse is found
  std::atomic<int64_t> wrote_in_place_ms_{0};
  std::atomic<bool> returning_{false};
  std::atomic<uint64_t> sync_token_{0};
  std::atomic<bool> sync_full_{false};
  std::atomic<int64_t> returning_since_ms_{0};
  std::atomic<int64_t> lease_until_ms_{0};
  storage::Cache* cache_ = nullptr;
  std::vector<std::function<void()>> wakers_;    // set before Start, then read by the thread
  std::function<void(uint64_t)> drain_accepts_;  // likewise
  std::unique_ptr<Thread> thread_;

  Mutex ledger_mu_;
  struct Applied {
    std::string run_id;
    uint64_t count = 0;
    std::shared_ptr<InboundLink> link;  // the peer's current link
  };
  std::map<std::string, Applied, std::less<>> ledger_ GUARDED_BY(ledger_mu_);
  std::map<std::string, uint64_t, std::less<>> synced_ GUARDED_BY(ledger_mu_);  // by peer name
  // The last mn_peer moved fingerprint each peer sent, by name (it may come before this node's
  // own reload).
  std::map<std::string, uint64_t, std::less<>> moved_ GUARDED_BY(ledger_mu_);
};

}  // namespace mnemo::replication
