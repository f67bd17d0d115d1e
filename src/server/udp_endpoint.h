// UdpEndpoint serves memcached's UDP protocol (-U) on one UDP socket, for one worker thread: every
// worker has an endpoint on its own duplicate of each socket and reads datagrams as they come, as
// memcached's worker threads do.
//
// The protocol, as memcached 1.6.45 speaks it: a datagram starts with an 8-byte frame header of
// four big-endian 16-bit fields, request id, sequence number, total datagrams and reserved. A
// request is one datagram (total 1; anything else is dropped, as are datagrams of 8 bytes or
// less) and may hold several commands; a command cut off by the end of the datagram is dropped.
// Each reply goes out in datagrams of at most 1400 bytes, header included, each with the request
// id, its sequence number from 0 and the reply's datagram count. A reply is what memcached makes
// one response object: the reply to one command, except that a retrieval sends each value it
// finds as a reply of its own, END going with the last key's value if that key was found and
// alone otherwise. Datagrams that the socket cannot take at once are dropped, as UDP may.
//
// A request whose first byte is the binary protocol's magic (0x80) holds binary requests, as in
// memcached's try_read_command_udp: each command's reply is a reply of its own, a quiet command
// that answers nothing sends nothing, and a bad magic byte drops the rest of the datagram.
// (memcached also sends a bare frame header with a datagram count of 0 for some quiet commands,
// depending on the reply before them: docs/memcached-differences.md.)
//
// Thread safety: none; an endpoint belongs to one worker and is used on its thread only.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/buffer_pool.h"
#include "net/event_loop.h"
#include "net/output_queue.h"
#include "protocol/ascii_parser.h"
#include "protocol/binary_parser.h"
#include "protocol/binary_protocol.h"
#include "protocol/command.h"
#include "server/binary_dispatcher.h"
#include "server/connection_registry.h"
#include "server/dispatcher.h"
#include "server/item_dump.h"
#include "server/stats.h"
#include "server/value_writer.h"

namespace mnemo::server {

class UdpEndpoint final : public net::EventLoop::Handler {
 public:
  static constexpr size_t kHeaderSize = 8;
  static constexpr size_t kMaxPayload = 1400;  // header included, as memcached's
  static constexpr size_t kMaxDatagram = 65536;

  // Takes ownership of `fd`, a non-blocking bound UDP socket.
  // Registers with `registry` (stats conns) until destroyed.
  UdpEndpoint(int fd, net::BufferPool& pool, Dispatcher& dispatcher,
              BinaryDispatcher& binary_dispatcher, ThreadStats& stats, ConnectionRegistry& registry,
              const protocol::ParserLimits& limits);
  ~UdpEndpoint();
  UdpEndpoint(const UdpEndpoint&) = delete;
  UdpEndpoint& operator=(const UdpEndpoint&) = delete;

  int fd() const { return fd_; }
  // Reads and answers the datagrams waiting, a bounded number per call (the socket is registered
  // level-triggered, so the rest bring the loop back).
  void OnEvents(uint32_t events) override;

 private:
  // Runs the commands of one request and sends their replies.
  void Serve(std::string_view commands);
  void ServeBinary(std::string_view commands);
  // Sends what the dispatcher queued for one command, cut into memcached's replies.
  void SendReplies(bool retrieval, std::string_view last_key);
  void SendReply(std::string_view reply);

  const int fd_;
  Dispatcher& dispatcher_;
  BinaryDispatcher& binary_dispatcher_;
  ThreadStats& stats_;
  ConnectionRegistry& registry_;
  ConnectionEntry entry_;
  const protocol::ParserLimits limits_;
  net::OutputQueue out_;
  std::optional<ValueWriter> values_;  // replaced to let go of a value it holds
  ItemDump dump_;                      // a dump, answered in datagrams as it goes
  std::vector<char> datagram_;
  std::string replies_;  // one command's replies, drained from out_
  std::string packet_;   // one datagram being sent
  // The request being answered.
  uint16_t request_id_ = 0;
  sockaddr_storage peer_{};
  socklen_t peer_size_ = 0;
};

}  // namespace mnemo::server
