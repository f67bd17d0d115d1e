// Expiry converts memcached's exptime into a second of the monotonic clock (base/clock.h), and
// answers whether such a second has passed. memcached's rules:
//   0                       never expires;
//   negative                expired at once;
//   1 .. 2592000 (30 days)  seconds from now;
//   above                   an absolute Unix time, converted through the wall clock once (a time
//                           in the past means expired at once).
// Kept on the monotonic clock, so a wall-clock jump neither expires nor revives an item.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>

namespace mnemo::storage {

inline constexpr int64_t kMaxRelativeExptime = 60 * 60 * 24 * 30;
// An expiry second that has always passed: MonotonicSeconds() starts at kFirstSecond = 2.
inline constexpr uint32_t kExpiredAtOnce = 1;
// The expiry of an item that never expires.
inline constexpr uint32_t kNeverExpires = 0;

// `now` is MonotonicSeconds(), `wall_now` WallSeconds(), read by the caller once per request.
uint32_t ExpiryFromExptime(int64_t exptime, uint32_t now, int64_t wall_now);

inline bool IsExpired(uint32_t expiry, uint32_t now) {
  return expiry != kNeverExpires && expiry <= now;
}

}  // namespace mnemo::storage
