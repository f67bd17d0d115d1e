// ParseMetaCommand reads one command of memcached's meta protocol (mg, ms, md, ma, mn, me) from
// the front of a byte stream. Like ParseTextCommand it never performs I/O, never allocates, never
// reads past `input` and is a pure function of its arguments (thread-safe).
//
// A connection parses through AsciiParser (ascii_parser.h), which gives this parser the lines
// whose first word is a meta command only; a line whose first word is not one answers kError.
//
// Lines are found and limited as ParseTextCommand finds them (text_parser.h): a line ends at
// "\n" or "\r\n", tokens are split on ' ' only, a NUL byte makes the line an "ERROR", a line
// longer than max_line closes the connection. Numbers are read as decimal.h reads them.
//
// Invariants (those of text_parser.h):
//  (1) `consumed` <= input.size(); it is 0 on kNeedMore and kClose.
//  (2) Feeding the same bytes split at any points yields the same sequence of results.
//  (3) After any result but kNeedMore and kClose, parsing may go on at
//      input.substr(consumed) once `skip` further bytes (a refused ms's data block) have been
//      discarded. `skip` never depends on how much of the block has arrived.
//  (4) On kOk, kTooLarge and kBadDataChunk, *cmd describes the command (meta_command.h); views
//      in it point into `input`. On other results only cmd->type may be meaningful.
//  (5) The q flag never hides a result of this parser: every status but kOk is answered.
//
// The errors, and which of them memcached 1.6.45 reports, in its order:
//  - Too few tokens ("mg", "ms foo"), a data length that is not a token of digits in [0,
//    INT_MAX - 2], or a flag token that starts with neither a digit nor one of 'A' to 'z' (its
//    tokenizer gives up on the line): kBadFormat, and nothing is swallowed. An unknown meta
//    command ("mz") never gets here: AsciiParser gives it to ParseTextCommand (kError here).
//  - A key over 250 bytes: kBadFormat. More than 20 tokens: kTooManyFlags.
//  - Then the flags, left to right: a letter memcached does not know stops the scan with
//    kInvalidFlag, a repeated letter with kDuplicateFlag. A bad token (b's key, a number: digits
//    only, as decimal.h's ParseToken* read them, and at least one) does not stop the scan; the
//    last one seen decides the error, except that a bad F token keeps the error already chosen
//    (kBadFormat by default). M takes the byte after it, whatever follows. ma answers every error
//    of its key and flags with kInvalidOrDuplicateFlag.
//  - Then ms and ma check their mode (kBadSetMode, kBadArithMode), then an opaque token over 31
//    bytes gives kOpaqueTooLong, then ms's data length (kTooLarge) and its block (kBadDataChunk).
//  - me reads only its key and a 'b' right after it (anything else is ignored), and decodes the
//    key only when yet another token follows the 'b', as 1.6.45 counts; a key that does not
//    decode is kBadFormat. mn ignores everything after its name.
//
// Where mnemo deliberately differs from 1.6.45:
//  - A key token holding a control byte (< 0x20 or 0x7f) answers kError, as text commands do;
//    memcached accepts it. A base64-decoded key may hold any byte.
//  - An opaque token over 31 bytes is refused before the command runs. memcached finds it while
//    writing the reply: mg has then already applied T, and ma has already applied its delta (and
//    answers a non-numeric value's error instead).
//  - The NUL and line-length rules of text_parser.h apply to meta lines too.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/meta_command.h"
#include "protocol/text_parser.h"

namespace mnemo::protocol {

enum class MetaStatus : uint8_t {
  kOk,                      // *cmd is complete
  kNeedMore,                // the input ends mid-command; nothing consumed
  kClose,                   // close the connection without a reply (line too long)
  kError,                   // "ERROR"
  kBadFormat,               // "CLIENT_ERROR bad command line format"
  kTooManyFlags,            // "CLIENT_ERROR options flags are too long"
  kInvalidFlag,             // "CLIENT_ERROR invalid flag"
  kDuplicateFlag,           // "CLIENT_ERROR duplicate flag"
  kInvalidOrDuplicateFlag,  // "CLIENT_ERROR invalid or duplicate flag"
  kBadToken,                // "CLIENT_ERROR bad token in command line format"
  kBadKeyEncoding,          // "CLIENT_ERROR error decoding key"
  kBadInitial,              // "CLIENT_ERROR invalid numeric initial value"
  kBadDelta,                // "CLIENT_ERROR invalid numeric delta value"
  kBadSetMode,              // "CLIENT_ERROR invalid mode for ms M token"
  kBadArithMode,            // "CLIENT_ERROR invalid mode for ma M token"
  kOpaqueTooLong,           // "CLIENT_ERROR opaque token too long"
  kTooLarge,                // "SERVER_ERROR object too large for cache"; *cmd is set
  kBadDataChunk,            // "CLIENT_ERROR bad data chunk"
};

struct MetaParseResult {
  MetaStatus status = MetaStatus::kNeedMore;
  size_t consumed = 0;  // bytes of input this result accounts for
  uint64_t skip = 0;    // bytes still to discard after `consumed` (a refused ms's data block)
  size_t needed = 0;    // with kNeedMore: an ms's bytes in all, line and data block; else 0
};

// Uses limits.item_size_max and limits.max_line.
[[nodiscard]] MetaParseResult ParseMetaCommand(std::string_view input, const ParserLimits& limits,
                                               MetaCommand* cmd);

}  // namespace mnemo::protocol
