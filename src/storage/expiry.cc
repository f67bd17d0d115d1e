#include "storage/expiry.h"

#include <algorithm>

namespace mnemo::storage {

uint32_t ExpiryFromExptime(int64_t exptime, uint32_t now, int64_t wall_now) {
  if (exptime == 0) return kNeverExpires;
  if (exptime < 0) return kExpiredAtOnce;
  int64_t delta = exptime;
  if (exptime > kMaxRelativeExptime) {
    if (exptime <= wall_now) return kExpiredAtOnce;
    delta = exptime - wall_now;
  }
  // Saturate far-future times rather than wrap them into the past.
  return static_cast<uint32_t>(std::min<int64_t>(int64_t{now} + delta, UINT32_MAX));
}

}  // namespace mnemo::storage
