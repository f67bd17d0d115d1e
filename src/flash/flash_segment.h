// The header at the start of every flash segment: 64 bytes that say what the segment holds, so
// that a segment read back (to reclaim it, or after a torn write) is recognised or refused before
// any record in it is trusted.
//
//   offset  size  field
//        0     4  magic, "MNFS" (kSegmentMagic)
//        4     2  layout version (kSegmentLayoutVersion)
//        6     2  header size, 64
//        8     8  flash sequence number: segments are numbered in the order they are written
//       16     4  bytes of records that follow the header
//       20    40  zero
//       60     4  CRC32C of bytes 0..59
//
// Integers are little-endian. The records start at kSegmentHeaderSize; how a record reads is the
// business of the layer that writes them.
//
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "base/status.h"

namespace mnemo::flash {

inline constexpr size_t kSegmentHeaderSize = 64;
inline constexpr uint32_t kSegmentMagic = 0x53464E4D;  // "MNFS" in memory order
inline constexpr uint16_t kSegmentLayoutVersion = 1;

struct SegmentHeader {
  uint64_t sequence = 0;
  uint32_t record_bytes = 0;
  bool operator==(const SegmentHeader&) const = default;
};

void EncodeSegmentHeader(const SegmentHeader& header, std::span<uint8_t, kSegmentHeaderSize> out);

// Fails, saying why, unless `in` is a header EncodeSegmentHeader wrote (magic, version, size and
// CRC all match, the zero bytes are zero) whose records fit in a segment of `segment_size` bytes.
Result<SegmentHeader> DecodeSegmentHeader(std::span<const uint8_t, kSegmentHeaderSize> in,
                                          size_t segment_size);

}  // namespace mnemo::flash
