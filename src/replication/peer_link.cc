#include "replication/peer_link.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "base/logging.h"
#include "replication/record_encoder.h"
#include "replication/replication_counters.h"

namespace mnemo::replication {
namespace {

constexpr size_t kReadChunk = 4096;
constexpr int kMaxIovecs = 64;
// A peer's reply line longer than this is not one of ours: the link is broken.
constexpr size_t kMaxLine = 1024;

// Parses a decimal count; false if `text` is not one.
bool ParseCount(std::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > 20) return false;
  uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return false;
    value = value * 10 + digit;
  }
  *out = value;
  return true;
}

}  // namespace

int64_t PeerLink::Poll(int64_t now_ms) {
  if (stream_.dropped() && !drop_handled_) {
    // A worker found the backlog full (and counted it).
    DropStream("its backlog (repl_backlog_mb) is full", now_ms);
  }
  const int64_t oldest = stream_.OldestUnackedMs();
  if (oldest != 0 && now_ms - oldest > context_.lag_max_ms) {
    ReplicationCounters::Add(context_.counters.backlog_overflows);
    DropStream("its oldest record is older than repl_lag_max_ms", now_ms);
  }
  if (state_ == State::kIdle && now_ms >= retry_at_ms_) Connect(now_ms);
  if (state_ == State::kStreaming) Write();
  if (state_ == State::kStreaming && now_ms - last_mn_ms_ >= context_.lease_ms / 4) Ping(now_ms);
  const int64_t unacked = stream_.OldestUnackedMs();
  return unacked == 0 ? 0 : std::max<int64_t>(now_ms - unacked, 0);
}

void PeerLink::Retry(int64_t now_ms) {
  if (state_ != State::kIdle || retry_at_ms_ <= now_ms) return;
  retry_at_ms_ = now_ms;
  retry_ms_ = kFirstRetryMs;
}

void PeerLink::DiscardStale(int64_t now_ms) {
  if (stream_.OldestUnackedMs() == 0) return;  // nothing to discard: the stream goes on
  DropStream("this node's lease lapsed, and the peer may since have taken newer writes", now_ms);
}

bool PeerLink::Idle() const {
  return partial_ == 0 && lease_line_sent_ == lease_line_.size() &&
         std::ranges::all_of(stream_.unacked(), [](const Batch& batch) { return batch.written; });
}

bool PeerLink::SendLine(std::string_view line) {
  const ssize_t n = send(fd_, line.data(), line.size(), MSG_NOSIGNAL);
  if (n == static_cast<ssize_t>(line.size())) return true;
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    write_blocked_ = true;
    return false;
  }
  Fail("cannot write a control line");  // a part of a line would corrupt the stream
  return false;
}

void PeerLink::Ping(int64_t now_ms) {
  if (write_blocked_ || !Idle()) return;  // a batch's mn is on its way
  if (!SendLine(kBatchEnd)) return;
  mn_sent_.push_back({now_ms, true});
  last_mn_ms_ = now_ms;
}

void PeerLink::DropStream(const char* why, int64_t now_ms) {
  std::fprintf(stderr,
               "replication: dropped the stream to %s: %s; it misses the writes since until it "
               "reconnects\n",
               name_.c_str(), why);
  stream_.Drop();
  drop_handled_ = true;
  Close();
  retry_at_ms_ = now_ms;  // reconnect at once: the stream starts over
}

void PeerLink::Connect(int64_t now_ms) {
  last_attempt_ms_ = now_ms;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(address_.port);
  retry_at_ms_ = now_ms + retry_ms_;
  retry_ms_ = std::min(retry_ms_ * 2, kMaxRetryMs);
  if (getaddrinfo(address_.host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
    MNEMO_LOG(1, "replication: cannot resolve %s\n", address_.host.c_str());
    return;
  }
  fd_ = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    freeaddrinfo(found);
    return;
  }
  const int one = 1;
  (void)setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  const int rc = connect(fd_, found->ai_addr, found->ai_addrlen);
  freeaddrinfo(found);
  if (rc != 0 && errno != EINPROGRESS) {
    close(fd_);
    fd_ = -1;
    return;
  }
  if (!context_.loop.AddEdgeTriggered(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP, this).ok()) {
    close(fd_);
    fd_ = -1;
    return;
  }
  state_ = State::kConnecting;
  write_blocked_ = true;  // until the connection is made
  readable_ = false;
  input_.clear();
  partial_ = 0;
}

void PeerLink::OnEvents(uint32_t events) {
  if (state_ == State::kIdle) return;  // closed earlier in this round
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) readable_ = true;
  if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0) write_blocked_ = false;
  if (state_ == State::kConnecting) {
    if (write_blocked_) return;
    int error = 0;
    socklen_t length = sizeof(error);
    if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0) {
      Fail("cannot connect");
      return;
    }
    state_ = State::kHandshake;
    // The line is far smaller than an empty socket's send buffer.
    const std::string& line = context_.handshake;
    if (send(fd_, line.data(), line.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
      Fail("cannot send mn_peer");
      return;
    }
  }
  if (readable_) Read();
  if (state_ == State::kStreaming) Write();
}

void PeerLink::Read() {
  while (state_ != State::kIdle) {
    const size_t at = input_.size();
    input_.resize(at + kReadChunk);
    const ssize_t n = recv(fd_, input_.data() + at, kReadChunk, 0);
    input_.resize(at + static_cast<size_t>(std::max<ssize_t>(n, 0)));
    if (n == 0) {
      Fail("the peer closed the connection");
      return;
    }
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        readable_ = false;
        break;
      }
      if (errno == EINTR) continue;
      Fail("cannot read");
      return;
    }
    size_t start = 0;
    for (size_t end = input_.find('\n'); end != std::string::npos && state_ != State::kIdle;
         end = input_.find('\n', start)) {
      std::string_view line(input_.data() + start, end - start);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      start = end + 1;
      OnLine(line);
    }
    if (state_ == State::kIdle) return;
    input_.erase(0, start);
    if (input_.size() > kMaxLine) {
      Fail("the peer sent an overlong line");
      return;
    }
  }
}

void PeerLink::OnLine(std::string_view line) {
  if (state_ == State::kStreaming) {
    if (line == "MN") {
      if (mn_sent_.empty()) return;  // not ours
      const SentMn sent = mn_sent_.front();
      mn_sent_.pop_front();
      if (!sent.ping) stream_.AckOldest();
      lease_until_ms_ = std::max(lease_until_ms_, sent.at_ms + context_.lease_ms);
      stream_.SetLiveUntil(lease_until_ms_);
    } else {
      // Records answer nothing on success; anything else is the peer's error for one of them.
      MNEMO_LOG(2, "replication: %s answered \"%.*s\"\n", name_.c_str(),
                static_cast<int>(line.size()), line.data());
    }
    return;
  }
  // kHandshake: "PEER <run id> <applied|FULL>".
  const size_t space = line.rfind(' ');
  uint64_t applied = 0;
  if (!line.starts_with("PEER ") || space == std::string_view::npos ||
      (line.substr(space + 1) != "FULL" && !ParseCount(line.substr(space + 1), &applied))) {
    // Once until it is accepted: a node without the node list refuses every second.
    if (!refused_) {
      std::fprintf(stderr, "replication: %s refused mn_peer: \"%.*s\"\n", name_.c_str(),
                   static_cast<int>(line.size()), line.data());
    }
    refused_ = true;
    retry_ms_ = kMaxRetryMs;
    Fail("refused");
    return;
  }
  // FULL: the peer holds nothing it could prove current; a full resync (later) would send it
  // every item it is a replica of. For now its count starts over, at 0.
  if (stream_.dropped()) stream_.Reopen();
  drop_handled_ = false;
  refused_ = false;
  const uint64_t resent = stream_.Resume(applied);
  if (resent != 0) ReplicationCounters::Add(context_.counters.partial_resyncs);
  state_ = State::kStreaming;
  stream_.SetLiveUntil(SteadyMillis() + context_.lease_ms);
  stream_.SetStreaming(true);
  retry_ms_ = kFirstRetryMs;
  context_.counters.peers_connected.fetch_add(1, std::memory_order_relaxed);
  MNEMO_LOG(1, "replication: streaming to %s from record %llu\n", name_.c_str(),
            static_cast<unsigned long long>(applied + 1));  // NOLINT(google-runtime-int)
  // The peer's first reading of this node's clock, sent at once, so that no stall of this thread
  // between a later check of the lease and a write can have delayed it: even the first batch's
  // lease line is checked against it (lease_fence.h). Its "0" bounds no record. (A write that
  // fails closes the link, as any.)
  (void)SendLine("mn_peer lease " + std::to_string(SteadyMillis()) + " 0\r\n");
}

void PeerLink::Write() {
  // Takes one batch at most: records appended after it wake the thread again, and the loop reads
  // the peer's MNs in between (a link that took batches for as long as workers append would
  // never read them).
  // Control lines still go out: the catch-up's requests are among them.
  const int64_t lease = context_.records_lease ? context_.records_lease() : 0;
  bool taken = false;
  for (;;) {
    if (write_blocked_) return;
    if (!control_.empty() && Idle()) {
      if (!SendLine(control_)) return;
      control_.clear();
      continue;
    }
    if (lease == kHoldRecords) return;
    std::deque<Batch>& batches = stream_.unacked();
    auto first = std::find_if(batches.begin(), batches.end(),
                              [](const Batch& batch) { return !batch.written; });
    if (first == batches.end()) {
      if (taken || !stream_.TakeBatch()) return;
      taken = true;
      first = std::prev(batches.end());
    }
    iovec iov[kMaxIovecs];
    int count = 0;
    if (partial_ == 0 && lease_line_sent_ == lease_line_.size()) {
      // At a batch boundary: the lease what follows goes out under, in the same writev.
      lease_line_ =
          "mn_peer lease " + std::to_string(SteadyMillis()) + " " + std::to_string(lease) + "\r\n";
      lease_line_sent_ = 0;
    }
    if (lease_line_sent_ < lease_line_.size()) {
      iov[count].iov_base = lease_line_.data() + lease_line_sent_;
      iov[count].iov_len = lease_line_.size() - lease_line_sent_;
      ++count;
    }
    size_t skip = partial_;
    for (auto it = first; it != batches.end() && count + 2 <= kMaxIovecs; ++it) {
      const std::string_view pieces[2] = {it->bytes, kBatchEnd};
      for (const std::string_view piece : pieces) {
        if (skip >= piece.size()) {
          skip -= piece.size();
          continue;
        }
        iov[count].iov_base = const_cast<char*>(piece.data() + skip);  // NOLINT: writev's type
        iov[count].iov_len = piece.size() - skip;
        skip = 0;
        ++count;
      }
    }
    const ssize_t n = writev(fd_, iov, count);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        write_blocked_ = true;
        return;
      }
      if (errno == EINTR) continue;
      Fail("cannot write");
      return;
    }
    ReplicationCounters::Add(context_.counters.bytes_sent, static_cast<uint64_t>(n));
    const size_t of_line = std::min(static_cast<size_t>(n), lease_line_.size() - lease_line_sent_);
    lease_line_sent_ += of_line;
    size_t written = partial_ + static_cast<size_t>(n) - of_line;
    for (auto it = first; it != batches.end(); ++it) {
      const size_t whole = it->bytes.size() + kBatchEnd.size();
      if (written < whole) break;
      written -= whole;
      it->written = true;
      last_mn_ms_ = SteadyMillis();
      mn_sent_.push_back({last_mn_ms_, false});
      ReplicationCounters::Add(context_.counters.records_sent, it->records);
    }
    partial_ = written;
  }
}

void PeerLink::Fail(const char* why) {
  MNEMO_LOG(1, "replication: link to %s: %s\n", name_.c_str(), why);
  Close();
}

void PeerLink::Close() {
  if (state_ == State::kIdle) return;
  if (state_ == State::kStreaming) {
    context_.counters.peers_connected.fetch_sub(1, std::memory_order_relaxed);
    stream_.SetStreaming(false);
  }
  context_.loop.Remove(fd_);
  close(fd_);
  fd_ = -1;
  state_ = State::kIdle;
  input_.clear();
  partial_ = 0;
  mn_sent_.clear();
  control_.clear();
  lease_line_.clear();
  lease_line_sent_ = 0;
  // What was written on this connection and not acknowledged is written again on the next.
  for (Batch& batch : stream_.unacked()) batch.written = false;
}

}  // namespace mnemo::replication
