#include "response_reader.h"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace mnemo::bench {
namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// `word` alone, or followed by a space and flags (meta replies carry flags after the code).
bool IsCode(std::string_view line, std::string_view word) {
  return StartsWith(line, word) && (line.size() == word.size() || line[word.size()] == ' ');
}

// The `index`-th space-separated token of `line` (0 is the reply code), or "" when absent.
std::string_view Token(std::string_view line, int index) {
  size_t start = 0;
  for (int i = 0;; ++i) {
    const size_t end = std::min(line.find(' ', start), line.size());
    if (i == index) return line.substr(start, end - start);
    if (end == line.size()) return {};
    start = end + 1;
  }
}

bool ParseSize(std::string_view token, uint64_t* out) {
  const auto [end, error] = std::from_chars(token.data(), token.data() + token.size(), *out);
  return !token.empty() && error == std::errc() && end == token.data() + token.size();
}

}  // namespace

bool ResponseReader::ReadLine(std::string_view input, ReadResult* result) {
  const void* newline = std::memchr(input.data(), '\n', std::min(input.size(), kMaxLine));
  if (newline == nullptr) {
    if (input.size() >= kMaxLine) result->status = ReadStatus::kMalformed;
    return false;
  }
  const size_t end = static_cast<size_t>(static_cast<const char*>(newline) - input.data());
  if (end == 0 || input[end - 1] != '\r') {
    result->status = ReadStatus::kMalformed;
    return false;
  }
  const std::string_view line = input.substr(0, end - 1);
  result->consumed += end + 1;

  if (state_ == State::kEnd) {
    state_ = State::kLine;
    result->status = line == "END" ? ReadStatus::kReply : ReadStatus::kMalformed;
    result->kind = ReplyKind::kHit;
    return true;
  }
  uint64_t size = 0;
  const bool text_value = StartsWith(line, "VALUE ");
  if (text_value || StartsWith(line, "VA ")) {
    text_value_ = text_value;
    if (!ParseSize(Token(line, text_value_ ? 3 : 1), &size)) {
      result->status = ReadStatus::kMalformed;
      return true;
    }
    state_ = State::kValue;
    value_left_ = size;
    return true;  // the reply goes on with the value
  }
  result->status = ReadStatus::kReply;
  if (line == "END" || IsCode(line, "EN")) {
    result->kind = ReplyKind::kMiss;
  } else if (line == "STORED" || IsCode(line, "HD")) {
    result->kind = ReplyKind::kStored;
  } else if (line == "NOT_STORED" || line == "EXISTS" || line == "NOT_FOUND" ||
             IsCode(line, "NS") || IsCode(line, "EX") || IsCode(line, "NF")) {
    result->kind = ReplyKind::kNotStored;
  } else if (IsCode(line, "ERROR") || StartsWith(line, "CLIENT_ERROR ") ||
             StartsWith(line, "SERVER_ERROR ")) {
    result->kind = ReplyKind::kError;
  } else {
    result->status = ReadStatus::kMalformed;
  }
  return true;
}

ReadResult ResponseReader::Next(std::string_view input) {
  ReadResult result;
  while (true) {
    const std::string_view rest = input.substr(result.consumed);
    switch (state_) {
      case State::kLine:
      case State::kEnd:
        if (!ReadLine(rest, &result) || result.status != ReadStatus::kNeedMore) return result;
        break;
      case State::kValue: {
        const uint64_t skip = std::min<uint64_t>(value_left_, rest.size());
        value_left_ -= skip;
        result.consumed += skip;
        if (value_left_ > 0) return result;
        state_ = State::kValueEnd;
        break;
      }
      case State::kValueEnd:
        if (rest.size() < 2) return result;
        if (rest[0] != '\r' || rest[1] != '\n') {
          result.status = ReadStatus::kMalformed;
          return result;
        }
        result.consumed += 2;
        if (text_value_) {
          state_ = State::kEnd;
          break;
        }
        state_ = State::kLine;
        result.status = ReadStatus::kReply;
        result.kind = ReplyKind::kHit;
        return result;
    }
  }
}

}  // namespace mnemo::bench
