// WatchLog is memcached's `watch` (its logger.c): connections that asked to watch receive a live
// stream of log lines, "ts=... gid=... type=... key=value ...\n", for the kinds of events they
// chose (fetchers, mutations, deletions, connevents ...). docs/watch.md lists the lines.
//
// Every thread that logs has its own bounded LogBuffer (log_buffer.h), made the first time it logs
// and drained by one logger thread, which renders each line's time and gid and copies it into the
// output of every watcher that wants it, then writes to the watchers' sockets without blocking.
// Nothing the logger does can slow a thread that logs: a line that finds its thread's buffer full
// is dropped (log_worker_dropped), and a watcher that reads too slowly to take a line loses it
// (log_watcher_skipped) and is told how many it lost, "skipped=N\n", before its next line, as
// memcached tells it.
//
// While nobody watches, logging costs one relaxed load (Watching). The logger thread starts with
// the first watcher and sleeps on a condition while there is none.
//
// Invariants:
//  (1) flags_ is the union of the flags of the watchers added and not yet closed.
//  (2) A watcher sees only lines logged after it was added (gid above its min_gid).
// Thread safety: everything may be called from any thread; watchers are the logger thread's once
// added.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "base/thread_annotations.h"
#include "server/log_buffer.h"

namespace mnemo::server {

// The kinds of lines a watcher chooses, memcached's LOG_* flags.
enum WatchFlag : uint16_t {
  kWatchSysEvents = 1 << 1,
  kWatchFetchers = 1 << 2,
  kWatchMutations = 1 << 3,
  kWatchConnEvents = 1 << 5,
  kWatchEvictions = 1 << 6,
  kWatchRawCmds = 1 << 9,
  kWatchProxyReqs = 1 << 10,
  kWatchProxyEvents = 1 << 11,
  kWatchProxyUser = 1 << 12,
  kWatchDeletions = 1 << 13,
};

// The words of `watch` as memcached 1.6.45 reads them: each a prefix of a flag's name ("fetch"
// is fetchers), tried in memcached's order; none at all watches fetchers. Returns false if a word
// names no flag (memcached answers ERROR).
bool ParseWatchFlags(std::string_view arguments, uint16_t* flags);

// The `log_*` lines of `stats`.
struct WatchLogCounters {
  uint64_t worker_dropped = 0;   // lines a full thread buffer dropped
  uint64_t worker_written = 0;   // lines written to thread buffers
  uint64_t watcher_skipped = 0;  // lines a watcher lost, its output full
  uint64_t watcher_sent = 0;     // lines copied to a watcher's output
  uint64_t watchers = 0;         // watchers connected now
};

class WatchLog {
 public:
  // memcached's limit on watchers at once.
  static constexpr size_t kMaxWatchers = 20;

  // `thread_buffer_bytes` is each logging thread's buffer (-o worker_logbuf_size),
  // `watcher_buffer_bytes` each watcher's output (-o watcher_logbuf_size).
  WatchLog(size_t thread_buffer_bytes, size_t watcher_buffer_bytes);
  // Stops the logger thread and closes the watchers' sockets.
  ~WatchLog();
  WatchLog(const WatchLog&) = delete;
  WatchLog& operator=(const WatchLog&) = delete;

  // Whether some watcher wants lines of one of `flags` (WatchFlag bits): the one load logging
  // costs while nobody watches.
  bool Watching(uint16_t flags) const {
    return (flags_.load(std::memory_order_relaxed) & flags) != 0;
  }

  // Logs `line` (what follows "ts=... gid=... ", ending in "\n") as a line of `flag`, stamped with
  // the time and the next gid. Goes to the calling thread's buffer; dropped if it is full.
  void Log(WatchFlag flag, std::string_view line);

  enum class AddResult : uint8_t {
    kOk,       // the watcher owns `fd` now; it is sent "OK\r\n" and then its lines
    kTooMany,  // kMaxWatchers watch already: "WATCHER_TOO_MANY log watcher limit reached"
    kFailed,   // the logger thread could not start: "WATCHER_FAILED failed to add log watcher"
  };
  // Makes `fd`, a connected socket, a watcher of the lines of `flags`. On kOk the log owns the fd
  // and closes it once the client hangs up or the log is destroyed; otherwise the caller keeps it.
  [[nodiscard]] AddResult AddWatcher(int fd, uint16_t flags) EXCLUDES(mu_);

  WatchLogCounters Counters() const EXCLUDES(mu_);

 private:
  struct Watcher {
    int fd;
    uint16_t flags;
    uint64_t min_gid;    // lines with a gid at or below it were logged before it came
    std::string output;  // lines not yet sent, from output_sent on
    size_t output_sent = 0;
    uint64_t skipped = 0;  // lines lost since the last one it was given
  };

  LogBuffer& ThisThreadBuffer() EXCLUDES(mu_);
  void Run() EXCLUDES(mu_);
  // Copies the lines of every thread buffer into the watchers' outputs; returns the lines read.
  size_t Distribute(const std::vector<LogBuffer*>& buffers);
  void Deliver(const LogRecord& record);
  // Waits up to `timeout_ms` for a watcher to be writable (with output) or readable, then sends
  // and reads what it can, closing watchers that hung up.
  void Poll(int timeout_ms) EXCLUDES(mu_);
  void CloseWatcher(size_t index) EXCLUDES(mu_);

  const size_t thread_buffer_bytes_;
  const size_t watcher_buffer_bytes_;
  const uint64_t id_;  // tells this log's thread buffers from another's (ThisThreadBuffer)

  std::atomic<uint16_t> flags_{0};  // invariant 1
  std::atomic<uint64_t> gid_{0};
  std::atomic<uint64_t> watcher_skipped_{0};
  std::atomic<uint64_t> watcher_sent_{0};
  std::atomic<uint64_t> watcher_count_{0};

  mutable Mutex mu_;
  CondVar wake_;
  std::vector<std::unique_ptr<LogBuffer>> buffers_ GUARDED_BY(mu_);
  std::vector<Watcher> incoming_ GUARDED_BY(mu_);  // added, not yet taken by the logger thread
  size_t watchers_total_ GUARDED_BY(mu_) = 0;      // incoming and the logger thread's
  bool stopping_ GUARDED_BY(mu_) = false;
  std::thread thread_;  // started with the first watcher

  // The logger thread's own: its watchers, and the line it renders.
  std::vector<Watcher> watchers_;
  std::string prefix_;
};

}  // namespace mnemo::server
