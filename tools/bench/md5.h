// Md5 computes the MD5 digest of RFC 1321. mnemo-bench needs it for one reason: libmemcached's
// ketama places servers and keys on its ring by MD5, and a load generator that spreads keys over
// several servers must place them exactly as real clients do. Nothing here is meant for security.
//
// Thread safety: a pure function.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace mnemo::bench {

using Md5Digest = std::array<uint8_t, 16>;

Md5Digest Md5(std::string_view data);

}  // namespace mnemo::bench
