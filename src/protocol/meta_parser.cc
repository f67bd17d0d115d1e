#include "protocol/meta_parser.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>

#include "protocol/base64.h"
#include "protocol/decimal.h"

namespace mnemo::protocol {
namespace {

// The largest data length memcached accepts: the block plus its "\r\n" must fit in an int.
constexpr int64_t kMaxBytes = INT_MAX - 2;

// The tokens of a meta command line as memcached 1.6.45's tokenizer sees them: at most
// kTokenizerMax (what follows is never looked at); past kMaxMetaTokens the line only needs to be
// known as too long.
class MetaTokens {
 public:
  explicit MetaTokens(std::string_view line) {
    size_t pos = 0;
    for (std::string_view token = NextToken(line, &pos); !token.empty() && count_ < kTokenizerMax;
         token = NextToken(line, &pos)) {
      tokens_[count_++] = token;
    }
  }

  size_t size() const { return count_; }
  // More than kMaxMetaTokens tokens: memcached's "options flags are too long".
  bool too_many() const { return count_ > kMaxMetaTokens; }
  // REQUIRES: i < size().
  std::string_view operator[](size_t i) const { return tokens_[i]; }

  // Whether a flag token, from tokens[first] on, starts with a byte that memcached's tokenizer
  // refuses: neither a digit nor one of 'A' to 'z'. It then gives up on the whole line.
  bool HasUnreadableFlag(size_t first) const {
    for (size_t i = first; i < count_; ++i) {
      const auto byte = static_cast<unsigned char>(tokens_[i][0]);
      if ((byte < 'A' || byte > 'z') && (byte < '0' || byte > '9')) return true;
    }
    return false;
  }

 private:
  // memcached's tokenizer stops at 23 tokens.
  static constexpr size_t kTokenizerMax = 23;

  std::string_view tokens_[kTokenizerMax];
  size_t count_ = 0;
};

MetaParseResult Result(MetaStatus status, size_t consumed, uint64_t skip = 0) {
  return MetaParseResult{status, consumed, skip};
}

// A flag's number, the bytes after its letter: there must be some, and they are read as
// decimal.h's ParseToken* read them.
template <typename T, bool (*kParse)(std::string_view, T*)>
bool FlagNumber(std::string_view arg, T* out) {
  return !arg.empty() && kParse(arg, out);
}

// T, N and R tokens: exptimes of 32 bits.
bool ParseTime(std::string_view arg, int64_t* out) {
  int32_t time = 0;
  if (!FlagNumber<int32_t, ParseTokenI32>(arg, &time)) return false;
  *out = time;
  return true;
}

// Bytes 0 to 126 that a flag scan has met as first bytes of a token.
class SeenBytes {
 public:
  // False if `byte` was seen before; marks it seen. REQUIRES: byte < 128.
  bool Insert(unsigned char byte) {
    uint64_t& word = words_[byte >> 6];
    const uint64_t bit = uint64_t{1} << (byte & 63);
    if ((word & bit) != 0) return false;
    word |= bit;
    return true;
  }

 private:
  uint64_t words_[2] = {};
};

// Reads the flag tokens tokens[first...] into *cmd, and the M token's mode byte into *mode (0
// when absent). Returns kOk or the error memcached names for them (see the header: the scan stops
// at an unknown or repeated letter; a bad token only marks the scan failed).
MetaStatus ReadFlags(const MetaTokens& tokens, size_t first, MetaCommand* cmd, char* mode) {
  SeenBytes seen;
  bool failed = false;
  // What a failed scan reports; a bad F token leaves it as it is.
  MetaStatus error = MetaStatus::kBadFormat;
  const auto fail = [&](MetaStatus status) {
    failed = true;
    error = status;
  };
  *mode = 0;
  for (size_t i = first; i < tokens.size(); ++i) {
    const std::string_view token = tokens[i];
    // A digit or 'A' to 'z' (HasUnreadableFlag).
    const auto letter = static_cast<unsigned char>(token[0]);
    if (!seen.Insert(letter)) return MetaStatus::kDuplicateFlag;
    const std::string_view arg = token.substr(1);
    switch (letter) {
      case 'b': {
        size_t size = 0;
        if (Base64Decode(cmd->key_token, cmd->binary_key, &size)) {
          cmd->binary_key_size = static_cast<uint8_t>(size);
        } else {
          fail(MetaStatus::kBadKeyEncoding);
        }
        cmd->key_binary = true;
        break;
      }
      case 'T':
        if (!ParseTime(arg, &cmd->ttl)) fail(MetaStatus::kBadToken);
        break;
      case 'N':
        if (!ParseTime(arg, &cmd->vivify_ttl)) fail(MetaStatus::kBadToken);
        break;
      case 'R':
        if (!ParseTime(arg, &cmd->recache_ttl)) fail(MetaStatus::kBadToken);
        break;
      case 'C':
        if (!FlagNumber<uint64_t, ParseTokenU64>(arg, &cmd->compare_cas)) {
          fail(MetaStatus::kBadToken);
        }
        break;
      case 'E':
        if (!FlagNumber<uint64_t, ParseTokenU64>(arg, &cmd->new_cas)) fail(MetaStatus::kBadToken);
        break;
      case 'F':
        if (!FlagNumber<uint32_t, ParseTokenU32>(arg, &cmd->client_flags)) failed = true;
        break;
      case 'J':
        if (!FlagNumber<uint64_t, ParseTokenU64>(arg, &cmd->initial)) {
          fail(MetaStatus::kBadInitial);
        }
        break;
      case 'D':
        if (!FlagNumber<uint64_t, ParseTokenU64>(arg, &cmd->delta)) fail(MetaStatus::kBadDelta);
        break;
      case 'M':
        // memcached 1.6.45 reads the byte after the letter, whatever follows it; after a bare M
        // that is the space or line end, never a valid mode.
        *mode = arg.empty() ? ' ' : arg[0];
        break;
      case 'O':
        cmd->opaque = arg;
        break;
      case 'P':
      case 'L':
        continue;  // proxy hints: ignored, and not echoed
      case 'c':
      case 'f':
      case 'h':
      case 'k':
      case 'l':
      case 'q':
      case 's':
      case 't':
      case 'u':
      case 'v':
      case 'x':
      case 'I':
        break;
      default:
        return MetaStatus::kInvalidFlag;
    }
    cmd->flags.Add(static_cast<char>(letter));
    cmd->letter_order[cmd->letter_count++] = static_cast<char>(letter);
  }
  return failed ? error : MetaStatus::kOk;
}

bool OpaqueTooLong(const MetaCommand& cmd) { return cmd.opaque.size() > kMaxOpaqueLength; }

// What a parse needs to know about the command line.
struct Line {
  std::string_view input;  // the whole input, from the line's first byte
  size_t size;             // the line's bytes, its "\n" included
  const MetaTokens& tokens;
  const ParserLimits& limits;
};

// The checks every command with a key makes of it first, in memcached's order: the length, then
// (mnemo's rule) control bytes.
MetaStatus CheckKey(std::string_view key) {
  if (key.size() > kMaxKeyLength) return MetaStatus::kBadFormat;
  if (HasControlByte(key)) return MetaStatus::kError;
  return MetaStatus::kOk;
}

// mg, md, ma: "<cm> <key> <flags>*".
MetaParseResult ParseKeyed(const Line& line, MetaCommand* cmd) {
  const MetaTokens& tokens = line.tokens;
  if (tokens.size() < 2 || tokens.HasUnreadableFlag(2)) {
    return Result(MetaStatus::kBadFormat, line.size);
  }
  cmd->key_token = tokens[1];
  // ma names none of the errors of its key and flags precisely.
  const bool vague = cmd->type == MetaCommandType::kArithmetic;
  const auto refuse = [&](MetaStatus status) {
    return Result(
        vague && status != MetaStatus::kError ? MetaStatus::kInvalidOrDuplicateFlag : status,
        line.size);
  };
  const MetaStatus key_status = CheckKey(cmd->key_token);
  if (key_status != MetaStatus::kOk) return refuse(key_status);
  if (tokens.too_many()) return refuse(MetaStatus::kTooManyFlags);
  char mode = 0;
  const MetaStatus flags_status = ReadFlags(tokens, 2, cmd, &mode);
  if (flags_status != MetaStatus::kOk) return refuse(flags_status);
  if (cmd->type == MetaCommandType::kArithmetic) {
    switch (mode) {
      case 0:
      case 'I':
      case '+':
        cmd->arith_mode = MetaArithMode::kIncrement;
        break;
      case 'D':
      case '-':
        cmd->arith_mode = MetaArithMode::kDecrement;
        break;
      default:
        return Result(MetaStatus::kBadArithMode, line.size);
    }
  }
  if (OpaqueTooLong(*cmd)) return Result(MetaStatus::kOpaqueTooLong, line.size);
  return Result(MetaStatus::kOk, line.size);
}

// ms: "ms <key> <datalen> <flags>*" and a data block of <datalen> bytes and "\r\n".
MetaParseResult ParseSet(const Line& line, MetaCommand* cmd) {
  const MetaTokens& tokens = line.tokens;
  int32_t bytes = 0;
  // Without a valid data length nothing can be swallowed: memcached refuses the line first.
  if (tokens.size() < 3 || !ParseTokenI32(tokens[2], &bytes) || bytes < 0 || bytes > kMaxBytes ||
      tokens.HasUnreadableFlag(3)) {
    return Result(MetaStatus::kBadFormat, line.size);
  }
  // Once the block's length is known, a refused line still swallows the block (see the header).
  const auto refuse = [&](MetaStatus status) {
    return Result(status, line.size, static_cast<uint64_t>(bytes) + 2);
  };

  cmd->key_token = tokens[1];
  const MetaStatus key_status = CheckKey(cmd->key_token);
  if (key_status != MetaStatus::kOk) return refuse(key_status);
  if (tokens.too_many()) return refuse(MetaStatus::kTooManyFlags);
  char mode = 0;
  const MetaStatus flags_status = ReadFlags(tokens, 3, cmd, &mode);
  if (flags_status != MetaStatus::kOk) return refuse(flags_status);
  switch (mode) {
    case 0:
    case 'S':
      cmd->set_mode = MetaSetMode::kSet;
      break;
    case 'E':
      cmd->set_mode = MetaSetMode::kAdd;
      break;
    case 'R':
      cmd->set_mode = MetaSetMode::kReplace;
      break;
    case 'A':
      cmd->set_mode = MetaSetMode::kAppend;
      break;
    case 'P':
      cmd->set_mode = MetaSetMode::kPrepend;
      break;
    default:
      return refuse(MetaStatus::kBadSetMode);
  }
  if (OpaqueTooLong(*cmd)) return refuse(MetaStatus::kOpaqueTooLong);

  const auto value_size = static_cast<size_t>(bytes);
  if (value_size > line.limits.item_size_max) {
    // Refused before any of the block is buffered: the caller discards it as it streams in.
    return Result(MetaStatus::kTooLarge, line.size, value_size + 2);
  }
  const size_t end = line.size + value_size + 2;
  if (line.input.size() < end)
    return MetaParseResult{.status = MetaStatus::kNeedMore, .needed = end};
  if (line.input[end - 2] != '\r' || line.input[end - 1] != '\n') {
    // memcached reads exactly the declared bytes; what follows is parsed as commands.
    return Result(MetaStatus::kBadDataChunk, end);
  }
  cmd->value = line.input.substr(line.size, value_size);
  return Result(MetaStatus::kOk, end);
}

// me: "me <key> [b]". memcached looks at the token after the key only, and only for "b"; 1.6.45
// decodes the key only when yet another token follows that "b" (it counts the line's tokens as if
// its end were one), so "me <key> b" looks up the base64 text itself.
MetaParseResult ParseDebug(const Line& line, MetaCommand* cmd) {
  const MetaTokens& tokens = line.tokens;
  if (tokens.size() < 2 || tokens.HasUnreadableFlag(2)) {
    return Result(MetaStatus::kBadFormat, line.size);
  }
  cmd->key_token = tokens[1];
  const MetaStatus key_status = CheckKey(cmd->key_token);
  if (key_status != MetaStatus::kOk) return Result(key_status, line.size);
  if (tokens.size() > 3 && tokens[2] == "b") {
    size_t size = 0;
    if (!Base64Decode(cmd->key_token, cmd->binary_key, &size)) {
      return Result(MetaStatus::kBadFormat, line.size);
    }
    cmd->binary_key_size = static_cast<uint8_t>(size);
    cmd->key_binary = true;
    cmd->flags.Add('b');
    cmd->letter_order[cmd->letter_count++] = 'b';
  }
  return Result(MetaStatus::kOk, line.size);
}

}  // namespace

MetaParseResult ParseMetaCommand(std::string_view input, const ParserLimits& limits,
                                 MetaCommand* cmd) {
  *cmd = MetaCommand{};

  size_t newline = 0;
  switch (FindLineEnd(input, limits, &newline)) {
    case ParseStatus::kOk:
      break;
    case ParseStatus::kClose:
      return Result(MetaStatus::kClose, 0);
    default:
      return Result(MetaStatus::kNeedMore, 0);
  }
  const size_t line_size = newline + 1;
  std::string_view text = input.substr(0, newline);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  if (std::memchr(text.data(), '\0', text.size()) != nullptr) {
    return Result(MetaStatus::kError, line_size);
  }

  const MetaTokens tokens(text);
  if (tokens.size() == 0 || tokens[0].size() != 2 || tokens[0][0] != 'm') {
    return Result(MetaStatus::kError, line_size);  // not a meta command (see the header)
  }
  const Line line{input, line_size, tokens, limits};
  switch (tokens[0][1]) {
    case 'g':
      cmd->type = MetaCommandType::kGet;
      return ParseKeyed(line, cmd);
    case 's':
      cmd->type = MetaCommandType::kSet;
      return ParseSet(line, cmd);
    case 'd':
      cmd->type = MetaCommandType::kDelete;
      return ParseKeyed(line, cmd);
    case 'a':
      cmd->type = MetaCommandType::kArithmetic;
      return ParseKeyed(line, cmd);
    case 'n':
      cmd->type = MetaCommandType::kNoop;
      return Result(MetaStatus::kOk, line_size);
    case 'e':
      cmd->type = MetaCommandType::kDebug;
      return ParseDebug(line, cmd);
    default:
      return Result(MetaStatus::kError, line_size);
  }
}

}  // namespace mnemo::protocol
