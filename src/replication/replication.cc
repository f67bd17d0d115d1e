#include "replication/replication.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <random>
#include <utility>

#include "base/logging.h"
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

}  // namespace

// The replication thread: its event loop, and a link per peer of the current topology.
class Replication::Thread final : private net::EventLoop::Observer {
 public:
  Thread(Replication& owner, std::unique_ptr<net::EventLoop> loop)
      : owner_(owner),
        loop_(std::move(loop)),
        context_{*loop_, owner.counters_, {}, owner.options_.lag_max_ms, owner.options_.lease_ms} {}

  net::EventLoop& loop() { return *loop_; }

  void Start() {
    thread_ = std::thread([this] {
      Follow();
      loop_->Run(*this, kTickMillis);
      links_.clear();  // closes their sockets
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
    PollAll();
  }
  bool OnRoundEnd() override {
    WakeSyncWaiters();
    return false;
  }
  void OnTick() override {
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
    if (topology == followed_) return;
    followed_ = topology;
    const cluster::ClusterNode& self = topology->list.nodes[topology->self];
    context_.handshake = "mn_peer " + self.server.name + " " + owner_.run_id_ + " 0\r\n";
    std::map<std::string, std::unique_ptr<PeerLink>> links;
    for (size_t i = 0; i < topology->list.nodes.size(); ++i) {
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
    int64_t lag = 0;
    int64_t lease = 0;
    for (auto& [key, link] : links_) {
      lag = std::max(lag, link->Poll(now));
      lease = std::max(lease, link->lease_until_ms());
    }
    owner_.counters_.lag_ms.store(lag, std::memory_order_relaxed);
    // Only a lease still running is published: a lapsed one is for the workers to find (a
    // stall stops this thread too, and it may run first after it).
    if (lease > now && !owner_.returning_.load(std::memory_order_acquire) &&
        lease > owner_.lease_until_ms_.load(std::memory_order_relaxed)) {
      owner_.lease_until_ms_.store(lease, std::memory_order_relaxed);
    }
    if (owner_.returning_.load(std::memory_order_acquire)) CatchUp(now);
  }

  // A returning node asks each live peer for a marker after what it queued for it, and serves
  // again once every live peer's marker came back (or repl_resync_max_ms passed).
  void CatchUp(int64_t now) {
    if (owner_.full_again_.exchange(false, std::memory_order_acq_rel)) {
      MNEMO_LOG(1, "replication: a peer's stream lost records: full resync\n");
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
    owner_.returning_.store(false, std::memory_order_release);
    std::fprintf(stderr, "replication: %s after %lld ms; serving clients again\n",
                 caught_up ? "caught up with every live peer" : "repl_resync_max_ms passed",
                 static_cast<long long>(now - since));  // NOLINT(google-runtime-int)
    owner_.WakeWorkers();
  }

  Replication& owner_;
  std::unique_ptr<net::EventLoop> loop_;
  LinkContext context_;
  const Topology* followed_ = nullptr;
  std::map<std::string, std::unique_ptr<PeerLink>> links_;  // by StreamKey
  struct Asked {
    uint64_t token = 0;
    int64_t at_ms = 0;
  };
  std::map<std::string, Asked> asked_;  // by StreamKey: the last sync request on each link
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
  replication->cas_tag_ = static_cast<uint8_t>(replication->topology_.load()->self % 255 + 1);
  return replication;
}

Status Replication::Load() {
  Result<cluster::NodeList> list = cluster::ReadNodeList(options_.cluster_file);
  if (!list.ok()) return Status::Error("cluster_file: " + list.status().message());
  Result<size_t> self = cluster::FindSelf(list.value(), options_.cluster_self, options_.port);
  if (!self.ok()) return Status::Error("cluster_file: " + self.status().message());
  Result<cluster::ReplicaPlacement> placement =
      cluster::ReplicaPlacement::Create(list.value(), options_.replicas);
  if (!placement.ok()) return placement.status();
  auto topology = std::make_unique<Topology>(std::move(list.value()), self.value(),
                                             std::move(placement.value()));
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

Status Replication::Start() {
  if (options_.replicas <= 1 || thread_ != nullptr) return Status::Ok();
  std::unique_ptr<net::EventLoop> loop;
  Status status = net::EventLoop::Create(&loop);
  if (!status.ok()) return status;
  thread_ = std::make_unique<Thread>(*this, std::move(loop));
  // A node that starts with peers listed is returning: it may hold nothing, or (warm) values
  // its peers replaced; it catches up fully before it serves.
  const Topology* topology = topology_.load(std::memory_order_acquire);
  if (topology->list.nodes.size() > 1) StartReturning(/*full=*/true);
  thread_->Start();
  return Status::Ok();
}

void Replication::Stop() {
  if (thread_ != nullptr) thread_->Stop();
}

Status Replication::Reload() {
  Status status = Load();
  if (!status.ok()) return status;
  if (thread_ != nullptr) thread_->loop().Wake();
  return Status::Ok();
}

void Replication::Wake() {
  if (thread_ == nullptr) return;
  if (!wake_pending_.exchange(true, std::memory_order_relaxed)) thread_->loop().Wake();
}

void Replication::OnChange(const storage::Change& change) {
  const Topology* topology = topology_.load(std::memory_order_acquire);
  if (thread_ == nullptr || topology == nullptr) return;
  thread_local std::string record;
  record.clear();
  if (!AppendRecord(change, &record)) return;
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
    if (count != 0 && members[0] != topology->self) owner = topology->streams[members[0]];
    for (size_t i = 0; i < count; ++i) {
      if (members[i] != topology->self) append(topology->streams[members[i]]);
    }
  }
  if (record.capacity() > kKeptRecordCapacity) std::string().swap(record);
  if (wake) Wake();
}

bool Replication::HoldsClients() {
  if (returning_.load(std::memory_order_acquire)) return true;
  const int64_t lease = lease_until_ms_.load(std::memory_order_relaxed);
  if (lease == 0 || SteadyMillis() <= lease) return false;
  StartReturning(/*full=*/false);
  return true;
}

void Replication::StartReturning(bool full) {
  if (thread_ == nullptr || returning_.exchange(true, std::memory_order_acq_rel)) return;
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
  stats.peers_connected = static_cast<uint64_t>(
      std::max<int64_t>(counters_.peers_connected.load(std::memory_order_relaxed), 0));
  stats.lag_ms =
      static_cast<uint64_t>(std::max<int64_t>(counters_.lag_ms.load(std::memory_order_relaxed), 0));
  MutexLock lock(topology_mu_);
  for (const auto& [key, stream] : streams_) stats.backlog_bytes += stream->backlog_bytes();
  return stats;
}

}  // namespace mnemo::replication
