// ParseTextCommand reads one command of memcached's text protocol from the front of a byte
// stream. It never performs I/O, never allocates and never reads past `input`. It is a pure
// function of its arguments, so any number of threads may call it at once.
//
// It answers as memcached 1.6.45 does: a line ends at "\n" or "\r\n", and one shorter than four
// bytes with its "\n" is malformed ("CLIENT_ERROR bad command line format"); the command word is
// what precedes the first ' ' (so a line starting with a space names no command of the main
// table); tokens are split on ' ' only (a tab is part of a token), at most 23 of them, and tokens
// past a command's arguments are ignored ("delete k 0" deletes); too few tokens are a format error;
// numbers follow decimal.h (ParseToken* where 1.6.45's parser reads the token itself); the last
// token "noreply" sets noreply on every command but the retrievals, stats, version and quit, and
// then their errors go unanswered too, except a format error found before the token is looked for
// (too few tokens, or a storage command's bad byte count).
//
// Invariants:
//  (1) `consumed` <= input.size(); on kNeedMore and kClose it is 0.
//  (2) Feeding the same bytes split at any points yields the same sequence of results. The line
//      limits below depend on a line's bytes only, never on how many of them have arrived.
//  (3) After any result but kNeedMore and kClose, parsing may go on at input.substr(consumed)
//      once `skip` further bytes (a rejected command's data block) have been discarded. `skip`
//      never depends on how much of the block has arrived, so the caller discards it as it
//      streams in instead of buffering it.
//  (4) On kOk, and on kTooLarge and kBadDataChunk, *cmd describes the command; views in it point
//      into `input`. On other results only cmd->type may be meaningful.
//
// Where mnemo deliberately differs from 1.6.45:
//  - A NUL byte anywhere in a command line answers "ERROR" (memcached ends the line at the NUL
//    and runs what precedes it: "get a\0b" would read key "a"), and so does a key holding a
//    control byte (< 0x20 or 0x7f), which memcached accepts. A storage command refused so still
//    swallows its data block, as memcached does for the lines it refuses after their byte count.
//  - A line longer than max_line closes the connection even when its "\n" came in the same read
//    (memcached closes only when 2048 bytes arrive without one). A get, gets, gat or gats line
//    longer than that is no exception here: AsciiParser (ascii_parser.h), which a connection
//    parses through, answers such a line piece by piece instead (IsLongRetrievalLine).
//  - A delete without a key, or with more than two tokens after it, answers "ERROR" as memcached
//    1.6.18 did: libmemcached's conformance test (memccapable) checks it, and 1.6.45 fails that
//    test with "CLIENT_ERROR bad command line format" and "NOT_FOUND".
//  - A value longer than item_size_max is refused from its declared size alone. memcached also
//    counts its item header and the key (a 1 MiB limit there holds values of up to 1 MiB - 60).
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
  kBadExptime,    // answer "CLIENT_ERROR invalid exptime argument"
  kBadDelta,      // answer "CLIENT_ERROR invalid numeric delta argument"
  kBadDataChunk,  // answer "CLIENT_ERROR bad data chunk"
  kTooLarge,      // answer "SERVER_ERROR object too large for cache"; cmd->type/key are set
  kClose,         // close the connection without a reply (line too long, HTTP)
};

struct ParseResult {
  ParseStatus status = ParseStatus::kNeedMore;
  size_t consumed = 0;   // bytes of input this result accounts for
  uint64_t skip = 0;     // bytes still to discard after `consumed` (a rejected data block)
  bool noreply = false;  // the command asked for no reply; errors included
  // With kNeedMore: the bytes the command needs in all, line and data block, once its line is
  // complete and declares them (a storage command); else 0.
  size_t needed = 0;
};

struct ParserLimits {
  size_t item_size_max = size_t{1} << 20;  // -I: larger data blocks get kTooLarge
  // Longer lines close the connection, except retrieval lines, which AsciiParser answers piece by
  // piece. memcached's limit: it closes a connection that sends 2048 bytes without a "\n".
  size_t max_line = 2048;
};

[[nodiscard]] ParseResult ParseTextCommand(std::string_view input, const ParserLimits& limits,
                                           Command* cmd);

// The line rules above, shared with the meta parser so that both protocols apply them alike.

// Finds the "\n" that ends the command line at the front of `input`: kOk with *newline set to
// its offset, kNeedMore, or kClose for a line longer than max_line. The limit is checked against
// the line's own bytes (invariant 2).
[[nodiscard]] ParseStatus FindLineEnd(std::string_view input, const ParserLimits& limits,
                                      size_t* newline);

// Whether the line at the front of `input` is longer than max_line (FindLineEnd closes it) and
// is a get, gets, gat or gats line, which may be longer (AsciiParser answers it piece by piece);
// sets *type. Like memcached, it skips leading spaces before it looks at the command word, and
// wants a space after it.
[[nodiscard]] bool IsLongRetrievalLine(std::string_view input, const ParserLimits& limits,
                                       CommandType* type);

// The next token of `line` at or after *pos, split on ' ' as memcached splits; empty when none
// is left. Moves *pos past it.
std::string_view NextToken(std::string_view line, size_t* pos);

// Whether any byte is a control byte: below 0x20, or 0x7f. A key may hold none.
bool HasControlByte(std::string_view bytes);

}  // namespace mnemo::protocol
