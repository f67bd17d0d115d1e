// Time as the cache sees it. Expiry uses a monotonic clock counted in whole seconds (so that
// wall-clock jumps while the process runs never expire or revive items); wall-clock time is used
// only to convert memcached's absolute exptimes, to report `time` in stats, and to carry the
// clock across a warm restart.
//
// The time base: internal second kFirstSecond stands for the wall-clock second
// ProcessStartWallSeconds(). A process starts its own base; a warm restart (-e) resumes the saved
// one (ResumeClock), so that an expiry second stored by the old process means the same wall-clock
// moment in the new one, as memcached restores its process_started. The down time is measured on
// the wall clock, the only clock that spans two processes; a wall clock that went backwards while
// the server was down counts as no down time at all, so that it can never make an item younger.
//
// Thread safety: all functions may be called from any thread; ResumeClock only before anything
// that reads the clock is serving, since it moves the clock forward.
#pragma once

#include <cstdint>

namespace mnemo {

// Seconds since the time base, on the monotonic clock. Starts at kFirstSecond so that 0 can mean
// "never" in expiry fields.
uint32_t MonotonicSeconds();
inline constexpr uint32_t kFirstSecond = 2;

// Seconds since the Unix epoch, from the wall clock.
int64_t WallSeconds();

// The wall-clock second that MonotonicSeconds() == kFirstSecond stands for: when the process
// started, or, after ResumeClock, when the process whose cache it restored started.
int64_t ProcessStartWallSeconds();

// The second a restored clock resumes at, given the saved time base, the second the old process
// saved at (its MonotonicSeconds()) and the wall clock now: the saved base's second for now, or,
// if that is before saved_now, saved_now itself, with *clamped set if it is more than a second
// before (the wall clock went backwards while the server was down). Bounded so that far forwards
// does not wrap: items just expire.
uint32_t ResumeSecond(int64_t saved_base, uint32_t saved_now, int64_t wall_now, bool* clamped);

// Resumes a saved clock: MonotonicSeconds() continues at ResumeSecond(...) and
// ProcessStartWallSeconds() becomes the base that second stands for. Never moves the clock back.
// Returns *clamped of ResumeSecond.
bool ResumeClock(int64_t saved_base, uint32_t saved_now);

// Test hook: moves MonotonicSeconds() forward by `seconds`, so that expiry can be tested without
// sleeping. Also shifts the wall clock seen by WallSeconds().
void AdvanceClockForTesting(uint32_t seconds);
// Test hook: undoes every AdvanceClockForTesting and ResumeClock, for a test that runs many times
// in one process (a fuzz target) and would otherwise push the clock until it wraps. Only while
// nothing that read the clock is alive: to its users, time would go backwards.
void ResetClockForTesting();

}  // namespace mnemo
