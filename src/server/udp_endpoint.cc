#include "server/udp_endpoint.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>

#include "base/clock.h"
#include "protocol/meta_command.h"

namespace mnemo::server {
namespace {

constexpr int kMaxDatagramsPerEvent = 64;
constexpr std::string_view kEnd = "END\r\n";
constexpr std::string_view kGetOutOfMemory = "SERVER_ERROR out of memory writing get response\r\n";

// The length of the VALUE block at the front of `replies` ("VALUE <key> <flags> <bytes>[ <cas>]
// \r\n<data>\r\n"), and its key; 0 if `replies` does not start with a whole one.
size_t ValueBlock(std::string_view replies, std::string_view* key) {
  constexpr std::string_view kValue = "VALUE ";
  if (!replies.starts_with(kValue)) return 0;
  const size_t line_end = replies.find("\r\n");
  if (line_end == std::string_view::npos) return 0;
  const std::string_view line = replies.substr(kValue.size(), line_end - kValue.size());
  const size_t key_end = line.find(' ');
  const size_t flags_end = line.find(' ', key_end + 1);
  if (key_end == std::string_view::npos || flags_end == std::string_view::npos) return 0;
  const std::string_view size_text =
      line.substr(flags_end + 1, line.find(' ', flags_end + 1) - flags_end - 1);
  size_t size = 0;
  const auto [end, ec] =
      std::from_chars(size_text.data(), size_text.data() + size_text.size(), size);
  if (ec != std::errc() || end != size_text.data() + size_text.size()) return 0;
  const size_t length = line_end + 2 + size + 2;
  if (length > replies.size()) return 0;
  *key = line.substr(0, key_end);
  return length;
}

}  // namespace

UdpEndpoint::UdpEndpoint(int fd, net::BufferPool& pool, Dispatcher& dispatcher,
                         BinaryDispatcher& binary_dispatcher, ThreadStats& stats,
                         ConnectionRegistry& registry, const protocol::ParserLimits& limits)
    : fd_(fd),
      dispatcher_(dispatcher),
      binary_dispatcher_(binary_dispatcher),
      stats_(stats),
      registry_(registry),
      entry_(fd, ConnectionState::kRead, MonotonicSeconds()),
      limits_(limits),
      out_(pool),
      datagram_(kMaxDatagram) {
  values_.emplace();
  entry_.udp = true;
  registry_.Add(&entry_);
}

UdpEndpoint::~UdpEndpoint() {
  registry_.Remove(&entry_);
  close(fd_);
}

void UdpEndpoint::OnEvents(uint32_t /*events*/) {
  for (int i = 0; i < kMaxDatagramsPerEvent; ++i) {
    peer_size_ = sizeof(peer_);
    const ssize_t n = recvfrom(fd_, datagram_.data(), datagram_.size(), 0,
                               reinterpret_cast<sockaddr*>(&peer_), &peer_size_);
    if (n < 0) return;  // EAGAIN: none left; any other error concerns that datagram alone
    if (static_cast<size_t>(n) <= kHeaderSize) continue;
    stats_.Add(Stat::kBytesRead, static_cast<uint64_t>(n));
    const auto* header = reinterpret_cast<const unsigned char*>(datagram_.data());
    request_id_ = static_cast<uint16_t>(header[0] << 8 | header[1]);
    if (header[4] != 0 || header[5] != 1) continue;  // a request of several datagrams
    const std::string_view request(datagram_.data() + kHeaderSize,
                                   static_cast<size_t>(n) - kHeaderSize);
    if (static_cast<uint8_t>(request[0]) == protocol::binary::kRequestMagic) {
      ServeBinary(request);
    } else {
      Serve(request);
    }
    entry_.last_command.store(MonotonicSeconds(), std::memory_order_relaxed);
  }
}

void UdpEndpoint::Serve(std::string_view commands) {
  // A fresh parser per request: nothing of one request carries over to the next.
  protocol::AsciiParser parser(limits_);
  protocol::Command cmd;
  while (!commands.empty()) {
    protocol::MetaCommand meta;
    const protocol::AsciiRequest request = parser.Parse(commands, &cmd, &meta);
    if (request.kind == protocol::AsciiRequest::Kind::kNeedMore) return;  // cut off: dropped
    if (request.kind == protocol::AsciiRequest::Kind::kDiscard) {
      commands.remove_prefix(std::min(request.consumed, commands.size()));
      continue;
    }
    const bool is_meta = request.kind == protocol::AsciiRequest::Kind::kMeta;
    const bool retrieval =
        !is_meta && request.text.status == protocol::ParseStatus::kOk &&
        (cmd.type == protocol::CommandType::kGet || cmd.type == protocol::CommandType::kGets ||
         cmd.type == protocol::CommandType::kGat || cmd.type == protocol::CommandType::kGats);
    std::string_view last_key;
    if (retrieval) {
      protocol::KeyList keys = cmd.keys;
      for (std::string_view key; keys.Next(&key);) last_key = key;
    }
    Dispatcher::Outcome outcome = Dispatcher::Outcome::kDone;
    for (;;) {
      outcome = is_meta ? dispatcher_.DispatchMeta(request.meta, meta, out_, *values_)
                        : dispatcher_.Dispatch(request.text, &cmd, out_, *values_, &dump_);
      replies_.clear();
      out_.DrainTo(&replies_);
      SendReplies(retrieval, last_key);
      if (outcome == Dispatcher::Outcome::kNeedFlash) {
        dispatcher_.BlockOnFlashWait();  // a datagram cannot wait: the rest reads blocking
        continue;
      }
      // A retrieval stopped by a full output goes on once its replies so far are out of the
      // queue; one stopped for memory to copy a value, too, unless nothing came out since (the
      // connection memory is exhausted): then it ends as memcached ends a get it has no memory
      // for, and the value it waited for is let go with its writer.
      if (outcome == Dispatcher::Outcome::kSuspended) continue;
      if (outcome != Dispatcher::Outcome::kNeedMemory) break;
      if (replies_.empty()) {
        values_.emplace();
        SendReply(kGetOutOfMemory);
        break;
      }
    }
    if (outcome == Dispatcher::Outcome::kQuit || outcome == Dispatcher::Outcome::kClose) return;
    commands.remove_prefix(std::min(request.consumed, commands.size()));
  }
}

void UdpEndpoint::ServeBinary(std::string_view commands) {
  // A fresh parser per request, as for text.
  protocol::BinaryParser parser(limits_);
  protocol::BinaryCommand cmd;
  while (!commands.empty()) {
    const protocol::BinaryRequest request = parser.Parse(commands, &cmd);
    // Cut off, or not a binary request: the rest of the datagram is dropped.
    if (request.kind == protocol::BinaryRequest::Kind::kNeedMore ||
        request.kind == protocol::BinaryRequest::Kind::kClose) {
      return;
    }
    if (request.kind == protocol::BinaryRequest::Kind::kCommand) {
      Dispatcher::Outcome outcome = Dispatcher::Outcome::kDone;
      for (;;) {
        outcome = binary_dispatcher_.Dispatch(request, cmd, out_, *values_);
        replies_.clear();
        out_.DrainTo(&replies_);
        if (outcome == Dispatcher::Outcome::kNeedFlash) {  // answered nothing yet
          dispatcher_.BlockOnFlashWait();
          continue;
        }
        if (replies_.empty() && outcome == Dispatcher::Outcome::kNeedMemory) {
          values_.emplace();  // no memory to copy the value into: it goes unanswered
          break;
        }
        SendReply(replies_);  // nothing for a quiet command that answers nothing
        if (outcome != Dispatcher::Outcome::kNeedMemory) break;
      }
      // quit, or a header the connection would close on: the rest of the datagram is dropped.
      if (outcome == Dispatcher::Outcome::kQuit) return;
    }
    commands.remove_prefix(std::min(request.consumed, commands.size()));
  }
}

void UdpEndpoint::SendReplies(bool retrieval, std::string_view last_key) {
  std::string_view replies = replies_;
  if (!retrieval) {
    SendReply(replies);
    return;
  }
  // Each value found is a reply of its own; END goes with the last key's, if it was found.
  std::string_view key;
  for (size_t length; (length = ValueBlock(replies, &key)) != 0;) {
    const bool last = replies.size() == length + kEnd.size() && replies.ends_with(kEnd);
    if (last && key == last_key) {
      SendReply(replies);
      return;
    }
    SendReply(replies.substr(0, length));
    replies.remove_prefix(length);
  }
  SendReply(replies);
}

void UdpEndpoint::SendReply(std::string_view reply) {
  if (reply.empty()) return;
  constexpr size_t kData = kMaxPayload - kHeaderSize;
  const size_t total = std::min<size_t>((reply.size() + kData - 1) / kData, UINT16_MAX);
  for (size_t sequence = 0; sequence < total; ++sequence) {
    const std::string_view data = reply.substr(sequence * kData, kData);
    const unsigned char header[kHeaderSize] = {static_cast<unsigned char>(request_id_ >> 8),
                                               static_cast<unsigned char>(request_id_),
                                               static_cast<unsigned char>(sequence >> 8),
                                               static_cast<unsigned char>(sequence),
                                               static_cast<unsigned char>(total >> 8),
                                               static_cast<unsigned char>(total),
                                               0,
                                               0};
    packet_.assign(reinterpret_cast<const char*>(header), kHeaderSize);
    packet_.append(data);
    const ssize_t sent = sendto(fd_, packet_.data(), packet_.size(), 0,
                                reinterpret_cast<const sockaddr*>(&peer_), peer_size_);
    if (sent > 0) stats_.Add(Stat::kBytesWritten, static_cast<uint64_t>(sent));
  }
}

}  // namespace mnemo::server
