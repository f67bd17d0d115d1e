// An item is one version of a key: a packed header, the key, the value, appended to a segment.
// There is no per-item pointer, lock, reference count or CAS field: the hash table finds an item,
// and its location in the pool identifies the version (see docs/item-layout.md for every byte).
//
//   [info 1][key size 1][value size varint 1-5][flags 4]?[expiry 4]?[key][value]
//
// Invariants:
//  (1) The header alone says how long the whole item is, so a segment can be walked item by item.
//  (2) Header and key are always contiguous in the item's first segment (at most 15 + 250 bytes);
//      only the value of a chained item continues into other segments.
//  (3) An item's bytes never change once it is linked in the hash table, except the 4 expiry
//      bytes, which touch rewrites under the key's stripe lock.
//
// Thread safety: these are pure functions of the bytes given; callers provide the locking.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mnemo::storage {

// Bits of the info byte.
inline constexpr uint8_t kItemHasFlags = 1 << 0;
inline constexpr uint8_t kItemHasExpiry = 1 << 1;
inline constexpr uint8_t kItemCompressed = 1 << 2;  // reserved for server-side compression
inline constexpr uint8_t kItemChained = 1 << 3;     // value continues in the head's chain

// The header of the smallest item: info byte, key size, one varint byte of value size.
inline constexpr size_t kItemMinHeader = 3;
// info + key size + 5 varint bytes + flags + expiry.
inline constexpr size_t kItemMaxHeader = 15;
inline constexpr size_t kMaxKeySize = 250;
// The varint holds up to 35 bits; values are limited to 32 (memcached's -I tops out at 1 GiB).
inline constexpr uint64_t kMaxValueSize = UINT32_MAX;

struct ItemHeader {
  uint32_t value_size = 0;
  uint32_t flags = 0;   // the client's opaque flags; stored only when non-zero
  uint32_t expiry = 0;  // MonotonicSeconds() at which the item expires; 0 never (not stored)
  uint8_t key_size = 0;
  bool compressed = false;
  bool chained = false;

  // Bytes the encoded header takes.
  size_t size() const;
  // Header, key and value: what the item costs in segment memory.
  size_t item_size() const { return size() + key_size + value_size; }
  // Offset of the 4 expiry bytes from the item's start. REQUIRES: expiry != 0.
  size_t expiry_offset() const;

  // Writes the header to `out` (room for size() bytes); returns size().
  size_t Encode(char* out) const;
  // Reads a header written by Encode; returns its size.
  static size_t Decode(const char* in, ItemHeader* header);
};

static_assert(kItemMinHeader == sizeof(uint8_t) + sizeof(uint8_t) + 1,
              "the fixed item header grew: update docs/item-layout.md");

// The key of the item starting at `item`.
std::string_view ItemKey(const char* item, const ItemHeader& header);

// Overwrites the expiry of an encoded item in place. REQUIRES: header.expiry != 0 and
// new_expiry != 0, so the header keeps its size.
void RewriteExpiry(char* item, const ItemHeader& header, uint32_t new_expiry);

}  // namespace mnemo::storage
