// Minimal leveled logging to stderr, as memcached's -v/-vv do. Not for the request path unless the
// verbosity asks for it.
#pragma once

#include <atomic>
#include <cstdio>

namespace mnemo {

// 0: errors only; 1 (-v): errors and warnings; 2 (-vv): also each client command.
inline std::atomic<int> g_verbosity{0};

#define MNEMO_LOG(level, ...)                                            \
  do {                                                                   \
    if ((level) <= ::mnemo::g_verbosity.load(std::memory_order_relaxed)) \
      std::fprintf(stderr, __VA_ARGS__);                                 \
  } while (0)

}  // namespace mnemo
