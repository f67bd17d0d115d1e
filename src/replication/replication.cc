#include "replication/replication.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <random>
#include <utility>

#include "base/logging.h"
#include "replication/record_encoder.h"

namespace mnemo::replication {
namespace {

// The replication thread's tick: how often it checks lag and retries connections.
constexpr int kTickMillis = 50;
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
        context_{*loop_, owner.counters_, {}, owner.options_.lag_max_ms} {}

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
    int64_t lag = 0;
    for (auto& [key, link] : links_) lag = std::max(lag, link->Poll(now));
    owner_.counters_.lag_ms.store(lag, std::memory_order_relaxed);
  }

  Replication& owner_;
  std::unique_ptr<net::EventLoop> loop_;
  LinkContext context_;
  const Topology* followed_ = nullptr;
  std::map<std::string, std::unique_ptr<PeerLink>> links_;  // by StreamKey
  std::thread thread_;
};

Replication::Replication(const ReplicationOptions& options)
    : options_(options), run_id_(NewRunId()) {}

Replication::~Replication() { Stop(); }

Result<std::unique_ptr<Replication>> Replication::Create(const ReplicationOptions& options) {
  if (options.replicas < 1 || options.replicas > kMaxReplicas) {
    return Status::Error("replicas must be between 1 and " + std::to_string(kMaxReplicas));
  }
  std::unique_ptr<Replication> replication(new Replication(options));
  Status status = replication->Load();
  if (!status.ok()) return status;
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
  const auto append = [&](PeerStream* stream) {
    uint64_t ticket = 0;
    const PeerStream::AppendResult result = stream->Append(record, &ticket);
    if (wait != nullptr && ticket != 0) wait->Add(stream, ticket);
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
    for (size_t i = 0; i < count; ++i) {
      if (members[i] != topology->self) append(topology->streams[members[i]]);
    }
  }
  if (record.capacity() > kKeptRecordCapacity) std::string().swap(record);
  if (wake) Wake();
}

void Replication::CollectSyncWait(SyncWait* wait) {
  collecting = sync() && thread_ != nullptr ? wait : nullptr;
}

uint64_t Replication::OpenPeer(std::string_view name, std::string_view run_id) {
  MutexLock lock(ledger_mu_);
  auto it = ledger_.find(name);
  if (it == ledger_.end()) it = ledger_.emplace(std::string(name), Applied{}).first;
  if (it->second.run_id != run_id) {
    // A new run of the peer (or one this node never met): nothing of it is applied here.
    it->second.run_id = std::string(run_id);
    it->second.count = 0;
  }
  return it->second.count;
}

void Replication::NoteApplied(std::string_view name, std::string_view run_id, uint64_t applied) {
  MutexLock lock(ledger_mu_);
  auto it = ledger_.find(name);
  if (it == ledger_.end() || it->second.run_id != run_id) return;  // a newer run took over
  it->second.count = applied;
}

ReplicationStats Replication::Stats() const {
  ReplicationStats stats;
  stats.records_sent = counters_.records_sent.load(std::memory_order_relaxed);
  stats.bytes_sent = counters_.bytes_sent.load(std::memory_order_relaxed);
  stats.backlog_overflows = counters_.backlog_overflows.load(std::memory_order_relaxed);
  stats.partial_resyncs = counters_.partial_resyncs.load(std::memory_order_relaxed);
  stats.sync_timeouts = counters_.sync_timeouts.load(std::memory_order_relaxed);
  stats.peers_connected = static_cast<uint64_t>(
      std::max<int64_t>(counters_.peers_connected.load(std::memory_order_relaxed), 0));
  stats.lag_ms =
      static_cast<uint64_t>(std::max<int64_t>(counters_.lag_ms.load(std::memory_order_relaxed), 0));
  MutexLock lock(topology_mu_);
  for (const auto& [key, stream] : streams_) stats.backlog_bytes += stream->backlog_bytes();
  return stats;
}

}  // namespace mnemo::replication
