// ValueWriter answers one key of a get, gets, gat or gats: "VALUE <key> <flags> <bytes>[ <cas>]
// \r\n<data>\r\n"; or, on the binary protocol, one hit of a get, getk, gat, gatk or touch (and
// their quiet forms): a response header, the flags, the key if asked, the value unless a touch;
// or, handed its line by the meta dispatcher's sink (WriteValue), mg's "VA ..." reply. It is the
// ItemSink a retrieval hands the cache, and it keeps the cache's lock short: under the lock
// (OnItem) it formats the header line and either copies a small value, or takes a hold on a larger
// one's segment; after the lookup returns (Finish) it queues a held value's bytes to go out
// straight from item memory, with no copy, or decodes a compressed one into the reply.
//
// A compressed value must be decoded into the connection's own memory. When the connection
// memory budget cannot take it (Finish's may_copy), the value stays held and pending: the
// retrieval waits for memory and finishes it first when it resumes. That is why a writer belongs
// to one connection, not to one retrieval.
//
// Invariants:
//  (1) A value reaches the output whole or not at all: a corrupt compressed value (corrupt())
//      leaves nothing of its key in the output.
//  (2) Every hold taken is released exactly once: by the output queue once the bytes are sent (or
//      the connection closes), by Finish when the value was decoded, or with the writer.
//  (3) At most one value is pending, and only between a Finish that returned false and the next.
// Thread safety: one writer per connection, on the worker's thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string_view>
#include <vector>

#include "net/output_queue.h"
#include "protocol/binary_protocol.h"
#include "storage/cache.h"

namespace mnemo::server {

class ValueWriter final : public storage::ItemSink {
 public:
  // `trace_fd` names the connection in -vv's ">FD sending key KEY" lines; -1: print none.
  explicit ValueWriter(int trace_fd = -1) : trace_fd_(trace_fd) {}

  // Values of at least this many bytes are held and sent from item memory; smaller ones are
  // copied under the lock, where a memcpy costs less than a hold (two atomic operations on the
  // segment's descriptor) and an iovec more in the send.
  static constexpr size_t kSendInPlaceMin = size_t{4} << 10;

  // Starts the keys of a retrieval (or resumes them): their replies go to `out`, with the CAS
  // if `with_cas`. Clears corrupt().
  void Begin(net::OutputQueue* out, bool with_cas);

  // How a binary-protocol hit is answered: the request's opcode and opaque go back in the header,
  // with the item's CAS; the extras are its flags.
  struct BinaryFraming {
    uint8_t opcode = 0;
    uint32_t opaque = 0;
    bool with_key = false;
    bool with_value = true;
  };
  // Starts the one key of a binary request (or resumes it). Clears corrupt().
  void BeginBinary(net::OutputQueue* out, const BinaryFraming& framing);

  // Starts the one key of a meta command (or resumes it): the caller formats each reply's line
  // and hands it to WriteValue. Clears corrupt().
  void BeginMeta(net::OutputQueue* out);
  // For a meta sink, under the cache's lock: sends `head` (mg's "VA <size> <flags>\r\n", at most
  // kMaxHead bytes), then the item's value and "\r\n", as OnItem sends a retrieval's.
  void WriteValue(const storage::ItemView& item, std::string_view head);

  void OnItem(const storage::ItemView& item) override;
  // Sends what OnItem held; call after each lookup, outside the cache's lock. A compressed value
  // is decoded only if `may_copy`; otherwise it stays pending and Finish returns false.
  [[nodiscard]] bool Finish(bool may_copy);

  bool pending() const { return hold_.held(); }
  // Bytes that finishing the pending value would copy into the output.
  size_t pending_copy() const {
    return pending() ? line_size_ + hold_.value_size() + trailer().size() : 0;
  }
  bool corrupt() const { return corrupt_; }
  // The connection's fd given at construction (-1 for none): the cfd of its `watch` lines.
  int trace_fd() const { return trace_fd_; }

  // The longest line a meta sink may give WriteValue.
  static constexpr size_t kMaxHead = 640;

 private:
  // "VALUE " key " " flags(10) " " bytes(20) " " cas(20) "\r\n"; a binary header, flags and
  // key, and a meta head are shorter.
  static constexpr size_t kMaxLine = std::max<size_t>(6 + 250 + 3 * 21 + 2, kMaxHead);
  static_assert(kMaxLine >= protocol::binary::kHeaderSize + 4 + 250);

  // Writes what goes before the value into line_.
  void FormatTextLine(const storage::ItemView& item, size_t value_size);
  void FormatBinaryHeader(const storage::ItemView& item, size_t value_size);
  // Sends line_, the value and the trailer: copied now if small, else held for Finish.
  void SendValue(const storage::ItemView& item, size_t value_size);
  // What follows the value.
  std::string_view trailer() const;

  const int trace_fd_;
  net::OutputQueue* out_ = nullptr;
  bool binary_ = false;
  bool with_cas_ = false;
  BinaryFraming framing_;
  bool corrupt_ = false;
  std::vector<std::string_view> pieces_;  // the views of one value, reused
  // A held value, and its header line, waiting for Finish.
  storage::ValueHold hold_;
  char line_[kMaxLine];
  size_t line_size_ = 0;
};

}  // namespace mnemo::server
