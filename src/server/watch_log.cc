#include "server/watch_log.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <system_error>
#include <utility>

namespace mnemo::server {
namespace {

// The logger thread's sleep between rounds that found no line, growing from the least to the most
// by an eighth each idle round (memcached's logger does the same, up to a second).
constexpr int kMinSleepMs = 1;
constexpr int kMaxSleepMs = 100;

// The skipped notice memcached writes fits in this.
constexpr size_t kSkippedRoom = 128;

// Distinguishes WatchLogs, so that a thread's buffer is never taken for another log's.
std::atomic<uint64_t> g_next_log_id{1};

void AppendNumber(std::string* out, uint64_t value) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof(digits), value);
  out->append(digits, result.ptr);
}

}  // namespace

bool ParseWatchFlags(std::string_view arguments, uint16_t* flags) {
  // memcached compares each word with the first word-length bytes of each name, in this order.
  static constexpr std::pair<std::string_view, WatchFlag> kNames[] = {
      {"rawcmds", kWatchRawCmds},     {"evictions", kWatchEvictions},
      {"fetchers", kWatchFetchers},   {"mutations", kWatchMutations},
      {"sysevents", kWatchSysEvents}, {"connevents", kWatchConnEvents},
      {"proxyreqs", kWatchProxyReqs}, {"proxyevents", kWatchProxyEvents},
      {"proxyuser", kWatchProxyUser}, {"deletions", kWatchDeletions},
  };
  uint16_t chosen = 0;
  bool any = false;
  size_t start = 0;
  while (start < arguments.size()) {
    if (arguments[start] == ' ') {
      ++start;
      continue;
    }
    size_t end = arguments.find(' ', start);
    if (end == std::string_view::npos) end = arguments.size();
    const std::string_view word = arguments.substr(start, end - start);
    start = end;
    any = true;
    const auto* found = std::find_if(std::begin(kNames), std::end(kNames), [&](const auto& name) {
      return name.first.starts_with(word);
    });
    if (found == std::end(kNames)) return false;
    chosen |= found->second;
  }
  *flags = any ? chosen : static_cast<uint16_t>(kWatchFetchers);
  return true;
}

WatchLog::WatchLog(size_t thread_buffer_bytes, size_t watcher_buffer_bytes)
    : thread_buffer_bytes_(thread_buffer_bytes),
      watcher_buffer_bytes_(watcher_buffer_bytes),
      id_(g_next_log_id.fetch_add(1, std::memory_order_relaxed)) {}

WatchLog::~WatchLog() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
    for (const Watcher& watcher : incoming_) close(watcher.fd);
    incoming_.clear();
  }
  wake_.NotifyAll();
  if (thread_.joinable()) thread_.join();
  for (const Watcher& watcher : watchers_) close(watcher.fd);
}

LogBuffer& WatchLog::ThisThreadBuffer() {
  // A thread that logs into two logs (tests make several servers) takes a new buffer whenever it
  // switches; a server's threads log into its one log only.
  struct Slot {
    uint64_t log_id = 0;
    LogBuffer* buffer = nullptr;
  };
  thread_local Slot slot;
  if (slot.log_id != id_) {
    MutexLock lock(mu_);
    buffers_.push_back(std::make_unique<LogBuffer>(thread_buffer_bytes_));
    slot = {id_, buffers_.back().get()};
  }
  return *slot.buffer;
}

void WatchLog::Log(WatchFlag flag, std::string_view line) {
  timeval now{};
  gettimeofday(&now, nullptr);
  (void)ThisThreadBuffer().Push(LogRecord{flag, gid_.fetch_add(1, std::memory_order_relaxed) + 1,
                                          now.tv_sec, static_cast<int32_t>(now.tv_usec), line});
}

WatchLog::AddResult WatchLog::AddWatcher(int fd, uint16_t flags) {
  MutexLock lock(mu_);
  if (watchers_total_ >= kMaxWatchers) return AddResult::kTooMany;
  if (!thread_.joinable()) {
    try {
      thread_ = std::thread([this] { Run(); });
    } catch (const std::system_error&) {
      return AddResult::kFailed;
    }
  }
  // As memcached, taking a gid for the watcher: it sees the lines logged after this one.
  Watcher watcher{fd, flags, gid_.fetch_add(1, std::memory_order_relaxed) + 1, "OK\r\n"};
  incoming_.push_back(std::move(watcher));
  ++watchers_total_;
  watcher_count_.store(watchers_total_, std::memory_order_relaxed);
  flags_.store(flags_.load(std::memory_order_relaxed) | flags, std::memory_order_relaxed);
  wake_.NotifyAll();
  return AddResult::kOk;
}

WatchLogCounters WatchLog::Counters() const {
  WatchLogCounters counters;
  {
    MutexLock lock(mu_);
    for (const std::unique_ptr<LogBuffer>& buffer : buffers_) {
      counters.worker_written += buffer->written();
      counters.worker_dropped += buffer->dropped();
    }
  }
  counters.watcher_skipped = watcher_skipped_.load(std::memory_order_relaxed);
  counters.watcher_sent = watcher_sent_.load(std::memory_order_relaxed);
  counters.watchers = watcher_count_.load(std::memory_order_relaxed);
  return counters;
}

void WatchLog::Run() {
  int sleep_ms = kMinSleepMs;
  std::vector<LogBuffer*> buffers;
  for (;;) {
    {
      MutexLock lock(mu_);
      wake_.Wait(lock, [this]() REQUIRES(mu_) { return stopping_ || watchers_total_ != 0; });
      if (stopping_) return;
      for (Watcher& watcher : incoming_) watchers_.push_back(std::move(watcher));
      incoming_.clear();
      buffers.clear();
      for (const std::unique_ptr<LogBuffer>& buffer : buffers_) buffers.push_back(buffer.get());
    }
    // Lines logged while no watcher wanted them are dropped with the rest of a round with no
    // watcher; a watcher's min_gid keeps it from older ones anyway.
    if (Distribute(buffers) != 0) {
      sleep_ms = kMinSleepMs;
    } else {
      sleep_ms = std::min(kMaxSleepMs, sleep_ms + std::max(1, sleep_ms / 8));
    }
    Poll(sleep_ms);
  }
}

size_t WatchLog::Distribute(const std::vector<LogBuffer*>& buffers) {
  size_t lines = 0;
  for (LogBuffer* buffer : buffers) {
    lines += buffer->Drain([this](const LogRecord& record) { Deliver(record); });
  }
  return lines;
}

void WatchLog::Deliver(const LogRecord& record) {
  // memcached's prefix: "ts=%lld.%d gid=%llu ", the microseconds unpadded.
  std::string& prefix = prefix_;
  prefix.assign("ts=");
  AppendNumber(&prefix, static_cast<uint64_t>(record.seconds));
  prefix += '.';
  AppendNumber(&prefix, static_cast<uint64_t>(record.microseconds));
  prefix += " gid=";
  AppendNumber(&prefix, record.gid);
  prefix += ' ';
  const size_t size = prefix.size() + record.line.size();
  for (Watcher& watcher : watchers_) {
    if ((watcher.flags & record.event) == 0 || record.gid <= watcher.min_gid) continue;
    const size_t pending = watcher.output.size() - watcher.output_sent;
    if (pending + size + kSkippedRoom > watcher_buffer_bytes_) {
      ++watcher.skipped;
      watcher_skipped_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    if (watcher.skipped != 0) {
      watcher.output += "skipped=";
      AppendNumber(&watcher.output, watcher.skipped);
      watcher.output += '\n';
      watcher.skipped = 0;
    }
    watcher.output += prefix;
    watcher.output += record.line;
    watcher_sent_.fetch_add(1, std::memory_order_relaxed);
  }
}

void WatchLog::Poll(int timeout_ms) {
  std::vector<pollfd> fds;
  fds.reserve(watchers_.size());
  for (const Watcher& watcher : watchers_) {
    const bool pending = watcher.output.size() > watcher.output_sent;
    fds.push_back({watcher.fd, static_cast<int16_t>(POLLIN | (pending ? POLLOUT : 0)), 0});
  }
  if (poll(fds.data(), fds.size(), timeout_ms) <= 0) return;
  // Backwards, so that closing one (which moves the last into its place) skips none.
  for (size_t i = fds.size(); i-- > 0;) {
    Watcher& watcher = watchers_[i];
    bool hung_up = (fds[i].revents & (POLLHUP | POLLERR)) != 0;
    if ((fds[i].revents & POLLIN) != 0) {
      // A watcher's input means nothing; its end of stream means it left.
      char discard[512];
      const ssize_t got = recv(watcher.fd, discard, sizeof(discard), MSG_DONTWAIT);
      if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        hung_up = true;
      }
    }
    if (!hung_up && (fds[i].revents & POLLOUT) != 0) {
      const ssize_t sent =
          send(watcher.fd, watcher.output.data() + watcher.output_sent,
               watcher.output.size() - watcher.output_sent, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (sent > 0) {
        watcher.output_sent += static_cast<size_t>(sent);
        if (watcher.output_sent == watcher.output.size()) {
          watcher.output.clear();
          watcher.output_sent = 0;
        } else if (watcher.output_sent > watcher_buffer_bytes_ / 2) {
          watcher.output.erase(0, watcher.output_sent);
          watcher.output_sent = 0;
        }
      } else if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        hung_up = true;
      }
    }
    if (hung_up) CloseWatcher(i);
  }
}

void WatchLog::CloseWatcher(size_t index) {
  close(watchers_[index].fd);
  if (index + 1 != watchers_.size()) watchers_[index] = std::move(watchers_.back());
  watchers_.pop_back();
  MutexLock lock(mu_);
  --watchers_total_;
  watcher_count_.store(watchers_total_, std::memory_order_relaxed);
  uint16_t flags = 0;
  for (const Watcher& watcher : watchers_) flags |= watcher.flags;
  for (const Watcher& watcher : incoming_) flags |= watcher.flags;
  flags_.store(flags, std::memory_order_relaxed);
}

}  // namespace mnemo::server
