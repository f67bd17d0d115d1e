#include "protocol/ascii_parser.h"

#include <algorithm>
#include <cstring>

#include "protocol/decimal.h"

namespace mnemo::protocol {
namespace {

// Whether the line at the front of `input` is a meta command: its first word is mg, ms, md, mn, ma
// or me, followed by a ' ' or the line's end, as memcached 1.6.45's parser checks. Any other word,
// one after a leading space, and a line shorter than four bytes with its "\n" are left to
// ParseTextCommand, which answers them as memcached does. False also while the input ends before
// the word does: then the input holds no "\n", and ParseTextCommand answers kNeedMore or kClose
// exactly as ParseMetaCommand would.
bool IsMetaLine(std::string_view input) {
  if (input.size() < 3 || input[0] != 'm') return false;
  if (std::string_view("gsdnae").find(input[1]) == std::string_view::npos) return false;
  if (input[2] == ' ') return true;
  if (input[2] == '\n') return false;  // a line of three bytes
  // "mX\r\n", the shortest meta line; "mX\r" alone may still become it.
  return input[2] == '\r' && input.size() > 3 && input[3] == '\n';
}

bool IsRetrievalWithExptime(CommandType type) {
  return type == CommandType::kGat || type == CommandType::kGats;
}

// `needed`: the bytes the incomplete command needs in all, once its line declares them.
AsciiRequest NeedMore(size_t needed = 0) {
  AsciiRequest request;
  request.needed = needed;
  return request;
}

AsciiRequest Discard(size_t bytes) {
  if (bytes == 0) return NeedMore();
  AsciiRequest request;
  request.kind = AsciiRequest::Kind::kDiscard;
  request.consumed = bytes;
  return request;
}

AsciiRequest LongLineText(ParseStatus status, size_t consumed) {
  AsciiRequest request;
  request.kind = AsciiRequest::Kind::kText;
  request.consumed = consumed;
  request.long_line = true;
  request.text = ParseResult{status, consumed, 0, false};
  return request;
}

// A token of a long line that has arrived whole: its bytes, and where the bytes after it start
// (at the " " or "\n" that ends it; a "\r" before that "\n" is not part of the token).
struct Token {
  std::string_view text;
  size_t end;
};

// The token starting at `start` (not a space), if it has arrived whole. A token that is already
// too long for a key (or an exptime) is reported as whole, with every byte that has arrived: only
// its length matters then. A token is no longer than kMaxKeyLength, plus its "\r", so the search
// looks no further than that.
bool NextLongLineToken(std::string_view input, size_t start, Token* token) {
  const size_t window = std::min(input.size() - start, kMaxKeyLength + 2);
  size_t end = start;
  while (end < start + window && input[end] != ' ' && input[end] != '\n') ++end;
  if (end == start + window) {
    if (window <= kMaxKeyLength + 1) return false;  // it may still end, short enough
    *token = Token{input.substr(start, window), end};
    return true;
  }
  std::string_view text = input.substr(start, end - start);
  if (input[end] == '\n' && !text.empty() && text.back() == '\r') text.remove_suffix(1);
  *token = Token{text, end};
  return true;
}

}  // namespace

AsciiRequest AsciiParser::Parse(std::string_view input, Command* cmd, MetaCommand* meta) {
  if (skip_ > 0) {
    const size_t discard = static_cast<size_t>(std::min<uint64_t>(skip_, input.size()));
    skip_ -= discard;
    return Discard(discard);
  }
  if (stage_ != Stage::kNone) return ParseLongLine(input, cmd);
  if (input.empty()) return NeedMore();

  AsciiRequest request;
  if (IsMetaLine(input)) {
    request.meta = ParseMetaCommand(input, limits_, meta);
    if (request.meta.status == MetaStatus::kNeedMore) return NeedMore(request.meta.needed);
    request.kind = AsciiRequest::Kind::kMeta;
    request.consumed = request.meta.consumed;
    skip_ = request.meta.skip;
    return request;
  }
  request.text = ParseTextCommand(input, limits_, cmd);
  if (request.text.status == ParseStatus::kNeedMore) return NeedMore(request.text.needed);
  if (request.text.status == ParseStatus::kClose &&
      IsLongRetrievalLine(input, limits_, &line_type_)) {
    stage_ = Stage::kWord;
    line_exptime_ = 0;
    line_has_key_ = false;
    return ParseLongLine(input, cmd);
  }
  request.kind = AsciiRequest::Kind::kText;
  request.consumed = request.text.consumed;
  skip_ = request.text.skip;
  return request;
}

// Scans the line's tokens from the front of `input`: the command word, a gat's exptime, then
// keys, each checked as it completes. The keys that pass go out together as one piece; a key that
// fails goes out on its own, as the error, once the keys before it have gone.
AsciiRequest AsciiParser::ParseLongLine(std::string_view input, Command* cmd) {
  if (stage_ == Stage::kDrop) {
    if (input.empty()) return NeedMore();  // memchr must not be given an empty view's null data
    const void* newline = std::memchr(input.data(), '\n', input.size());
    if (newline == nullptr) return Discard(input.size());
    stage_ = Stage::kNone;
    return Discard(static_cast<size_t>(static_cast<const char*>(newline) - input.data()) + 1);
  }
  *cmd = Command{};
  cmd->type = line_type_;
  cmd->exptime = line_exptime_;
  size_t pos = 0;
  size_t keys_begin = 0;
  size_t keys_end = 0;  // 0 while this piece has no key
  // The keys of this piece so far go out, and the line goes on at `end`.
  const auto piece = [&](size_t end) {
    cmd->keys = KeyList(input.substr(keys_begin, keys_end - keys_begin));
    cmd->more_keys = true;
    return LongLineText(ParseStatus::kOk, end);
  };
  // The token at `pos` refuses the line: the rest of it is discarded.
  const auto refuse = [&](ParseStatus status) {
    stage_ = Stage::kDrop;
    return LongLineText(status, pos);
  };
  for (;;) {
    while (pos < input.size() && input[pos] == ' ') ++pos;
    if (pos == input.size()) break;
    Token token;
    if (!NextLongLineToken(input, pos, &token)) break;
    if (!token.text.empty()) {
      switch (stage_) {
        case Stage::kWord:
          stage_ = IsRetrievalWithExptime(line_type_) ? Stage::kExptime : Stage::kKeys;
          break;
        case Stage::kExptime: {
          int32_t exptime = 0;
          if (!ParseTokenI32(token.text, &exptime)) {
            return refuse(ParseStatus::kBadExptime);
          }
          line_exptime_ = cmd->exptime = exptime;
          stage_ = Stage::kKeys;
          break;
        }
        case Stage::kKeys: {
          ParseStatus status = ParseStatus::kOk;
          if (token.text.size() > kMaxKeyLength) {
            status = ParseStatus::kBadFormat;
          } else if (HasControlByte(token.text)) {
            status = ParseStatus::kError;
          }
          if (status != ParseStatus::kOk) {
            // Keys before it go out first; the next call meets this key again.
            return keys_end != 0 ? piece(pos) : refuse(status);
          }
          if (keys_end == 0) keys_begin = pos;
          keys_end = pos + token.text.size();
          line_has_key_ = true;
          break;
        }
        case Stage::kNone:
        case Stage::kDrop:
          break;  // handled above
      }
    }
    pos = token.end;
    if (input[pos] == '\n') {
      cmd->keys = KeyList(input.substr(keys_begin, keys_end - keys_begin));
      return EndLongLine(pos + 1);
    }
  }
  return keys_end != 0 ? piece(pos) : Discard(pos);
}

// The line's "\n" is the last of `consumed` bytes; cmd->keys holds this piece's keys. A get with
// no key at all, or a gat with no exptime, is an error, as the whole line would be.
AsciiRequest AsciiParser::EndLongLine(size_t consumed) {
  const bool complete =
      stage_ == Stage::kKeys && (line_has_key_ || IsRetrievalWithExptime(line_type_));
  stage_ = Stage::kNone;
  return LongLineText(complete ? ParseStatus::kOk : ParseStatus::kError, consumed);
}

}  // namespace mnemo::protocol
