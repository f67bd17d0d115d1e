// mnemod's version, as `-V`, `version` and `stats` report it. Clients parse the leading
// major.minor.micro (libmemcached stops at the "-"), so they see a server of memcached 1.6.45's
// protocol level; the suffix names mnemo's own release.
#pragma once

#include <string_view>

namespace mnemo::server {

inline constexpr std::string_view kVersion = "1.6.45-mnemo-0.1.0";

}  // namespace mnemo::server
