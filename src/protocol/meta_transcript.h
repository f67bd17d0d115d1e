// MetaTranscript drives the parsers the way a connection that speaks both protocols does, and
// writes down what they parsed, for the meta parser's unit tests and fuzz target: bytes arrive in
// chunks and are appended to a buffer; each command is offered to ParseMetaCommand first and, on
// kNotMeta, to ParseTextCommand; every complete command is dropped from the buffer and a refused
// data block is discarded as it streams in. Two transcripts of the same stream must be equal
// however the stream was cut into chunks (invariant (2) of meta_parser.h and text_parser.h).
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
#include <utility>
#include <vector>

#include "protocol/command.h"
#include "protocol/meta_command.h"
#include "protocol/meta_parser.h"
#include "protocol/parse_transcript.h"
#include "protocol/text_parser.h"

namespace mnemo::protocol {

inline std::string_view MetaStatusName(MetaStatus status) {
  switch (status) {
    case MetaStatus::kOk:
      return "Ok";
    case MetaStatus::kNotMeta:
      return "NotMeta";
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
    case MetaStatus::kTooManyGetFlags:
      return "TooManyGetFlags";
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
    case MetaStatus::kBadModeLength:
      return "BadModeLength";
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
  const bool described = result.status == MetaStatus::kOk ||
                         result.status == MetaStatus::kTooLarge ||
                         result.status == MetaStatus::kBadDataChunk;
  if (!described) return out;
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

class MetaTranscript {
 public:
  explicit MetaTranscript(const ParserLimits& limits) : limits_(limits) {}

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

  // Broken invariants of meta_parser.h and text_parser.h, one line each; empty when all held.
  const std::vector<std::string>& violations() const { return violations_; }

 private:
  // Parses the front of the buffer; false when it holds no complete command.
  bool ParseOne() {
    const size_t size = pending_.size();
    const std::unique_ptr<char[]> copy(new char[size]);
    std::memcpy(copy.get(), pending_.data(), size);
    const std::string_view input(copy.get(), size);

    MetaCommand meta;
    const MetaParseResult result = ParseMetaCommand(input, limits_, &meta);
    if (result.status != MetaStatus::kNotMeta) {
      CheckMeta(result, meta, input);
      return Advance(result.status == MetaStatus::kNeedMore, result.status == MetaStatus::kClose,
                     DescribeMetaResult(result, meta), result.consumed, result.skip);
    }
    if (result.consumed != 0 || result.skip != 0) Fail("kNotMeta consumed or skipped", input);
    Command cmd;
    const ParseResult text = ParseTextCommand(input, limits_, &cmd);
    if (text.consumed > size) Fail("text: consumed more than the input", input);
    return Advance(text.status == ParseStatus::kNeedMore, text.status == ParseStatus::kClose,
                   DescribeResult(text, cmd), text.consumed, text.skip);
  }

  bool Advance(bool need_more, bool close, std::string description, size_t consumed,
               uint64_t skip) {
    if (need_more) return false;
    events_.push_back(std::move(description));
    if (close) {
      closed_ = true;
      return false;
    }
    if (consumed == 0) {
      Fail("no progress", pending_);
      return false;
    }
    pending_.erase(0, consumed);
    skip_ = skip;
    return true;
  }

  void CheckMeta(const MetaParseResult& result, const MetaCommand& cmd, std::string_view input) {
    if (result.consumed > input.size()) Fail("consumed more than the input", input);
    switch (result.status) {
      case MetaStatus::kNeedMore:
      case MetaStatus::kClose:
        if (result.consumed != 0 || result.skip != 0) Fail("no-progress status consumed", input);
        return;
      case MetaStatus::kOk:
      case MetaStatus::kTooLarge:
      case MetaStatus::kBadDataChunk:
        break;
      default:
        return;
    }
    const auto inside = [&](std::string_view view) {
      return view.empty() || (view.data() >= input.data() &&
                              view.data() + view.size() <= input.data() + result.consumed);
    };
    if (!inside(cmd.key_token) || !inside(cmd.opaque) || !inside(cmd.value)) {
      Fail("a view outside the consumed input", input);
    }
    const bool keyed = cmd.type != MetaCommandType::kNoop;
    if (keyed && (cmd.Key().empty() || cmd.Key().size() > kMaxKeyLength)) {
      Fail("a key of a bad length", input);
    }
    if (cmd.opaque.size() > kMaxOpaqueLength) Fail("an opaque token too long", input);
    for (const char letter : cmd.letters()) {
      if (kMetaFlagLetters.find(letter) == std::string_view::npos || !cmd.Has(letter) ||
          std::count(cmd.letters().begin(), cmd.letters().end(), letter) != 1) {
        Fail("a bad flag letter list", input);
      }
    }
  }

  void Fail(std::string_view what, std::string_view input) {
    violations_.push_back(std::string(what) + " on \"" + Escape(input) + "\"");
  }

  const ParserLimits limits_;
  std::string pending_;
  uint64_t skip_ = 0;
  bool closed_ = false;
  std::vector<std::string> events_;
  std::vector<std::string> violations_;
};

// The transcript of `stream` cut into chunks at the ascending offsets in `cuts`.
inline std::vector<std::string> MetaTranscriptOf(std::string_view stream,
                                                 const std::vector<size_t>& cuts,
                                                 const ParserLimits& limits,
                                                 std::vector<std::string>* violations = nullptr) {
  MetaTranscript transcript(limits);
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
