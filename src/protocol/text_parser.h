// ParseTextCommand reads one command of memcached's text protocol from the front of a byte
// stream. It never performs I/O, never allocates and never reads past `input`.
//
// Invariants:
//  (1) `consumed` <= input.size(); on kNeedMore it is 0.
//  (2) Feeding the same bytes split at any points yields the same sequence of results.
//  (3) After any result but kNeedMore and kClose, parsing may go on at input.substr(consumed)
//      once `skip` further bytes (a rejected command's data block) have been discarded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/command.h"

namespace mnemo::protocol {

enum class ParseStatus : uint8_t {
  kOk,            // *cmd is complete
  kNeedMore,      // the input ends mid-command; nothing consumed
  kError,         // answer "ERROR"
  kBadFormat,     // answer "CLIENT_ERROR bad command line format"
  kBadDelete,     // answer "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]"
  kBadExptime,    // answer "CLIENT_ERROR invalid exptime argument"
  kBadDelta,      // answer "CLIENT_ERROR invalid numeric delta argument"
  kBadDataChunk,  // answer "CLIENT_ERROR bad data chunk"
  kTooLarge,      // answer "SERVER_ERROR object too large for cache"; cmd->type/key are set
  kClose,         // close the connection without a reply (line too long, HTTP, binary)
};

struct ParseResult {
  ParseStatus status = ParseStatus::kNeedMore;
  size_t consumed = 0;  // bytes of input this result accounts for
  uint64_t skip = 0;    // bytes still to discard after `consumed` (a rejected data block)
  bool noreply = false; // the command asked for no reply; errors included
};

struct ParserLimits {
  size_t item_size_max = size_t{1} << 20;  // -I: larger data blocks get kTooLarge
  size_t max_line = 2048;                  // longer lines close the connection...
  size_t max_retrieval_line = 1 << 20;     // ...except get/gets/gat/gats lines, up to this
};

[[nodiscard]] ParseResult ParseTextCommand(std::string_view input, const ParserLimits& limits,
                                           Command* cmd);

}  // namespace mnemo::protocol
