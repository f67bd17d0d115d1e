// The numbers of incr/decr, read and written as memcached does. A value is a number if
// strtoull(3) reads one from it and stops at whitespace, a NUL or the end of the value: leading
// whitespace and a sign are allowed, overflow is not, and a negative number is refused (memcached's
// safe_strtoull). incr wraps at 2^64; decr stops at 0. A result shorter than the old value keeps
// the old length, padded with trailing spaces, because memcached rewrites the value in place.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mnemo::storage {

// The longest decimal of a uint64_t.
inline constexpr size_t kMaxCounterDigits = 20;

// Returns false if `value` is not a number by the rule above.
[[nodiscard]] bool ParseCounter(std::string_view value, uint64_t* out);

uint64_t ApplyDelta(uint64_t value, bool increment, uint64_t delta);

// Writes `value` in decimal to `out`, padded with spaces to `min_size`; returns the bytes written.
// `out` has room for max(min_size, kMaxCounterDigits).
size_t FormatCounter(uint64_t value, size_t min_size, char* out);

}  // namespace mnemo::storage
