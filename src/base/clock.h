// Time as the cache sees it. Expiry uses a monotonic clock counted in whole seconds from the start
// of the process (so that wall-clock jumps never expire or revive items); wall-clock time is used
// only to convert memcached's absolute exptimes and to report `time` in stats.
//
// Thread safety: all functions may be called from any thread.
#pragma once

#include <cstdint>

namespace mnemo {

// Seconds since the process started, on the monotonic clock. Starts at kFirstSecond so that 0
// can mean "never" in expiry fields.
uint32_t MonotonicSeconds();
inline constexpr uint32_t kFirstSecond = 2;

// Seconds since the Unix epoch, from the wall clock.
int64_t WallSeconds();

// The wall-clock time at which the process started (MonotonicSeconds() == kFirstSecond).
int64_t ProcessStartWallSeconds();

// Test hook: moves MonotonicSeconds() forward by `seconds`, so that expiry can be tested without
// sleeping. Also shifts the wall clock seen by WallSeconds().
void AdvanceClockForTesting(uint32_t seconds);
// Test hook: undoes every AdvanceClockForTesting, for a test that runs many times in one process
// (a fuzz target) and would otherwise push the clock until it wraps. Only while nothing that read
// the clock is alive: to its users, time would go backwards.
void ResetClockForTesting();

}  // namespace mnemo
