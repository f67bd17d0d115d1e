// BinaryParser reads the requests of one connection that speaks memcached's binary protocol
// (binary_protocol.h): a 24-byte header, then extras, key and value, their lengths declared in
// the header. It checks each header as memcached 1.6.45's try_read_command_binary and
// dispatch_bin_command check it, in the same order, and decodes the extras of each opcode. It
// never performs I/O and never allocates.
//
// Use: call Parse() on the unread input; act on the request it returns (answer it, or drop the
// bytes of a kDiscard); then drop its `consumed` bytes from the front of the input, and only then
// call Parse() again. Views in the command point into the input until those bytes are dropped.
//
// What a request needs buffered: the header; then, as memcached, its extras and key before it is
// judged (a header whose lengths do not add up is answered only once those bytes are in). A
// storage command (set, add, replace, append, prepend and their quiet forms) and a SASL auth or
// step need their whole body, `needed` bytes in all, so that the value (SASL: the mechanism's
// data) is one view; any other request is handed out with its extras and key, and whatever its
// body holds beyond them is discarded as it streams in, as is a value larger than
// limits.item_size_max.
//
// Where mnemo deliberately differs from memcached 1.6.45, so that the stream never loses its
// framing (memcached then reads bytes of the body as the next header, and usually closes):
//  - An unknown opcode's body is discarded from after its key; memcached discards `bodylen`
//    bytes from there, eating extlen + keylen bytes of the next request.
//  - A touch, gat, stat or SASL list-mechs request whose body holds more than its extras and
//    key: the rest is discarded; memcached reads it as the next request.
//
// Invariants:
//  (1) `consumed` <= input.size(); kNeedMore consumes nothing.
//  (2) Feeding the same bytes split at any points yields the same commands and answers (a
//      discarded body may go in more, smaller kDiscard pieces).
//  (3) A partial request never needs more than kHeaderSize + 255 + 65535 bytes of input, besides
//      a value (or SASL data) of at most limits.item_size_max bytes.
//  (4) After kClose, or a kCommand whose error closes, Parse must not be called again.
// Thread safety: none; one parser per connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/binary_protocol.h"
#include "protocol/text_parser.h"

namespace mnemo::protocol {

// One binary request, as its header and extras declare it.
struct BinaryCommand {
  uint8_t opcode = 0;  // as sent: the reply carries it back
  // The opcode without its quiet form (kGetQ reads as kGet, kGatKQ as kGatK, ...); the opcode as
  // sent if it is not one memcached knows.
  binary::Opcode base = binary::Opcode::kGet;
  bool quiet = false;   // a quiet form: success goes unanswered (and a get's miss)
  uint32_t opaque = 0;  // as sent, unconverted: the reply carries it back
  uint64_t cas = 0;
  std::string_view key;
  std::string_view value;  // storage commands; SASL auth and step: the mechanism's data
  uint32_t flags = 0;      // set, add, replace
  uint32_t exptime = 0;    // set, add, replace, touch, gat, incr, decr; flush's delay
  uint64_t delta = 0;      // incr, decr
  uint64_t initial = 0;    // incr, decr
};

// How a request's header was judged, in memcached's order of checks.
enum class BinaryError : uint8_t {
  kNone,
  // The key and extras are longer than the body: answer kUnknownCommand, then close.
  kBadLengths,
  // A body over 1 GiB: answer kInvalidArguments, then close (checked before authentication).
  kBodyTooLarge,
  // A key over 250 bytes, or lengths the opcode does not allow: answer kInvalidArguments, then
  // close.
  kInvalid,
  // An opcode memcached does not know (verbosity among them): answer kUnknownCommand.
  kUnknownCommand,
  // A storage command's value, or a SASL auth or step's data, is larger than item_size_max:
  // answer kTooLarge (SASL: kOutOfMemory); its bytes are being discarded.
  kTooLarge,
};

struct BinaryRequest {
  enum class Kind : uint8_t {
    kNeedMore,  // no request is complete: read more bytes; nothing consumed
    kDiscard,   // nothing to answer: drop `consumed` bytes (a body being discarded)
    kCommand,   // answer `error`, or the command if kNone
    kClose,     // not a binary request (wrong magic byte): close without a reply
  };
  Kind kind = Kind::kNeedMore;
  BinaryError error = BinaryError::kNone;
  size_t consumed = 0;  // bytes to drop once answered
  // kNeedMore: the bytes the request needs in all once its header is in; else 0.
  size_t needed = 0;
};

class BinaryParser {
 public:
  // memcached's ITEM_SIZE_MAX_UPPER_LIMIT: a larger body is refused whatever its opcode.
  static constexpr uint32_t kMaxBody = uint32_t{1} << 30;

  explicit BinaryParser(const ParserLimits& limits) : limits_(limits) {}

  // The next request at the front of `input`, which starts where the last request's `consumed`
  // bytes ended. *cmd is written on kCommand.
  [[nodiscard]] BinaryRequest Parse(std::string_view input, BinaryCommand* cmd);

  // Whether bytes of a body are being discarded.
  bool discarding() const { return skip_ > 0; }

 private:
  const ParserLimits limits_;
  uint64_t skip_ = 0;  // bytes of a body still to discard
};

}  // namespace mnemo::protocol
