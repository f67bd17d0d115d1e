// ResponseReader splits a server's reply stream into replies to mnemo-bench's requests (get, set,
// mg, ms), one at a time, as the bytes arrive. It skips value blocks as they stream past instead
// of holding them, so a connection's read buffer never has to fit a whole value, and a 1 MiB value
// costs no copy.
//
// Invariants:
//  (1) Next() never reads past `input` and returns consumed <= input.size().
//  (2) Feeding the same bytes split at any points yields the same sequence of replies.
//  (3) A reply line is only consumed whole: kNeedMore leaves an incomplete line in the caller's
//      buffer (consumed counts only header lines and value bytes already passed).
// Thread safety: none; one per connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mnemo::bench {

enum class ReplyKind : uint8_t {
  kHit,        // text "VALUE ...\r\n<data>\r\nEND\r\n", meta "VA <size> ...\r\n<data>\r\n"
  kMiss,       // "END", "EN"
  kStored,     // "STORED", "HD"
  kNotStored,  // "NOT_STORED", "EXISTS", "NOT_FOUND", "NS", "EX", "NF"
  kError,      // "ERROR...", "CLIENT_ERROR ...", "SERVER_ERROR ..."
};

enum class ReadStatus : uint8_t {
  kReply,      // a whole reply of kind `kind` ended `consumed` bytes in
  kNeedMore,   // drop `consumed` bytes and call again when more have arrived
  kMalformed,  // not a reply to these requests: the stream cannot be trusted any further
};

struct ReadResult {
  ReadStatus status = ReadStatus::kNeedMore;
  size_t consumed = 0;
  ReplyKind kind = ReplyKind::kError;
};

class ResponseReader {
 public:
  // A reply line longer than this is malformed: the longest real one is a VALUE line with a
  // 250-byte key.
  static constexpr size_t kMaxLine = 1024;

  ReadResult Next(std::string_view input);

 private:
  enum class State : uint8_t {
    kLine,      // expecting a reply line
    kValue,     // skipping value_left_ bytes of a value block
    kValueEnd,  // expecting the "\r\n" after a value block
    kEnd,       // text: expecting "END" after the value
  };

  // Reads the reply line at the front of `input` into *result (consumed, and status/kind when
  // the line is a whole reply). Returns false when the line is incomplete.
  bool ReadLine(std::string_view input, ReadResult* result);

  State state_ = State::kLine;
  uint64_t value_left_ = 0;
  bool text_value_ = false;  // the value came from "VALUE", so "END" follows it
};

}  // namespace mnemo::bench
