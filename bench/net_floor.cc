// net_floor: what a server that does no protocol work spends per request, measured the way
// bench/memtier_side_by_side.py measures mnemod and memcached. It answers `set` with STORED (and
// keeps nothing), every `get <key>` with one value of the size the last set had, `stats` with
// get_misses 0, `version` with VERSION net_floor, anything else with ERROR. What it costs per
// request is what reading a request and sending a reply cost, with one of two ways of driving the
// sockets:
//
//   -o io=epoll  -t threads, each with its own edge-triggered epoll set; read() until short, one
//                send() per batch: mnemod's and memcached's system calls.
//   -o io=uring  -t threads, each with its own io_uring: multishot recv into a ring of provided
//                buffers, and the replies of a round submitted with the wait for the next one:
//                one io_uring_enter per round instead of epoll_wait + read + send.
//
// Thread 0 accepts every connection and hands them out round-robin, as mnemod and memcached do,
// so that each thread serves the same share. The gap between io=epoll and mnemod is what mnemod's
// own code costs; the gap between io=epoll and io=uring is what a server could gain by changing
// how it talks to the kernel.
//
// Other memcached flags that take a value (-l -U -c -u -m) are accepted and ignored, so that the
// benchmark scripts start it like any server: it always listens on 127.0.0.1.
//
//   bench/memtier_side_by_side.py --load rate --server mnemod=build/mnemod
//       --server floor-epoll=build/net_floor:'-o io=epoll'   (one command line)
//
// A benchmark instrument, not a server: it handles what a benchmark sends and no more (one key
// per get; flags without a value such as -d or -v are refused; a full file table stops accepting).
#include <arpa/inet.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <latch>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

struct Options {
  int port = 11211;
  int threads = 4;
  bool uring = false;
};

struct Connection {
  std::string in;
  std::string out;
};

// Runs the complete commands at the front of `c.in`, appends their replies to `c.out`, and drops
// them from `c.in`. `value_size` is the size of the last value set, which gets are answered with.
void RunCommands(Connection& c, size_t& value_size) {
  static const std::string kValueBytes(1 << 20, 'x');
  size_t pos = 0;
  for (;;) {
    const size_t eol = c.in.find("\r\n", pos);
    if (eol == std::string::npos) break;
    const std::string_view line(c.in.data() + pos, eol - pos);
    if (line.starts_with("set ")) {
      // set <key> <flags> <exptime> <bytes> [noreply]
      const bool noreply = line.ends_with(" noreply");
      const std::string_view head = noreply ? line.substr(0, line.size() - 8) : line;
      const size_t bytes = std::strtoul(head.data() + head.rfind(' ') + 1, nullptr, 10);
      if (c.in.size() < eol + 2 + bytes + 2) break;  // the data block is not all here yet
      pos = eol + 2 + bytes + 2;
      value_size = std::min(bytes, kValueBytes.size());
      if (!noreply) c.out += "STORED\r\n";
    } else if (line.starts_with("get ")) {
      c.out += "VALUE ";
      c.out += line.substr(4);
      c.out += " 0 " + std::to_string(value_size) + "\r\n";
      c.out.append(kValueBytes, 0, value_size);
      c.out += "\r\nEND\r\n";
      pos = eol + 2;
    } else if (line == "stats") {
      c.out += "STAT get_misses 0\r\nEND\r\n";
      pos = eol + 2;
    } else if (line == "version") {
      c.out += "VERSION net_floor\r\n";
      pos = eol + 2;
    } else {
      c.out += "ERROR\r\n";
      pos = eol + 2;
    }
  }
  c.in.erase(0, pos);
}

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "net_floor: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

int Listen(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) Die("socket");
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) Die("bind");
  if (listen(fd, 1024) != 0) Die("listen");
  return fd;
}

void SetNoDelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// What the threads share: thread 0 accepts and hands each connection to `handoff[next % threads]`
// (an epoll fd or a ring fd), once every thread has published its own (`ready`).
struct Shared {
  explicit Shared(int threads) : handoff(static_cast<size_t>(threads)), ready(threads) {}
  std::vector<int> handoff;
  std::latch ready;
  int listener = -1;
  uint64_t accepted = 0;  // thread 0's alone
};

// ---- epoll: what mnemod and memcached do ----

void ServeWithEpoll(Shared& shared, int thread) {
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) Die("epoll_create1");
  shared.handoff[static_cast<size_t>(thread)] = epoll_fd;
  shared.ready.arrive_and_wait();
  const int listener = thread == 0 ? shared.listener : -1;
  if (thread == 0) {
    epoll_event event{};
    event.events = EPOLLIN | EPOLLET;
    event.data.fd = listener;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listener, &event);
  }
  // Keyed by fd; an entry is made on a connection's first event, on the thread that serves it.
  std::unordered_map<int, Connection> connections;
  size_t value_size = 32;
  epoll_event events[256];
  char buffer[16384];
  for (;;) {
    const int n = epoll_wait(epoll_fd, events, 256, -1);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == listener) {
        for (;;) {  // drain the edge
          const int accepted = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (accepted < 0) break;
          SetNoDelay(accepted);
          epoll_event conn_event{};
          conn_event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
          conn_event.data.fd = accepted;
          const size_t to = shared.accepted++ % shared.handoff.size();
          epoll_ctl(shared.handoff[to], EPOLL_CTL_ADD, accepted, &conn_event);
        }
        continue;
      }
      Connection& c = connections[fd];
      bool open = true;
      for (;;) {
        const ssize_t r = read(fd, buffer, sizeof(buffer));
        if (r > 0) c.in.append(buffer, static_cast<size_t>(r));
        if (r == 0 || (r < 0 && errno != EAGAIN)) open = false;
        if (r <= 0 || static_cast<size_t>(r) < sizeof(buffer)) break;
      }
      RunCommands(c, value_size);
      if (open && !c.out.empty()) {
        const ssize_t sent = send(fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (sent > 0) c.out.erase(0, static_cast<size_t>(sent));  // the rest on EPOLLOUT
        if (sent < 0 && errno != EAGAIN) open = false;
      }
      if (!open) {
        close(fd);  // also leaves the epoll set
        connections.erase(fd);
      }
    }
  }
}

// ---- io_uring: one system call per round ----

// Every send is submitted with MSG_DONTWAIT | MSG_WAITALL and IOSQE_CQE_SKIP_SUCCESS, which makes
// it complete during the submission that carries it, and post a completion only when it did not
// send everything (part sent, -EAGAIN on a full socket, or an error). So the wait that follows
// the submission is woken by new events only, and one io_uring_enter per round both sends and
// sleeps. Invariant: while a send is being submitted its bytes sit in Connection::sending, which
// nothing touches until the submission returns; a completion puts back what was not sent.
class UringServer {
 public:
  UringServer(Shared& shared, int thread) : shared_(shared), thread_(thread) {
    io_uring_params params{};
    params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    if (const int r = io_uring_queue_init_params(4096, &ring_, &params); r < 0) {
      errno = -r;
      Die("io_uring_queue_init_params (kernel 6.1 or later, io_uring allowed)");
    }
    shared_.handoff[static_cast<size_t>(thread)] = ring_.ring_fd;  // for IORING_OP_MSG_RING
    io_uring_register_ring_fd(&ring_);
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    buffer_ring_ = static_cast<io_uring_buf_ring*>(
        std::aligned_alloc(page, std::max(page, kBuffers * sizeof(io_uring_buf))));
    io_uring_buf_ring_init(buffer_ring_);
    io_uring_buf_reg registration{};
    registration.ring_addr = reinterpret_cast<uint64_t>(buffer_ring_);
    registration.ring_entries = kBuffers;
    registration.bgid = kBufferGroup;
    if (const int r = io_uring_register_buf_ring(&ring_, &registration, 0); r < 0) {
      errno = -r;
      Die("io_uring_register_buf_ring");
    }
    buffers_.reset(new char[size_t{kBuffers} * kBufferSize]);
    for (unsigned id = 0; id < kBuffers; ++id) ReturnBuffer(id);
  }

  void Run() {
    shared_.ready.arrive_and_wait();
    if (thread_ == 0) ArmAccept();
    for (;;) {
      for (const uint64_t id : to_send_) PrepareSend(id);
      to_send_.clear();
      io_uring_submit_and_wait(&ring_, 1);
      io_uring_cqe* cqe;
      unsigned head;
      unsigned seen = 0;
      io_uring_for_each_cqe(&ring_, head, cqe) {
        ++seen;
        OnCompletion(*cqe);
      }
      io_uring_cq_advance(&ring_, seen);
    }
  }

 private:
  enum class Kind : uint64_t {
    kAccept,   // thread 0: a new connection
    kHandOff,  // thread 0: the result of passing one to another thread (posted on failure only)
    kAdopt,    // a connection passed by thread 0; res is its fd
    kRecv,
    kSend,      // posted only when not everything was sent
    kWritable,  // POLLOUT after a send found the socket full
  };
  struct UringConnection : Connection {
    int fd = -1;
    std::string sending;             // the bytes of the send being submitted (see the invariant)
    bool send_queued = false;        // in to_send_
    bool awaiting_writable = false;  // the socket was full; a POLLOUT poll is armed
  };
  static constexpr unsigned kBuffers = 1024;
  static constexpr unsigned kBufferSize = 4096;
  static constexpr int kBufferGroup = 0;

  // Connections are named by an id never reused, so a completion for a closed one finds nothing.
  static uint64_t Tag(uint64_t id, Kind kind) { return id << 3 | static_cast<uint64_t>(kind); }

  io_uring_sqe* GetSqe() {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {  // the submission queue is full: submit what it holds, then retry
      io_uring_submit(&ring_);
      sqe = io_uring_get_sqe(&ring_);
      if (sqe == nullptr) Die("io_uring_get_sqe");
    }
    return sqe;
  }

  void ArmAccept() {
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_multishot_accept(sqe, shared_.listener, nullptr, nullptr,
                                   SOCK_NONBLOCK | SOCK_CLOEXEC);
    io_uring_sqe_set_data64(sqe, Tag(0, Kind::kAccept));
  }

  void Adopt(int fd) {
    SetNoDelay(fd);
    const uint64_t id = ++last_id_;
    connections_[id].fd = fd;
    ArmRecv(id, fd);
  }

  // Closes the connection; a poll still armed on it would otherwise keep the socket, and its FIN,
  // until it fires.
  void Close(std::unordered_map<uint64_t, UringConnection>::iterator it) {
    shutdown(it->second.fd, SHUT_RDWR);
    close(it->second.fd);
    connections_.erase(it);
  }

  void ReturnBuffer(unsigned id) {
    io_uring_buf_ring_add(buffer_ring_, buffers_.get() + size_t{id} * kBufferSize, kBufferSize,
                          static_cast<unsigned short>(id), io_uring_buf_ring_mask(kBuffers), 0);
    io_uring_buf_ring_advance(buffer_ring_, 1);
  }

  void ArmRecv(uint64_t id, int fd) {
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = kBufferGroup;
    io_uring_sqe_set_data64(sqe, Tag(id, Kind::kRecv));
  }

  void QueueSend(uint64_t id, UringConnection& c) {
    if (c.out.empty() || c.send_queued || c.awaiting_writable) return;
    c.send_queued = true;
    to_send_.push_back(id);
  }

  void PrepareSend(uint64_t id) {
    const auto it = connections_.find(id);
    if (it == connections_.end()) return;
    UringConnection& c = it->second;
    c.send_queued = false;
    if (c.awaiting_writable) return;  // a send found the socket full since this one was queued
    c.sending.swap(c.out);            // both keep their capacity: no allocation per round
    c.out.clear();
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_send(sqe, c.fd, c.sending.data(), c.sending.size(),
                       MSG_NOSIGNAL | MSG_DONTWAIT | MSG_WAITALL);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, Tag(id, Kind::kSend));
  }

  void OnCompletion(const io_uring_cqe& cqe) {
    const uint64_t id = cqe.user_data >> 3;
    const auto kind = static_cast<Kind>(cqe.user_data & 7);
    if (kind == Kind::kAccept) {
      if ((cqe.flags & IORING_CQE_F_MORE) == 0) ArmAccept();  // the multishot accept ended
      if (cqe.res >= 0) HandOff(cqe.res);
      return;
    }
    if (kind == Kind::kHandOff) Die("IORING_OP_MSG_RING");  // cqe.res: the error
    if (kind == Kind::kAdopt) {
      Adopt(cqe.res);
      return;
    }
    const auto it = connections_.find(id);
    if (it == connections_.end()) {
      if (kind == Kind::kRecv && (cqe.flags & IORING_CQE_F_BUFFER) != 0) {
        ReturnBuffer(cqe.flags >> IORING_CQE_BUFFER_SHIFT);
      }
      return;
    }
    UringConnection& c = it->second;
    switch (kind) {
      case Kind::kRecv:
        if (cqe.res > 0) {
          const unsigned buffer = cqe.flags >> IORING_CQE_BUFFER_SHIFT;
          c.in.append(buffers_.get() + size_t{buffer} * kBufferSize, static_cast<size_t>(cqe.res));
          ReturnBuffer(buffer);
          RunCommands(c, value_size_);
          QueueSend(id, c);
          if ((cqe.flags & IORING_CQE_F_MORE) == 0) ArmRecv(id, c.fd);
        } else if (cqe.res == -ENOBUFS) {
          ArmRecv(id, c.fd);  // every buffer was in use; they are back by now
        } else {
          Close(it);  // end of stream or error: the multishot recv has ended
        }
        return;
      case Kind::kSend: {  // not everything was sent
        if (cqe.res < 0 && cqe.res != -EAGAIN) {
          Close(it);  // broken; the multishot recv ends with an error, and finds nothing
          return;
        }
        const size_t sent = cqe.res > 0 ? static_cast<size_t>(cqe.res) : 0;
        c.out.insert(0, c.sending, sent);
        c.awaiting_writable = true;
        io_uring_sqe* sqe = GetSqe();
        io_uring_prep_poll_add(sqe, c.fd, POLLOUT);
        io_uring_sqe_set_data64(sqe, Tag(id, Kind::kWritable));
        return;
      }
      case Kind::kWritable:
        c.awaiting_writable = false;
        QueueSend(id, c);
        return;
      case Kind::kAccept:
      case Kind::kHandOff:
      case Kind::kAdopt:
        return;  // handled above
    }
  }

  // Thread 0: serves the new connection itself or passes it on, round-robin.
  void HandOff(int fd) {
    const size_t to = shared_.accepted++ % shared_.handoff.size();
    if (to == 0) {
      Adopt(fd);
      return;
    }
    io_uring_sqe* sqe = GetSqe();
    io_uring_prep_msg_ring(sqe, shared_.handoff[to], static_cast<unsigned>(fd),
                           Tag(0, Kind::kAdopt), 0);
    sqe->flags |= IOSQE_CQE_SKIP_SUCCESS;
    io_uring_sqe_set_data64(sqe, Tag(0, Kind::kHandOff));
  }

  Shared& shared_;
  const int thread_;
  io_uring ring_{};
  io_uring_buf_ring* buffer_ring_ = nullptr;
  std::unique_ptr<char[]> buffers_;
  std::unordered_map<uint64_t, UringConnection> connections_;
  std::vector<uint64_t> to_send_;
  uint64_t last_id_ = 0;
  size_t value_size_ = 32;
};

Options ParseOptions(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    if (i + 1 == argc) {
      std::fprintf(stderr, "net_floor: %s wants a value\n", argv[i]);
      std::exit(2);
    }
    const std::string_view value = argv[++i];
    if (flag == "-p") {
      options.port = std::atoi(value.data());
    } else if (flag == "-t") {
      options.threads = std::atoi(value.data());
    } else if (flag == "-o" && (value == "io=epoll" || value == "io=uring")) {
      options.uring = value == "io=uring";
    } else if (flag != "-l" && flag != "-U" && flag != "-c" && flag != "-u" && flag != "-m") {
      std::fprintf(stderr, "net_floor: unknown flag %s %s\n", argv[i - 1], argv[i]);
      std::exit(2);
    }
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = ParseOptions(argc, argv);
  std::signal(SIGTERM, [](int) { _exit(0); });  // stopped like a server: exit status 0
  Shared shared(options.threads);
  shared.listener = Listen(options.port);
  std::vector<std::thread> threads;
  for (int t = 0; t < options.threads; ++t) {
    threads.emplace_back([&options, &shared, t] {
      if (options.uring) {
        UringServer(shared, t).Run();
      } else {
        ServeWithEpoll(shared, t);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
}
