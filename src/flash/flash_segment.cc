#include "flash/flash_segment.h"

#include <bit>
#include <cstddef>
#include <cstring>
#include <string>

#include "base/crc32c.h"

namespace mnemo::flash {
namespace {

static_assert(std::endian::native == std::endian::little, "the header is little-endian in memory");

struct Wire {
  uint32_t magic;
  uint16_t version;
  uint16_t header_size;
  uint64_t sequence;
  uint32_t record_bytes;
  uint8_t zero[40];
  uint32_t crc;
};
static_assert(sizeof(Wire) == kSegmentHeaderSize);
static_assert(offsetof(Wire, sequence) == 8 && offsetof(Wire, record_bytes) == 16 &&
              offsetof(Wire, crc) == 60);

}  // namespace

void EncodeSegmentHeader(const SegmentHeader& header, std::span<uint8_t, kSegmentHeaderSize> out) {
  Wire wire = {};
  wire.magic = kSegmentMagic;
  wire.version = kSegmentLayoutVersion;
  wire.header_size = kSegmentHeaderSize;
  wire.sequence = header.sequence;
  wire.record_bytes = header.record_bytes;
  wire.crc = Crc32c(&wire, offsetof(Wire, crc));
  std::memcpy(out.data(), &wire, sizeof(wire));
}

Result<SegmentHeader> DecodeSegmentHeader(std::span<const uint8_t, kSegmentHeaderSize> in,
                                          size_t segment_size) {
  Wire wire;
  std::memcpy(&wire, in.data(), sizeof(wire));
  if (wire.magic != kSegmentMagic) return Status::Error("not a flash segment: bad magic");
  if (wire.crc != Crc32c(&wire, offsetof(Wire, crc))) {
    return Status::Error("flash segment header: bad checksum");
  }
  if (wire.version != kSegmentLayoutVersion || wire.header_size != kSegmentHeaderSize) {
    return Status::Error("flash segment header: layout version " + std::to_string(wire.version) +
                         ", header size " + std::to_string(wire.header_size) + "; expected " +
                         std::to_string(kSegmentLayoutVersion) + " and " +
                         std::to_string(kSegmentHeaderSize));
  }
  for (const uint8_t byte : wire.zero) {
    if (byte != 0) return Status::Error("flash segment header: reserved bytes are not zero");
  }
  if (segment_size < kSegmentHeaderSize || wire.record_bytes > segment_size - kSegmentHeaderSize) {
    return Status::Error("flash segment header: " + std::to_string(wire.record_bytes) +
                         " bytes of records do not fit in a segment of " +
                         std::to_string(segment_size));
  }
  return SegmentHeader{wire.sequence, wire.record_bytes};
}

}  // namespace mnemo::flash
