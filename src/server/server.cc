#include "server/server.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "base/clock.h"
#include "base/logging.h"
#include "net/udp_socket.h"
#include "server/prometheus_text.h"
#include "server/replies.h"
#include "storage/cache_core.h"

namespace mnemo::server {
namespace {

// Accepting in bursts keeps a connection storm from starving the signal fd, while a level-
// triggered listener brings the loop back for the rest.
constexpr int kMaxAcceptsPerEvent = 64;
constexpr int kTickMillis = 1000;

int OpenReserveFd() { return open("/dev/null", O_RDONLY | O_CLOEXEC); }

// The clients memcached 1.6.45 serves at once with -c `max_connections`: it refuses a client whose
// descriptor is max_connections - 1 or more, and before its first client it holds the three
// standard streams, three for its main event loop (epoll and libevent's pipe pair), one per
// listening socket and five per worker thread (epoll, a pipe pair, two eventfds). 1.6.18 holds
// four per worker thread. Negative when -c leaves no descriptor even for a refusal.
int64_t ClientLimit(int max_connections, int threads, size_t listeners, size_t udp_sockets) {
  constexpr int64_t kStandardStreams = 3;
  constexpr int64_t kMainLoop = 3;
  constexpr int64_t kPerWorker = 5;
  // memcached serves each UDP socket from every worker thread, each with a descriptor of its own.
  const int64_t own = kStandardStreams + kMainLoop + kPerWorker * threads +
                      static_cast<int64_t>(listeners) + static_cast<int64_t>(udp_sockets) * threads;
  return max_connections - 1 - own;
}

// memcached's -l prefixes, notls:, btls: and mtls:, taken off *entry; valid with -Z only, and
// refused otherwise in memcached's words (its own misspelling for mtls included).
Status TakeTlsPrefix(const Options& options, std::string_view* entry, net::TlsMode* mode) {
  struct Prefix {
    std::string_view text;
    net::TlsMode mode;
    std::string_view name;  // as memcached's message names it
  };
  static constexpr Prefix kPrefixes[] = {{"notls:", net::TlsMode::kOff, "notls"},
                                         {"btls:", net::TlsMode::kNoPeer, "btls"},
                                         {"mtls:", net::TlsMode::kPeer, "otls"}};
  *mode = net::TlsMode::kConfigured;
  for (const Prefix& prefix : kPrefixes) {
    if (!entry->starts_with(prefix.text)) continue;
    if (!options.ssl_enabled) {
      return Status::Error("'" + std::string(prefix.name) +
                           "' option is valid only when SSL is enabled");
    }
    *mode = prefix.mode;
    entry->remove_prefix(prefix.text.size());
    break;
  }
  return Status::Ok();
}

// The sockets -s, -l and -p ask for: a unix socket alone, as memcached, or TCP.
Status OpenListeners(const Options& options,
                     std::vector<std::unique_ptr<net::Listener>>* listeners) {
  if (!options.socket_path.empty()) {
    return net::Listener::OpenUnix(options.socket_path, options.unix_mask, options.backlog,
                                   listeners);
  }
  if (options.listen.empty())
    return net::Listener::Open("", options.port, options.backlog, listeners);
  for (const std::string& listen : options.listen) {
    std::string_view entry = listen;
    net::TlsMode mode = net::TlsMode::kConfigured;
    std::string host;
    uint16_t port = 0;
    const size_t first = listeners->size();
    Status status = TakeTlsPrefix(options, &entry, &mode);
    if (status.ok()) status = net::ParseListenAddress(entry, options.port, &host, &port);
    if (status.ok()) status = net::Listener::Open(host, port, options.backlog, listeners);
    if (!status.ok()) return status;
    for (size_t i = first; i < listeners->size(); ++i) (*listeners)[i]->set_tls_mode(mode);
  }
  return Status::Ok();
}

// -U's sockets, on the addresses TCP listens on; none with a unix socket (-s), as memcached.
Status OpenUdpSockets(const Options& options, std::vector<int>* fds) {
  if (options.udp_port == 0 || !options.socket_path.empty()) return Status::Ok();
  const auto port = static_cast<uint16_t>(options.udp_port);
  if (options.listen.empty()) return net::OpenUdpSockets("", port, fds);
  for (const std::string& listen : options.listen) {
    std::string_view entry = listen;
    net::TlsMode plain = net::TlsMode::kOff;  // UDP is plain whatever the prefix says
    std::string host;
    uint16_t ignored = 0;
    Status status = TakeTlsPrefix(options, &entry, &plain);
    if (status.ok()) status = net::ParseListenAddress(entry, port, &host, &ignored);
    if (status.ok()) status = net::OpenUdpSockets(host, port, fds);
    if (!status.ok()) return status;
  }
  return Status::Ok();
}

}  // namespace

class Server::Acceptor final : public net::EventLoop::Handler {
 public:
  Acceptor(Server& server, net::Listener& listener)
      : server_(server),
        listener_(listener),
        entry_(listener.fd(), ConnectionState::kListening, MonotonicSeconds()) {}

  void OnEvents(uint32_t /*events*/) override {
    // A lapse found since the loop last woke: what is queued is from before it.
    server_.DrainAfterLapse();
    server_.AcceptFrom(listener_);
  }
  ConnectionEntry& entry() { return entry_; }
  int fd() const { return listener_.fd(); }

 private:
  Server& server_;
  net::Listener& listener_;
  ConnectionEntry entry_;
};

class Server::SignalReader final : public net::EventLoop::Handler {
 public:
  SignalReader(int fd, Server& server) : fd_(fd), server_(server) {}

  void OnEvents(uint32_t /*events*/) override {
    signalfd_siginfo info{};
    if (read(fd_, &info, sizeof(info)) != sizeof(info)) return;
    // What memcached 1.6.45 does and says for each.
    switch (info.ssi_signo) {
      case SIGHUP:
        // memcached reloads its TLS certificates, and keeps serving; mnemod also reads its node
        // list again.
        server_.ReloadTls();
        server_.ReloadNodeList();
        server_.ReloadCredentials();
        return;
      case SIGUSR1:
        server_.RequestShutdown(/*graceful=*/true);
        return;
      default:
        server_.RequestShutdown(/*graceful=*/false);
        return;
    }
  }

 private:
  const int fd_;
  Server& server_;
};

Status Server::Create(const Options& options, std::unique_ptr<Server>* out) {
  std::unique_ptr<Server> server(new Server(options));
  Status status = OpenListeners(options, &server->listeners_);
  if (status.ok()) status = OpenUdpSockets(options, &server->udp_fds_);
  if (!status.ok()) return status;
  server->client_limit_ = ClientLimit(options.max_connections, options.threads,
                                      server->listeners_.size(), server->udp_fds_.size());
  if (server->client_limit_ < 0) {
    return Status::Error("Maxconns setting is too low, use -c to increase.");
  }
  status = net::EventLoop::Create(&server->loop_);
  if (!status.ok()) return status;
  if (options.replicas > 1 && options.cluster_file.empty()) {
    return Status::Error("replicas above 1 needs -o cluster_file, the cluster's node list");
  }
  if (!options.cluster_file.empty()) {
    replication::ReplicationOptions replication;
    replication.cluster_file = options.cluster_file;
    replication.cluster_self = options.cluster_self;
    replication.port = static_cast<uint16_t>(options.port);
    replication.replicas = static_cast<size_t>(options.replicas);
    replication.backlog_bytes = static_cast<size_t>(options.repl_backlog_mb) << 20;
    replication.lag_max_ms = options.repl_lag_max_ms;
    replication.sync = options.repl_sync;
    replication.timeout_ms = options.repl_timeout_ms;
    replication.lease_ms = options.repl_lease_ms;
    replication.resync_max_ms = options.repl_resync_max_ms;
    replication.cluster_previous = options.cluster_previous;
    replication.move_rate_keys = options.move_rate_keys;
    replication.move_max_ms = options.move_max_ms;
    auto created = replication::Replication::Create(replication);
    if (!created.ok()) return created.status();
    server->replication_ = std::move(created.value());
  }
  *out = std::move(server);
  return Status::Ok();
}

Status Server::OpenFlash() {
  const ExtstoreOptions& ext = options_.ext;
  if (ext.paths.empty()) return Status::Ok();
  const auto failed = [](const std::string& why) {
    return Status::Error("Failed to initialize external storage: " + why);
  };
  // memcached's extstore_init refuses these (and divides by a wbuf_size of 0).
  constexpr uint32_t kTwoMegabytes = 2 << 20;
  if (ext.wbuf_size == 0 || ext.page_size % ext.wbuf_size != 0) {
    return failed("page_size must be divisible by wbuf_size");
  }
  if (ext.page_size % kTwoMegabytes != 0 || ext.wbuf_size % kTwoMegabytes != 0) {
    return failed("page_size and wbuf_size must be divisible by 1024*1024*2");
  }
  // The storage engine's segment size, which -m may make smaller than -o segment_size.
  const size_t segment_size = storage::CacheCore::Normalize(options_.ToCacheOptions()).segment_size;
  std::vector<flash::DeviceSpec> specs;
  // With -e, a graceful stop saved what the flash files hold (warm_restart.h): kept, not emptied.
  const bool keep = !options_.memory_file.empty();
  for (const ExtstoreOptions::Path& path : ext.paths) {
    specs.push_back({path.path, path.size, keep});
  }
  auto space = flash::FlashSpace::Open(specs, segment_size);
  if (!space.ok()) return failed(space.status().message());
  for (const auto& device : space.value()->devices()) {
    if (!device->direct_io()) {
      std::fprintf(stderr,
                   "ext_path %s: the file system refuses O_DIRECT; flash goes through the page "
                   "cache\n",
                   device->path().c_str());
    }
  }
  flash_ = std::move(space.value());
  return Status::Ok();
}

Server::~Server() {
  if (reserve_fd_ >= 0) close(reserve_fd_);
  for (const int fd : udp_fds_) close(fd);
}

Status Server::Run() {
  // Blocked before any thread starts, so every thread inherits the mask and only the signalfd
  // sees these signals.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGUSR1);  // a graceful stop: with -e, the cache is saved
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);  // sends use MSG_NOSIGNAL; this covers any other write
  const int signal_fd = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
  if (signal_fd < 0) return Status::Error(std::string("signalfd: ") + strerror(errno));
  SignalReader signal_reader(signal_fd, *this);
  reserve_fd_ = OpenReserveFd();

  storage::CacheOptions cache_options = options_.ToCacheOptions();
  cache_options.flash = flash_.get();
  if (replication_ != nullptr) cache_options.cas_tag = replication_->cas_tag();
  // With replicas 1 too: a move forwards writes and guards against late copies (replication.h).
  if (replication_ != nullptr) cache_options.change_observer = replication_.get();
  watch_log_ = ServerContext::NewWatchLog(options_);
  eviction_watch_ = std::make_unique<EvictionWatch>(*watch_log_);
  cache_options.eviction_observer = eviction_watch_.get();
  Status status = storage::Cache::Create(cache_options, &cache_);
  if (!status.ok()) {
    close(signal_fd);
    return status;
  }
  context_ = std::make_unique<ServerContext>(options_, *cache_, watch_log_.get());
  context_->flash = flash_.get();
  context_->replication = replication_.get();
  if (replication_ != nullptr) replication_->SetCache(cache_.get());
  context_->tls = tls_.get();
  context_->sasl = sasl_.get();
  context_->ascii_auth = ascii_auth_.get();
  context_->tls_sessions =
      tls_ != nullptr && options_.socket_path.empty();  // -s: plain, as memcached
  context_->request_shutdown = [this](bool graceful) { RequestShutdown(graceful); };
  context_->stats.Register(&stats_);
  for (int i = 0; i < options_.threads; ++i) {
    workers_.push_back(std::make_unique<Worker>(*context_));
    context_->stats.Register(&workers_.back()->stats());
    context_->buffer_pools.push_back(&workers_.back()->buffer_pool());
    context_->wake_for_memory.emplace_back(
        [worker = workers_.back().get()] { worker->WakeIfWaitingForMemory(); });
    if (replication_ != nullptr) {
      replication_->AddWaker([worker = workers_.back().get()] { worker->Wake(); });
    }
  }
  if (replication_ != nullptr) {
    replication_->SetAcceptDrainer([this](uint64_t lapses) { DrainListenQueues(lapses); });
  }

  // Every worker serves every UDP socket, each through a descriptor of its own, as memcached's
  // threads do.
  for (const int fd : udp_fds_) {
    for (size_t i = 0; i < workers_.size(); ++i) {
      const int own = i + 1 == workers_.size() ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 0);
      if (own >= 0) workers_[i]->AddUdpSocket(own);
    }
  }
  udp_fds_.clear();
  for (const std::unique_ptr<Worker>& worker : workers_) {
    if (status.ok()) status = worker->Start();
  }
  // After the workers' loops exist: the replication thread wakes them (sync writes).
  if (status.ok() && replication_ != nullptr) status = replication_->Start();
  if (status.ok() && options_.metrics_port != 0) status = StartMetrics();
  std::vector<std::unique_ptr<Acceptor>> acceptors;
  for (const std::unique_ptr<net::Listener>& listener : listeners_) {
    acceptors.push_back(std::make_unique<Acceptor>(*this, *listener));
    if (status.ok()) {
      status = loop_->AddLevelTriggered(listener->fd(), EPOLLIN, acceptors.back().get());
    }
    context_->connections.Add(&acceptors.back()->entry());
  }
  if (status.ok()) status = loop_->AddLevelTriggered(signal_fd, EPOLLIN, &signal_reader);

  if (status.ok()) loop_->Run(*this, kTickMillis);
  accepting_.store(false, std::memory_order_release);

  // Stop accepting first, so that no connection arrives at a stopped worker.
  for (const std::unique_ptr<Acceptor>& acceptor : acceptors) {
    loop_->Remove(acceptor->fd());
    context_->connections.Remove(&acceptor->entry());
  }
  listeners_.clear();
  // Before the workers go: a scrape reads their counters.
  metrics_.reset();
  for (const std::unique_ptr<Worker>& worker : workers_) worker->Stop();
  // All of them joined before any is freed: a worker's last round may still wake the others.
  for (const std::unique_ptr<Worker>& worker : workers_) worker->Join();
  // Before the workers go: the replication thread may still wake them.
  if (replication_ != nullptr) replication_->Stop();
  workers_.clear();
  close(signal_fd);
  context_.reset();
  // Every request has finished and every worker's context is gone: nothing writes any more.
  if (graceful_.load(std::memory_order_relaxed)) {
    const Status saved = cache_->SaveForRestart();
    if (!saved.ok()) {
      std::fprintf(stderr, "[restart] failed to save metadata: %s\n", saved.message().c_str());
    }
  }
  cache_.reset();
  return status;
}

Status Server::StartMetrics() {
  const std::string host = !options_.metrics_addr.empty() ? options_.metrics_addr
                           : options_.listen.empty()      ? std::string()
                                                          : options_.listen.front();
  Result<std::unique_ptr<MetricsEndpoint>> endpoint =
      MetricsEndpoint::Start(host, options_.metrics_port, [this] {
        const StatsSnapshot snapshot = context_->Snapshot();
        std::string general;
        std::string settings;
        std::string items;
        AppendGeneralStats(options_, snapshot, &general);
        AppendSettingsStats(options_, snapshot, &settings);
        AppendItemsStats(snapshot, &items);
        Figures figures;
        for (const std::unique_ptr<Worker>& worker : workers_) {
          const ThreadStats& stats = worker->stats();
          stats.latency(ThreadStats::Timed::kGet).AddTo(&figures.get_latency);
          stats.latency(ThreadStats::Timed::kSet).AddTo(&figures.set_latency);
          StatTotals& totals = figures.workers.emplace_back();
          for (size_t i = 0; i < kNumStats; ++i) totals[i] = stats.Get(static_cast<Stat>(i));
        }
        figures.hot_keys = context_->hot_keys.Top(HotKeys::Window::kOverall);
        figures.hot_keys_last_second = context_->hot_keys.Top(HotKeys::Window::kLastSecond);
        return PrometheusText({general, settings, items, GeneralStatsInfo()}) +
               FiguresText(figures);
      });
  if (!endpoint.ok()) return endpoint.status();
  metrics_ = std::move(endpoint).value();
  return Status::Ok();
}

void Server::RequestShutdown(bool graceful) {
  // What memcached 1.6.45 says for each.
  if (graceful) {
    if (!graceful_.exchange(true, std::memory_order_relaxed)) {
      std::fprintf(stderr, "Gracefully stopping\n");
    }
  } else {
    MNEMO_LOG(1, "Exiting normally\n");
  }
  loop_->Stop();
}

void Server::ReloadNodeList() {
  if (replication_ == nullptr) return;
  const Status status = replication_->Reload();
  if (!status.ok()) {
    std::fprintf(stderr, "SIGHUP: kept the node list: %s\n", status.message().c_str());
    return;
  }
  MNEMO_LOG(1, "SIGHUP: read the node list %s again\n", options_.cluster_file.c_str());
}

void Server::ReloadTls() {
  if (tls_ == nullptr) return;
  const Status status = tls_->Reload();
  if (!status.ok()) {
    std::fprintf(stderr, "Could not reload TLS certificates on SIGHUP: %s\n",
                 status.message().c_str());
  }
}

void Server::ReloadCredentials() {
  for (CredentialStore* store : {sasl_.get(), ascii_auth_.get()}) {
    if (store == nullptr) continue;
    const Status status = store->Load();
    if (!status.ok()) {
      std::fprintf(stderr, "SIGHUP: kept the credentials of %s: %s\n", store->path().c_str(),
                   status.message().c_str());
    }
  }
}

void Server::OnWake() { DrainAfterLapse(); }

void Server::DrainListenQueues(uint64_t lapses) {
  drain_asked_.store(lapses, std::memory_order_release);
  loop_->Wake();
  // Microseconds, unless the main thread is not scheduled; nothing is accepted once it stopped.
  while (drain_done_.load(std::memory_order_acquire) < lapses &&
         accepting_.load(std::memory_order_acquire)) {
    std::this_thread::yield();
  }
}

void Server::DrainAfterLapse() {
  const uint64_t lapses = drain_asked_.load(std::memory_order_acquire);
  if (lapses == accept_lapses_) return;
  // Everything queued now was there when the lapse was found: tagged with the count from before.
  for (const std::unique_ptr<net::Listener>& listener : listeners_) AcceptFrom(*listener, true);
  accept_lapses_ = lapses;
  drain_done_.store(lapses, std::memory_order_release);
}

void Server::AcceptFrom(net::Listener& listener, bool drain) {
  int failures = 0;
  for (int i = 0; drain || i < kMaxAcceptsPerEvent; ++i) {
    int fd = -1;
    switch (listener.Accept(&fd)) {
      case net::Listener::AcceptStatus::kAccepted:
        break;
      case net::Listener::AcceptStatus::kWouldBlock:
        return;
      case net::Listener::AcceptStatus::kFailed:
        // A drain stops at an error that repeats rather than spin on it.
        if (drain && ++failures >= kMaxAcceptsPerEvent) return;
        continue;
      case net::Listener::AcceptStatus::kOutOfFiles:
        // Frees the reserved descriptor to take the waiting connection and turn it away, rather
        // than leave it queued (the level-triggered listener would spin on it).
        if (reserve_fd_ < 0) return;
        close(reserve_fd_);
        if (listener.Accept(&fd) == net::Listener::AcceptStatus::kAccepted) Reject(fd);
        reserve_fd_ = OpenReserveFd();
        continue;
    }
    if (context_->curr_connections.load(std::memory_order_relaxed) >= client_limit_) {
      Reject(fd);
      continue;
    }
    context_->curr_connections.fetch_add(1, std::memory_order_relaxed);
    stats_.Add(Stat::kTotalConnections);
    workers_[next_worker_]->Adopt(fd, listener.tls_mode(), accept_lapses_);
    next_worker_ = (next_worker_ + 1) % workers_.size();
  }
}

void Server::Reject(int fd) {
  MNEMO_LOG(1, "Too many open connections\n");
  stats_.Add(Stat::kRejectedConnections);  // before the reply, so a client's next `stats` sees it
  // A fresh socket's send buffer is empty, so the reply fits without blocking.
  [[maybe_unused]] const ssize_t sent = send(fd, replies::kTooManyConnections.data(),
                                             replies::kTooManyConnections.size(), MSG_NOSIGNAL);
  // Unread request bytes would turn the close into a reset, which can destroy the reply before
  // the client reads it.
  char discard[4096];
  while (recv(fd, discard, sizeof(discard), MSG_DONTWAIT) > 0) {
  }
  close(fd);
}

}  // namespace mnemo::server
