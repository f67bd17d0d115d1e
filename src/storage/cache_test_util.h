// Helpers shared by the cache's tests: a sink that copies what a lookup saw.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "storage/cache.h"

namespace mnemo::storage {

struct CapturedItem : ItemSink {
  void OnItem(const ItemView& item) override {
    seen = true;
    key = std::string(item.key());
    flags = item.flags();
    cas = item.cas();
    ttl = item.ttl_remaining();
    fetched = item.fetched();
    value.assign(item.value_size(), '\0');
    readable = item.CopyValue(value.data());
  }

  bool seen = false;
  bool readable = false;
  bool fetched = false;
  std::string key;
  std::string value;
  uint32_t flags = 0;
  uint64_t cas = 0;
  int64_t ttl = 0;
};

// The value under `key`, or "<miss>".
inline std::string ValueOf(Cache& cache, Cache::Context& ctx, std::string_view key) {
  CapturedItem item;
  if (cache.Get(ctx, key, item) != LookupResult::kHit) return "<miss>";
  return item.value;
}

inline StoreResult Set(Cache& cache, Cache::Context& ctx, std::string_view key,
                       std::string_view value, Exptime exptime = 0, uint32_t flags = 0) {
  return cache.Store(ctx, StoreMode::kSet, key, flags, exptime, value, 0, nullptr);
}

// Checks `stats.bytes` against `bytes`, what `items` items with plain headers (no CAS) take: equal
// but for the 8-byte CAS that merge eviction adds to an item it copies forward (once per item).
inline void ExpectBytesOfItems(const CacheStats& stats, uint64_t items, uint64_t bytes) {
  ASSERT_GE(stats.bytes, bytes);
  const uint64_t carried = stats.bytes - bytes;
  EXPECT_EQ(carried % 8, 0u) << "bytes beyond the items' own that are not carried CASes";
  EXPECT_LE(carried / 8, std::min(items, stats.items_copied_forward));
}

}  // namespace mnemo::storage
