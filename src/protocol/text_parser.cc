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

// The shortest line memcached parses, its "\n" included.
constexpr size_t kMinLine = 4;

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

// The tokens of a command line as memcached 1.6.45's tokenizer (mcmc_tokenize) splits it: on ' '
// only, empty tokens skipped, at most kCapacity of them. Whatever follows the last of those is
// ignored by every command but the retrievals, which walk their keys to the end of the line.
class Tokens {
 public:
  static constexpr size_t kCapacity = 23;

  explicit Tokens(std::string_view line) : line_(line) {
    size_t pos = 0;
    for (std::string_view token = NextToken(line, &pos); !token.empty() && count_ < kCapacity;
         token = NextToken(line, &pos)) {
      tokens_[count_++] = token;
    }
  }

  size_t size() const { return count_; }

  // REQUIRES: i < size().
  std::string_view operator[](size_t i) const { return tokens_[i]; }

  // memcached's noreply rule: the last token is exactly "noreply".
  bool EndsWithNoreply() const { return count_ > 0 && tokens_[count_ - 1] == kNoreply; }

  // The line after token i, spaces included. REQUIRES: i < size().
  std::string_view After(size_t i) const {
    const auto end = static_cast<size_t>(tokens_[i].data() + tokens_[i].size() - line_.data());
    return line_.substr(end);
  }

 private:
  std::string_view line_;
  std::string_view tokens_[kCapacity];
  size_t count_ = 0;
};

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
// [noreply]" and a data block of <bytes> bytes and "\r\n". Tokens past these are ignored.
ParseResult ParseStorage(const Line& line, CommandType type, Command* cmd) {
  const Tokens& tokens = line.tokens;
  int32_t bytes = 0;
  // Without a valid byte count nothing can be swallowed, and noreply is not looked for yet.
  if (tokens.size() < 5 || !ParseTokenI32(tokens[4], &bytes) || bytes < 0 || bytes > kMaxBytes) {
    return LineResult(ParseStatus::kBadFormat, line.size);
  }
  const bool noreply = tokens.EndsWithNoreply();
  const auto refuse = [&](ParseStatus status) {
    return ParseResult{status, line.size, static_cast<uint64_t>(bytes) + 2, noreply};
  };

  cmd->type = type;
  cmd->noreply = noreply;
  const ParseStatus key_status = CheckKey(tokens[1]);
  if (key_status != ParseStatus::kOk) return refuse(key_status);
  int32_t exptime = 0;
  if (!ParseDecimalU32(tokens[2], &cmd->flags) || !ParseDecimalI32(tokens[3], &exptime)) {
    return refuse(ParseStatus::kBadFormat);
  }
  if (type == CommandType::kCas &&
      (tokens.size() < 6 || !ParseTokenU64(tokens[5], &cmd->cas_unique))) {
    return refuse(ParseStatus::kBadFormat);
  }
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

// get, gets: "<cmd> <key>*"; gat, gats: "<cmd> <exptime> <key>*". memcached's replies ignore
// noreply on these: "noreply" is read as a key.
ParseResult ParseRetrieval(const Line& line, CommandType type, Command* cmd) {
  const Tokens& tokens = line.tokens;
  const bool with_exptime = type == CommandType::kGat || type == CommandType::kGats;
  if (tokens.size() < (with_exptime ? 3u : 2u))
    return LineResult(ParseStatus::kBadFormat, line.size);
  cmd->type = type;
  size_t last_before_keys = 0;
  if (with_exptime) {
    int32_t exptime = 0;
    if (!ParseTokenI32(tokens[1], &exptime)) {
      return LineResult(ParseStatus::kBadExptime, line.size);
    }
    cmd->exptime = exptime;
    last_before_keys = 1;
  }
  const std::string_view keys = tokens.After(last_before_keys);
  const ParseStatus status = CheckKeys(keys);
  if (status != ParseStatus::kOk) return LineResult(status, line.size);
  cmd->keys = KeyList(keys);
  return LineResult(ParseStatus::kOk, line.size);
}

// "delete <key> [noreply]"; up to two tokens past the key are ignored. A delete without a key or
// with more tokens answers ERROR, as 1.6.18 did (see the header).
ParseResult ParseDelete(const Line& line, Command* cmd) {
  const Tokens& tokens = line.tokens;
  if (tokens.size() < 2 || tokens.size() > 4) return LineResult(ParseStatus::kError, line.size);
  cmd->type = CommandType::kDelete;
  const bool noreply = tokens.EndsWithNoreply();
  cmd->noreply = noreply;
  const ParseStatus status = CheckKey(tokens[1]);
  if (status == ParseStatus::kOk) cmd->key = tokens[1];
  return LineResult(status, line.size, noreply);
}

// "incr|decr <key> <delta> [noreply]" and "touch <key> <exptime> [noreply]".
ParseResult ParseKeyAndNumber(const Line& line, CommandType type, Command* cmd) {
  const Tokens& tokens = line.tokens;
  if (tokens.size() < 3) return LineResult(ParseStatus::kBadFormat, line.size);
  cmd->type = type;
  const bool noreply = tokens.EndsWithNoreply();
  cmd->noreply = noreply;
  const ParseStatus key_status = CheckKey(tokens[1]);
  if (key_status != ParseStatus::kOk) return LineResult(key_status, line.size, noreply);
  if (type == CommandType::kTouch) {
    int32_t exptime = 0;
    if (!ParseTokenI32(tokens[2], &exptime)) {
      return LineResult(ParseStatus::kBadExptime, line.size, noreply);
    }
    cmd->exptime = exptime;
  } else if (!ParseTokenU64(tokens[2], &cmd->delta)) {
    return LineResult(ParseStatus::kBadDelta, line.size, noreply);
  }
  cmd->key = tokens[1];
  return LineResult(ParseStatus::kOk, line.size, noreply);
}

// "flush_all [delay] [noreply]". Like memcached, a second token is read as the delay unless it is
// the noreply: "flush_all 1 2" waits 1 second.
ParseResult ParseFlushAll(const Line& line, Command* cmd) {
  const Tokens& tokens = line.tokens;
  cmd->type = CommandType::kFlushAll;
  const bool noreply = tokens.EndsWithNoreply();
  cmd->noreply = noreply;
  if (tokens.size() != (noreply ? 2u : 1u)) {
    int32_t delay = 0;
    if (!ParseTokenI32(tokens[1], &delay)) {
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
  cmd->type = type;
  const bool noreply = tokens.EndsWithNoreply();
  cmd->noreply = noreply;
  uint32_t number = 0;
  if (tokens.size() < 2 || !ParseTokenU32(tokens[1], &number)) {
    const ParseStatus bad =
        type == CommandType::kVerbosity ? ParseStatus::kBadFormat : ParseStatus::kError;
    return LineResult(bad, line.size, noreply);
  }
  cmd->number = number;
  return LineResult(ParseStatus::kOk, line.size, noreply);
}

// Commands whose arguments the server reads itself (stats, shutdown, slabs, lru_crawler, lru), and
// version and quit, which ignore theirs. `noreply`: whether the command honours noreply, as
// memcached's commands outside its parser's table do.
ParseResult ParseWithArguments(const Line& line, CommandType type, Command* cmd,
                               bool noreply = false) {
  cmd->type = type;
  cmd->noreply = noreply && line.tokens.EndsWithNoreply();
  cmd->arguments = TrimSpaces(line.tokens.After(0));
  return LineResult(ParseStatus::kOk, line.size, cmd->noreply);
}

// A line that names no command of memcached's parser table: memcached looks its first token up
// among the rest of its commands (its first token, not the bytes before the first space, so
// " flush_all" flushes), closes the connection when the last token starts with "HTTP/" (a web
// request sent to the cache port), and answers anything else with ERROR, under noreply.
ParseResult ParseOther(const Line& line, Command* cmd) {
  const Tokens& tokens = line.tokens;
  if (tokens.size() > 0) {
    const std::string_view word = tokens[0];
    if (word == "flush_all") return ParseFlushAll(line, cmd);
    if (word == "verbosity") return ParseSetting(line, CommandType::kVerbosity, cmd);
    if (word == "cache_memlimit") return ParseSetting(line, CommandType::kCacheMemlimit, cmd);
    if (word == "shutdown") return ParseWithArguments(line, CommandType::kShutdown, cmd, true);
    if (word == "slabs") return ParseWithArguments(line, CommandType::kSlabs, cmd, true);
    if (word == "lru_crawler") return ParseWithArguments(line, CommandType::kLruCrawler, cmd, true);
    if (word == "lru") return ParseWithArguments(line, CommandType::kLru, cmd, true);
    if (word == "mn_peer") return ParseWithArguments(line, CommandType::kMnPeer, cmd, true);
    if (word == "refresh_certs") return ParseWithArguments(line, CommandType::kRefreshCerts, cmd);
  }
  if (tokens.size() > 1 && tokens[tokens.size() - 1].starts_with("HTTP/")) return Close();
  return LineResult(ParseStatus::kError, line.size, tokens.EndsWithNoreply());
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
  // memcached's shortest command is two bytes and a "\r\n": a shorter line is malformed.
  if (line_size < kMinLine) return LineResult(ParseStatus::kBadFormat, line_size);
  std::string_view text = input.substr(0, newline);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  if (std::memchr(text.data(), '\0', text.size()) != nullptr) {
    return LineResult(ParseStatus::kError, line_size);
  }

  const Tokens tokens(text);
  const Line line{input, line_size, tokens, limits};
  // The command word is what precedes the first space: after a leading space it is empty, and
  // only ParseOther's commands are found.
  const std::string_view word = text.substr(0, text.find(' '));
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
      break;
    case 5:
      if (word == "touch") return ParseKeyAndNumber(line, CommandType::kTouch, cmd);
      if (word == "stats") return ParseWithArguments(line, CommandType::kStats, cmd);
      if (word == "watch") return ParseWithArguments(line, CommandType::kWatch, cmd);
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
    default:
      break;
  }
  return ParseOther(line, cmd);
}

}  // namespace mnemo::protocol
