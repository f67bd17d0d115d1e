// Base64 as memcached's meta protocol uses it for binary keys (the 'b' flag): the RFC 4648
// alphabet with '=' padding. Decoding reproduces memcached's own decoder (its base64.c, unchanged
// from 1.6.18 to 1.6.45), so that every key token memcached accepts reaches the same key bytes
// here, and every token it refuses is refused. Pure functions; thread-safe.
//
// Decoding rules, each observable as the key a client reaches:
//  (1) Bytes outside the alphabet and '=' are skipped: "Zm9v!" decodes as "Zm9v" does.
//  (2) The bytes that remain must be a non-zero multiple of 4 in number, else decoding fails.
//  (3) '=' is read as the digit 0 and counts as padding. The first group of 4 that holds any
//      padding ends the input (what follows is ignored) and gives up one output byte per '=':
//      "AA==" is one byte, "A=AA" two; three or four '=' in that group fail.
// So a successful decode yields at least one byte and at most Base64DecodedCapacity bytes.
#pragma once

#include <cstddef>
#include <string_view>

namespace mnemo::protocol {

// The most bytes that decoding `encoded_size` bytes can yield.
constexpr size_t Base64DecodedCapacity(size_t encoded_size) { return encoded_size / 4 * 3; }

// The exact size of the encoding of `decoded_size` bytes, padding included.
constexpr size_t Base64EncodedSize(size_t decoded_size) { return (decoded_size + 2) / 3 * 4; }

// Decodes `encoded` into `out` by the rules above; false when memcached would refuse it.
// REQUIRES: `out` has room for Base64DecodedCapacity(encoded.size()) bytes.
[[nodiscard]] bool Base64Decode(std::string_view encoded, char* out, size_t* out_size);

// Writes the padded encoding of `bytes` to `out` and returns its size, as memcached encodes a
// binary key that a reply echoes. REQUIRES: `out` has room for Base64EncodedSize(bytes.size()).
size_t Base64Encode(std::string_view bytes, char* out);

}  // namespace mnemo::protocol
