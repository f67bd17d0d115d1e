// AsciiParser reads the requests of one connection that speaks memcached's ascii protocol: text
// commands (text_parser.h) and meta commands (meta_parser.h) alike, as memcached's
// try_read_command_ascii does. It tells the two apart by the first word of each line (a meta
// command is a two-byte word starting with 'm'), looking at those few bytes only, and runs the one
// parser that the line needs. It carries what a connection must remember between requests: the
// bytes of a refused data block still to discard, and how far it has got in a retrieval line too
// long to hold whole. It never performs I/O and never allocates.
//
// Use: call Parse() on the unread input; act on the request it returns (answer it, or drop the
// bytes of a kDiscard); then drop its `consumed` bytes from the front of the input, and only then
// call Parse() again. Views in the commands point into the input until those bytes are dropped.
//
// Long retrieval lines. memcached 1.6.45 buffers a get or gets line of any length before it
// answers it: it grows its read buffer without limit, so that a 64 MiB line is answered, ending
// with END. Here a get, gets, gat or gats line longer than limits.max_line is answered as it
// streams in instead: each key once it has arrived whole, and END once the line's "\n" has. Such a
// line is handed out as kText pieces of ParseStatus::kOk whose cmd->keys hold the keys that
// arrived whole (every piece but the last has cmd->more_keys set), so that it costs at most a key
// (250 bytes) and what one read brought of input, whatever its length. A line of up to max_line
// bytes is parsed whole, exactly as ParseTextCommand parses it. Where the answer to a long line
// differs from memcached's (each forced by answering before the line has ended):
//  - A key over 250 bytes ("CLIENT_ERROR bad command line format"), or holding a control byte
//    ("ERROR", mnemo's rule for every key), ends the answer: the keys before it have been answered
//    already, the error follows them, and the rest of the line is discarded, with no END. memcached
//    answers such a line with the error alone, wherever the key is (then an empty line, which
//    desynchronises its clients, and it drops the unsent replies to the commands before it).
//  - Keys are answered before the line's "\n" arrives: a client that never ends its line gets the
//    values of the keys it sent, where memcached answers nothing.
//  - gat and gats lines are answered as get lines are; memcached excuses get and gets only, and
//    closes the connection when a longer line spans its reads.
//
// Invariants:
//  (1) `consumed` <= input.size(); kNeedMore consumes nothing.
//  (2) Feeding the same bytes split at any points yields the same answers: the same commands
//      whole, the same keys of long lines in the same order, and the same errors. (The pieces a
//      long line is cut into, and the bytes discarded at a time, may differ.)
//  (3) A partial request never needs more than max_line + 1 bytes of input (in a long line: a
//      key and its "\r", or a gat's exptime token), besides the data block of a storage command.
//  (4) After kText with ParseStatus::kClose, the connection must close: Parse must not be called
//      again.
// Thread safety: none; one parser per connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/command.h"
#include "protocol/meta_command.h"
#include "protocol/meta_parser.h"
#include "protocol/text_parser.h"

namespace mnemo::protocol {

struct AsciiRequest {
  enum class Kind : uint8_t {
    kNeedMore,  // no request is complete: read more bytes; nothing consumed
    kDiscard,   // nothing to answer: drop `consumed` bytes (a refused data block or line, or the
                // spaces and leading tokens of a long retrieval line)
    kText,      // a text command, or a piece of a long retrieval line: answer `text` and *cmd
    kMeta,      // a meta command: answer `meta` and *meta
  };
  Kind kind = Kind::kNeedMore;
  size_t consumed = 0;  // bytes to drop once answered
  // kNeedMore: the bytes the incomplete command needs in all, line and data block, once its line
  // declares them (a storage command); else 0.
  size_t needed = 0;
  bool long_line = false;  // kText: a piece of a long retrieval line (or its error)
  ParseResult text;        // kText; its `skip` is the parser's to apply, not the caller's
  MetaParseResult meta;    // kMeta; likewise
};

class AsciiParser {
 public:
  explicit AsciiParser(const ParserLimits& limits) : limits_(limits) {}

  // The next request at the front of `input`, which starts where the last request's `consumed`
  // bytes ended. *cmd is written on kText, *meta on kMeta.
  [[nodiscard]] AsciiRequest Parse(std::string_view input, Command* cmd, MetaCommand* meta);

  // Whether the next Parse starts a command line (neither inside a data block to discard nor
  // inside a long retrieval line).
  bool at_line_start() const { return skip_ == 0 && stage_ == Stage::kNone; }
  // Whether bytes of a refused data block or line are being discarded.
  bool discarding() const { return skip_ > 0 || stage_ == Stage::kDrop; }

 private:
  // Where the parser is in a long retrieval line.
  enum class Stage : uint8_t {
    kNone,     // not in one
    kWord,     // before its command word
    kExptime,  // before a gat's or gats's exptime
    kKeys,     // among its keys
    kDrop,     // refused midway: discarding through its "\n"
  };

  AsciiRequest ParseLongLine(std::string_view input, Command* cmd);
  AsciiRequest EndLongLine(size_t consumed);

  const ParserLimits limits_;
  uint64_t skip_ = 0;  // bytes of a refused data block still to discard
  Stage stage_ = Stage::kNone;
  // The long retrieval line being parsed, while stage_ is neither kNone nor kDrop.
  CommandType line_type_ = CommandType::kGet;
  int64_t line_exptime_ = 0;
  bool line_has_key_ = false;
};

}  // namespace mnemo::protocol
