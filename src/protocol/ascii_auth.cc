#include "protocol/ascii_auth.h"

#include <algorithm>

namespace mnemo::protocol {
namespace {

// memcached's tokenizer reads at most this much of a line (TOKENIZER_MAXLEN).
constexpr size_t kTokenizerMax = 65534;
// The size's word: its index, and mcmc_toktou32's longest.
constexpr size_t kSizeToken = 4;
constexpr size_t kMaxU32Digits = 11;

// The word at `index` of `line` split at spaces, as mcmc_tokenize splits it; false if the line
// has fewer words.
bool Word(std::string_view line, size_t index, std::string_view* word) {
  size_t count = 0;
  size_t i = 0;
  while (i < line.size()) {
    if (line[i] == ' ') {
      ++i;
      continue;
    }
    const size_t start = i;
    while (i < line.size() && line[i] != ' ') ++i;
    if (count++ == index) {
      *word = line.substr(start, i - start);
      return true;
    }
  }
  return false;
}

// mcmc_toktou32: decimal digits only, no more than kMaxU32Digits of them, within 32 bits.
bool ParseU32(std::string_view word, uint32_t* out) {
  if (word.size() > kMaxU32Digits) return false;
  uint64_t value = 0;
  for (const char c : word) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint64_t>(c - '0');
    if (value > UINT32_MAX) return false;
  }
  *out = static_cast<uint32_t>(value);
  return true;
}

AsciiAuthRequest Reply(std::string_view reply, size_t consumed) {
  AsciiAuthRequest request;
  request.kind = AsciiAuthRequest::Kind::kReply;
  request.reply = reply;
  request.consumed = consumed;
  return request;
}

}  // namespace

AsciiAuthRequest ParseAsciiAuth(std::string_view input) {
  AsciiAuthRequest request;
  constexpr size_t kShortest = 3;  // memcached waits for this much before it looks
  if (input.size() < kShortest) return request;
  const size_t newline = input.find('\n');
  if (newline == std::string_view::npos) {
    if (input.size() > kMaxLineWait) request.kind = AsciiAuthRequest::Kind::kClose;
    return request;
  }
  if (newline < kMinAuthLine) {
    request.kind = AsciiAuthRequest::Kind::kClose;
    return request;
  }
  const size_t line_bytes = newline + 1;
  // The tokenizer takes the line as ending in "\r\n" or "\n" and cuts one or the other off its
  // last bytes; handed the line without its '\n', it cuts the byte before (memcached's quirk).
  const size_t length = std::min(newline, kTokenizerMax);
  const size_t words_end = input[length - 2] == '\r' ? length - 2 : length - 1;
  const std::string_view words = input.substr(0, words_end);
  std::string_view size_word;
  uint32_t size = 0;
  if (input.substr(0, 3) != "set" || !Word(words, kSizeToken, &size_word) ||
      !ParseU32(size_word, &size)) {
    return Reply(kUnauthenticated, line_bytes);
  }
  if (size > kMaxToken) return Reply(kAuthTokenTooLong, line_bytes);
  const size_t data_bytes = size_t{size} + 2;
  if (input.size() - line_bytes < data_bytes) {
    request.needed = line_bytes + data_bytes;
    return request;
  }
  const std::string_view data = input.substr(line_bytes, data_bytes);
  const size_t consumed = line_bytes + data_bytes;
  if (data.substr(size) != "\r\n") return Reply(kAuthBadTermination, consumed);
  const size_t space = data.find(' ');
  if (space == std::string_view::npos) return Reply(kAuthBadFormat, consumed);
  request.kind = AsciiAuthRequest::Kind::kCredentials;
  request.consumed = consumed;
  request.user = data.substr(0, space);
  request.password = data.substr(space + 1, size - space - 1);
  return request;
}

}  // namespace mnemo::protocol
