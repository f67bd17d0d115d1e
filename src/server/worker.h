// Worker is one of the -t worker threads: it runs its own epoll loop and serves the connections
// handed to it, each from accept to close, with its own storage Context, buffer pool and
// counters, so that serving a request takes no lock in the server.
//
// The listener hands over an accepted fd through Adopt(), which queues it under a mutex and wakes
// the loop through its eventfd; that lock is taken once per connection, never per request.
// Connections that stop early to let others run (yield) are driven again at the end of the round;
// connections that close are freed at the end of the round, after any event already collected
// for them has been skipped. Connections waiting for connection memory are resumed at the end of
// a round once the budget has room; a round that frees memory wakes the other workers that have
// such connections (a wake that races with a worker starting to wait is made up by its next
// tick). A connection whose command needs bytes of flash that the page cache does not hold waits
// while the worker's FlashReader reads them (io_uring, or a thread pool, into the page cache) and
// runs the command again when the read completes (its eventfd is in the loop); a read that cannot
// be queued is done blocking at the end of the round, and a connection closed meanwhile is simply
// not resumed. A connection that holds a write's reply for its replicas (-o replication=sync) is
// resumed at the end of a round once they acknowledged it or its deadline passed; the replication
// thread wakes the loop while any wait. Once a second, the worker closes connections idle for
// longer than -o idle_timeout and those stuck holding memory (Session::CloseIfStuck), frees the
// pool's blocks that stayed idle, and asks the allocator to give freed memory back to the system.
//
// Invariants:
//  (1) Every session in sessions_ is open; sessions_[s->owner_index] == s.
//  (2) A session is in yielded_ iff its `yielded` flag is set, and then it is open.
//  (3) A session is in waiting_ iff its `waiting` flag is set, and then it is open.
//  (4) A session is in flash_reads_ iff its `flash_read` id is not 0, under that id, and then it
//      is open.
//  (5) A session is in repl_waits_ iff its `repl_waiting` flag is set, and then it is open.
//  (6) A session is in rejoin_waits_ iff its `rejoin_waiting` flag is set, and then it is open.
// Thread safety: Adopt() and Stop() from any thread; Start() and Join() from the thread that owns
// the Worker; everything else runs on the worker's thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "flash/flash_reader.h"
#include "net/buffer_pool.h"
#include "net/event_loop.h"
#include "server/server_context.h"
#include "server/session.h"
#include "server/stats.h"
#include "server/udp_endpoint.h"
#include "storage/cache.h"

namespace mnemo::server {

class Worker final : private net::EventLoop::Observer, private SessionOwner {
 public:
  explicit Worker(ServerContext& server);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Creates the loop and starts the thread.
  Status Start();
  // Gives the worker a UDP socket (-U) to serve; it owns the descriptor from now on.
  // REQUIRES: called before Start().
  void AddUdpSocket(int fd) { udp_fds_.push_back(fd); }
  // Hands over an accepted, non-blocking connection, which speaks TLS as `tls_mode` says (with
  // -Z); the worker owns it from now on.
  // `lapses_at_accept`: see Session's constructor.
  void Adopt(int fd, net::TlsMode tls_mode = net::TlsMode::kConfigured,
             uint64_t lapses_at_accept = 0) EXCLUDES(pending_mu_);
  // Wakes the loop if connections wait for memory, to resume them if the budget has room.
  void WakeIfWaitingForMemory();
  // Wakes the loop (the replication thread: connections' writes may have been acknowledged).
  // REQUIRES: after Start().
  void Wake() { loop_->Wake(); }
  void Stop();
  void Join();

  // Registered with the server's StatsRegistry before Start().
  const ThreadStats& stats() const { return stats_; }
  // Registered in ServerContext::buffer_pools before Start().
  const net::BufferPool& buffer_pool() const { return pool_; }

 private:
  void Run();
  void TakePendingConnections() EXCLUDES(pending_mu_);

  // net::EventLoop::Observer
  void OnWake() override;
  bool OnRoundEnd() override;
  void OnTick() override;
  // SessionOwner
  void OnSessionYield(Session* session) override;
  void OnSessionClosed(Session* session) override;
  void OnSessionWaitingForMemory(Session* session) override;
  void OnSessionWaitingForFlash(Session* session) override;
  void OnSessionWaitingForReplication(Session* session) override;
  void OnSessionWaitingForRejoin(Session* session) override;
  // Resumes the sessions whose writes' replicas acknowledged them, or whose wait timed out.
  void ResumeReplicationWaits();
  // Resumes the sessions waiting for memory if the budget has room.
  void ResumeWaiting();
  // Starts the flash reader, if the cache has a flash tier, and lets the context wait for flash.
  void StartFlashReader(storage::Cache::Context& context);
  // Resumes the sessions whose reads of flash completed.
  void OnFlashReadsDone();
  // Resumes the session of read `id`, if still open, with its bytes served (Cache::
  // SetFlashWaitServed): it reads blocking whatever the page cache lost of them again.
  void ResumeAfterFlash(uint64_t id);

  // The flash reader's eventfd, in the loop.
  class FlashCompletions final : public net::EventLoop::Handler {
   public:
    explicit FlashCompletions(Worker& worker) : worker_(worker) {}
    void OnEvents(uint32_t /*events*/) override { worker_.OnFlashReadsDone(); }

   private:
    Worker& worker_;
  };
  struct FlashRead {
    Session* session;
    storage::FlashWait wait;
  };

  ServerContext& server_;
  ThreadStats stats_;
  std::unique_ptr<net::EventLoop> loop_;
  std::thread thread_;

  std::atomic<bool> has_waiting_{false};  // waiting_ is not empty; written by the worker only

  Mutex pending_mu_;
  struct Pending {
    int fd;
    net::TlsMode tls_mode;
    uint64_t lapses_at_accept;
  };
  std::vector<Pending> pending_ GUARDED_BY(pending_mu_);

  // Worker-thread state, created when the thread starts.
  storage::Cache::Context* cache_context_ = nullptr;
  net::BufferPool pool_;
  std::unique_ptr<SessionServices> services_;
  std::vector<char> tls_write_buffer_;  // with -Z: every TLS session's Flush encrypts here
  std::vector<std::unique_ptr<Session>> sessions_;
  std::vector<Session*> yielded_;
  std::vector<Session*> resuming_;  // yielded_ of the previous round, being driven again
  std::vector<std::unique_ptr<Session>> closed_;  // freed at the end of the round
  std::vector<Session*> waiting_;                 // waiting for connection memory
  std::vector<Session*> waking_;                  // waiting_ being resumed
  std::vector<int> udp_fds_;                      // given before Start, served from Run
  std::vector<std::unique_ptr<UdpEndpoint>> udp_endpoints_;
  std::unique_ptr<flash::FlashReader> flash_reader_;  // null without a flash tier
  FlashCompletions flash_completions_{*this};
  std::unordered_map<uint64_t, FlashRead> flash_reads_;  // by id (invariant 4)
  uint64_t last_flash_read_ = 0;                         // the last id given
  std::vector<uint64_t> flash_unqueued_;  // reads the reader refused: done at the round's end
  std::vector<uint64_t> flash_done_;      // reads completed, being resumed
  std::vector<Session*> repl_waits_;      // sessions holding a reply for their replicas (sync)
  std::vector<Session*> repl_resuming_;
  std::vector<Session*> rejoin_waits_;  // sessions held while the node is returning (invariant 6)
};

}  // namespace mnemo::server
