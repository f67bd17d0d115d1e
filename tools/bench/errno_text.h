// ErrnoText describes an errno value, as strerror does, but safely from any thread: load threads
// report socket errors while other threads run, and strerror may share one buffer among them.
//
// Thread safety: any thread.
#pragma once

#include <cstring>
#include <string>

namespace mnemo::bench {

inline std::string ErrnoText(int error) {
  char buffer[128];
  // GNU strerror_r: returns either a static string or `buffer`.
  return strerror_r(error, buffer, sizeof(buffer));
}

}  // namespace mnemo::bench
