// FlashReadSize decides how many bytes a read of a record on flash asks for first. That first read
// must hold the record's header, which says how long the record is; asking for the whole record
// at once costs one system call instead of two, while asking for more than the record costs the
// copy of bytes nobody needs (bench/RESULTS.md: a cached preadv2 of 4,096 bytes took 1.41 µs, of
// 1,100 bytes 0.88, of 64 bytes 0.69, next to about 2 µs for a whole get from RAM).
//
// It follows the records its thread read lately: it rises at once to a longer record and falls by
// an eighth towards each shorter one, so a thread whose records are of one size reads each whole
// in one call of about that size, and one that meets a mix reads most records whole and the
// occasional longer one in two calls.
//
// Invariant: kMin <= next() <= kMax, a multiple of kAlign.
// Thread safety: none; each thread keeps its own (ThreadContext).
#pragma once

#include <algorithm>
#include <cstddef>

namespace mnemo::storage {

class FlashReadSize {
 public:
  // The most a first read asks for (FlashTier's stack buffer); longer records take a second.
  static constexpr size_t kMax = 4096;
  // Enough for the longest header and key (item.h: 28 + 250 bytes).
  static constexpr size_t kMin = 320;
  static constexpr size_t kAlign = 64;

  size_t next() const { return next_; }

  // A record of `bytes` (header to trailer) was read.
  void Saw(size_t bytes) {
    const size_t whole = (bytes + kAlign - 1) / kAlign * kAlign;
    const size_t decayed = (next_ - next_ / 8) / kAlign * kAlign;  // down, or it would stall
    next_ = std::clamp(std::max(whole, decayed), kMin, kMax);
  }

 private:
  size_t next_ = kMax;
};

}  // namespace mnemo::storage
