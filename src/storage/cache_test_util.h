// Helpers shared by the cache's tests: a sink that copies what a lookup saw.
#pragma once

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

}  // namespace mnemo::storage
