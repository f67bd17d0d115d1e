#include "storage/item.h"

#include <cstring>

namespace mnemo::storage {
namespace {

size_t VarintSize(uint32_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Little-endian, so the layout does not depend on the host.
void Put32(char* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(v >> (8 * i));
}

uint32_t Get32(const char* in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(in[i])} << (8 * i);
  return v;
}

}  // namespace

size_t ItemHeader::size() const {
  return 2 + VarintSize(value_size) + (flags != 0 ? 4 : 0) + (expiry != 0 ? 4 : 0);
}

size_t ItemHeader::expiry_offset() const {
  return 2 + VarintSize(value_size) + (flags != 0 ? 4 : 0);
}

size_t ItemHeader::Encode(char* out) const {
  uint8_t info = 0;
  if (flags != 0) info |= kItemHasFlags;
  if (expiry != 0) info |= kItemHasExpiry;
  if (compressed) info |= kItemCompressed;
  if (chained) info |= kItemChained;
  size_t n = 0;
  out[n++] = static_cast<char>(info);
  out[n++] = static_cast<char>(key_size);
  uint32_t v = value_size;
  while (v >= 0x80) {
    out[n++] = static_cast<char>(0x80 | (v & 0x7f));
    v >>= 7;
  }
  out[n++] = static_cast<char>(v);
  if (flags != 0) {
    Put32(out + n, flags);
    n += 4;
  }
  if (expiry != 0) {
    Put32(out + n, expiry);
    n += 4;
  }
  return n;
}

size_t ItemHeader::Decode(const char* in, ItemHeader* header) {
  const uint8_t info = static_cast<uint8_t>(in[0]);
  header->key_size = static_cast<uint8_t>(in[1]);
  size_t n = 2;
  uint32_t v = 0;
  for (int shift = 0;; shift += 7) {
    const uint8_t byte = static_cast<uint8_t>(in[n++]);
    v |= uint32_t{byte & 0x7fu} << shift;
    if ((byte & 0x80) == 0) break;
  }
  header->value_size = v;
  header->flags = 0;
  header->expiry = 0;
  if (info & kItemHasFlags) {
    header->flags = Get32(in + n);
    n += 4;
  }
  if (info & kItemHasExpiry) {
    header->expiry = Get32(in + n);
    n += 4;
  }
  header->compressed = (info & kItemCompressed) != 0;
  header->chained = (info & kItemChained) != 0;
  return n;
}

std::string_view ItemKey(const char* item, const ItemHeader& header) {
  return {item + header.size(), header.key_size};
}

void RewriteExpiry(char* item, const ItemHeader& header, uint32_t new_expiry) {
  Put32(item + header.expiry_offset(), new_expiry);
}

}  // namespace mnemo::storage
