// LoadThread offers one thread's share of a run's load. It owns `connections` clients; a client
// is one logical user with one socket to every server, a request generator, and at most
// `pipeline` requests in flight over all its sockets. One epoll loop serves all the sockets:
//
//   - Requests are appended to their socket's output buffer (the key's ketama server picks the
//     socket) and each socket is written once per loop iteration, so a pipeline of 16 requests
//     costs one write.
//   - Replies are parsed as they arrive (ResponseReader), matched in order to the socket's
//     in-flight requests, and timed.
//   - Closed loop (no rate): a client refills its pipeline as soon as its replies are read, so
//     clients are served in the order the server answers them.
//   - Open loop (a rate): each client's requests fall due at fixed intervals; a request is timed
//     from when it fell due, not from when it could be sent, so a stalled server is charged for
//     the whole wait (no coordinated omission).
//   - Issuing stops at the deadline, when the thread's request quota is used up, or when every
//     preload generator is done; then the thread waits for the replies still in flight (at most
//     kDrainTimeoutNs) and exits.
//
// Invariants:
//  (1) A socket's in-flight queue holds one entry per request written or buffered and not yet
//      answered, in the order they were sent; a client's `outstanding` is the sum over its sockets
//      and never exceeds the pipeline depth.
//  (2) Every reply is counted exactly once, in the stats published by the thread that read it.
// Thread safety: Connect, Start and Join are called by the owning (main) thread; the worker
// thread touches everything else until Join returns, except published_, which both reach
// under lock_ through CollectInto, and the finished_ and abort_ flags.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/spin_lock.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "cluster/ketama.h"
#include "endpoint.h"
#include "options.h"
#include "request_generator.h"
#include "response_reader.h"
#include "run_stats.h"

namespace mnemo::bench {

// What every thread of one run shares; read-only while the run lasts.
struct LoadPlan {
  const LoadOptions* options = nullptr;
  std::vector<Endpoint> endpoints;            // one per server, in --server order
  const cluster::KetamaRing* ring = nullptr;  // null with a single server
  std::string_view values;                    // value bytes: a set of n bytes sends the first n
  bool preload = false;
  uint32_t pipeline = 1;
  uint64_t clients = 1;           // over all threads
  int64_t duration_ns = 0;        // 0: no time limit
  double client_interval_ns = 0;  // open loop: between one client's requests; 0: closed loop
};

// The monotonic clock in nanoseconds.
int64_t NowNs();

class LoadThread {
 public:
  // Replies still missing this long after issuing stops are abandoned (counted as unanswered).
  static constexpr int64_t kDrainTimeoutNs = 5'000'000'000;

  // `first_client` is this thread's first client's index among all clients; `quota` bounds the
  // requests it issues (UINT64_MAX: none).
  LoadThread(const LoadPlan* plan, uint32_t first_client, uint64_t quota);
  ~LoadThread();
  LoadThread(const LoadThread&) = delete;
  LoadThread& operator=(const LoadThread&) = delete;

  // Opens every client's sockets. REQUIRES: not started.
  Status Connect();
  // Runs the loop on a new thread; the run's clock starts at `start_ns`.
  void Start(int64_t start_ns);
  // True once the loop has exited; Join then returns at once.
  bool finished() const { return finished_.load(std::memory_order_acquire); }
  // Asks the loop to exit soon (within kPublishPeriodNs), abandoning requests in flight: another
  // thread failed, so the run is over. Callable from any thread.
  void Abort() { abort_.store(true, std::memory_order_relaxed); }
  void Join();

  // Moves what the thread has published since the last call into *into.
  void CollectInto(RunStats* into) EXCLUDES(lock_);

  // After Join: why the loop stopped early (ok if it did not), when it stopped, and how many
  // requests never got a reply.
  const Status& status() const { return status_; }
  int64_t finish_ns() const { return finish_ns_; }
  uint64_t unanswered() const { return unanswered_; }

 private:
  struct Socket;
  struct Client {
    RequestGenerator generator;
    uint32_t first_socket;  // sockets_[first_socket + server]
    uint32_t outstanding = 0;
    int64_t next_due_ns = 0;  // open loop
    bool done = false;        // preload share written
  };

  void Loop();
  // Issues the client's requests while it has room in its pipeline (and, open loop, requests
  // due at `now`), the thread has quota left and the run is issuing.
  void FillClient(Client& client, int64_t now);
  void Issue(Client& client, const Request& request, int64_t start_ns);
  // Reads and handles what the socket has; false on a fatal error (status_ set).
  bool ReadFrom(Socket& socket, int64_t now);
  bool Account(Socket& socket, ReplyKind kind, int64_t now);
  bool Flush(Socket& socket);
  bool FlushDirty();
  bool SetWriteInterest(Socket& socket, bool want);
  int64_t NextWakeNs(int64_t now) const;
  void Publish() EXCLUDES(lock_);
  bool Fail(std::string message);

  const LoadPlan& plan_;
  const uint32_t first_client_;
  uint64_t quota_;
  int epoll_fd_ = -1;
  std::vector<Client> clients_;
  std::vector<std::unique_ptr<Socket>> sockets_;
  std::vector<Socket*> dirty_;  // sockets with requests to write this iteration
  std::string key_;             // scratch: the key being formatted

  int64_t start_ns_ = 0;
  int64_t stop_issuing_ns_ = 0;
  bool issuing_ = true;
  size_t clients_done_ = 0;  // preload generators that have written their share
  uint64_t in_flight_ = 0;   // over all clients
  int64_t next_publish_ns_ = 0;
  RunStats local_;

  SpinLock lock_;
  RunStats published_ GUARDED_BY(lock_);

  std::thread thread_;
  std::atomic<bool> finished_{false};
  std::atomic<bool> abort_{false};
  Status status_;
  int64_t finish_ns_ = 0;
  uint64_t unanswered_ = 0;
};

}  // namespace mnemo::bench
