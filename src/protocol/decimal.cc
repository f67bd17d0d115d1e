#include "protocol/decimal.h"

#include <cstddef>
#include <limits>

namespace mnemo::protocol {
namespace {

// isspace() in the C locale.
bool IsCSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

struct Decimal {
  bool negative = false;
  bool overflow = false;  // the magnitude does not fit in 64 bits
  uint64_t magnitude = 0;
};

// Reads rules (1) and (2) of the header; false when they are not met.
bool Scan(std::string_view token, Decimal* d) {
  size_t i = 0;
  while (i < token.size() && IsCSpace(token[i])) ++i;
  if (i < token.size() && (token[i] == '+' || token[i] == '-')) {
    d->negative = token[i] == '-';
    ++i;
  }
  const size_t first_digit = i;
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  for (; i < token.size() && token[i] >= '0' && token[i] <= '9'; ++i) {
    const auto digit = static_cast<uint64_t>(token[i] - '0');
    if (d->magnitude > (kMax - digit) / 10) {
      d->overflow = true;  // keep scanning: the bytes after the digits still decide (2)
    } else {
      d->magnitude = d->magnitude * 10 + digit;
    }
  }
  if (i == first_digit) return false;
  return i == token.size() || IsCSpace(token[i]);
}

}  // namespace

bool ParseDecimalU64(std::string_view token, uint64_t* out) {
  Decimal d;
  if (!Scan(token, &d) || d.overflow) return false;
  const uint64_t value = d.negative ? 0 - d.magnitude : d.magnitude;
  if (d.negative && static_cast<int64_t>(value) < 0) return false;
  *out = value;
  return true;
}

bool ParseDecimalU32(std::string_view token, uint32_t* out) {
  uint64_t value = 0;
  if (!ParseDecimalU64(token, &value)) return false;
  *out = static_cast<uint32_t>(value);
  return true;
}

bool ParseDecimalI64(std::string_view token, int64_t* out) {
  Decimal d;
  if (!Scan(token, &d) || d.overflow) return false;
  constexpr auto kMaxPositive = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (d.magnitude > kMaxPositive + (d.negative ? 1 : 0)) return false;
  // Conversion to a signed type is modular since C++20, so -2^63 comes out right.
  *out = static_cast<int64_t>(d.negative ? 0 - d.magnitude : d.magnitude);
  return true;
}

bool ParseDecimalI32(std::string_view token, int32_t* out) {
  int64_t value = 0;
  if (!ParseDecimalI64(token, &value)) return false;
  *out = static_cast<int32_t>(value);
  return true;
}

namespace {

constexpr size_t kToken32MaxBytes = 11;
constexpr size_t kToken64MaxBytes = 22;

// The digits of `token` as an unsigned value no larger than `max`; false on any other byte or a
// larger value.
bool ScanDigits(std::string_view token, uint64_t max, uint64_t* out) {
  uint64_t sum = 0;
  for (const char c : token) {
    if (c < '0' || c > '9') return false;
    const auto digit = static_cast<uint64_t>(c - '0');
    if (sum > (max - digit) / 10) return false;
    sum = sum * 10 + digit;
  }
  *out = sum;
  return true;
}

}  // namespace

bool ParseTokenU32(std::string_view token, uint32_t* out) {
  uint64_t value = 0;
  if (token.size() > kToken32MaxBytes ||
      !ScanDigits(token, std::numeric_limits<uint32_t>::max(), &value)) {
    return false;
  }
  *out = static_cast<uint32_t>(value);
  return true;
}

bool ParseTokenU64(std::string_view token, uint64_t* out) {
  return token.size() <= kToken64MaxBytes &&
         ScanDigits(token, std::numeric_limits<uint64_t>::max(), out);
}

bool ParseTokenI32(std::string_view token, int32_t* out) {
  if (token.size() > kToken32MaxBytes) return false;
  const bool negative = token.starts_with('-');
  if (negative) token.remove_prefix(1);
  constexpr auto kMax = static_cast<uint64_t>(std::numeric_limits<int32_t>::max());
  uint64_t magnitude = 0;
  if (!ScanDigits(token, kMax + (negative ? 1 : 0), &magnitude)) return false;
  const auto value = static_cast<int64_t>(magnitude);
  *out = static_cast<int32_t>(negative ? -value : value);
  return true;
}

}  // namespace mnemo::protocol
