// How mnemod reads the numbers its flags and -o options take: whole strings only (no trailing
// bytes, no leading sign where the type has none), sizes with memcached's k, m and g suffixes.
//
// Thread safety: pure functions.
#pragma once

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "base/status.h"

namespace mnemo::server {

template <typename Int>
bool ParseInt(std::string_view text, Int* value) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

inline bool ParseDouble(std::string_view text, double* value) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

// A byte count with an optional k, m or g suffix (powers of 1024), as -I takes it.
inline bool ParseSize(std::string_view text, size_t* bytes) {
  int shift = 0;
  if (!text.empty()) {
    switch (text.back()) {
      case 'k':
      case 'K':
        shift = 10;
        break;
      case 'm':
      case 'M':
        shift = 20;
        break;
      case 'g':
      case 'G':
        shift = 30;
        break;
      default:
        break;
    }
    if (shift != 0) text.remove_suffix(1);
  }
  uint64_t number = 0;
  if (!ParseInt(text, &number) || number > (uint64_t{1} << (63 - shift))) return false;
  *bytes = static_cast<size_t>(number << shift);
  return true;
}

inline Status Invalid(std::string_view flag, std::string_view value) {
  return Status::Error("invalid value for " + std::string(flag) + ": \"" + std::string(value) +
                       "\"");
}

}  // namespace mnemo::server
