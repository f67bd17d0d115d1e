// The one key hash of mnemo: XXH3, 64 bits. Storage takes bucket, lock stripe and tag bits from
// different parts of it, so they stay independent.
#pragma once

#include <xxhash.h>

#include <cstdint>
#include <string_view>

namespace mnemo {

inline uint64_t HashKey(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

}  // namespace mnemo
