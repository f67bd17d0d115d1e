// An item is one version of a key: a packed header, the key, the value, appended to a segment.
// There is no per-item pointer, lock or reference count: the hash table finds an item, and its
// location in the pool identifies the version, and gives it its CAS unless the header carries one
// (see docs/item-layout.md for every byte).
//
//   [info 1][key size 1][value size varint 1-5][flags 4]?[expiry 4]?[cas 8]?[raw size varint]?
//   [key][value]
//
// A compressed item (the compressed bit) stores its value as a snappy block: the value size is
// the block's length, what the item takes in its segment, and the raw size varint that follows
// the CAS holds the length of the original value, which is what clients see and what -I limits.
//
// The info byte holds two kinds of bits: layout bits, which say which optional fields follow and
// how the item is stored, and state bits (stale, win sent), which the meta protocol changes in
// place.
//
// Invariants:
//  (1) The header alone says how long the whole item is, so a segment can be walked item by item;
//      the bits and bytes that say so (layout bits, key size, value size) never change.
//  (2) Header and key are always contiguous in the item's first segment (at most 23 + 250 bytes);
//      only the value of a chained item continues into other segments.
//  (3) An item's bytes never change once it is linked in the hash table, except the 4 expiry
//      bytes, which touch rewrites, and the state bits of the info byte, which a meta get or
//      delete sets; both under the key's stripe lock.
//  (4) The info byte is read and written with relaxed atomic byte accesses, so that a walk of a
//      segment, which reads layout bits without the stripe lock, never races with a state change.
//
// Thread safety: these are pure functions of the bytes given; callers provide the locking.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mnemo::storage {

// Layout bits of the info byte.
inline constexpr uint8_t kItemHasFlags = 1 << 0;
inline constexpr uint8_t kItemHasExpiry = 1 << 1;
inline constexpr uint8_t kItemCompressed = 1 << 2;  // the value is a snappy block; raw size follows
inline constexpr uint8_t kItemChained = 1 << 3;     // value continues in the head's chain
inline constexpr uint8_t kItemHasCas = 1 << 4;      // an explicit 8-byte CAS follows the expiry
inline constexpr uint8_t kItemKeyBinary = 1 << 5;   // the key came base64-encoded (meta 'b')
// State bits: changed in place under the stripe lock.
inline constexpr uint8_t kItemStale = 1 << 6;    // invalidated (meta I): readers are told X
inline constexpr uint8_t kItemWinSent = 1 << 7;  // a reader was told W; the others are told Z

// The header of the smallest item: info byte, key size, one varint byte of value size.
inline constexpr size_t kItemMinHeader = 3;
// info + key size + 5 varint bytes + flags + expiry + CAS + 5 varint bytes of raw size.
inline constexpr size_t kItemMaxHeader = 28;
inline constexpr size_t kMaxKeySize = 250;
// The varint holds up to 35 bits; values are limited to 32 (memcached's -I tops out at 1 GiB).
inline constexpr uint64_t kMaxValueSize = UINT32_MAX;

struct ItemHeader {
  uint64_t cas = 0;         // the explicit CAS, meaningful only when has_cas
  uint32_t value_size = 0;  // bytes of value stored in the item: the block's if compressed
  uint32_t raw_size = 0;    // the original value's length, meaningful only when compressed
  uint32_t flags = 0;       // the client's opaque flags; stored only when non-zero
  uint32_t expiry = 0;      // MonotonicSeconds() at which the item expires; 0 never (not stored)
  uint8_t key_size = 0;
  bool compressed = false;
  bool chained = false;
  bool has_cas = false;  // the CAS is `cas` rather than derived from the item's location
  bool key_binary = false;
  bool stale = false;
  bool win_sent = false;

  // Bytes the encoded header takes.
  size_t size() const;
  // Header, key and value: what the item costs in segment memory.
  size_t item_size() const { return size() + key_size + value_size; }
  // The length of the value clients see.
  uint32_t original_size() const { return compressed ? raw_size : value_size; }
  // Offset of the 4 expiry bytes from the item's start. REQUIRES: expiry != 0.
  size_t expiry_offset() const;

  // Writes the header to `out` (room for size() bytes); returns size().
  size_t Encode(char* out) const;
  // Reads a header written by Encode; returns its size. Inline: every lookup decodes one.
  static size_t Decode(const char* in, ItemHeader* header);
};

static_assert(kItemMinHeader == sizeof(uint8_t) + sizeof(uint8_t) + 1,
              "the fixed item header grew: update docs/item-layout.md");

// Where the parts of an item lie, read from its layout alone: safe without the stripe lock while
// the segment cannot be reused (invariants 1 and 4), unlike a full Decode, whose expiry bytes
// touch may be rewriting.
struct ItemSpan {
  size_t header_size = 0;
  uint8_t key_size = 0;
  uint32_t value_size = 0;

  size_t item_size() const { return header_size + key_size + value_size; }
};
inline ItemSpan ItemSpanAt(const char* item);

// The key of the item starting at `item`.
std::string_view ItemKey(const char* item, const ItemHeader& header);

// Overwrites the expiry of an encoded item in place. REQUIRES: header.expiry != 0 and
// new_expiry != 0, so the header keeps its size.
void RewriteExpiry(char* item, const ItemHeader& header, uint32_t new_expiry);

// Sets the state bits (kItemStale, kItemWinSent) of an encoded item to those of `state`, in place.
void RewriteState(char* item, uint8_t state);

namespace item_internal {

// Invariant (4): relaxed atomic accesses compile to plain byte loads and stores.
inline uint8_t LoadInfo(const char* item) {
  return __atomic_load_n(reinterpret_cast<const uint8_t*>(item), __ATOMIC_RELAXED);
}

inline uint32_t Get32(const char* in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(in[i])} << (8 * i);
  return v;
}

// Reads the value size varint at `in`; returns the bytes it took. It stops at 5 bytes whatever
// they say, so that bytes that are not an item's (a walk of a damaged file) read no further.
inline size_t GetVarint(const char* in, uint32_t* value) {
  uint32_t v = 0;
  size_t n = 0;
  for (int shift = 0; shift <= 28; shift += 7) {
    const uint8_t byte = static_cast<uint8_t>(in[n++]);
    v |= uint32_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) break;
  }
  *value = v;
  return n;
}

}  // namespace item_internal

inline size_t ItemHeader::Decode(const char* in, ItemHeader* header) {
  using item_internal::Get32;
  const uint8_t info = item_internal::LoadInfo(in);
  header->key_size = static_cast<uint8_t>(in[1]);
  size_t n = 2 + item_internal::GetVarint(in + 2, &header->value_size);
  header->flags = 0;
  header->expiry = 0;
  header->cas = 0;
  if (info & kItemHasFlags) {
    header->flags = Get32(in + n);
    n += 4;
  }
  if (info & kItemHasExpiry) {
    header->expiry = Get32(in + n);
    n += 4;
  }
  header->has_cas = (info & kItemHasCas) != 0;
  if (header->has_cas) {
    header->cas = Get32(in + n) | uint64_t{Get32(in + n + 4)} << 32;
    n += 8;
  }
  header->compressed = (info & kItemCompressed) != 0;
  header->raw_size = 0;
  if (header->compressed) n += item_internal::GetVarint(in + n, &header->raw_size);
  header->chained = (info & kItemChained) != 0;
  header->key_binary = (info & kItemKeyBinary) != 0;
  header->stale = (info & kItemStale) != 0;
  header->win_sent = (info & kItemWinSent) != 0;
  return n;
}

inline ItemSpan ItemSpanAt(const char* item) {
  const uint8_t info = item_internal::LoadInfo(item);
  ItemSpan span;
  span.key_size = static_cast<uint8_t>(item[1]);
  span.header_size = 2 + item_internal::GetVarint(item + 2, &span.value_size);
  if (info & kItemHasFlags) span.header_size += 4;
  if (info & kItemHasExpiry) span.header_size += 4;
  if (info & kItemHasCas) span.header_size += 8;
  if (info & kItemCompressed) {
    uint32_t raw_size = 0;
    span.header_size += item_internal::GetVarint(item + span.header_size, &raw_size);
  }
  return span;
}

}  // namespace mnemo::storage
