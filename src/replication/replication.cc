#include "replication/replication.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <random>
#include <utility>

#include "base/logging.h"
#include "replication/fetch_link.h"
#include "replication/record_encoder.h"

namespace mnemo::replication {
namespace {

// The replication thread's tick: how often it checks lag and retries connections.
constexpr int kTickMillis = 20;
// A returning node asks a live peer that has not answered for its marker again this often.
constexpr int64_t kAskAgainMs = 300;
constexpr size_t kMaxReplicas = cluster::ReplicaPlacement::kMaxReplicas;
// A worker keeps a record buffer up to this size between changes; a larger one is given back.
constexpr size_t kKeptRecordCapacity = size_t{64} << 10;

std::string NewRunId() {
  std::random_device random;
  const uint64_t id = (uint64_t{random()} << 32) ^ random();
  char text[17];
  std::snprintf(text, sizeof(text), "%016" PRIx64, id);
  return text;
}

// The wait the current thread's client command collects into (CollectSyncWait); null: none.
thread_local SyncWait* collecting = nullptr;

std::string StreamKey(const cluster::ClusterNode& node) {
  return node.server.name + " " + node.address.host + ":" + std::to_string(node.address.port);
}

// A move's progress line comes this often.
constexpr int64_t kMoveProgressMs = 5000;
// Items a move's walk visits per step at most, and a drop of moved keys per tick.
constexpr size_t kMoveWalkStep = 256;
constexpr size_t kMoveDropPerTick = 20000;

// Names a node list, as the marker of a move to it does: FNV-1a of its entries, in 62 bits (a
// marker's number is read as at most 19 digits).
uint64_t Fingerprint(const cluster::NodeList& list) {
  uint64_t hash = 14695981039346656037ULL;
  const auto mix = [&hash](std::string_view text) {
    for (const char c : text) {
      hash ^= static_cast<unsigned char>(c);
      hash *= 1099511628211ULL;
    }
  };
  for (const cluster::ClusterNode& node : list.nodes) {
    mix(node.server.name);
    mix(" " + std::to_string(node.server.weight) + " " + node.address.host + ":" +
        std::to_string(node.address.port) + "\n");
  }
  return hash & ((uint64_t{1} << 62) - 1);
}

// Appends the copy record of each item it is shown to the streams of the key's gainers, under the
// item's stripe lock, so that it cannot pass a newer write of the same key (which the write's
// forwarding appends to the same streams).
class CopySink final : public storage::ItemSink {
 public:
  // The next item's key form, and the fingerprint of the move it is copied for.
  void Reset(bool key_binary, uint64_t move) {
    streams_count_ = 0;
    key_binary_ = key_binary;
    move_ = move;
  }
  void AddStream(PeerStream* stream) { streams_[streams_count_++] = stream; }
  size_t sent() const { return sent_; }
  void OnItem(const storage::ItemView& item) override {
    storage::Change change;
    change.kind = storage::ChangeKind::kStore;
    change.key = item.key();
    change.key_binary = key_binary_;
    change.item = &item;
    const int64_t ttl = item.ttl_remaining();
    change.expires_at = ttl < 0 ? 0 : static_cast<int64_t>(std::time(nullptr)) + ttl;
    record_.clear();
    if (!AppendCopyRecord(change, move_, &record_)) return;
    for (size_t i = 0; i < streams_count_; ++i) {
      if (streams_[i]->Append(record_) != PeerStream::AppendResult::kIgnored) ++sent_;
    }
  }

 private:
  PeerStream* streams_[cluster::ReplicaPlacement::kMaxReplicas] = {};
  size_t streams_count_ = 0;
  bool key_binary_ = false;
  uint64_t move_ = 0;
  size_t sent_ = 0;
  std::string record_;
};

}  // namespace

// The replication thread: its event loop, and a link per peer of the current topology.
class Replication::Thread final : private net::EventLoop::Observer {
 public:
  Thread(Replication& owner, std::unique_ptr<net::EventLoop> loop)
      : owner_(owner),
        loop_(std::move(loop)),
        context_{*loop_,
                 owner.counters_,
                 {},
                 owner.options_.lag_max_ms,
                 owner.options_.lease_ms,
                 [this] { return owner_.RecordsLease(); }} {}

  net::EventLoop& loop() { return *loop_; }

  void Start() {
    thread_ = std::thread([this] {
      if (owner_.cache_ != nullptr) {
        cache_context_ = owner_.cache_->NewContext();
        owner_.cache_->SuppressChanges(*cache_context_, true);  // a move's drops are not sent
      }
      Follow();
      loop_->Run(*this, kTickMillis);
      links_.clear();  // closes their sockets
      fetch_links_.clear();
      cache_context_.reset();
    });
  }
  void Stop() {
    if (!thread_.joinable()) return;
    loop_->Stop();
    thread_.join();
  }

 private:
  void OnWake() override {
    owner_.wake_pending_.store(false, std::memory_order_relaxed);
    Follow();
    TakeFetches();
    PollAll();
  }

  // Hands the workers' read-through requests to a link to each key's previous owner.
  void TakeFetches() {
    std::vector<Replication::PendingFetch> fetches;
    {
      MutexLock lock(owner_.fetch_mu_);
      fetches.swap(owner_.fetches_);
    }
    for (Replication::PendingFetch& fetch : fetches) {
      if (fetch.move != fetch_move_) {
        fetch_links_.clear();  // answers what they held a miss
        fetch_move_ = fetch.move;
      }
      std::unique_ptr<FetchLink>& link = fetch_links_[fetch.owner];
      if (link == nullptr) {
        link = std::make_unique<FetchLink>(
            *loop_, fetch.move->before->list.nodes[fetch.owner].address,
            [this](uint64_t tag, std::string_view key, const FetchLink::Answer& answer) {
              OnFetched(tag, key, answer);
            });
      }
      const uint64_t tag = next_fetch_tag_++;
      fetch_tickets_.emplace(tag, std::make_pair(fetch.move, std::move(fetch.ticket)));
      link->Ask(tag, fetch.key);
    }
  }

  void OnFetched(uint64_t tag, std::string_view key, const FetchLink::Answer& answer) {
    auto it = fetch_tickets_.find(tag);
    if (it == fetch_tickets_.end()) return;
    auto [move, ticket] = std::move(it->second);
    fetch_tickets_.erase(it);
    if (answer.hit && cache_context_ != nullptr) {
      owner_.StoreFetched(*cache_context_, *move, key, answer.value, answer.flags, answer.ttl);
    }
    ticket->pending.fetch_sub(1, std::memory_order_acq_rel);
    // The waiting sessions look again at the end of the round (WakeSyncWaiters).
  }
  bool OnRoundEnd() override {
    WakeSyncWaiters();
    return false;
  }
  void OnTick() override {
    Follow();  // a move may have started since the last reload
    StepMove(SteadyMillis());
    PollAll();
    WakeSyncWaiters();
  }

  // While client writes wait (sync), their workers look again: an MN may have come, a link may
  // have closed, or a deadline passed.
  void WakeSyncWaiters() {
    if (owner_.sync_waiters_.load(std::memory_order_relaxed) <= 0) return;
    for (const std::function<void()>& wake : owner_.wakers_) wake();
  }

  // Opens links to the peers of the current topology, and closes those to nodes it left out.
  void Follow() {
    const Topology* topology = owner_.topology_.load(std::memory_order_acquire);
    // With replicas 1 a node links to its peers only once a move needs it.
    const bool linked = linked_ || owner_.Links();
    if (topology == followed_ && linked == linked_) return;
    followed_ = topology;
    linked_ = linked;
    context_.handshake = "mn_peer " + owner_.self_name_ + " " + owner_.run_id_ + " 0\r\n";
    std::map<std::string, std::unique_ptr<PeerLink>> links;
    for (size_t i = 0; i < topology->list.nodes.size() && linked; ++i) {
      if (i == topology->self) continue;
      const cluster::ClusterNode& node = topology->list.nodes[i];
      const std::string key = StreamKey(node);
      auto kept = links_.find(key);
      if (kept != links_.end()) {
        links.emplace(key, std::move(kept->second));
        links_.erase(kept);
      } else {
        links.emplace(key, std::make_unique<PeerLink>(context_, node.server.name, node.address,
                                                      *topology->streams[i]));
      }
    }
    for (auto& [key, link] : links_) {
      MNEMO_LOG(1, "replication: %s left the node list\n", link->name().c_str());
      link->stream().Drop();  // frees what it holds; a worker of the old topology is ignored
    }
    links_ = std::move(links);
  }

  void PollAll() {
    const int64_t now = SteadyMillis();
    // This thread may be the first to run after a stall: it finds the lapse before any echo of
    // a ping sent since could extend the lease.
    (void)owner_.HoldsClients();
    if (owner_.discard_streams_.load(std::memory_order_acquire)) {
      for (auto& [key, link] : links_) link->DiscardStale(now);
      owner_.discard_streams_.store(false, std::memory_order_release);
    }
    int64_t lag = 0;
    int64_t lease = 0;
    for (auto& [key, link] : links_) {
      lag = std::max(lag, link->Poll(now));
      lease = std::max(lease, link->lease_until_ms());
    }
    owner_.counters_.lag_ms.store(lag, std::memory_order_relaxed);
    // Only a lease still running is published: a lapsed one is for the workers to find (a
    // stall stops this thread too, and it may run first after it).
    if (owner_.replicates() && lease > now && !owner_.returning_.load(std::memory_order_acquire) &&
        lease > owner_.lease_until_ms_.load(std::memory_order_relaxed)) {
      owner_.lease_until_ms_.store(lease, std::memory_order_relaxed);
    }
    if (owner_.returning_.load(std::memory_order_acquire)) CatchUp(now);
  }

  // A returning node asks each live peer for a marker after what it queued for it, and serves
  // again once every live peer's marker came back (or repl_resync_max_ms passed).
  void CatchUp(int64_t now) {
    // StartReturning publishes returning_ before its round (it drains the listen queues first,
    // holding the clients meanwhile), and its token last: until the token moves, the round's
    // kind and start are not yet set, and a request made from them would carry the last round's
    // token and kind. A peer answering such a stale full request would take the loss of its
    // stream to this node (TakeLost) as mended, and the round's own request would then be told
    // nothing was lost.
    if (owner_.sync_token_.load(std::memory_order_acquire) == ended_token_) return;
    if (owner_.full_again_.exchange(false, std::memory_order_acq_rel)) {
      MNEMO_LOG(1,
                "replication: a peer's stream lost records, or a write ran across the lapse: "
                "full resync\n");
      owner_.FlushForFullResync();
      owner_.sync_full_.store(true, std::memory_order_relaxed);
      owner_.sync_token_.fetch_add(1, std::memory_order_acq_rel);
    }
    const uint64_t token = owner_.sync_token_.load(std::memory_order_acquire);
    const bool full = owner_.sync_full_.load(std::memory_order_relaxed);
    const int64_t since = owner_.returning_since_ms_.load(std::memory_order_relaxed);
    bool caught_up = true;
    for (auto& [key, link] : links_) {
      Asked& asked = asked_[key];
      if (owner_.Synced(link->name()) >= token) continue;
      if (link->state() == PeerLink::State::kStreaming) {
        // Asked again now and then: the peer ignores a request while its stream to this node
        // is dropped, and a request dies with its connection.
        if (asked.token != token || now - asked.at_ms >= kAskAgainMs) {
          link->SendControl("mn_peer sync " + std::to_string(token) +
                            (full ? " full" : " partial") + "\r\n");
          asked = {token, now};
        }
        caught_up = false;
      } else if (link->state() != PeerLink::State::kIdle || link->last_attempt_ms() < since) {
        // Still finding out whether it is live. A link that failed before this return (a peer
        // closes a connection that stopped reading during a stall) says nothing about now: it
        // is tried again at once, and counts as down only if that attempt fails.
        link->Retry(now);
        caught_up = false;
      }
    }
    const bool overdue = now - since >= owner_.options_.resync_max_ms;
    if (!caught_up && !overdue) return;
    ended_token_ = token;
    owner_.returning_.store(false, std::memory_order_release);
    std::fprintf(stderr, "replication: %s after %lld ms; serving clients again\n",
                 caught_up ? "caught up with every live peer" : "repl_resync_max_ms passed",
                 static_cast<long long>(now - since));  // NOLINT(google-runtime-int)
    owner_.WakeWorkers();
  }

  // Moves (docs/design/partitioning.md): this node's part of the latest one, a step per tick.
  enum class MovePhase : uint8_t {
    kWalk,  // sending each item to its key's gainers, at move_rate_keys
    kAcks,  // waiting for every peer to acknowledge its marker
    kDrop,  // dropping the keys this node no longer holds
    kDone,
  };
  struct Marker {
    PeerStream* stream;
    uint64_t ticket;
    uint64_t drops;  // the stream's drops when the walk began
    bool acked;
  };

  void StepMove(int64_t now) {
    Replication::Move* move = owner_.move_.load(std::memory_order_acquire);
    if (move == nullptr) return;
    if (move != stepped_) {
      stepped_ = move;
      progress_at_ms_ = now;
      acks_since_ms_ = 0;
      BeginWalk(now);
    }
    // move_max_ms bounds a wait for peers that went silent, not the move: a walk of many items
    // takes longer, and its copies keep coming.
    const int64_t max_ms = owner_.options_.move_max_ms;
    if (now - move->heard_ms.load(std::memory_order_relaxed) >= max_ms &&
        move->receiving.exchange(false, std::memory_order_acq_rel)) {
      move->guard->Close();
      std::fprintf(stderr,
                   "move: move_max_ms passed without a copy or a marker from the previous "
                   "holders: no longer waiting for their keys\n");
      Replication::NoteMoveEnd(*move);
    }
    const bool overdue = acks_since_ms_ != 0 && now - acks_since_ms_ >= max_ms;
    if (phase_ == MovePhase::kDone) return;
    switch (phase_) {
      case MovePhase::kWalk:
        Walk(*move, now);
        break;
      case MovePhase::kAcks:
        AwaitAcks(*move, overdue, now);
        break;
      case MovePhase::kDrop:
        DropLost(*move);
        break;
      case MovePhase::kDone:
        break;
    }
    if (phase_ != MovePhase::kDone && now - progress_at_ms_ >= kMoveProgressMs) {
      progress_at_ms_ = now;
      const ReplicationCounters& counters = owner_.counters_;
      std::fprintf(stderr,
                   "move: %s; %" PRIu64 " keys sent, %" PRId64 " left to walk, %" PRIu64
                   " received, %" PRIu64 " fetched on a miss\n",
                   phase_ == MovePhase::kWalk   ? "walking"
                   : phase_ == MovePhase::kAcks ? "waiting for the peers' acknowledgements"
                                                : "dropping moved keys",
                   counters.move_keys_sent.load(std::memory_order_relaxed),
                   counters.move_keys_remaining.load(std::memory_order_relaxed),
                   counters.move_keys_received.load(std::memory_order_relaxed),
                   counters.move_fetched_on_miss.load(std::memory_order_relaxed));
    }
  }

  void BeginWalk(int64_t now) {
    phase_ = MovePhase::kWalk;
    cursor_ = {};
    budget_ = 0;
    budget_at_ms_ = now;
    walked_ = 0;
    items_at_walk_ = owner_.cache_ == nullptr ? 0 : owner_.cache_->Stats().curr_items;
    owner_.counters_.move_keys_remaining.store(static_cast<int64_t>(items_at_walk_),
                                               std::memory_order_relaxed);
    markers_.clear();
    const Topology& after = *stepped_->after;
    for (size_t i = 0; i < after.list.nodes.size(); ++i) {
      if (i == after.self) continue;
      markers_.push_back({after.streams[i], 0, after.streams[i]->drops(), false});
    }
  }

  // Sends what the budget allows of the walk; at its end, the markers.
  void Walk(Replication::Move& move, int64_t now) {
    const int64_t rate = owner_.options_.move_rate_keys;
    budget_ = std::min<double>(budget_ + static_cast<double>(rate * (now - budget_at_ms_)) / 1000,
                               std::max<double>(static_cast<double>(rate) / 10, kMoveWalkStep));
    budget_at_ms_ = now;
    const Topology& after = *move.after;
    storage::ReadOptions options;
    options.count_access = false;
    options.can_win = false;
    bool wake = false;
    while (owner_.cache_ != nullptr && !cursor_.done && budget_ >= 1) {
      owner_.cache_->Walk(&cursor_, std::min<size_t>(kMoveWalkStep, static_cast<size_t>(budget_)),
                          &batch_);
      budget_ -= static_cast<double>(batch_.items().size());
      walked_ += batch_.items().size();
      uint32_t gainers[kMaxReplicas];
      for (const storage::WalkedItem& item : batch_.items()) {
        const std::string_view key = batch_.key(item);
        // The key's owner under the old ring sends it, not the other holders of a copy: one
        // copy per gainer (and none of a stray item this node was never meant to hold).
        if (move.change.PreviousOwner(key) != move.before->self) continue;
        const size_t count = move.change.Gainers(key, gainers);
        sink_.Reset(item.key_binary, move.fingerprint);
        for (size_t i = 0; i < count; ++i) {
          if (gainers[i] != after.self) sink_.AddStream(after.streams[gainers[i]]);
        }
        if (count == 0) continue;
        const size_t before = sink_.sent();
        (void)owner_.cache_->Get(*cache_context_, key, options, sink_);
        ReplicationCounters::Add(owner_.counters_.move_keys_sent, sink_.sent() - before);
        wake = wake || sink_.sent() != before;
      }
    }
    owner_.counters_.move_keys_remaining.store(
        static_cast<int64_t>(items_at_walk_ > walked_ ? items_at_walk_ - walked_ : 0),
        std::memory_order_relaxed);
    if (cursor_.done || owner_.cache_ == nullptr) {
      owner_.counters_.move_keys_remaining.store(0, std::memory_order_relaxed);
      const std::string record = "mn_peer moved " + std::to_string(move.fingerprint) + "\r\n";
      for (Marker& marker : markers_) (void)marker.stream->Append(record, &marker.ticket);
      phase_ = MovePhase::kAcks;
      if (acks_since_ms_ == 0) acks_since_ms_ = now;  // a walk again does not extend the wait
      wake = true;
      std::fprintf(stderr, "move: walked %zu items; waiting for %zu peers to acknowledge them\n",
                   walked_, markers_.size());
    }
    if (wake) owner_.Wake();
  }

  // Every peer applied everything of the walk once its marker is acknowledged, unless a drop of
  // its stream discarded records: the walk then starts again (once the peer is back: a peer
  // that stays away is waited for until move_max_ms).
  void AwaitAcks(Replication::Move& move, bool overdue, int64_t now) {
    bool all = true;
    bool again = false;
    for (Marker& marker : markers_) {
      if (marker.acked) continue;
      if (marker.ticket == 0) {
        // The stream was dropped when the marker came (and took no copy either): walk again
        // once the peer streams again.
        all = false;
        if (marker.stream->streaming() && !marker.stream->dropped()) again = true;
        continue;
      }
      const bool acked = marker.stream->acked_ticket() >= marker.ticket;
      if (acked && marker.stream->drops() == marker.drops) {
        marker.acked = true;
        continue;
      }
      all = false;
      if (marker.stream->drops() != marker.drops && marker.stream->streaming()) again = true;
    }
    if (all || overdue) {
      if (!all) {
        std::fprintf(stderr,
                     "move: move_max_ms passed before every peer acknowledged the "
                     "move: dropping the moved keys anyway\n");
      }
      phase_ = MovePhase::kDrop;
      cursor_ = {};
      return;
    }
    if (again) {
      std::fprintf(stderr, "move: a peer's stream lost records: walking again\n");
      BeginWalk(now);
    }
    (void)move;
  }

  // Drops (unobserved) every item whose key this node does not hold under the new ring.
  void DropLost(Replication::Move& move) {
    const Topology& after = *move.after;
    const bool left = after.self >= after.list.nodes.size();
    size_t visited = 0;
    while (owner_.cache_ != nullptr && !cursor_.done && visited < kMoveDropPerTick) {
      owner_.cache_->Walk(&cursor_, kMoveWalkStep, &batch_);
      visited += batch_.items().size();
      for (const storage::WalkedItem& item : batch_.items()) {
        const std::string_view key = batch_.key(item);
        if (!left && move.change.Holds(key, static_cast<uint32_t>(after.self))) continue;
        storage::DeleteRequest request;
        request.key = key;
        if (owner_.cache_->Delete(*cache_context_, request) == storage::DeleteResult::kDeleted) {
          ReplicationCounters::Add(owner_.counters_.move_keys_dropped);
        }
      }
    }
    if (owner_.cache_ != nullptr && !cursor_.done) return;
    phase_ = MovePhase::kDone;
    move.sending.store(false, std::memory_order_release);
    std::fprintf(stderr, "move: every peer has its keys; dropped %" PRIu64 " keys%s\n",
                 owner_.counters_.move_keys_dropped.load(std::memory_order_relaxed),
                 left ? "; this node is no longer in the node list and holds nothing: it can be "
                        "stopped"
                      : "");
    Replication::NoteMoveEnd(move);
  }

  Replication& owner_;
  std::unique_ptr<net::EventLoop> loop_;
  LinkContext context_;
  std::unique_ptr<storage::Cache::Context> cache_context_;  // this thread's, suppressed
  Replication::Move* stepped_ = nullptr;
  int64_t acks_since_ms_ = 0;  // when the first walk of stepped_ ended; 0: not yet
  MovePhase phase_ = MovePhase::kDone;
  storage::WalkCursor cursor_;
  storage::WalkBatch batch_;
  CopySink sink_;
  double budget_ = 0;  // items the walk may visit now
  int64_t budget_at_ms_ = 0;
  size_t walked_ = 0;
  uint64_t items_at_walk_ = 0;
  int64_t progress_at_ms_ = 0;
  std::vector<Marker> markers_;
  bool linked_ = false;
  const Topology* followed_ = nullptr;
  // Read-through: a link to each previous owner of the move fetch_move_, and the ticket and move
  // of each request they carry, by tag.
  Replication::Move* fetch_move_ = nullptr;
  std::map<uint64_t, std::pair<Replication::Move*, std::shared_ptr<Replication::FetchTicket>>>
      fetch_tickets_;
  std::map<uint32_t, std::unique_ptr<FetchLink>> fetch_links_;  // after: they answer on closing
  uint64_t next_fetch_tag_ = 1;
  std::map<std::string, std::unique_ptr<PeerLink>> links_;  // by StreamKey
  struct Asked {
    uint64_t token = 0;
    int64_t at_ms = 0;
  };
  std::map<std::string, Asked> asked_;  // by StreamKey: the last sync request on each link
  uint64_t ended_token_ = 0;            // the sync token of the last round CatchUp ended
  std::thread thread_;
};

Replication::Replication(ReplicationOptions options)
    : options_(std::move(options)), run_id_(NewRunId()) {}

Replication::~Replication() { Stop(); }

Result<std::unique_ptr<Replication>> Replication::Create(const ReplicationOptions& options) {
  if (options.replicas < 1 || options.replicas > kMaxReplicas) {
    return Status::Error("replicas must be between 1 and " + std::to_string(kMaxReplicas));
  }
  std::unique_ptr<Replication> replication(new Replication(options));
  Status status = replication->Load();
  if (!status.ok()) return status;
  const Topology* topology = replication->topology_.load();
  replication->cas_tag_ = static_cast<uint8_t>(topology->self % 255 + 1);
  if (!options.cluster_previous.empty()) {
    // A joiner: its previous holders move its keys to it.
    Result<std::unique_ptr<Topology>> previous =
        replication->ReadTopology(options.cluster_previous, /*previous=*/true);
    if (!previous.ok()) return previous.status();
    const Topology* before = previous.value().get();
    {
      MutexLock lock(replication->topology_mu_);
      replication->topologies_.push_back(std::move(previous.value()));
    }
    if (!(before->list == topology->list)) replication->StartMove(before, topology);
  }
  return replication;
}

Result<std::unique_ptr<Replication::Topology>> Replication::ReadTopology(const std::string& path,
                                                                         bool previous) {
  const char* const what = previous ? "cluster_previous: " : "cluster_file: ";
  Result<cluster::NodeList> list = cluster::ReadNodeList(path);
  if (!list.ok()) return Status::Error(what + list.status().message());
  const bool first = self_name_.empty();
  Result<size_t> self = first
                            ? cluster::FindSelf(list.value(), options_.cluster_self, options_.port)
                            : cluster::FindSelf(list.value(), self_name_, 0);
  size_t self_index = list.value().nodes.size();
  if (self.ok()) {
    self_index = self.value();
  } else if (first) {
    return Status::Error(what + self.status().message());
  }
  // Not found after the first reading: the node left the list (or had not joined it yet).
  Result<cluster::ReplicaPlacement> placement =
      cluster::ReplicaPlacement::Create(list.value(), options_.replicas);
  if (!placement.ok()) return placement.status();
  if (first) self_name_ = list.value().nodes[self_index].server.name;
  auto topology =
      std::make_unique<Topology>(std::move(list.value()), self_index, std::move(placement.value()));
  topology->fingerprint = Fingerprint(topology->list);
  return topology;
}

Status Replication::Load() {
  Result<std::unique_ptr<Topology>> read = ReadTopology(options_.cluster_file, false);
  if (!read.ok()) return read.status();
  std::unique_ptr<Topology> topology = std::move(read.value());
  MutexLock lock(topology_mu_);
  for (size_t i = 0; i < topology->list.nodes.size(); ++i) {
    if (i == topology->self) {
      topology->streams.push_back(nullptr);
      continue;
    }
    std::unique_ptr<PeerStream>& stream = streams_[StreamKey(topology->list.nodes[i])];
    if (stream == nullptr) stream = std::make_unique<PeerStream>(options_.backlog_bytes);
    topology->streams.push_back(stream.get());
  }
  topology_.store(topology.get(), std::memory_order_release);
  topologies_.push_back(std::move(topology));
  return Status::Ok();
}

Replication::Move::Move(const Topology* before_in, const Topology* after_in, int64_t now_ms,
                        std::shared_ptr<MoveGuard> guard_in)
    : before(before_in),
      after(after_in),
      change(before_in->list, before_in->placement, after_in->list, after_in->placement),
      fingerprint(after_in->fingerprint),
      started_ms(now_ms),
      heard_ms(now_ms),
      guard(std::move(guard_in)) {}

void Replication::StartMove(const Topology* before, const Topology* after) {
  Move* current = move_.load(std::memory_order_acquire);
  // A change during a move: the keys the first one had not moved yet are still where the ring
  // before it put them, and its copies still in flight are no newer than the changes its guard
  // noted, which the new move keeps.
  std::shared_ptr<MoveGuard> guard;
  if (current != nullptr && (current->sending.load() || current->receiving.load())) {
    before = current->before;
    if (current->receiving.exchange(false, std::memory_order_acq_rel)) guard = current->guard;
  }
  if (guard == nullptr) guard = std::make_shared<MoveGuard>();
  auto move = std::make_unique<Move>(before, after, SteadyMillis(), std::move(guard));
  const bool listed = after->self < after->list.nodes.size();
  {
    MutexLock lock(move->mu);
    for (size_t i = 0; i < before->list.nodes.size() && listed; ++i) {
      const std::string& name = before->list.nodes[i].server.name;
      if (name != self_name_) move->senders_left.insert(name);
    }
  }
  move->receiving.store(listed, std::memory_order_relaxed);
  if (!listed) move->guard->Close();  // this node left the list: it receives nothing
  std::fprintf(stderr,
               "move: the node list changed from %zu to %zu nodes%s: sending each key to its new "
               "holders at up to %lld keys/s\n",
               before->list.nodes.size(), after->list.nodes.size(),
               listed ? "" : " (this node left it)",
               static_cast<long long>(options_.move_rate_keys));  // NOLINT(google-runtime-int)
  Move* published = move.get();
  {
    MutexLock lock(topology_mu_);
    moves_.push_back(std::move(move));
  }
  move_.store(published, std::memory_order_release);
  StopReceivingIfDone(*published);
}

void Replication::StopReceivingIfDone(Move& move) {
  std::vector<std::string> done;
  {
    MutexLock lock(ledger_mu_);
    for (const auto& [name, fingerprint] : moved_) {
      if (fingerprint == move.fingerprint) done.push_back(name);
    }
  }
  bool empty = false;
  {
    MutexLock lock(move.mu);
    for (const std::string& name : done) move.senders_left.erase(name);
    empty = move.senders_left.empty();
  }
  if (empty && move.receiving.exchange(false, std::memory_order_acq_rel)) {
    move.guard->Close();
    std::fprintf(stderr, "move: every previous holder has sent this node its keys\n");
    NoteMoveEnd(move);
  }
}

void Replication::NoteMoveEnd(const Move& move) {
  if (move.sending.load(std::memory_order_acquire) ||
      move.receiving.load(std::memory_order_acquire)) {
    return;
  }
  std::fprintf(stderr, "move: done after %lld ms\n",
               static_cast<long long>(SteadyMillis() - move.started_ms));  // NOLINT
}

void Replication::NoteMoved(std::string_view name, uint64_t fingerprint) {
  {
    MutexLock lock(ledger_mu_);
    moved_[std::string(name)] = fingerprint;
  }
  Move* move = move_.load(std::memory_order_acquire);
  if (move != nullptr && move->fingerprint == fingerprint) {
    move->heard_ms.store(SteadyMillis(), std::memory_order_relaxed);
    StopReceivingIfDone(*move);
  }
}

bool Replication::Moving() const {
  const Move* move = move_.load(std::memory_order_acquire);
  return move != nullptr && (move->sending.load(std::memory_order_acquire) ||
                             move->receiving.load(std::memory_order_acquire));
}

bool Replication::ReadsThrough() const {
  const Move* move = move_.load(std::memory_order_acquire);
  return move != nullptr && move->receiving.load(std::memory_order_acquire);
}

namespace {

// Sees whether a key is present, and nothing else.
class PresenceSink final : public storage::ItemSink {
 public:
  void OnItem(const storage::ItemView&) override {}
};

}  // namespace

bool Replication::FetchIfGained(storage::Cache::Context& context, std::string_view key,
                                const std::shared_ptr<FetchTicket>& ticket) {
  Move* move = move_.load(std::memory_order_acquire);
  if (move == nullptr || !move->receiving.load(std::memory_order_acquire) || thread_ == nullptr ||
      cache_ == nullptr || key.size() > 250 || !TextSafeKey(key)) {
    return false;
  }
  const Topology& after = *move->after;
  if (after.self >= after.list.nodes.size()) return false;
  uint32_t gainers[kMaxReplicas];
  const size_t count = move->change.Gainers(key, gainers);
  if (std::find(gainers, gainers + count, after.self) == gainers + count) return false;
  const uint32_t owner = move->change.PreviousOwner(key);
  if (move->before->list.nodes[owner].server.name == self_name_) return false;
  if (!move->guard->Allows(key)) return false;
  storage::ReadOptions options;
  options.count_access = false;
  options.can_win = false;
  PresenceSink sink;
  if (cache_->Get(context, key, options, sink) == storage::LookupResult::kHit) return false;
  ticket->pending.fetch_add(1, std::memory_order_acq_rel);
  {
    MutexLock lock(fetch_mu_);
    fetches_.push_back({move, owner, std::string(key), ticket});
  }
  thread_->loop().Wake();
  return true;
}

void Replication::StoreFetched(storage::Cache::Context& context, Move& move, std::string_view key,
                               std::string_view value, uint32_t flags, int64_t ttl) {
  // Once the move stopped receiving, its guard no longer notes the clients' changes (as a late
  // copy, ApplyCopy).
  if (!move.receiving.load(std::memory_order_acquire) || !move.guard->Allows(key)) return;
  storage::WriteRequest request;
  request.mode = storage::StoreMode::kAdd;
  request.key = key;
  request.value = value;
  request.flags = flags;
  request.exptime =
      ttl < 0 ? 0 : static_cast<int64_t>(std::time(nullptr)) + std::max<int64_t>(ttl, 1);
  storage::WriteOutcome outcome;
  if (cache_->Store(context, request, &outcome) != storage::StoreResult::kStored) return;
  ReplicationCounters::Add(counters_.move_fetched_on_miss);
  // As ApplyCopy: a delete between the check and the store takes the fetched value out again.
  if (!move.guard->Allows(key)) {
    storage::DeleteRequest undo;
    undo.key = key;
    undo.cas = outcome.cas;
    (void)cache_->Delete(context, undo);
  }
}

bool Replication::HasRead(uint64_t fingerprint) const {
  MutexLock lock(topology_mu_);
  return std::any_of(topologies_.begin(), topologies_.end(),
                     [fingerprint](const std::unique_ptr<Topology>& topology) {
                       return topology->fingerprint == fingerprint;
                     });
}

void Replication::NotePeerChange(std::string_view key) {
  Move* move = move_.load(std::memory_order_acquire);
  if (move != nullptr && move->receiving.load(std::memory_order_acquire)) move->guard->Note(key);
}

void Replication::NotePeerFlush() {
  Move* move = move_.load(std::memory_order_acquire);
  if (move != nullptr && move->receiving.load(std::memory_order_acquire)) move->guard->NoteFlush();
}

void Replication::ApplyCopy(storage::Cache::Context& context, std::string_view key, bool key_binary,
                            std::string_view value, uint32_t flags, int64_t expires_at,
                            uint64_t move_fingerprint) {
  Move* move = move_.load(std::memory_order_acquire);
  const bool guarded = move != nullptr && move->receiving.load(std::memory_order_acquire);
  if (guarded) move->heard_ms.store(SteadyMillis(), std::memory_order_relaxed);
  if (cache_ == nullptr || (guarded && !move->guard->Allows(key))) return;
  // Outside a move, a copy for a node list this node has read came after it stopped waiting for
  // them (move_max_ms passed, or a sender walked again): its guard no longer notes the clients'
  // changes, so a key deleted here since would come back. It is dropped (the key misses). A
  // copy for a list this node has not read yet (its own reload is still to come) is still the
  // holder's value, and no client reaches this node for that key before the proxy follows the
  // new list: only a key absent here takes it.
  if (!guarded && HasRead(move_fingerprint)) {
    ReplicationCounters::Add(counters_.move_keys_late);
    return;
  }
  storage::WriteRequest request;
  request.mode = guarded ? storage::StoreMode::kSet : storage::StoreMode::kAdd;
  request.key = key;
  request.value = value;
  request.flags = flags;
  request.exptime = expires_at;
  request.key_binary = key_binary;
  storage::WriteOutcome outcome;
  if (cache_->Store(context, request, &outcome) != storage::StoreResult::kStored) return;
  ReplicationCounters::Add(counters_.move_keys_received);
  // A change of the key between the check and the store (on another thread) is older or newer
  // than the copy: if older, the copy replaced it and is taken out again (a miss, never a stale
  // value); if newer, it replaced the copy, whose CAS is gone, and the delete does nothing.
  if (guarded && !move->guard->Allows(key)) {
    storage::DeleteRequest undo;
    undo.key = key;
    undo.cas = outcome.cas;
    (void)cache_->Delete(context, undo);
  }
}

Status Replication::Start() {
  if (thread_ != nullptr) return Status::Ok();
  std::unique_ptr<net::EventLoop> loop;
  Status status = net::EventLoop::Create(&loop);
  if (!status.ok()) return status;
  thread_ = std::make_unique<Thread>(*this, std::move(loop));
  // A node that starts with peers listed is returning: it may hold nothing, or (warm) values
  // its peers replaced; it catches up fully before it serves.
  const Topology* topology = topology_.load(std::memory_order_acquire);
  if (replicates() && topology->list.nodes.size() > 1) StartReturning(/*full=*/true);
  thread_->Start();
  return Status::Ok();
}

void Replication::Stop() {
  if (thread_ != nullptr) thread_->Stop();
}

Status Replication::Reload() {
  const Topology* before = topology_.load(std::memory_order_acquire);
  Status status = Load();
  if (!status.ok()) return status;
  const Topology* after = topology_.load(std::memory_order_acquire);
  if (!(before->list == after->list)) StartMove(before, after);
  if (thread_ != nullptr) thread_->loop().Wake();
  return Status::Ok();
}

void Replication::Wake() {
  if (thread_ == nullptr) return;
  if (!wake_pending_.exchange(true, std::memory_order_relaxed)) thread_->loop().Wake();
}

namespace {
// A worker's thread defers the wakes its clients' changes call for to the end of its round.
thread_local bool defer_wakes = false;
thread_local bool wake_owed = false;
}  // namespace

void Replication::DeferWakesOnThisThread() { defer_wakes = true; }

void Replication::FlushDeferredWake() {
  if (!wake_owed) return;
  wake_owed = false;
  Wake();
}

void Replication::WakeForChange() {
  if (defer_wakes) {
    wake_owed = true;
  } else {
    Wake();
  }
}

void Replication::OnChange(const storage::Change& change) {
  Move* move = move_.load(std::memory_order_acquire);
  bool moving = false;
  if (move != nullptr) {
    // A client's change of a key this node may be gaining: no copy older than it may land.
    if (move->receiving.load(std::memory_order_acquire)) {
      if (change.kind == storage::ChangeKind::kFlush) {
        move->guard->NoteFlush();
      } else {
        move->guard->Note(change.key);
      }
      moving = true;
    }
    moving = moving || move->sending.load(std::memory_order_acquire);
  }
  // With replicas 1 only a move sends: a client's write of a key another node now owns goes to
  // that node, in the same stream as the key's copy.
  if (!replicates() && (!moving || change.kind == storage::ChangeKind::kFlush)) return;
  const Topology* topology = topology_.load(std::memory_order_acquire);
  if (thread_ == nullptr || topology == nullptr) return;
  thread_local std::string record;
  record.clear();
  if (!AppendRecord(change, &record)) return;
  // A client's change observed while the node holds its clients ran across the lapse (a stall
  // hit its command, or the node was cut off before it found so): its peers may have taken newer
  // writes of the key meanwhile, and even sent them here first. It is not sent, and the node
  // drops all it holds and resyncs fully, rather than keep or spread it over them; a client
  // that waits for the write's replicas is told it timed out. Checked as late as it can be: a
  // stall between the check and the appends below goes unnoticed (the record is then discarded
  // only if the lapse is found before it is sent).
  if (replicates() && HoldsClients()) {
    if (collecting != nullptr) collecting->Refuse();
    full_again_.store(true, std::memory_order_release);
    Wake();
    return;
  }
  bool wake = false;
  SyncWait* const wait = collecting;
  const PeerStream* owner = nullptr;  // the key's owner's stream, if another node owns it
  const auto append = [&](PeerStream* stream) {
    uint64_t ticket = 0;
    const PeerStream::AppendResult result = stream->Append(record, &ticket);
    if (wait != nullptr && ticket != 0 && (sync() || stream == owner)) {
      wait->Add(stream, ticket, /*forward=*/!sync());
    }
    switch (result) {
      case PeerStream::AppendResult::kAppendedFirst:
        wake = true;
        break;
      case PeerStream::AppendResult::kOverflow:
        ReplicationCounters::Add(counters_.backlog_overflows);
        wake = true;  // the thread says so, and reconnects
        break;
      case PeerStream::AppendResult::kAppended:
      case PeerStream::AppendResult::kIgnored:
        break;
    }
  };
  if (change.kind == storage::ChangeKind::kFlush) {
    for (PeerStream* stream : topology->streams) {
      if (stream != nullptr) append(stream);
    }
  } else {
    uint32_t members[kMaxReplicas];
    const size_t count = topology->placement.ReplicasOf(change.key, members);
    if (count != 0 && members[0] != topology->self) {
      owner = topology->streams[members[0]];
      wrote_in_place_ms_.store(SteadyMillis(), std::memory_order_relaxed);
    }
    for (size_t i = 0; i < count; ++i) {
      if (members[i] != topology->self) append(topology->streams[members[i]]);
    }
  }
  if (record.capacity() > kKeptRecordCapacity) std::string().swap(record);
  if (wake) WakeForChange();
}

bool Replication::HoldsClients() {
  if (!replicates()) return false;
  if (returning_.load(std::memory_order_acquire)) return true;
  const int64_t lease = lease_until_ms_.load(std::memory_order_relaxed);
  if (lease == 0 || SteadyMillis() <= lease) return false;
  StartReturning(/*full=*/false);
  return true;
}

int64_t Replication::RecordsLease() {
  (void)HoldsClients();  // finds a lapse, if there is one
  if (discard_streams_.load(std::memory_order_acquire)) return kHoldRecords;
  // Read after the check: a stall between the two leaves the lapsed lease here, for the peer to
  // see. A returning node's own records (markers) are appended after its discard: no bound.
  if (!replicates() || returning_.load(std::memory_order_acquire)) return 0;
  return lease_until_ms_.load(std::memory_order_relaxed);
}

void Replication::StartReturning(bool full) {
  if (thread_ == nullptr) return;
  // Before returning_: the replication thread, seeing it, must find the discard pending too.
  if (!full) discard_streams_.store(true, std::memory_order_release);
  if (returning_.exchange(true, std::memory_order_acq_rel)) return;
  if (!full) {
    // The count moves only once the listen queues are drained: until then a connection taken
    // before is held (returning_), not closed, or its client could connect again and be taken
    // in the drain, under the old count.
    const uint64_t lapses = lapses_.load(std::memory_order_relaxed) + 1;
    if (drain_accepts_) drain_accepts_(lapses);
    lapses_.store(lapses, std::memory_order_release);
  }
  lease_until_ms_.store(0, std::memory_order_relaxed);
  // What it holds (a warm restart's items) may be older than its peers' values: dropped, and
  // the peers send every item of its replica sets again.
  if (full) FlushForFullResync();
  sync_full_.store(full, std::memory_order_relaxed);
  returning_since_ms_.store(SteadyMillis(), std::memory_order_relaxed);
  // Last: the replication thread starts the round only once the token moved (CatchUp).
  sync_token_.fetch_add(1, std::memory_order_acq_rel);
  std::fprintf(stderr, "replication: %s: serving no client until caught up with the live peers\n",
               full ? "starting" : "the lease lapsed (a stall or a partition)");
  thread_->loop().Wake();
}

void Replication::FlushForFullResync() {
  if (cache_ == nullptr) return;
  storage::FlushRequest flush;
  flush.observed = false;
  cache_->FlushAll(flush);
}

void Replication::WakeWorkers() {
  for (const std::function<void()>& wake : wakers_) wake();
}

uint64_t Replication::Synced(std::string_view name) {
  MutexLock lock(ledger_mu_);
  auto it = synced_.find(name);
  return it == synced_.end() ? 0 : it->second;
}

void Replication::NoteSynced(std::string_view name, uint64_t token, bool lost) {
  if (lost) {
    // This round cannot be partial: the thread starts a full one.
    if (token == sync_token_.load(std::memory_order_acquire)) {
      full_again_.store(true, std::memory_order_release);
    }
    Wake();
    return;
  }
  {
    MutexLock lock(ledger_mu_);
    uint64_t& synced = synced_[std::string(name)];
    synced = std::max(synced, token);
  }
  Wake();
}

namespace {

// Appends the record of each item it is shown to a peer's stream (a full resync), under the
// item's stripe lock, so that it cannot pass a newer write of the same key.
class ResyncSink final : public storage::ItemSink {
 public:
  explicit ResyncSink(PeerStream& stream) : stream_(stream) {}
  void OnItem(const storage::ItemView& item) override {
    storage::Change change;
    change.kind = storage::ChangeKind::kStore;
    change.key = item.key();
    change.item = &item;
    const int64_t ttl = item.ttl_remaining();
    change.expires_at = ttl < 0 ? 0 : static_cast<int64_t>(std::time(nullptr)) + ttl;
    record_.clear();
    if (AppendRecord(change, &record_)) (void)stream_.Append(record_);
  }

 private:
  PeerStream& stream_;
  std::string record_;
};

}  // namespace

void Replication::OnSyncRequest(std::string_view name, uint64_t token, bool full) {
  const Topology* topology = topology_.load(std::memory_order_acquire);
  if (topology == nullptr || thread_ == nullptr) return;
  size_t index = topology->list.nodes.size();
  for (size_t i = 0; i < topology->list.nodes.size(); ++i) {
    if (i != topology->self && topology->list.nodes[i].server.name == name) index = i;
  }
  if (index == topology->list.nodes.size()) return;
  PeerStream& stream = *topology->streams[index];
  // While dropped the stream takes nothing, the marker included: the peer asks again.
  if (stream.dropped()) return;
  // A full request comes from a node that flushed itself as it began this round. A partial one
  // cannot be answered from a stream that lost records: the marker says so, and the node flushes
  // itself and asks every peer for a full resync.
  const bool lost = stream.TakeLost();
  if (full && cache_ != nullptr) {
    std::unique_ptr<storage::Cache::Context> context = cache_->NewContext();
    storage::ReadOptions options;
    options.count_access = false;
    options.can_win = false;
    ResyncSink sink(stream);
    storage::WalkCursor cursor;
    storage::WalkBatch batch;
    uint32_t members[kMaxReplicas];
    while (!cursor.done) {
      cache_->Walk(&cursor, 256, &batch);
      for (const storage::WalkedItem& item : batch.items()) {
        const std::string_view key = batch.key(item);
        const size_t count = topology->placement.ReplicasOf(key, members);
        if (std::find(members, members + count, index) == members + count) continue;
        (void)cache_->Get(*context, key, options, sink);
      }
    }
    ReplicationCounters::Add(counters_.full_resyncs);
  } else if (!lost) {
    ReplicationCounters::Add(counters_.partial_resyncs);
  }
  const std::string record =
      "mn_peer synced " + std::to_string(token) + (lost && !full ? " lost\r\n" : "\r\n");
  (void)stream.Append(record);
  Wake();
}

void Replication::CollectSyncWait(SyncWait* wait) {
  collecting = options_.replicas > 1 && thread_ != nullptr ? wait : nullptr;
}

Replication::OpenedPeer Replication::OpenPeer(std::string_view name, std::string_view run_id) {
  OpenedPeer opened{std::make_shared<InboundLink>(), 0};
  std::shared_ptr<InboundLink> previous;
  {
    MutexLock lock(ledger_mu_);
    auto it = ledger_.find(name);
    if (it == ledger_.end()) it = ledger_.emplace(std::string(name), Applied{}).first;
    if (it->second.run_id != run_id) {
      // A new run of the peer (or one this node never met): nothing of it is applied here.
      it->second.run_id = std::string(run_id);
      it->second.count = 0;
    }
    previous = std::exchange(it->second.link, opened.link);
    opened.applied = it->second.count;
  }
  // Outside the lock: the worker applying the old link's record may take it (NoteSynced).
  if (previous != nullptr) previous->Supersede();
  return opened;
}

void Replication::NoteApplied(std::string_view name, std::string_view run_id,
                              const InboundLink& link, uint64_t applied) {
  MutexLock lock(ledger_mu_);
  auto it = ledger_.find(name);
  // A newer run, or a newer link of this run, took over.
  if (it == ledger_.end() || it->second.run_id != run_id || it->second.link.get() != &link) return;
  it->second.count = applied;
}

ReplicationStats Replication::Stats() const {
  ReplicationStats stats;
  stats.records_sent = counters_.records_sent.load(std::memory_order_relaxed);
  stats.bytes_sent = counters_.bytes_sent.load(std::memory_order_relaxed);
  stats.backlog_overflows = counters_.backlog_overflows.load(std::memory_order_relaxed);
  stats.partial_resyncs = counters_.partial_resyncs.load(std::memory_order_relaxed);
  stats.sync_timeouts = counters_.sync_timeouts.load(std::memory_order_relaxed);
  stats.full_resyncs = counters_.full_resyncs.load(std::memory_order_relaxed);
  stats.returning = returning_.load(std::memory_order_relaxed);
  stats.move_in_progress = Moving();
  stats.move_keys_sent = counters_.move_keys_sent.load(std::memory_order_relaxed);
  stats.move_keys_received = counters_.move_keys_received.load(std::memory_order_relaxed);
  stats.move_fetched_on_miss = counters_.move_fetched_on_miss.load(std::memory_order_relaxed);
  stats.move_keys_dropped = counters_.move_keys_dropped.load(std::memory_order_relaxed);
  stats.move_keys_late = counters_.move_keys_late.load(std::memory_order_relaxed);
  stats.move_keys_remaining = static_cast<uint64_t>(
      std::max<int64_t>(counters_.move_keys_remaining.load(std::memory_order_relaxed), 0));
  stats.peers_connected = static_cast<uint64_t>(
      std::max<int64_t>(counters_.peers_connected.load(std::memory_order_relaxed), 0));
  stats.lag_ms =
      static_cast<uint64_t>(std::max<int64_t>(counters_.lag_ms.load(std::memory_order_relaxed), 0));
  MutexLock lock(topology_mu_);
  for (const auto& [key, stream] : streams_) stats.backlog_bytes += stream->backlog_bytes();
  return stats;
}

}  // namespace mnemo::replication
