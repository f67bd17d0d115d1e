#include "storage/item.h"

#include <cstring>

namespace mnemo::storage {
namespace {

constexpr uint8_t kStateBits = kItemStale | kItemWinSent;

size_t VarintSize(uint32_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

size_t PutVarint(char* out, uint32_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    out[n++] = static_cast<char>(0x80 | (v & 0x7f));
    v >>= 7;
  }
  out[n++] = static_cast<char>(v);
  return n;
}

// Little-endian, so the layout does not depend on the host.
void Put32(char* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(v >> (8 * i));
}

void Put64(char* out, uint64_t v) {
  Put32(out, static_cast<uint32_t>(v));
  Put32(out + 4, static_cast<uint32_t>(v >> 32));
}

// NOLINTNEXTLINE(readability-non-const-parameter): written through __atomic_store_n
void StoreInfo(char* item, uint8_t info) {
  __atomic_store_n(reinterpret_cast<uint8_t*>(item), info, __ATOMIC_RELAXED);
}

}  // namespace

size_t ItemHeader::size() const {
  return expiry_offset() + (expiry != 0 ? 4 : 0) + (has_cas ? 8 : 0) +
         (compressed ? VarintSize(raw_size) : 0);
}

size_t ItemHeader::expiry_offset() const {
  return 2 + VarintSize(value_size) + (flags != 0 ? 4 : 0);
}

size_t ItemHeader::Encode(char* out) const {
  const auto bit = [](bool set, uint8_t mask) { return static_cast<uint8_t>(set ? mask : 0); };
  const uint8_t info = bit(flags != 0, kItemHasFlags) | bit(expiry != 0, kItemHasExpiry) |
                       bit(compressed, kItemCompressed) | bit(chained, kItemChained) |
                       bit(has_cas, kItemHasCas) | bit(key_binary, kItemKeyBinary) |
                       bit(stale, kItemStale) | bit(win_sent, kItemWinSent);
  size_t n = 0;
  StoreInfo(out + n++, info);
  out[n++] = static_cast<char>(key_size);
  n += PutVarint(out + n, value_size);
  if (flags != 0) {
    Put32(out + n, flags);
    n += 4;
  }
  if (expiry != 0) {
    Put32(out + n, expiry);
    n += 4;
  }
  if (has_cas) {
    Put64(out + n, cas);
    n += 8;
  }
  if (compressed) n += PutVarint(out + n, raw_size);
  return n;
}

std::string_view ItemKey(const char* item, const ItemHeader& header) {
  return {item + header.size(), header.key_size};
}

void RewriteExpiry(char* item, const ItemHeader& header, uint32_t new_expiry) {
  Put32(item + header.expiry_offset(), new_expiry);
}

void RewriteState(char* item, uint8_t state) {
  StoreInfo(item, static_cast<uint8_t>((item_internal::LoadInfo(item) & ~kStateBits) |
                                       (state & kStateBits)));
}

}  // namespace mnemo::storage
