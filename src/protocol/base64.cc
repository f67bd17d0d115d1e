#include "protocol/base64.h"

#include <array>
#include <cstdint>

namespace mnemo::protocol {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// A byte's digit value; kSkip for bytes that decoding passes over (rule 1). '=' is the digit 0.
constexpr uint8_t kSkip = 0x80;
constexpr std::array<uint8_t, 256> kDigits = [] {
  std::array<uint8_t, 256> digits{};
  digits.fill(kSkip);
  for (size_t i = 0; i < kAlphabet.size(); ++i) {
    digits[static_cast<unsigned char>(kAlphabet[i])] = static_cast<uint8_t>(i);
  }
  digits['='] = 0;
  return digits;
}();

uint8_t Digit(char c) { return kDigits[static_cast<unsigned char>(c)]; }

}  // namespace

bool Base64Decode(std::string_view encoded, char* out, size_t* out_size) {
  size_t digits = 0;
  for (const char c : encoded) digits += Digit(c) != kSkip ? 1 : 0;
  if (digits == 0 || digits % 4 != 0) return false;

  char* p = out;
  uint8_t group[4];
  size_t in_group = 0;
  size_t padding = 0;
  for (const char c : encoded) {
    const uint8_t digit = Digit(c);
    if (digit == kSkip) continue;
    if (c == '=') ++padding;
    group[in_group++] = digit;
    if (in_group < 4) continue;
    in_group = 0;
    *p++ = static_cast<char>((group[0] << 2) | (group[1] >> 4));
    *p++ = static_cast<char>((group[1] << 4) | (group[2] >> 2));
    *p++ = static_cast<char>((group[2] << 6) | group[3]);
    if (padding != 0) {
      if (padding > 2) return false;
      p -= padding;
      break;  // rule 3: the padded group ends the input
    }
  }
  *out_size = static_cast<size_t>(p - out);
  return true;
}

size_t Base64Encode(std::string_view bytes, char* out) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(bytes[i]); };
  char* p = out;
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    *p++ = kAlphabet[byte(i) >> 2];
    *p++ = kAlphabet[((byte(i) & 0x03) << 4) | (byte(i + 1) >> 4)];
    *p++ = kAlphabet[((byte(i + 1) & 0x0f) << 2) | (byte(i + 2) >> 6)];
    *p++ = kAlphabet[byte(i + 2) & 0x3f];
  }
  const size_t left = bytes.size() - i;
  if (left != 0) {
    *p++ = kAlphabet[byte(i) >> 2];
    if (left == 1) {
      *p++ = kAlphabet[(byte(i) & 0x03) << 4];
      *p++ = '=';
    } else {
      *p++ = kAlphabet[((byte(i) & 0x03) << 4) | (byte(i + 1) >> 4)];
      *p++ = kAlphabet[(byte(i + 1) & 0x0f) << 2];
    }
    *p++ = '=';
  }
  return static_cast<size_t>(p - out);
}

}  // namespace mnemo::protocol
