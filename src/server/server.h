// Server is mnemod: the listening sockets, the cache, the worker threads, and the main thread's
// loop that accepts connections and hands them to the workers round robin. It runs until SIGINT,
// SIGTERM, SIGUSR1 (memcached's graceful stop) or the `shutdown` command, then stops accepting,
// stops every worker, joins every thread and returns. After a graceful stop (SIGUSR1, `shutdown
// graceful`) with a memory file (-e), the cache is saved for a warm restart before it is freed.
// SIGHUP, which memcached answers by reloading its TLS certificates, reads the node list of
// -o cluster_file again (replication/replication.h); without one it is ignored.
//
// -c is counted as memcached counts it, in file descriptors: memcached turns a client away when
// the descriptor accept() gave it is -c minus 1 or more, so it admits -c - 1 - D clients, D being
// the descriptors it holds itself. mnemod admits exactly as many clients as memcached 1.6.45 with
// the same -t and listening sockets (see ClientLimit in server.cc), and, like memcached, does not
// start with a -c that leaves no descriptor for a client at all. An accepted socket over the limit
// is answered "ERROR Too many open connections" and closed at once, as memcached does, and
// counted in rejected_connections. When the process runs out of file descriptors, a descriptor
// kept in reserve is freed for a moment so that the waiting client can be told the same instead of
// being left in the listen queue.
//
// The flash devices of -o ext_path are opened by OpenFlash(), after privileges are dropped (so a
// file it creates belongs to the -u user, as memcached's does) and before daemonizing (so that a
// device that cannot be opened is reported to the shell that started the server).
//
// Thread safety: Create(), OpenFlash() and Run() from the main thread; RequestShutdown() from any
// thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "base/status.h"
#include "flash/flash_space.h"
#include "net/event_loop.h"
#include "net/listener.h"
#include "net/tls_context.h"
#include "replication/replication.h"
#include "server/connection_registry.h"
#include "server/credentials.h"
#include "server/metrics_endpoint.h"
#include "server/options.h"
#include "server/server_context.h"
#include "server/stats.h"
#include "server/worker.h"
#include "storage/cache.h"

namespace mnemo::server {

class Server final : private net::EventLoop::Observer {
 public:
  // Binds the listening sockets; nothing runs yet, so the caller may daemonize and drop
  // privileges before Run().
  static Status Create(const Options& options, std::unique_ptr<Server>* out);
  ~Server();

  // Opens every -o ext_path, cut into flash segments of the memory segments' size. Fails, in
  // memcached's words where it has them ("Failed to initialize external storage: ..."), if one
  // cannot be opened or sized or the ext_* options are inconsistent. Does nothing without
  // ext_path.
  Status OpenFlash();

  // -Z: every TCP connection speaks TLS with `tls`'s certificates. REQUIRES: before Run().
  void SetTls(std::unique_ptr<net::TlsContext> tls) { tls_ = std::move(tls); }
  // SIGHUP: reloads the certificates, if TLS is on; says why it could not.
  void ReloadTls();

  // -S and -Y: the credentials their connections are checked against (either may be null: off).
  // REQUIRES: before Run().
  void SetCredentials(std::unique_ptr<CredentialStore> sasl,
                      std::unique_ptr<CredentialStore> ascii_auth) {
    sasl_ = std::move(sasl);
    ascii_auth_ = std::move(ascii_auth);
  }
  // SIGHUP: reads the -S and -Y files again, as memcached reads its -Y file again; a file that
  // cannot be read keeps the credentials it had, and is reported.
  void ReloadCredentials();

  // Creates the cache and the workers and serves until stopped. SIGINT, SIGTERM, SIGHUP and
  // SIGUSR1 are blocked in every thread the server starts and read from a signalfd on the main
  // loop.
  Status Run();

  // Stops Run() as SIGTERM does, or as SIGUSR1 does if `graceful`.
  void RequestShutdown(bool graceful);
  // SIGHUP: reads the node list again, if there is one. Main thread.
  void ReloadNodeList();

 private:
  class Acceptor;
  class SignalReader;

  explicit Server(Options options) : options_(std::move(options)) {}
  // Accepts up to kMaxAcceptsPerEvent connections, or, with `drain`, every one queued.
  void AcceptFrom(net::Listener& listener, bool drain = false);
  // Opens the Prometheus endpoint of -o metrics_port on metrics_addr, or -l's first address.
  Status StartMetrics();
  // Answers and closes a connection over the limit.
  void Reject(int fd);

  // net::EventLoop::Observer
  // A node that found its lease lapsed asks for the listen queues to be drained
  // (Replication::lapses()).
  void OnWake() override;
  // Once per lapse: accepts every connection queued, tagged with the count from before.
  void DrainAfterLapse();
  bool OnRoundEnd() override { return false; }
  void OnTick() override {}

  const Options options_;
  // Set by SIGUSR1 or `shutdown graceful`: with -e, the cache is saved as Run() returns. Only the
  // main thread's loop stops the server, but `shutdown` runs on a worker, hence atomic.
  std::atomic<bool> graceful_{false};
  std::vector<std::unique_ptr<net::Listener>> listeners_;
  std::vector<int> udp_fds_;  // -U's sockets, until Run() hands them to the workers
  int64_t client_limit_ = 0;  // connections admitted at once
  std::unique_ptr<net::EventLoop> loop_;
  // Rejoin (Replication::lapses()): the thread that finds a lapse asks, with the new count, for
  // every connection queued in the listen queues to be accepted under the count from before, and
  // waits until the main thread has (DrainListenQueues, DrainAfterLapse). accept_lapses_ is what
  // an accepted connection is tagged with: the count as of the last drain. Main thread only.
  void DrainListenQueues(uint64_t lapses);
  std::atomic<uint64_t> drain_asked_{0};
  std::atomic<uint64_t> drain_done_{0};
  std::atomic<bool> accepting_{true};  // false once the main loop has returned
  uint64_t accept_lapses_ = 0;
  std::unique_ptr<flash::FlashSpace> flash_;  // -o ext_path; null without it
  // -o cluster_file; null without it. Outlives the cache, whose observer it is.
  std::unique_ptr<replication::Replication> replication_;
  std::unique_ptr<net::TlsContext> tls_;         // -Z; null without it
  std::unique_ptr<CredentialStore> sasl_;        // -S; null without it
  std::unique_ptr<CredentialStore> ascii_auth_;  // -Y; null without it
  std::unique_ptr<storage::Cache> cache_;
  std::unique_ptr<ServerContext> context_;
  std::unique_ptr<MetricsEndpoint> metrics_;  // -o metrics_port; null without it
  std::vector<std::unique_ptr<Worker>> workers_;
  ThreadStats stats_;  // the accepting thread's counters
  size_t next_worker_ = 0;
  int reserve_fd_ = -1;
};

}  // namespace mnemo::server
