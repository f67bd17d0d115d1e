#include "protocol/text_parser.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <iterator>

#include "protocol/decimal.h"

namespace mnemo::protocol {
namespace {

constexpr std::string_view kNoreply = "noreply";

// memcached's tokenizer fills at most 24 slots, the last one a terminator, so it sees at most 23
// tokens; its HTTP check looks at the last of those.
constexpr size_t kMemcachedMaxTokens = 23;

// The largest byte count memcached accepts: the block plus its "\r\n" must fit in an int.
constexpr int64_t kMaxBytes = INT_MAX - 2;

std::string_view TrimSpaces(std::string_view s) {
  const size_t first = s.find_first_not_of(' ');
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(' ') - first + 1);
}

}  // namespace

// It runs over every key of a multi-get, so it looks at eight bytes at a time:
// (w - 0x20 in each byte) & ~w & 0x80 in each byte is non-zero exactly when some byte of w is
// below 0x20, and w ^ 0x7f in each byte turns a 0x7f into the zero byte that the same test finds
// with 0x01.
bool HasControlByte(std::string_view s) {
  constexpr uint64_t kOnes = 0x0101010101010101;
  constexpr uint64_t kHighBits = 0x8080808080808080;
  const auto has_byte_below = [](uint64_t w, uint64_t n) {
    return ((w - n * kOnes) & ~w & kHighBits) != 0;
  };
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w = 0;
    std::memcpy(&w, s.data() + i, 8);
    if (has_byte_below(w, 0x20) || has_byte_below(w ^ (0x7f * kOnes), 0x01)) return true;
  }
  for (; i < s.size(); ++i) {
    const auto byte = static_cast<unsigned char>(s[i]);
    if (byte < 0x20 || byte == 0x7f) return true;
  }
  return false;
}

std::string_view NextToken(std::string_view line, size_t* pos) {
  size_t start = *pos;
  while (start < line.size() && line[start] == ' ') ++start;
  if (start == line.size()) {
    *pos = start;
    return {};
  }
  const void* space = std::memchr(line.data() + start, ' ', line.size() - start);
  *pos = space == nullptr ? line.size()
                          : static_cast<size_t>(static_cast<const char*>(space) - line.data());
  return line.substr(start, *pos - start);
}

ParseStatus FindLineEnd(std::string_view input, const ParserLimits& limits, size_t* newline) {
  const size_t window = std::min(input.size(), limits.max_line + 1);
  const void* found = std::memchr(input.data(), '\n', window);
  if (found == nullptr) {
    return input.size() <= limits.max_line ? ParseStatus::kNeedMore : ParseStatus::kClose;
  }
  *newline = static_cast<size_t>(static_cast<const char*>(found) - input.data());
  return ParseStatus::kOk;
}

bool IsLongRetrievalLine(std::string_view input, const ParserLimits& limits, CommandType* type) {
  size_t newline = 0;
  if (FindLineEnd(input, limits, &newline) != ParseStatus::kClose) return false;
  std::string_view head = input.substr(0, limits.max_line + 1);
  head.remove_prefix(std::min(head.size(), head.find_first_not_of(' ')));
  struct Word {
    std::string_view text;
    CommandType type;
  };
  static constexpr Word kWords[] = {{"get ", CommandType::kGet},
                                    {"gets ", CommandType::kGets},
                                    {"gat ", CommandType::kGat},
                                    {"gats ", CommandType::kGats}};
  const Word* const word =
      std::ranges::find_if(kWords, [&](const Word& w) { return head.starts_with(w.text); });
  if (word == std::end(kWords)) return false;
  *type = word->type;
  return true;
}

namespace {

// The first tokens of a command line. No command takes more than kCapacity tokens, so a longer
// line only needs to be recognised as too long.
class Tokens {
 public:
  static constexpr size_t kCapacity = 8;  // cas with noreply, the longest command, has 7

  explicit Tokens(std::string_view line) : line_(line) {
    size_t pos = 0;
    for (std::string_view token = NextToken(line, &pos); !token.empty();
         token = NextToken(line, &pos)) {
      if (count_ == kCapacity) {
        more_ = true;
        return;
      }
      tokens_[count_++] = token;
    }
  }

  // The number of tokens; kCapacity + 1 stands for any larger number.
  size_t size() const { return more_ ? kCapacity + 1 : count_; }

  // REQUIRES: i < kCapacity and i < size().
  std::string_view operator[](size_t i) const { return tokens_[i]; }

  // memcached's set_noreply_maybe: the last token is exactly "noreply".
  bool EndsWithNoreply() const { return !more_ && count_ > 0 && tokens_[count_ - 1] == kNoreply; }

  // The line after token i, spaces included. REQUIRES: i < kCapacity and i < size().
  std::string_view After(size_t i) const {
    const auto end = static_cast<size_t>(tokens_[i].data() + tokens_[i].size() - line_.data());
    return line_.substr(end);
  }

 private:
  std::string_view line_;
  std::string_view tokens_[kCapacity];
  size_t count_ = 0;
  bool more_ = false;
};

// The last of the first kMemcachedMaxTokens tokens of a line.
std::string_view LastMemcachedToken(std::string_view line) {
  std::string_view last;
  size_t pos = 0;
  for (size_t n = 0; n < kMemcachedMaxTokens; ++n) {
    const std::string_view token = NextToken(line, &pos);
    if (token.empty()) break;
    last = token;
  }
  return last;
}

// The outcome of a command that has no data block: `consumed` is its line.
ParseResult LineResult(ParseStatus status, size_t line_size, bool noreply = false) {
  return ParseResult{status, line_size, 0, noreply};
}

ParseResult NeedMore() { return ParseResult{ParseStatus::kNeedMore, 0, 0, false}; }
ParseResult Close() { return ParseResult{ParseStatus::kClose, 0, 0, false}; }

// The status for a key of a single-key command, checked in memcached's order: its length first.
ParseStatus CheckKey(std::string_view key) {
  if (key.size() > kMaxKeyLength) return ParseStatus::kBadFormat;
  if (HasControlByte(key)) return ParseStatus::kError;
  return ParseStatus::kOk;
}

// The status for the keys of a retrieval command. A key that is too long wins over one with a
// control byte wherever each sits, so that every multi-get memcached refuses answers as it does.
ParseStatus CheckKeys(std::string_view keys) {
  size_t pos = 0;
  for (std::string_view key = NextToken(keys, &pos); !key.empty(); key = NextToken(keys, &pos)) {
    if (key.size() > kMaxKeyLength) return ParseStatus::kBadFormat;
  }
  // A space is not a control byte, so the keys can be checked all at once.
  if (HasControlByte(keys)) return ParseStatus::kError;
  return ParseStatus::kOk;
}

// Everything one command's parse needs to know about its line.
struct Line {
  std::string_view input;  // the whole input, from the line's first byte
  size_t size;             // the line's bytes, its "\n" included
  const Tokens& tokens;
  const ParserLimits& limits;
};

// set, add, replace, append, prepend, cas: "<cmd> <key> <flags> <exptime> <bytes> [<cas>]
// [noreply]" and a data block of <bytes> bytes and "\r\n".
ParseResult ParseStorage(const Line& line, CommandType type, Command* cmd) {
  const Tokens& tokens = line.tokens;
  const size_t arity = type == CommandType::kCas ? 6 : 5;
  if (tokens.size() != arity && tokens.size() != arity + 1) {
    return LineResult(ParseStatus::kError, line.size);
  }
  const bool noreply = tokens.EndsWithNoreply();
  int64_t bytes = 0;
  const bool bytes_valid = ParseDecimalI64(tokens[4], &bytes) && bytes >= 0 && bytes <= kMaxBytes;
  // Once the block's length is known, a refused line still swallows the block (see the header).
  const uint64_t refused_skip = bytes_valid ? static_cast<uint64_t>(bytes) + 2 : 0;
  const auto refuse = [&](ParseStatus status) {
    return ParseResult{status, line.size, refused_skip, noreply};
  };

  cmd->type = type;
  cmd->noreply = noreply;
  const ParseStatus key_status = CheckKey(tokens[1]);
  if (key_status != ParseStatus::kOk) return refuse(key_status);
  int32_t exptime = 0;
  if (!ParseDecimalU32(tokens[2], &cmd->flags) || !ParseDecimalI32(tokens[3], &exptime)) {
    return refuse(ParseStatus::kBadFormat);
  }
  if (type == CommandType::kCas && !ParseDecimalU64(tokens[5], &cmd->cas_unique)) {
    return refuse(ParseStatus::kBadFormat);
  }
  if (!bytes_valid) return refuse(ParseStatus::kBadFormat);
  cmd->key = tokens[1];
  cmd->exptime = exptime;

  const auto value_size = static_cast<size_t>(bytes);
  if (value_size > line.limits.item_size_max) {
    // Refused before any of the block is buffered: the caller discards it as it streams in.
    return ParseResult{ParseStatus::kTooLarge, line.size, value_size + 2, noreply};
  }
  const size_t end = line.size + value_size + 2;
  if (line.input.size() < end) return ParseResult{.status = ParseStatus::kNeedMore, .needed = end};
  if (line.input[end - 2] != '\r' || line.input[end - 1] != '\n') {
    // memcached reads exactly the declared bytes; what follows is parsed as commands.
    return ParseResult{ParseStatus::kBadDataChunk, end, 0, noreply};
  }
  cmd->value = line.input.substr(line.size, value_size);
  return ParseResult{ParseStatus::kOk, end, 0, noreply};
}

// get, gets, bget: "<cmd> <key>*"; gat, gats: "<cmd> <exptime> <key>*". memcached's replies ignore
// noreply on these: "noreply" is read as a key.
ParseResult ParseRetrieval(const Line& line, CommandType type, Command* cmd) {
  const Tokens& tokens = line.tokens;
  if (tokens.size() < 2) return LineResult(ParseStatus::kError, line.size);
  cmd->type = type;
  size_t last_before_keys = 0;
  if (type == CommandType::kGat || type == CommandType::kGats) {
    int32_t exptime = 0;
    if (!ParseDecimalI32(tokens[1], &exptime)) {
      return LineResult(ParseStatus::kBadExptime, line.size);
    }
    cmd->exptime = exptime;
    last_before_keys = 1;  // "gat <exptime>" alone is valid, and finds nothing
  }
  const std::string_view keys = tokens.After(last_before_keys);
  const ParseStatus status = CheckKeys(keys);
  if (status != ParseStatus::kOk) return LineResult(status, line.size);
  cmd->keys = KeyList(keys);
  return LineResult(ParseStatus::kOk, line.size);
}

// "delete <key> [0] [noreply]": the 0 is what is left of a removed hold time.
ParseResult ParseDelete(const Line& line, Command* cmd) {
  const Tokens& tokens = line.tokens;
  if (tokens.size() < 2 || tokens.size() > 4) return LineResult(ParseStatus::kError, line.size);
  cmd->type = CommandType::kDelete;
  bool noreply = false;
  if (tokens.size() > 2) {
    const bool hold_is_zero = tokens[2] == "0";
    noreply = tokens.EndsWithNoreply();
    const bool valid = (tokens.size() == 3 && (hold_is_zero || noreply)) ||
                       (tokens.size() == 4 && hold_is_zero && noreply);
    if (!valid) return LineResult(ParseStatus::kBadDelete, line.size, noreply);
  }
  cmd->noreply = noreply;
  const ParseStatus status = CheckKey(tokens[1]);
  if (status == ParseStatus::kOk) cmd->key = tokens[1];
  return LineResult(status, line.size, noreply);
}

// "incr|decr <key> <delta> [noreply]" and "touch <key> <exptime> [noreply]".
ParseResult ParseKeyAndNumber(const Line& line, CommandType type, Command* cmd) {
  const Tokens& tokens = line.tokens;
  if (tokens.size() != 3 && tokens.size() != 4) return LineResult(ParseStatus::kError, line.size);
  cmd->type = type;
  const bool noreply = tokens.EndsWithNoreply();
  cmd->noreply = noreply;
  const ParseStatus key_status = CheckKey(tokens[1]);
  if (key_status != ParseStatus::kOk) return LineResult(key_status, line.size, noreply);
  if (type == CommandType::kTouch) {
    int32_t exptime = 0;
    if (!ParseDecimalI32(tokens[2], &exptime)) {
      return LineResult(ParseStatus::kBadExptime, line.size, noreply);
    }
    cmd->exptime = exptime;
  } else if (!ParseDecimalU64(tokens[2], &cmd->delta)) {
    return LineResult(ParseStatus::kBadDelta, line.size, noreply);
  }
  cmd->key = tokens[1];
  return LineResult(ParseStatus::kOk, line.size, noreply);
}

// "flush_all [delay] [noreply]". Like memcached, a second token is read as the delay unless it is
// the noreply: "flush_all 1 2" waits 1 second.
ParseResult ParseFlushAll(const Line& line, Command* cmd) {
  const Tokens& tokens = line.tokens;
  if (tokens.size() > 3) return LineResult(ParseStatus::kError, line.size);
  cmd->type = CommandType::kFlushAll;
  const bool noreply = tokens.EndsWithNoreply();
  cmd->noreply = noreply;
  if (tokens.size() != (noreply ? 2u : 1u)) {
    int32_t delay = 0;
    if (!ParseDecimalI32(tokens[1], &delay)) {
      return LineResult(ParseStatus::kBadExptime, line.size, noreply);
    }
    cmd->number = static_cast<uint64_t>(std::max(delay, 0));
    cmd->has_number = true;
  }
  return LineResult(ParseStatus::kOk, line.size, noreply);
}

// "verbosity <level> [noreply]" and "cache_memlimit <megabytes> [noreply]". memcached answers a
// bad number with a format error for the one and a bare "ERROR" for the other.
ParseResult ParseSetting(const Line& line, CommandType type, Command* cmd) {
  const Tokens& tokens = line.tokens;
  if (tokens.size() != 2 && tokens.size() != 3) return LineResult(ParseStatus::kError, line.size);
  cmd->type = type;
  const bool noreply = tokens.EndsWithNoreply();
  cmd->noreply = noreply;
  uint32_t number = 0;
  if (!ParseDecimalU32(tokens[1], &number)) {
    const ParseStatus bad =
        type == CommandType::kVerbosity ? ParseStatus::kBadFormat : ParseStatus::kError;
    return LineResult(bad, line.size, noreply);
  }
  cmd->number = number;
  return LineResult(ParseStatus::kOk, line.size, noreply);
}

// Commands whose arguments the server reads itself: stats, shutdown; and version and quit, which
// ignore theirs.
ParseResult ParseWithArguments(const Line& line, CommandType type, Command* cmd) {
  cmd->type = type;
  cmd->arguments = TrimSpaces(line.tokens.After(0));
  return LineResult(ParseStatus::kOk, line.size);
}

// A command word mnemo does not know. memcached closes the connection on a line whose last token
// starts with "HTTP/" (a web request sent to the cache port), but only for words outside the
// letter groups that its dispatcher switches on first; those answer "ERROR".
ParseResult ParseUnknown(const Line& line, std::string_view line_text, std::string_view word) {
  const bool in_dispatch_group =
      (word[0] == 'm' && word.size() == 2) ||
      std::string_view("gsacidt").find(word[0]) != std::string_view::npos;
  if (!in_dispatch_group && LastMemcachedToken(line_text).starts_with("HTTP/")) return Close();
  return LineResult(ParseStatus::kError, line.size);
}

}  // namespace

ParseResult ParseTextCommand(std::string_view input, const ParserLimits& limits, Command* cmd) {
  *cmd = Command{};
  if (input.empty()) return NeedMore();

  size_t newline = 0;
  const ParseStatus found = FindLineEnd(input, limits, &newline);
  if (found == ParseStatus::kNeedMore) return NeedMore();
  if (found == ParseStatus::kClose) return Close();
  const size_t line_size = newline + 1;
  std::string_view text = input.substr(0, newline);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  if (std::memchr(text.data(), '\0', text.size()) != nullptr) {
    return LineResult(ParseStatus::kError, line_size);
  }

  const Tokens tokens(text);
  // memcached has no command shorter than two bytes.
  if (tokens.size() == 0 || tokens[0].size() < 2) {
    return LineResult(ParseStatus::kError, line_size);
  }
  const Line line{input, line_size, tokens, limits};
  const std::string_view word = tokens[0];
  switch (word.size()) {
    case 3:
      if (word == "get") return ParseRetrieval(line, CommandType::kGet, cmd);
      if (word == "set") return ParseStorage(line, CommandType::kSet, cmd);
      if (word == "gat") return ParseRetrieval(line, CommandType::kGat, cmd);
      if (word == "add") return ParseStorage(line, CommandType::kAdd, cmd);
      if (word == "cas") return ParseStorage(line, CommandType::kCas, cmd);
      break;
    case 4:
      if (word == "gets") return ParseRetrieval(line, CommandType::kGets, cmd);
      if (word == "incr") return ParseKeyAndNumber(line, CommandType::kIncr, cmd);
      if (word == "decr") return ParseKeyAndNumber(line, CommandType::kDecr, cmd);
      if (word == "gats") return ParseRetrieval(line, CommandType::kGats, cmd);
      if (word == "quit") return ParseWithArguments(line, CommandType::kQuit, cmd);
      if (word == "bget") return ParseRetrieval(line, CommandType::kGet, cmd);
      break;
    case 5:
      if (word == "touch") return ParseKeyAndNumber(line, CommandType::kTouch, cmd);
      if (word == "stats") return ParseWithArguments(line, CommandType::kStats, cmd);
      break;
    case 6:
      if (word == "delete") return ParseDelete(line, cmd);
      if (word == "append") return ParseStorage(line, CommandType::kAppend, cmd);
      break;
    case 7:
      if (word == "replace") return ParseStorage(line, CommandType::kReplace, cmd);
      if (word == "prepend") return ParseStorage(line, CommandType::kPrepend, cmd);
      if (word == "version") return ParseWithArguments(line, CommandType::kVersion, cmd);
      break;
    case 8:
      if (word == "shutdown") return ParseWithArguments(line, CommandType::kShutdown, cmd);
      break;
    case 9:
      if (word == "flush_all") return ParseFlushAll(line, cmd);
      if (word == "verbosity") return ParseSetting(line, CommandType::kVerbosity, cmd);
      break;
    case 14:
      if (word == "cache_memlimit") return ParseSetting(line, CommandType::kCacheMemlimit, cmd);
      break;
    default:
      break;
  }
  return ParseUnknown(line, text, word);
}

}  // namespace mnemo::protocol
