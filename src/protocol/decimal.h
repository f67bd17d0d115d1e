// Decimal numbers read from a command token the way memcached 1.6.18 reads them (its safe_strto*
// helpers in util.c, which wrap strtoull/strtol in base 10), so that mnemo accepts and refuses
// exactly the numbers memcached does. Pure functions; thread-safe.
//
// The rules, all of which clients have been seen to rely on or to trip over:
//  (1) Leading white space (\t \v \f \r; a token holds no ' ' or '\n') is skipped, then one
//      optional '+' or '-', then at least one digit.
//  (2) After the digits the token must end, or go on with a white-space byte: "5\r" and "5\tx"
//      read as 5, "5x" is refused.
//  (3) A magnitude that overflows the C type (64 bits on Linux) is refused (ERANGE).
//  (4) Unsigned reads negate a '-' number modulo 2^64 as strtoull does, and refuse the result only
//      when it is negative as a signed number: "-1" is refused, "-0" is 0.
//  (5) The 32-bit reads keep the low 32 bits of the 64-bit value, as memcached's casts do: flags
//      4294967296 read as 0, exptime 4294967295 as -1.
#pragma once

#include <cstdint>
#include <string_view>

namespace mnemo::protocol {

// safe_strtoull: CAS uniques, incr/decr deltas.
[[nodiscard]] bool ParseDecimalU64(std::string_view token, uint64_t* out);

// safe_strtoul into a uint32_t: client flags, verbosity level, cache_memlimit megabytes.
[[nodiscard]] bool ParseDecimalU32(std::string_view token, uint32_t* out);

// strtol's 64-bit value before safe_strtol narrows it; for byte counts, which mnemo range-checks
// on the value the client wrote rather than on its low 32 bits.
[[nodiscard]] bool ParseDecimalI64(std::string_view token, int64_t* out);

// safe_strtol into an int32_t: exptimes (storage commands, touch, gat, gats, flush_all).
[[nodiscard]] bool ParseDecimalI32(std::string_view token, int32_t* out);

}  // namespace mnemo::protocol
