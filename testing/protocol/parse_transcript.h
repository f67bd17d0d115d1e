// ParseTranscript drives AsciiParser (ascii_parser.h) the way a connection does and writes down
// what it parsed, for the parsers' unit tests and fuzz targets: bytes arrive in chunks and are
// appended to a buffer; each request the parser returns is recorded and its bytes are dropped.
// Two transcripts of the same stream must be equal however the stream was cut into chunks
// (invariant (2) of ascii_parser.h, text_parser.h and meta_parser.h); CutProblems checks that. A
// long retrieval line is recorded key by key, since the pieces it is answered in depend on the
// cuts.
//
// Each parser call gets an exact-size heap copy of the buffer, so that AddressSanitizer reports
// any read past the input. At the start of each line, both ParseTextCommand and ParseMetaCommand
// are also given the input and checked, unrecorded: each must stay safe on the other's lines too.
// Test code: it allocates freely. Not thread-safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "protocol/ascii_parser.h"
#include "protocol/command.h"
#include "protocol/meta_command.h"
#include "protocol/meta_parser.h"
#include "protocol/text_parser.h"

namespace mnemo::protocol {

inline std::string_view ParseStatusName(ParseStatus status) {
  switch (status) {
    case ParseStatus::kOk:
      return "Ok";
    case ParseStatus::kNeedMore:
      return "NeedMore";
    case ParseStatus::kError:
      return "Error";
    case ParseStatus::kBadFormat:
      return "BadFormat";
    case ParseStatus::kBadExptime:
      return "BadExptime";
    case ParseStatus::kBadDelta:
      return "BadDelta";
    case ParseStatus::kBadDataChunk:
      return "BadDataChunk";
    case ParseStatus::kTooLarge:
      return "TooLarge";
    case ParseStatus::kClose:
      return "Close";
  }
  return "?";
}

inline std::string_view CommandTypeName(CommandType type) {
  switch (type) {
    case CommandType::kGet:
      return "get";
    case CommandType::kGets:
      return "gets";
    case CommandType::kGat:
      return "gat";
    case CommandType::kGats:
      return "gats";
    case CommandType::kSet:
      return "set";
    case CommandType::kAdd:
      return "add";
    case CommandType::kReplace:
      return "replace";
    case CommandType::kAppend:
      return "append";
    case CommandType::kPrepend:
      return "prepend";
    case CommandType::kCas:
      return "cas";
    case CommandType::kDelete:
      return "delete";
    case CommandType::kIncr:
      return "incr";
    case CommandType::kDecr:
      return "decr";
    case CommandType::kTouch:
      return "touch";
    case CommandType::kFlushAll:
      return "flush_all";
    case CommandType::kVersion:
      return "version";
    case CommandType::kVerbosity:
      return "verbosity";
    case CommandType::kQuit:
      return "quit";
    case CommandType::kStats:
      return "stats";
    case CommandType::kCacheMemlimit:
      return "cache_memlimit";
    case CommandType::kShutdown:
      return "shutdown";
    case CommandType::kSlabs:
      return "slabs";
    case CommandType::kLruCrawler:
      return "lru_crawler";
    case CommandType::kLru:
      return "lru";
    case CommandType::kMnPeer:
      return "mn_peer";
    case CommandType::kRefreshCerts:
      return "refresh_certs";
    case CommandType::kWatch:
      return "watch";
  }
  return "?";
}

// Bytes as C escapes where they are not printable, so that a failing test shows them.
inline std::string Escape(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte == '\r') {
      out += "\\r";
    } else if (byte == '\n') {
      out += "\\n";
    } else if (byte < 0x20 || byte >= 0x7f || byte == '\\') {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

// Whether *cmd describes the command after a result (invariant (4) of both parsers).
inline bool Describes(ParseStatus status) {
  return status == ParseStatus::kOk || status == ParseStatus::kTooLarge ||
         status == ParseStatus::kBadDataChunk;
}
inline bool Describes(MetaStatus status) {
  return status == MetaStatus::kOk || status == MetaStatus::kTooLarge ||
         status == MetaStatus::kBadDataChunk;
}

// One result, with every field of the command that the result makes meaningful.
inline std::string DescribeResult(const ParseResult& result, const Command& cmd) {
  std::string out(ParseStatusName(result.status));
  out += " consumed=" + std::to_string(result.consumed);
  if (result.skip != 0) out += " skip=" + std::to_string(result.skip);
  if (result.noreply) out += " noreply";
  if (!Describes(result.status)) return out;
  out += " ";
  out += CommandTypeName(cmd.type);
  if (!cmd.key.empty()) out += " key=" + Escape(cmd.key);
  KeyList keys = cmd.keys;
  std::string_view key;
  while (keys.Next(&key)) out += " k=" + Escape(key);
  if (cmd.flags != 0) out += " flags=" + std::to_string(cmd.flags);
  if (cmd.exptime != 0) out += " exptime=" + std::to_string(cmd.exptime);
  if (cmd.cas_unique != 0) out += " cas=" + std::to_string(cmd.cas_unique);
  if (cmd.delta != 0) out += " delta=" + std::to_string(cmd.delta);
  if (cmd.has_number || cmd.number != 0) out += " number=" + std::to_string(cmd.number);
  if (cmd.type >= CommandType::kSet && cmd.type <= CommandType::kCas) {
    out += " value=\"" + Escape(cmd.value) + "\"";
  }
  if (!cmd.arguments.empty()) out += " args=\"" + Escape(cmd.arguments) + "\"";
  return out;
}

inline std::string_view MetaStatusName(MetaStatus status) {
  switch (status) {
    case MetaStatus::kOk:
      return "Ok";
    case MetaStatus::kNeedMore:
      return "NeedMore";
    case MetaStatus::kClose:
      return "Close";
    case MetaStatus::kError:
      return "Error";
    case MetaStatus::kBadFormat:
      return "BadFormat";
    case MetaStatus::kTooManyFlags:
      return "TooManyFlags";
    case MetaStatus::kInvalidFlag:
      return "InvalidFlag";
    case MetaStatus::kDuplicateFlag:
      return "DuplicateFlag";
    case MetaStatus::kInvalidOrDuplicateFlag:
      return "InvalidOrDuplicateFlag";
    case MetaStatus::kBadToken:
      return "BadToken";
    case MetaStatus::kBadKeyEncoding:
      return "BadKeyEncoding";
    case MetaStatus::kBadInitial:
      return "BadInitial";
    case MetaStatus::kBadDelta:
      return "BadDelta";
    case MetaStatus::kBadSetMode:
      return "BadSetMode";
    case MetaStatus::kBadArithMode:
      return "BadArithMode";
    case MetaStatus::kOpaqueTooLong:
      return "OpaqueTooLong";
    case MetaStatus::kTooLarge:
      return "TooLarge";
    case MetaStatus::kBadDataChunk:
      return "BadDataChunk";
  }
  return "?";
}

inline std::string_view MetaCommandTypeName(MetaCommandType type) {
  switch (type) {
    case MetaCommandType::kGet:
      return "mg";
    case MetaCommandType::kSet:
      return "ms";
    case MetaCommandType::kDelete:
      return "md";
    case MetaCommandType::kArithmetic:
      return "ma";
    case MetaCommandType::kNoop:
      return "mn";
    case MetaCommandType::kDebug:
      return "me";
  }
  return "?";
}

inline std::string_view MetaSetModeName(MetaSetMode mode) {
  switch (mode) {
    case MetaSetMode::kSet:
      return "set";
    case MetaSetMode::kAdd:
      return "add";
    case MetaSetMode::kReplace:
      return "replace";
    case MetaSetMode::kAppend:
      return "append";
    case MetaSetMode::kPrepend:
      return "prepend";
  }
  return "?";
}

// One result, with every field of the command that the result and the flags make meaningful.
inline std::string DescribeMetaResult(const MetaParseResult& result, const MetaCommand& cmd) {
  std::string out(MetaStatusName(result.status));
  out += " consumed=" + std::to_string(result.consumed);
  if (result.skip != 0) out += " skip=" + std::to_string(result.skip);
  if (!Describes(result.status)) return out;
  out += " ";
  out += MetaCommandTypeName(cmd.type);
  if (cmd.type != MetaCommandType::kNoop) out += " key=" + Escape(cmd.Key());
  if (cmd.key_binary) out += " binary";
  if (!cmd.letters().empty()) out += " flags=" + std::string(cmd.letters());
  if (cmd.Has('O')) out += " opaque=" + Escape(cmd.opaque);
  if (cmd.Has('T')) out += " ttl=" + std::to_string(cmd.ttl);
  if (cmd.Has('N')) out += " vivify=" + std::to_string(cmd.vivify_ttl);
  if (cmd.Has('R')) out += " recache=" + std::to_string(cmd.recache_ttl);
  if (cmd.Has('F')) out += " client_flags=" + std::to_string(cmd.client_flags);
  if (cmd.Has('C')) out += " compare_cas=" + std::to_string(cmd.compare_cas);
  if (cmd.Has('E')) out += " new_cas=" + std::to_string(cmd.new_cas);
  if (cmd.type == MetaCommandType::kArithmetic) {
    out += cmd.arith_mode == MetaArithMode::kIncrement ? " incr" : " decr";
    out += " delta=" + std::to_string(cmd.delta) + " initial=" + std::to_string(cmd.initial);
  }
  if (cmd.type == MetaCommandType::kSet) {
    out += " mode=";
    out += MetaSetModeName(cmd.set_mode);
    out += " value=\"" + Escape(cmd.value) + "\"";
  }
  return out;
}

class ParseTranscript {
 public:
  explicit ParseTranscript(const ParserLimits& limits) : limits_(limits), parser_(limits) {}

  // One chunk of the stream arrives; everything it completes is parsed.
  void Receive(std::string_view chunk) {
    if (closed_) return;
    pending_.append(chunk);
    while (!closed_ && ParseOne()) {
    }
  }

  // The results so far, and what the connection still holds.
  std::vector<std::string> Finish() const {
    std::vector<std::string> lines = events_;
    if (closed_) {
      lines.push_back("closed");
    } else {
      lines.push_back("pending=" + std::to_string(pending_.size()) +
                      (parser_.discarding() ? " discarding" : ""));
    }
    return lines;
  }

  // Broken invariants of the parsers, one line each; empty when all held.
  const std::vector<std::string>& violations() const { return violations_; }

 private:
  // Parses the front of the buffer; false when it holds no complete request.
  bool ParseOne() {
    const size_t size = pending_.size();
    const std::unique_ptr<char[]> copy(new char[size]);
    std::memcpy(copy.get(), pending_.data(), size);
    const std::string_view input(copy.get(), size);

    if (parser_.at_line_start() && !input.empty()) CrossCheck(input);
    Command cmd;
    MetaCommand meta;
    const AsciiRequest request = parser_.Parse(input, &cmd, &meta);
    if (request.consumed > input.size()) {
      Fail("consumed more than the input", std::to_string(request.consumed), input);
      closed_ = true;
      return false;
    }
    switch (request.kind) {
      case AsciiRequest::Kind::kNeedMore:
        if (request.consumed != 0) Fail("kNeedMore consumed", "", input);
        return false;
      case AsciiRequest::Kind::kDiscard:
        if (request.consumed == 0) return Stuck("an empty discard", input);
        break;
      case AsciiRequest::Kind::kMeta: {
        const std::string description = DescribeMetaResult(request.meta, meta);
        CheckMeta(request.meta, meta, input, description);
        events_.push_back(description);
        if (request.meta.status == MetaStatus::kClose) closed_ = true;
        if (request.consumed == 0 && !closed_) return Stuck(description, input);
        break;
      }
      case AsciiRequest::Kind::kText:
        RecordText(request, cmd, input);
        // A long line's error consumes nothing; the discarding that follows it does.
        if (request.consumed == 0 && !closed_ && !request.long_line) {
          return Stuck(events_.back(), input);
        }
        break;
    }
    if (closed_) return false;
    pending_.erase(0, request.consumed);
    return true;
  }

  void RecordText(const AsciiRequest& request, const Command& cmd, std::string_view input) {
    const ParseResult& result = request.text;
    if (result.consumed != request.consumed) {
      Fail("two consumed counts", DescribeResult(result, cmd), input);
    }
    if (!request.long_line) {
      const std::string description = DescribeResult(result, cmd);
      CheckText(result, cmd, input, description);
      events_.push_back(description);
      if (result.status == ParseStatus::kClose) closed_ = true;
      return;
    }
    // Key by key: the pieces depend on the cuts, the keys and their order do not.
    const std::string_view consumed = input.substr(0, request.consumed);
    const std::string type(CommandTypeName(cmd.type));
    if (result.status != ParseStatus::kOk) {
      events_.push_back(std::string(ParseStatusName(result.status)) + " in a long " + type +
                        " line");
      return;
    }
    KeyList keys = cmd.keys;
    std::string_view key;
    while (keys.Next(&key)) {
      if (!Inside(key, consumed)) Fail("a key outside the consumed input", type, input);
      if (key.size() > kMaxKeyLength) Fail("a key too long", type, input);
      std::string event = "  key=" + Escape(key);
      if (cmd.exptime != 0) event += " exptime=" + std::to_string(cmd.exptime);
      events_.push_back(event);
    }
    if (!cmd.more_keys) events_.push_back("Ok end of a long " + type + " line");
  }

  // Both parsers on a line's first bytes, unrecorded: they keep their invariants on any line.
  void CrossCheck(std::string_view input) {
    Command cmd;
    const ParseResult text = ParseTextCommand(input, limits_, &cmd);
    CheckText(text, cmd, input, DescribeResult(text, cmd));
    MetaCommand meta;
    const MetaParseResult result = ParseMetaCommand(input, limits_, &meta);
    CheckMeta(result, meta, input, DescribeMetaResult(result, meta));
  }

  // A request that consumed nothing and did not close: parsing would spin.
  bool Stuck(const std::string& description, std::string_view input) {
    Fail("no progress", description, input);
    closed_ = true;
    return false;
  }

  // Invariants (1) and (3) of both parsers: what a result consumes and skips.
  void CheckProgress(bool need_more, bool close, size_t consumed, uint64_t skip,
                     std::string_view input, const std::string& description) {
    if (consumed > input.size()) Fail("consumed more than the input", description, input);
    if (need_more || close) {
      if (consumed != 0 || skip != 0) Fail("kNeedMore or kClose consumed", description, input);
    } else if (consumed == 0) {
      Fail("no progress", description, input);
    }
  }

  // Invariants (1), (3) and (4) of text_parser.h.
  void CheckText(const ParseResult& result, const Command& cmd, std::string_view input,
                 const std::string& description) {
    const bool need_more = result.status == ParseStatus::kNeedMore;
    const bool close = result.status == ParseStatus::kClose;
    CheckProgress(need_more, close, result.consumed, result.skip, input, description);
    if (need_more || close) return;
    const std::string_view consumed = input.substr(0, result.consumed);
    KeyList keys = cmd.keys;
    std::string_view key;
    while (keys.Next(&key)) {
      if (!Inside(key, consumed)) Fail("a key outside the consumed input", description, input);
    }
    if (!Inside(cmd.key, consumed) || !Inside(cmd.value, consumed) ||
        !Inside(cmd.arguments, consumed)) {
      Fail("a view outside the consumed input", description, input);
    }
    if (cmd.more_keys) Fail("more keys after a whole line", description, input);
  }

  // Invariants (1), (3) and (4) of meta_parser.h, and those of meta_command.h.
  void CheckMeta(const MetaParseResult& result, const MetaCommand& cmd, std::string_view input,
                 const std::string& description) {
    const bool need_more = result.status == MetaStatus::kNeedMore;
    const bool close = result.status == MetaStatus::kClose;
    CheckProgress(need_more, close, result.consumed, result.skip, input, description);
    if (!Describes(result.status)) return;
    const std::string_view consumed = input.substr(0, result.consumed);
    if (!Inside(cmd.key_token, consumed) || !Inside(cmd.opaque, consumed) ||
        !Inside(cmd.value, consumed)) {
      Fail("a view outside the consumed input", description, input);
    }
    const bool keyed = cmd.type != MetaCommandType::kNoop;
    if (keyed && (cmd.Key().empty() || cmd.Key().size() > kMaxKeyLength)) {
      Fail("a key of a bad length", description, input);
    }
    if (cmd.opaque.size() > kMaxOpaqueLength) Fail("an opaque token too long", description, input);
    for (const char letter : cmd.letters()) {
      if (kMetaFlagLetters.find(letter) == std::string_view::npos || !cmd.Has(letter) ||
          std::count(cmd.letters().begin(), cmd.letters().end(), letter) != 1) {
        Fail("a bad flag letter list", description, input);
      }
    }
  }

  static bool Inside(std::string_view view, std::string_view consumed) {
    return view.empty() || (view.data() >= consumed.data() &&
                            view.data() + view.size() <= consumed.data() + consumed.size());
  }

  void Fail(std::string_view what, const std::string& description, std::string_view input) {
    violations_.push_back(std::string(what) + ": " + description + " on \"" +
                          Escape(input.substr(0, 600)) + "\"");
  }

  const ParserLimits limits_;
  AsciiParser parser_;
  std::string pending_;
  bool closed_ = false;
  std::vector<std::string> events_;
  std::vector<std::string> violations_;
};

// The transcript of `stream` cut into chunks at the ascending offsets in `cuts`.
inline std::vector<std::string> TranscriptOf(std::string_view stream,
                                             const std::vector<size_t>& cuts,
                                             const ParserLimits& limits,
                                             std::vector<std::string>* violations = nullptr) {
  ParseTranscript transcript(limits);
  size_t start = 0;
  for (const size_t cut : cuts) {
    const size_t end = std::clamp(cut, start, stream.size());
    transcript.Receive(stream.substr(start, end - start));
    start = end;
  }
  transcript.Receive(stream.substr(start));
  if (violations != nullptr) {
    violations->insert(violations->end(), transcript.violations().begin(),
                       transcript.violations().end());
  }
  return transcript.Finish();
}

// One way of cutting a stream into chunks: ascending offsets, and a name for reports.
struct Cutting {
  std::string name;
  std::vector<size_t> cuts;
};

// Cuts a stream of `size` bytes into chunks of `chunk` bytes.
// REQUIRES: chunk > 0.
inline Cutting EveryNBytes(size_t size, size_t chunk) {
  Cutting cutting{"cut every " + std::to_string(chunk) + " bytes", {}};
  for (size_t at = chunk; at < size; at += chunk) cutting.cuts.push_back(at);
  return cutting;
}

// Cuts a stream in two at offset `at`.
inline Cutting InTwoAt(size_t at) { return Cutting{"cut in two at " + std::to_string(at), {at}}; }

// Every way to cut a stream of `size` bytes in two, and byte by byte: what a test tries.
inline std::vector<Cutting> EveryTwoWayCutAndByteByByte(size_t size) {
  std::vector<Cutting> cuttings;
  for (size_t at = 0; at <= size; ++at) cuttings.push_back(InTwoAt(at));
  cuttings.push_back(EveryNBytes(size, 1));
  return cuttings;
}

// Checks every invariant on `stream`, parsed whole and then cut each way in `cuttings`. Returns
// the first problem found, "" when there is none: the broken invariants of one parse, or a
// cutting that changed the transcript, with both transcripts.
inline std::string CutProblems(std::string_view stream, const std::vector<Cutting>& cuttings,
                               const ParserLimits& limits) {
  const auto lines = [](std::string_view title, const std::vector<std::string>& items) {
    std::string out(title);
    for (const std::string& item : items) out += "\n  " + item;
    return out + "\n";
  };
  std::vector<std::string> violations;
  const std::vector<std::string> whole = TranscriptOf(stream, {}, limits, &violations);
  if (!violations.empty()) return lines("broken invariants of the whole stream:", violations);
  for (const Cutting& cutting : cuttings) {
    const std::vector<std::string> cut = TranscriptOf(stream, cutting.cuts, limits, &violations);
    if (!violations.empty()) return lines("broken invariants, " + cutting.name + ":", violations);
    if (cut != whole) {
      return lines(cutting.name + " changed the transcript\n--- whole stream:", whole) +
             lines("--- cut stream:", cut);
    }
  }
  return "";
}

}  // namespace mnemo::protocol
