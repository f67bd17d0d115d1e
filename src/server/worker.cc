#include "server/worker.h"

#include <sys/epoll.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <functional>
#include <optional>
#include <span>
#include <utility>

#include "base/clock.h"
#include "base/logging.h"
#include "server/dispatcher.h"

namespace mnemo::server {
namespace {

constexpr int kTickMillis = 1000;
// Freed connection memory worth handing back to the system at the next tick.
constexpr size_t kTrimThreshold = size_t{64} << 10;

}  // namespace

Worker::Worker(ServerContext& server)
    : server_(server),
      pool_(net::BufferPool::kDefaultBlockSize, net::BufferPool::kDefaultMaxIdle,
            &server.conn_memory) {}

Worker::~Worker() {
  Stop();
  Join();
  for (const int fd : udp_fds_) close(fd);  // given but never served: Start() failed
}

Status Worker::Start() {
  Status status = net::EventLoop::Create(&loop_);
  if (!status.ok()) return status;
  thread_ = std::thread([this] { Run(); });
  return Status::Ok();
}

void Worker::Adopt(int fd, net::TlsMode tls_mode, uint64_t lapses_at_accept) {
  {
    MutexLock lock(pending_mu_);
    pending_.push_back(Pending{fd, tls_mode, lapses_at_accept});
  }
  loop_->Wake();
}

void Worker::WakeIfWaitingForMemory() {
  if (has_waiting_.load(std::memory_order_relaxed)) loop_->Wake();
}

void Worker::Stop() {
  if (loop_ != nullptr) loop_->Stop();  // null if Start() was never called or failed
}

void Worker::Join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::Run() {
  // The Context is made here so that it is born on the thread that uses it.
  const std::unique_ptr<storage::Cache::Context> context = server_.cache.NewContext();
  cache_context_ = context.get();
  Dispatcher dispatcher(server_, *context, stats_, CopyBudget{&pool_.budget(), pool_.block_size()});
  BinaryDispatcher binary_dispatcher(server_, *context, stats_, dispatcher, pool_,
                                     CopyBudget{&pool_.budget(), pool_.block_size()});
  protocol::ParserLimits limits;
  limits.item_size_max = server_.options.item_size_max;
  services_ = std::make_unique<SessionServices>(SessionServices{
      pool_, *loop_, dispatcher, binary_dispatcher, stats_, server_.connections, *this, limits,
      server_.options.reqs_per_event, server_.options.binding_protocol, server_.replication});
  services_->sasl = server_.sasl != nullptr;
  services_->ascii_auth = server_.ascii_auth;
  if (server_.options.watch_enabled) services_->watch_log = &server_.watch_log;
  if (server_.tls_sessions) {
    // memcached's per-thread ssl_wbuf: a TLS write encrypts at most this much at once.
    tls_write_buffer_.resize(server_.options.tls.wbuf_size);
    services_->tls = server_.tls;
    services_->tls_write_buffer = tls_write_buffer_;
  }

  for (const int fd : udp_fds_) {
    udp_endpoints_.push_back(std::make_unique<UdpEndpoint>(fd, pool_, dispatcher, binary_dispatcher,
                                                           stats_, server_.connections, limits));
    const Status status = loop_->AddLevelTriggered(fd, EPOLLIN, udp_endpoints_.back().get());
    if (!status.ok()) {
      MNEMO_LOG(0, "mnemod: cannot serve UDP: %s\n", status.message().c_str());
    }
  }
  udp_fds_.clear();  // the endpoints own them now
  StartFlashReader(*context);
  if (server_.replication != nullptr) replication::Replication::DeferWakesOnThisThread();

  loop_->Run(*this, kTickMillis);

  for (const std::unique_ptr<UdpEndpoint>& endpoint : udp_endpoints_) loop_->Remove(endpoint->fd());
  udp_endpoints_.clear();

  // Stopping: connections still waiting for adoption are closed unserved, the rest closed as is.
  {
    MutexLock lock(pending_mu_);
    for (const Pending& pending : pending_) {
      close(pending.fd);
      server_.curr_connections.fetch_sub(1, std::memory_order_relaxed);
    }
    pending_.clear();
  }
  while (!sessions_.empty()) sessions_.back()->Close();
  if (flash_reader_ != nullptr) {
    loop_->Remove(flash_reader_->event_fd());
    flash_reader_.reset();  // waits for the reads in flight
  }
  flash_unqueued_.clear();
  yielded_.clear();
  waiting_.clear();
  closed_.clear();
  services_.reset();
  cache_context_ = nullptr;
}

void Worker::TakePendingConnections() {
  std::vector<Pending> adopted;
  {
    MutexLock lock(pending_mu_);
    adopted.swap(pending_);
  }
  for (const Pending& pending : adopted) {
    auto session = std::make_unique<Session>(pending.fd, *services_, pending.lapses_at_accept);
    const Status status = session->Open(pending.tls_mode);
    if (!status.ok()) {
      MNEMO_LOG(0, "mnemod: cannot serve a new connection: %s\n", status.message().c_str());
      server_.curr_connections.fetch_sub(1, std::memory_order_relaxed);
      continue;  // the session closes its fd as it goes
    }
    session->owner_index = sessions_.size();
    sessions_.push_back(std::move(session));
  }
}

void Worker::OnWake() { TakePendingConnections(); }

bool Worker::OnRoundEnd() {
  if (!repl_waits_.empty()) ResumeReplicationWaits();
  if (!rejoin_waits_.empty() && !server_.replication->HoldsClients()) {
    repl_resuming_.swap(rejoin_waits_);
    for (Session* session : repl_resuming_) session->rejoin_waiting = false;
    for (Session* session : repl_resuming_) {
      if (!session->closed()) session->ResumeAfterRejoin();
    }
    repl_resuming_.clear();
  }
  if (!yielded_.empty()) {
    resuming_.swap(yielded_);  // both keep their capacity: no allocation per round
    for (Session* session : resuming_) session->yielded = false;
    for (Session* session : resuming_) {
      if (!session->closed()) session->Resume();
    }
    resuming_.clear();
  }
  if (!flash_unqueued_.empty()) {
    // The reader was full: these read blocking now (those that wait again queue for the next).
    std::vector<uint64_t> ids;
    ids.swap(flash_unqueued_);
    for (const uint64_t id : ids) ResumeAfterFlash(id);
  }
  bool freed = !closed_.empty();
  closed_.clear();  // their memory goes back before the sessions waiting for it look
  ResumeWaiting();
  freed = freed || !closed_.empty();
  closed_.clear();  // those that closed on resuming
  if (freed && !server_.conn_memory.exhausted()) {
    for (const std::function<void()>& wake : server_.wake_for_memory) wake();
  }
  // One wake of the replication thread for what the round's changes appended.
  if (server_.replication != nullptr) server_.replication->FlushDeferredWake();
  return !yielded_.empty() || !flash_unqueued_.empty();
}

void Worker::ResumeWaiting() {
  if (waiting_.empty() || server_.conn_memory.exhausted()) return;
  waking_.swap(waiting_);  // both keep their capacity
  for (Session* session : waking_) session->waiting = false;
  for (Session* session : waking_) {
    if (!session->closed()) session->Resume();
  }
  waking_.clear();
  has_waiting_.store(!waiting_.empty(), std::memory_order_relaxed);
}

void Worker::OnTick() {
  server_.cache.Tick(*cache_context_);
  const uint32_t now = MonotonicSeconds();
  const int idle_timeout = server_.options.idle_timeout;
  const auto stuck_timeout = static_cast<uint32_t>(server_.options.conn_stuck_timeout);
  // Downwards, because closing moves the last session into the closed one's place.
  for (size_t i = sessions_.size(); i-- > 0;) {
    if (idle_timeout != 0 && sessions_[i]->CloseIfIdle(now, static_cast<uint32_t>(idle_timeout))) {
      stats_.Add(Stat::kIdleKicks);
      continue;
    }
    (void)sessions_[i]->CloseIfStuck(now, stuck_timeout);  // counts what it closes
  }
  ResumeWaiting();  // memory freed by other workers wakes nothing here
  if (server_.replication != nullptr) server_.replication->FlushDeferredWake();
  pool_.Trim();
#if defined(__GLIBC__)
  // glibc keeps freed memory in its arenas; after a burst of large buffers, give it back.
  if (server_.conn_memory.TakeFreed() >= kTrimThreshold) malloc_trim(0);
#endif
}

void Worker::OnSessionYield(Session* session) {
  // Once (invariant 2): a session that yielded after this round's resumptions (on resuming
  // for memory or flash) may run again on its next event before it is resumed, and yield again.
  if (session->yielded) return;
  session->yielded = true;
  yielded_.push_back(session);
}

void Worker::OnSessionWaitingForMemory(Session* session) {
  if (session->waiting) return;
  session->waiting = true;
  waiting_.push_back(session);
  has_waiting_.store(true, std::memory_order_relaxed);
}

void Worker::StartFlashReader(storage::Cache::Context& context) {
  if (server_.flash == nullptr) return;
  Result<std::unique_ptr<flash::FlashReader>> reader =
      flash::FlashReader::Create(flash::FlashReader::Options());
  if (!reader.ok()) {
    MNEMO_LOG(0, "mnemod: no flash reader (%s): reads of flash block their worker\n",
              reader.status().message().c_str());
    return;
  }
  const Status added =
      loop_->AddLevelTriggered(reader.value()->event_fd(), EPOLLIN, &flash_completions_);
  if (!added.ok()) {
    MNEMO_LOG(0, "mnemod: cannot watch the flash reader (%s): reads of flash block their worker\n",
              added.message().c_str());
    return;
  }
  flash_reader_ = std::move(reader.value());
  if (!flash_reader_->fallback_reason().empty()) {
    MNEMO_LOG(1, "mnemod: reads of flash go through a thread pool: %s\n",
              flash_reader_->fallback_reason().c_str());
  }
  server_.cache.AllowFlashWaits(context);
}

void Worker::OnSessionWaitingForFlash(Session* session) {
  const std::optional<storage::FlashWait> wait = server_.cache.TakeFlashWait(*cache_context_);
  const uint64_t id = ++last_flash_read_;
  session->flash_read = id;
  flash_reads_.emplace(id, FlashRead{session, wait.value_or(storage::FlashWait())});
  if (wait.has_value() && flash_reader_ != nullptr &&
      flash_reader_->Submit({wait->fd, wait->offset, wait->length, id})) {
    stats_.Add(Stat::kExtReadsWaited);
  } else {
    flash_unqueued_.push_back(id);
  }
}

void Worker::OnFlashReadsDone() {
  // Its bytes are in the page cache now, or the read failed: either way the command runs again,
  // and meets the failure itself if it reads the device again.
  flash_reader_->DrainCompletions(
      [this](uint64_t id, const Result<std::span<const uint8_t>>&) { flash_done_.push_back(id); });
  for (const uint64_t id : flash_done_) ResumeAfterFlash(id);
  flash_done_.clear();
}

void Worker::ResumeAfterFlash(uint64_t id) {
  const auto it = flash_reads_.find(id);
  if (it == flash_reads_.end()) return;  // its session closed meanwhile
  const FlashRead read = it->second;
  flash_reads_.erase(it);
  read.session->flash_read = 0;
  server_.cache.SetFlashWaitServed(*cache_context_, read.wait);
  read.session->ResumeAfterFlash();
  server_.cache.SetFlashWaitServed(*cache_context_, std::nullopt);
}

void Worker::OnSessionWaitingForReplication(Session* session) {
  session->repl_waiting = true;
  repl_waits_.push_back(session);
  server_.replication->AddSyncWaiters(1);
}

void Worker::ResumeReplicationWaits() {
  const int64_t now = replication::SteadyMillis();
  repl_resuming_.clear();
  size_t kept = 0;
  for (Session* session : repl_waits_) {
    if (session->ReplicationSettled() || now >= session->ReplicationDeadline()) {
      session->repl_waiting = false;
      repl_resuming_.push_back(session);
    } else {
      repl_waits_[kept++] = session;
    }
  }
  repl_waits_.resize(kept);
  if (repl_resuming_.empty()) return;
  server_.replication->AddSyncWaiters(-static_cast<int64_t>(repl_resuming_.size()));
  for (Session* session : repl_resuming_) {
    // Settled wins over a deadline passed meanwhile: the replicas have the write.
    if (!session->closed()) session->ResumeAfterReplication(!session->ReplicationSettled());
  }
  repl_resuming_.clear();
}

void Worker::OnSessionWaitingForRejoin(Session* session) {
  session->rejoin_waiting = true;
  rejoin_waits_.push_back(session);
}

void Worker::OnSessionClosed(Session* session) {
  if (session->rejoin_waiting) {
    rejoin_waits_.erase(std::find(rejoin_waits_.begin(), rejoin_waits_.end(), session));
    session->rejoin_waiting = false;
  }
  if (session->repl_waiting) {
    repl_waits_.erase(std::find(repl_waits_.begin(), repl_waits_.end(), session));
    session->repl_waiting = false;
    server_.replication->AddSyncWaiters(-1);
  }
  if (session->flash_read != 0) {
    flash_reads_.erase(session->flash_read);
    session->flash_read = 0;
  }
  if (session->yielded) {
    yielded_.erase(std::find(yielded_.begin(), yielded_.end(), session));
    session->yielded = false;
  }
  if (session->waiting) {
    waiting_.erase(std::find(waiting_.begin(), waiting_.end(), session));
    session->waiting = false;
    has_waiting_.store(!waiting_.empty(), std::memory_order_relaxed);
  }
  const size_t index = session->owner_index;
  closed_.push_back(std::move(sessions_[index]));
  if (index + 1 != sessions_.size()) {
    sessions_[index] = std::move(sessions_.back());
    sessions_[index]->owner_index = index;
  }
  sessions_.pop_back();
  server_.curr_connections.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace mnemo::server
