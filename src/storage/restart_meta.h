// RestartMeta is what a graceful stop saves next to the memory file (-e PATH, in PATH.meta) so that
// the next start can rebuild the cache from the file's segments: the settings that decide how the
// file's bytes are laid out (they must match to reuse it), the state that gives items their
// meaning (time base, epochs, flush_all), the descriptors of the segments that hold live items,
// each with a checksum of its items' headers and keys, and the location of every live item; with a
// flash tier
// (-o ext_path), its devices, its position, the flash segments that hold live items and those
// items, each with what linking it needs without reading flash (its key's hash, expiry and size).
//
// Why a file of its own rather than a header in the memory file: the memory file is then exactly
// the item memory, page-aligned and sized as -m; the metadata is written once, whole, after the
// memory was synced, and renamed into place, so a metadata file that exists was complete; and the
// start that reads it removes it (as memcached does), so a process that later dies without
// saving leaves none behind that would describe memory it has since changed.
//
// The format: a 24-byte header (magic "MNEMOWRM", format version, CRC32C of the body, body size)
// and a body of little-endian fixed-width fields (restart_meta.cc). Decode checks the magic, the
// version, the size and the checksum, and that every field is in range; it says what is wrong.
//
// Thread safety: plain values and pure functions, except the file functions, which do I/O.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"

namespace mnemo::storage {

// Bumped whenever item.h's layout or this format changes: a file written by another version
// starts cold.
inline constexpr uint32_t kRestartFormatVersion = 3;
inline constexpr uint32_t kItemLayoutVersion = 1;

struct RestartMeta {
  // A segment that holds live items, or continues a large item's chain.
  enum class Kind : uint8_t { kItems, kChainHead, kChained };
  struct Segment {
    uint32_t id = 0;
    uint32_t write_offset = 0;
    uint32_t max_expiry = 0;
    uint32_t flush_gen = 0;
    uint64_t epoch = 0;
    uint32_t create_time = 0;
    uint32_t last_access = 0;
    uint16_t ttl_bucket = 0;
    Kind kind = Kind::kItems;
    uint32_t chain_next = 0;
    // Of the headers and keys of its items, as a walk from its start meets them (0 if
    // kChained): what the index is rebuilt from. Not of the values, which a restore would then
    // read whole (docs/warm-restart.md says what is trusted instead).
    uint64_t checksum = 0;
  };
  // A live item: its location, and the access counter of its hash slot.
  struct Item {
    uint32_t segment = 0;
    uint32_t offset = 0;
    uint8_t counter = 0;
  };

  // Settings that must match.
  uint64_t memory_limit = 0;
  uint64_t segment_size = 0;
  uint32_t max_segments = 0;
  uint32_t item_layout = kItemLayoutVersion;
  bool use_cas = true;
  uint64_t item_size_max = 0;
  // State.
  int64_t time_base = 0;   // ProcessStartWallSeconds() when saved
  uint32_t saved_now = 0;  // MonotonicSeconds() when saved
  uint64_t next_epoch = 0;
  uint32_t flush_gen = 0;
  uint32_t flush_at = 0;
  uint32_t flushed_second = 0;
  std::vector<Segment> segments;  // ascending id
  std::vector<Item> items;        // ascending (segment, offset)

  // The flash tier (flash_tier.h). Its items come back only if its devices are the same ones;
  // flash_devices is empty if there was no tier or its items were not saved.
  struct FlashDevice {
    std::string path;
    uint64_t size = 0;
  };
  // A flash segment that holds saved items: its index in the tier, and its descriptor.
  struct FlashSegment {
    uint32_t index = 0;
    uint32_t end = 0;  // header and records
    uint32_t flush_gen = 0;
    uint32_t written_at = 0;
  };
  // An item on flash, at a location whose segment is a flash segment id (first_id() + index),
  // with its key's hash, expiry and size: a restore links it without reading flash, and the read
  // that serves it verifies the record (checksum and key).
  struct FlashItem {
    uint32_t segment = 0;
    uint32_t offset = 0;
    uint8_t counter = 0;
    uint32_t expiry = 0;
    uint32_t size = 0;
    uint64_t hash = 0;
  };
  std::vector<FlashDevice> flash_devices;
  uint32_t flash_segment_count = 0;
  uint32_t flash_next_segment = 0;           // the next segment the tier fills
  uint64_t flash_sequence = 0;               // segments filled so far
  std::vector<FlashSegment> flash_segments;  // ascending index
  std::vector<FlashItem> flash_items;        // ascending (segment, offset)

  std::string Encode() const;
  // Fills *meta from `bytes`; an error says what is wrong with them.
  static Status Decode(const std::string& bytes, RestartMeta* meta);
};

// The metadata file of a memory file.
std::string MetaPathFor(const std::string& memory_file);

// Writes `meta` to `path` whole: to a temporary file, synced, then renamed over `path`.
Status WriteMetaFile(const std::string& path, const RestartMeta& meta);

// What reading a metadata file found.
enum class MetaRead : uint8_t { kOk, kMissing, kCorrupt };
// Reads and decodes `path`, then removes it; *why says what was wrong unless kOk.
MetaRead ReadMetaFile(const std::string& path, RestartMeta* meta, std::string* why);

}  // namespace mnemo::storage
