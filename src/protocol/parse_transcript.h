// ParseTranscript drives ParseTextCommand the way a connection does and writes down what it
// parsed, for the unit tests and the fuzz target: bytes arrive in chunks and are appended to a
// buffer, every complete command is parsed and dropped from it, and a rejected data block is
// discarded as it streams in. Two transcripts of the same stream must be equal however the
// stream was cut into chunks (invariant (2) of text_parser.h).
//
// Each call gets an exact-size heap copy of the buffer, so that AddressSanitizer reports any read
// past the input. Test code: it allocates freely. Not thread-safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/command.h"
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
    case ParseStatus::kBadDelete:
      return "BadDelete";
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

// One result, with every field of the command that the result makes meaningful.
inline std::string DescribeResult(const ParseResult& result, const Command& cmd) {
  std::string out(ParseStatusName(result.status));
  out += " consumed=" + std::to_string(result.consumed);
  if (result.skip != 0) out += " skip=" + std::to_string(result.skip);
  if (result.noreply) out += " noreply";
  const bool described = result.status == ParseStatus::kOk ||
                         result.status == ParseStatus::kTooLarge ||
                         result.status == ParseStatus::kBadDataChunk;
  if (!described) return out;
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

class ParseTranscript {
 public:
  explicit ParseTranscript(const ParserLimits& limits) : limits_(limits) {}

  // One chunk of the stream arrives; everything it completes is parsed.
  void Receive(std::string_view chunk) {
    if (closed_) return;
    pending_.append(chunk);
    while (!closed_) {
      const size_t dropped = static_cast<size_t>(std::min<uint64_t>(skip_, pending_.size()));
      pending_.erase(0, dropped);
      skip_ -= dropped;
      if (skip_ > 0 || pending_.empty()) return;
      if (!ParseOne()) return;
    }
  }

  // The results so far, and what the connection still holds.
  std::vector<std::string> Finish() const {
    std::vector<std::string> lines = events_;
    lines.push_back(closed_ ? "closed"
                            : "pending=" + std::to_string(pending_.size()) +
                                  " skip=" + std::to_string(skip_));
    return lines;
  }

  // Broken invariants of text_parser.h, one line each; empty when all held.
  const std::vector<std::string>& violations() const { return violations_; }

 private:
  // Parses the front of the buffer; false when it holds no complete command.
  bool ParseOne() {
    const size_t size = pending_.size();
    const std::unique_ptr<char[]> copy(new char[size]);
    std::memcpy(copy.get(), pending_.data(), size);
    Command cmd;
    const ParseResult result = ParseTextCommand(std::string_view(copy.get(), size), limits_, &cmd);
    Check(result, cmd, copy.get(), size);
    if (result.status == ParseStatus::kNeedMore) return false;
    events_.push_back(DescribeResult(result, cmd));
    if (result.status == ParseStatus::kClose) {
      closed_ = true;
      return false;
    }
    if (result.consumed == 0) return false;  // reported by Check; stop rather than spin
    pending_.erase(0, result.consumed);
    skip_ = result.skip;
    return true;
  }

  void Check(const ParseResult& result, const Command& cmd, const char* base, size_t size) {
    const auto fail = [&](std::string_view what) {
      violations_.push_back(std::string(what) + ": " + DescribeResult(result, cmd) + " on \"" +
                            Escape(std::string_view(base, size)) + "\"");
    };
    if (result.consumed > size) fail("consumed more than the input");
    switch (result.status) {
      case ParseStatus::kNeedMore:
        if (result.consumed != 0 || result.skip != 0) fail("kNeedMore consumed or skipped");
        return;
      case ParseStatus::kClose:
        if (result.consumed != 0) fail("kClose consumed");
        return;
      default:
        if (result.consumed == 0) fail("no progress");
        break;
    }
    const auto inside = [&](std::string_view view) {
      return view.empty() ||
             (view.data() >= base && view.data() + view.size() <= base + result.consumed);
    };
    KeyList keys = cmd.keys;
    std::string_view key;
    while (keys.Next(&key)) {
      if (!inside(key)) fail("a key outside the consumed input");
    }
    if (!inside(cmd.key) || !inside(cmd.value) || !inside(cmd.arguments)) {
      fail("a view outside the consumed input");
    }
  }

  const ParserLimits limits_;
  std::string pending_;
  uint64_t skip_ = 0;
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

}  // namespace mnemo::protocol
