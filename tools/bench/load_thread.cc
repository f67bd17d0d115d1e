#include "load_thread.h"

#include <sched.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>

#include "errno_text.h"
#include "request_writer.h"

namespace mnemo::bench {
namespace {

// Large enough for many pipelined replies per read; the reader streams values through, so a
// buffer never has to hold more than one reply line.
constexpr size_t kReadBufferSize = 16 * 1024;
static_assert(kReadBufferSize > 2 * ResponseReader::kMaxLine);
constexpr int kMaxEvents = 256;
// How often the thread hands its counts to the progress reporter; also the longest it sleeps,
// so it notices Abort() within this time.
constexpr int64_t kPublishPeriodNs = 100'000'000;

}  // namespace

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

namespace {

// The requests of one socket that await replies, oldest first: a ring as deep as the pipeline.
class InFlightQueue {
 public:
  struct Entry {
    int64_t start_ns;  // when the request was sent, or fell due (open loop)
    Op op;
  };

  explicit InFlightQueue(uint32_t capacity) : entries_(std::bit_ceil(capacity)) {}
  bool empty() const { return size_ == 0; }
  // REQUIRES: fewer than `capacity` entries (the pipeline bound guarantees it).
  void Push(Entry entry) {
    entries_[(head_ + size_) & (entries_.size() - 1)] = entry;
    ++size_;
  }
  // REQUIRES: !empty().
  Entry Pop() {
    const Entry entry = entries_[head_];
    head_ = (head_ + 1) & (entries_.size() - 1);
    --size_;
    return entry;
  }

 private:
  std::vector<Entry> entries_;
  size_t head_ = 0;
  size_t size_ = 0;
};

}  // namespace

struct LoadThread::Socket {
  Socket(uint32_t client_index, uint32_t pipeline)
      : client(client_index), in(new char[kReadBufferSize]), in_flight(pipeline) {}
  ~Socket() {
    if (fd >= 0) close(fd);
  }

  int fd = -1;
  uint32_t client;
  bool want_write = false;  // EPOLLOUT is registered: the kernel buffer was full
  bool dirty = false;       // in dirty_
  std::string out;          // requests not yet written, from out_sent on
  size_t out_sent = 0;
  std::unique_ptr<char[]> in;
  size_t in_length = 0;
  ResponseReader reader;
  InFlightQueue in_flight;
};

LoadThread::LoadThread(const LoadPlan* plan, uint32_t first_client, uint64_t quota)
    : plan_(*plan), first_client_(first_client), quota_(quota) {}

LoadThread::~LoadThread() {
  if (thread_.joinable()) thread_.join();
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

Status LoadThread::Connect() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return Status::Error("epoll_create1: " + ErrnoText(errno));
  const LoadOptions& options = *plan_.options;
  const size_t servers = plan_.endpoints.size();
  for (uint32_t c = 0; c < options.connections; ++c) {
    const uint64_t index = first_client_ + c;
    clients_.push_back(Client{plan_.preload
                                  ? RequestGenerator::Preload(options, index, plan_.clients)
                                  : RequestGenerator::Load(options, index, plan_.clients),
                              static_cast<uint32_t>(sockets_.size())});
    for (size_t s = 0; s < servers; ++s) {
      auto socket = std::make_unique<Socket>(c, plan_.pipeline);
      Status status = ConnectTo(plan_.endpoints[s], &socket->fd);
      if (!status.ok()) return status;
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.ptr = socket.get();
      if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, socket->fd, &event) != 0) {
        return Status::Error("epoll_ctl: " + ErrnoText(errno));
      }
      sockets_.push_back(std::move(socket));
    }
  }
  return Status::Ok();
}

void LoadThread::Start(int64_t start_ns) {
  start_ns_ = start_ns;
  issuing_ = quota_ > 0 && !clients_.empty();
  stop_issuing_ns_ = plan_.duration_ns > 0 ? start_ns + plan_.duration_ns : INT64_MAX;
  if (plan_.client_interval_ns > 0) {
    // Stagger the clients' schedules over one interval so that they do not fire together.
    for (size_t c = 0; c < clients_.size(); ++c) {
      const double offset = plan_.client_interval_ns * static_cast<double>(first_client_ + c) /
                            static_cast<double>(plan_.clients);
      clients_[c].next_due_ns = start_ns + static_cast<int64_t>(offset);
    }
  }
  thread_ = std::thread([this] { Loop(); });
}

void LoadThread::Join() {
  if (thread_.joinable()) thread_.join();
}

void LoadThread::Loop() {
  const bool open_loop = plan_.client_interval_ns > 0;
  if (!open_loop) {
    // A closed-loop client on the server's own machine must not steal the CPU from the server
    // each time a reply wakes it: under SCHED_NORMAL every reply preempts the server thread
    // that sent it, so the server answers a pipeline one reply per time slice, spends twice
    // the CPU per request and loses a third of its throughput (memcached 1.6.18, 2 vCPUs).
    // SCHED_BATCH threads never preempt on wakeup; they run when the server blocks or at the
    // next tick, as a client on another machine would find the reply waiting. Open-loop
    // clients keep SCHED_NORMAL: they must send on time. Failure only costs that accuracy.
    const sched_param param{};
    sched_setscheduler(0, SCHED_BATCH, &param);
  }
  int64_t now = NowNs();
  next_publish_ns_ = now + kPublishPeriodNs;
  int64_t drain_deadline = INT64_MAX;
  epoll_event events[kMaxEvents];
  for (Client& client : clients_) FillClient(client, now);
  bool ok = FlushDirty();
  while (ok && !abort_.load(std::memory_order_relaxed)) {
    if (!issuing_ && in_flight_ == 0) break;
    if (!issuing_ && now >= drain_deadline) {
      unanswered_ = in_flight_;
      break;
    }
    const int64_t wait = std::max<int64_t>(0, std::min(NextWakeNs(now), drain_deadline) - now);
    const timespec timeout{static_cast<time_t>(wait / 1'000'000'000),
                           static_cast<long>(wait % 1'000'000'000)};
    const int n = epoll_pwait2(epoll_fd_, events, kMaxEvents, &timeout, nullptr);
    if (n < 0 && errno != EINTR) {
      Fail("epoll_pwait2: " + ErrnoText(errno));
      break;
    }
    now = NowNs();
    if (issuing_ && now >= stop_issuing_ns_) issuing_ = false;
    for (int i = 0; ok && i < n; ++i) {
      Socket& socket = *static_cast<Socket*>(events[i].data.ptr);
      if ((events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) {
        ok = ReadFrom(socket, now);
        // Closed loop: refill a client as soon as its replies are in, so that clients are
        // served in the order the server answered them. A fixed order (client 0 first on every
        // round) would always put the same clients at the back of the server's queue and
        // widen the latency distribution.
        if (ok && !open_loop) FillClient(clients_[socket.client], NowNs());
      }
      if (ok && (events[i].events & EPOLLOUT) != 0) ok = Flush(socket);
    }
    if (!ok) break;
    if (open_loop) {
      now = NowNs();
      for (Client& client : clients_) FillClient(client, now);
    }
    ok = FlushDirty();
    if (!issuing_ && drain_deadline == INT64_MAX) drain_deadline = now + kDrainTimeoutNs;
    if (now >= next_publish_ns_) {
      Publish();
      next_publish_ns_ = now + kPublishPeriodNs;
    }
  }
  Publish();
  finish_ns_ = now;
  finished_.store(true, std::memory_order_release);
}

void LoadThread::FillClient(Client& client, int64_t now) {
  const bool open_loop = plan_.client_interval_ns > 0;
  Request request;
  while (issuing_ && !client.done && client.outstanding < plan_.pipeline) {
    if (open_loop && client.next_due_ns > now) break;
    if (!client.generator.Next(&request)) {
      client.done = true;
      if (++clients_done_ == clients_.size()) issuing_ = false;
      break;
    }
    Issue(client, request, open_loop ? client.next_due_ns : now);
    if (open_loop) client.next_due_ns += static_cast<int64_t>(plan_.client_interval_ns);
    if (--quota_ == 0) issuing_ = false;
  }
}

void LoadThread::Issue(Client& client, const Request& request, int64_t start_ns) {
  const LoadOptions& options = *plan_.options;
  key_.assign(options.key_prefix);
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof(digits), request.key_id).ptr;
  key_.append(digits, end);
  const size_t server = plan_.ring == nullptr ? 0 : plan_.ring->ServerFor(key_);
  Socket& socket = *sockets_[client.first_socket + server];
  if (request.op == Op::kGet) {
    AppendGet(options.protocol, key_, &socket.out);
  } else {
    AppendSet(options.protocol, key_, plan_.values.substr(0, request.value_size), &socket.out);
  }
  socket.in_flight.Push({start_ns, request.op});
  ++client.outstanding;
  ++in_flight_;
  if (!socket.dirty) {
    socket.dirty = true;
    dirty_.push_back(&socket);
  }
}

bool LoadThread::ReadFrom(Socket& socket, int64_t now) {
  while (true) {
    const size_t room = kReadBufferSize - socket.in_length;
    const ssize_t n = read(socket.fd, socket.in.get() + socket.in_length, room);
    if (n == 0) return Fail("the server closed a connection");
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      return Fail("read: " + ErrnoText(errno));
    }
    socket.in_length += static_cast<size_t>(n);
    size_t pos = 0;
    while (true) {
      const ReadResult r =
          socket.reader.Next(std::string_view(socket.in.get() + pos, socket.in_length - pos));
      pos += r.consumed;
      if (r.status == ReadStatus::kNeedMore) break;
      if (r.status == ReadStatus::kMalformed) return Fail("malformed reply from the server");
      if (!Account(socket, r.kind, now)) return false;
    }
    socket.in_length -= pos;
    std::memmove(socket.in.get(), socket.in.get() + pos, socket.in_length);
    // A read that did not fill the buffer drained the socket; a full one may have left more.
    if (static_cast<size_t>(n) < room) return true;
  }
}

bool LoadThread::Account(Socket& socket, ReplyKind kind, int64_t now) {
  if (socket.in_flight.empty()) return Fail("a reply to no request");
  const auto [start_ns, op] = socket.in_flight.Pop();
  Client& client = clients_[socket.client];
  --client.outstanding;
  --in_flight_;
  RunCounters& c = local_.counters;
  const uint64_t latency = static_cast<uint64_t>(std::max<int64_t>(0, now - start_ns));
  if (op == Op::kGet) {
    switch (kind) {
      case ReplyKind::kHit:
        ++c.hits;
        break;
      case ReplyKind::kMiss:
        ++c.misses;
        break;
      case ReplyKind::kError:
        ++c.errors;
        break;
      case ReplyKind::kStored:
      case ReplyKind::kNotStored:
        return Fail("a storage reply to a get: the reply stream is out of step");
    }
    ++c.gets;
    local_.get_latency_ns.Record(latency);
  } else {
    switch (kind) {
      case ReplyKind::kStored:
        ++c.stored;
        break;
      case ReplyKind::kNotStored:
        ++c.not_stored;
        break;
      case ReplyKind::kError:
        ++c.errors;
        break;
      case ReplyKind::kHit:
      case ReplyKind::kMiss:
        return Fail("a retrieval reply to a set: the reply stream is out of step");
    }
    ++c.sets;
    local_.set_latency_ns.Record(latency);
  }
  return true;
}

bool LoadThread::Flush(Socket& socket) {
  while (socket.out_sent < socket.out.size()) {
    const ssize_t n = send(socket.fd, socket.out.data() + socket.out_sent,
                           socket.out.size() - socket.out_sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return SetWriteInterest(socket, true);
      return Fail("send: " + ErrnoText(errno));
    }
    socket.out_sent += static_cast<size_t>(n);
  }
  socket.out.clear();
  socket.out_sent = 0;
  return SetWriteInterest(socket, false);
}

bool LoadThread::FlushDirty() {
  bool ok = true;
  for (Socket* socket : dirty_) {
    socket->dirty = false;
    // A socket waiting for EPOLLOUT is flushed when the kernel has room again.
    if (ok && !socket->want_write) ok = Flush(*socket);
  }
  dirty_.clear();
  return ok;
}

bool LoadThread::SetWriteInterest(Socket& socket, bool want) {
  if (socket.want_write == want) return true;
  epoll_event event{};
  event.events = want ? EPOLLIN | EPOLLOUT : EPOLLIN;
  event.data.ptr = &socket;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, socket.fd, &event) != 0) {
    return Fail("epoll_ctl: " + ErrnoText(errno));
  }
  socket.want_write = want;
  return true;
}

int64_t LoadThread::NextWakeNs(int64_t now) const {
  int64_t wake = next_publish_ns_;
  if (issuing_) {
    wake = std::min(wake, stop_issuing_ns_);
    if (plan_.client_interval_ns > 0) {
      for (const Client& client : clients_) {
        if (!client.done && client.outstanding < plan_.pipeline) {
          wake = std::min(wake, client.next_due_ns);
        }
      }
    }
  }
  return std::max(wake, now);
}

void LoadThread::Publish() {
  SpinLockGuard guard(lock_);
  published_.Merge(local_);
  local_.Reset();
}

void LoadThread::CollectInto(RunStats* into) {
  SpinLockGuard guard(lock_);
  into->Merge(published_);
  published_.Reset();
}

bool LoadThread::Fail(std::string message) {
  status_ = Status::Error(std::move(message));
  return false;
}

}  // namespace mnemo::bench
