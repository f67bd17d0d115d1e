// WriteBuffer is one flash segment being assembled in RAM: a segment-sized, 4096-aligned buffer
// that records are appended to, whose first kSegmentHeaderSize bytes are kept for the segment
// header, and which Seal turns into the bytes one pwrite puts on flash.
//
// Invariants: records occupy [kSegmentHeaderSize, used()); an offset Append returns is the
// record's offset in the flash segment as well as in the buffer; after Seal, Append refuses until
// the next Reset.
//
// Thread safety: none; the flash tier (storage/flash_tier.h) serializes its use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>

#include "flash/aligned_buffer.h"

namespace mnemo::flash {

class WriteBuffer {
 public:
  // `segment_size`: a multiple of 4096, larger than the header. valid() is false if the memory
  // could not be had.
  explicit WriteBuffer(size_t segment_size);

  bool valid() const { return bytes_.data() != nullptr; }

  // Empties the buffer and starts it filling for flash segment `segment`.
  void Reset(uint32_t segment);

  // Copies `record` in; returns its offset, or nothing if it does not fit or the buffer is sealed.
  std::optional<uint32_t> Append(std::span<const uint8_t> record) { return Append({record}); }
  // The same for a record in pieces, copied in one after the other.
  std::optional<uint32_t> Append(std::initializer_list<std::span<const uint8_t>> pieces);

  // Copies out.size() bytes at `offset` if they lie within the records appended.
  bool Read(uint32_t offset, std::span<uint8_t> out) const;

  // Writes the header (`sequence`, the records' byte count), zeroes the rest of the last 4 KiB
  // block, and returns the bytes to write at the segment's start: the header and the records,
  // rounded up to 4096.
  std::span<const uint8_t> Seal(uint64_t sequence);

  uint32_t segment() const { return segment_; }
  size_t used() const { return used_; }
  bool has_records() const;
  bool sealed() const { return sealed_; }

 private:
  AlignedBuffer bytes_;
  uint32_t segment_ = 0;
  size_t used_;
  bool sealed_ = false;
};

}  // namespace mnemo::flash
