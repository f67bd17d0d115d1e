// Decimal numbers read from a command token the way memcached reads them, so that mnemo accepts
// and refuses exactly the numbers memcached does. Pure functions; thread-safe.
//
// memcached has two readers. ParseDecimal* are its safe_strto* helpers (util.c, which wrap
// strtoull/strtol in base 10); 1.6.45 still reads client flags, a storage command's exptime and
// the meta flags' numbers with them. Their rules, which clients have been seen to rely on:
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

// ParseToken* are the stricter reads of memcached 1.6.45's text parser (mcmc_tokto* in its
// vendored client library), for a storage command's byte count and cas unique, incr's and decr's
// delta, touch's, gat's and flush_all's exptime, and the numbers of verbosity and cache_memlimit:
// the token is digits only (the signed read allows one leading '-'), at most 11 bytes (the 32-bit
// reads) or 22 (the 64-bit one), and its value must fit the type. "-" alone reads as 0, as there.
[[nodiscard]] bool ParseTokenU32(std::string_view token, uint32_t* out);
[[nodiscard]] bool ParseTokenU64(std::string_view token, uint64_t* out);
[[nodiscard]] bool ParseTokenI32(std::string_view token, int32_t* out);

}  // namespace mnemo::protocol
