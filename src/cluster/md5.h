// Md5 computes the MD5 digest of RFC 1321. mnemo needs it for one reason: libmemcached's and
// twemproxy's ketama place servers and keys on their ring by MD5, and mnemo must place them exactly
// as real clients and proxies do. Nothing here is meant for security.
//
// Thread safety: a pure function.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace mnemo::cluster {

using Md5Digest = std::array<uint8_t, 16>;

Md5Digest Md5(std::string_view data);

}  // namespace mnemo::cluster
