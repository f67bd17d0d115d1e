#include "storage/arithmetic.h"

#include <cstring>

namespace mnemo::storage {
namespace {

// isspace(3) in the C locale.
bool IsSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

}  // namespace

bool ParseCounter(std::string_view value, uint64_t* out) {
  size_t i = 0;
  while (i < value.size() && IsSpace(value[i])) ++i;
  bool negative = false;
  if (i < value.size() && (value[i] == '+' || value[i] == '-')) {
    negative = value[i] == '-';
    ++i;
  }
  const size_t digits_start = i;
  uint64_t v = 0;
  for (; i < value.size() && value[i] >= '0' && value[i] <= '9'; ++i) {
    const uint64_t digit = static_cast<uint64_t>(value[i] - '0');
    if (v > (UINT64_MAX - digit) / 10) return false;  // strtoull's ERANGE
    v = v * 10 + digit;
  }
  if (i == digits_start) return false;
  if (i < value.size() && !IsSpace(value[i]) && value[i] != '\0') return false;
  // strtoull negates in unsigned arithmetic; memcached refuses the result only when it reads as
  // a negative signed number, so "-0" is 0.
  if (negative) v = 0 - v;
  if (negative && static_cast<int64_t>(v) < 0) return false;
  *out = v;
  return true;
}

uint64_t ApplyDelta(uint64_t value, bool increment, uint64_t delta) {
  if (increment) return value + delta;
  return delta > value ? 0 : value - delta;
}

size_t FormatCounter(uint64_t value, size_t min_size, char* out) {
  char digits[kMaxCounterDigits];
  size_t n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  for (size_t i = 0; i < n; ++i) out[i] = digits[n - 1 - i];
  if (n < min_size) {
    std::memset(out + n, ' ', min_size - n);
    n = min_size;
  }
  return n;
}

}  // namespace mnemo::storage
