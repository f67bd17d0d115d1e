#include "flash/write_buffer.h"

#include <cstring>

#include "flash/flash_segment.h"

namespace mnemo::flash {

WriteBuffer::WriteBuffer(size_t segment_size) : bytes_(segment_size), used_(kSegmentHeaderSize) {}

void WriteBuffer::Reset(uint32_t segment) {
  segment_ = segment;
  used_ = kSegmentHeaderSize;
  sealed_ = false;
}

std::optional<uint32_t> WriteBuffer::Append(
    std::initializer_list<std::span<const uint8_t>> pieces) {
  size_t size = 0;
  for (const std::span<const uint8_t> piece : pieces) size += piece.size();
  if (sealed_ || size > bytes_.size() - used_) return std::nullopt;
  const auto offset = static_cast<uint32_t>(used_);
  for (const std::span<const uint8_t> piece : pieces) {
    if (!piece.empty()) std::memcpy(bytes_.data() + used_, piece.data(), piece.size());
    used_ += piece.size();
  }
  return offset;
}

bool WriteBuffer::Read(uint32_t offset, std::span<uint8_t> out) const {
  if (offset < kSegmentHeaderSize || offset > used_ || out.size() > used_ - offset) return false;
  if (!out.empty()) std::memcpy(out.data(), bytes_.data() + offset, out.size());
  return true;
}

std::span<const uint8_t> WriteBuffer::Seal(uint64_t sequence) {
  const SegmentHeader header{sequence, static_cast<uint32_t>(used_ - kSegmentHeaderSize)};
  EncodeSegmentHeader(header,
                      std::span<uint8_t, kSegmentHeaderSize>(bytes_.data(), kSegmentHeaderSize));
  const size_t length = AlignUp(used_);
  std::memset(bytes_.data() + used_, 0, length - used_);
  sealed_ = true;
  return {bytes_.data(), length};
}

bool WriteBuffer::has_records() const { return used_ > kSegmentHeaderSize; }

}  // namespace mnemo::flash
