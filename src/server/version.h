// mnemod's versions. `version` and `stats` report kVersion, the release of memcached whose
// protocol, flags and statistics mnemod implements, bare as memcached reports its own: clients
// parse it (libmemcached reads major.minor.micro, Perl's Cache::Memcached::Fast runs
// version->parse on it and dies on anything else). mnemo's own release is kMnemoVersion, shown by
// -V, -h and `stats` (mnemo_version).
#pragma once

#include <string_view>

namespace mnemo::server {

inline constexpr std::string_view kVersion = "1.6.45";
inline constexpr std::string_view kMnemoVersion = "0.1.0";

}  // namespace mnemo::server
