#include "replication/fetch_link.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <string>
#include <utility>

namespace mnemo::replication {
namespace {

constexpr size_t kReadChunk = 16384;
// A reply line longer than this is not mg's.
constexpr size_t kMaxLine = 1024;

bool ParseNumber(std::string_view text, int64_t* out) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return error == std::errc() && end == text.data() + text.size();
}

}  // namespace

void FetchLink::Ask(uint64_t tag, std::string_view key) {
  queued_.push_back({tag, std::string(key)});
  if (fd_ < 0) Connect();
  if (connected_) Write();
}

void FetchLink::Connect() {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(address_.port);
  if (getaddrinfo(address_.host.c_str(), port.c_str(), &hints, &found) != 0 || found == nullptr) {
    Fail();
    return;
  }
  fd_ = socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ >= 0) {
    const int one = 1;
    (void)setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd_, found->ai_addr, found->ai_addrlen) != 0 && errno != EINPROGRESS) {
      close(fd_);
      fd_ = -1;
    }
  }
  freeaddrinfo(found);
  if (fd_ < 0 || !loop_.AddEdgeTriggered(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP, this).ok()) {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    Fail();
  }
}

void FetchLink::OnEvents(uint32_t events) {
  if (fd_ < 0) return;
  if ((events & (EPOLLHUP | EPOLLERR)) != 0) {
    Fail();
    return;
  }
  if (!connected_ && (events & EPOLLOUT) != 0) {
    int error = 0;
    socklen_t length = sizeof(error);
    if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0) {
      Fail();
      return;
    }
    connected_ = true;
  }
  if (!connected_) return;
  if ((events & (EPOLLIN | EPOLLRDHUP)) != 0) Read();
  if (fd_ >= 0) Write();
}

void FetchLink::Write() {
  while (!queued_.empty()) {
    Request& request = queued_.front();
    output_ += "mg ";
    output_ += request.key;
    output_ += " v f t\r\n";
    sent_.push_back(std::move(request));
    queued_.pop_front();
  }
  while (output_at_ < output_.size()) {
    const ssize_t n =
        send(fd_, output_.data() + output_at_, output_.size() - output_at_, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      Fail();
      return;
    }
    output_at_ += static_cast<size_t>(n);
  }
  output_.clear();
  output_at_ = 0;
}

void FetchLink::Read() {
  for (;;) {
    const size_t at = input_.size();
    input_.resize(at + kReadChunk);
    const ssize_t n = recv(fd_, input_.data() + at, kReadChunk, 0);
    input_.resize(at + static_cast<size_t>(n > 0 ? n : 0));
    if (n == 0) {
      Fail();
      return;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      Fail();
      return;
    }
    if (!TakeReplies()) {
      Fail();
      return;
    }
  }
}

bool FetchLink::TakeReplies() {
  size_t start = 0;
  while (!sent_.empty()) {
    const size_t end = input_.find("\r\n", start);
    if (end == std::string::npos) break;
    const std::string_view line(input_.data() + start, end - start);
    Answer answer;
    size_t next = end + 2;
    if (line == "EN") {
      answer.hit = false;
    } else if (line.starts_with("VA ")) {
      // VA <length> f<flags> t<ttl>
      int64_t length = -1;
      int64_t flags = 0;
      std::string_view rest = line.substr(3);
      size_t space = rest.find(' ');
      if (!ParseNumber(rest.substr(0, space), &length) || length < 0) return false;
      while (space != std::string_view::npos) {
        rest = rest.substr(space + 1);
        space = rest.find(' ');
        const std::string_view token = rest.substr(0, space);
        if (token.empty()) continue;
        if (token[0] == 'f' && !ParseNumber(token.substr(1), &flags)) return false;
        if (token[0] == 't' && !ParseNumber(token.substr(1), &answer.ttl)) return false;
      }
      const size_t size = static_cast<size_t>(length);
      if (input_.size() < next + size + 2) break;  // the value is not all here yet
      answer.hit = true;
      answer.value = std::string_view(input_).substr(next, size);
      answer.flags = static_cast<uint32_t>(flags);
      next += size + 2;
    } else {
      return false;
    }
    const Request request = std::move(sent_.front());
    sent_.pop_front();
    callback_(request.tag, request.key, answer);
    start = next;
  }
  input_.erase(0, start);
  return input_.size() <= kMaxLine || !sent_.empty();
}

void FetchLink::Fail() {
  if (fd_ >= 0) {
    loop_.Remove(fd_);
    close(fd_);
    fd_ = -1;
  }
  connected_ = false;
  output_.clear();
  output_at_ = 0;
  input_.clear();
  std::deque<Request> answered = std::move(sent_);
  sent_.clear();
  for (Request& request : queued_) answered.push_back(std::move(request));
  queued_.clear();
  for (const Request& request : answered) callback_(request.tag, request.key, Answer{});
}

}  // namespace mnemo::replication
