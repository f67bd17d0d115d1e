// Helpers shared by the cache's tests: a cache made or die, a sink that copies what a lookup saw.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "storage/cache.h"
#include "storage/item.h"
#include "testing/storage/cache_calls.h"

namespace mnemo::storage {

// Cache::Create for tests, benchmarks and fuzzers, whose memory settings always fit: a failure
// there is a broken environment, reported before aborting.
inline std::unique_ptr<Cache> CreateCacheOrDie(const CacheOptions& options) {
  std::unique_ptr<Cache> cache;
  const Status status = Cache::Create(options, &cache);
  if (!status.ok()) {
    std::fprintf(stderr, "Cache::Create: %s\n", status.message().c_str());
    std::abort();
  }
  return cache;
}

struct CapturedItem : ItemSink {
  void OnItem(const ItemView& item) override {
    seen = true;
    key = std::string(item.key());
    flags = item.flags();
    cas = item.cas();
    ttl = item.ttl_remaining();
    fetched = item.fetched();
    stored_bytes = item.meta().stored_bytes;
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
  size_t stored_bytes = 0;
};

// The value under `key`, or "<miss>".
inline std::string ValueOf(Cache& cache, Cache::Context& ctx, std::string_view key) {
  CapturedItem item;
  if (cache_calls::Get(cache, ctx, key, item) != LookupResult::kHit) return "<miss>";
  return item.value;
}

inline StoreResult Set(Cache& cache, Cache::Context& ctx, std::string_view key,
                       std::string_view value, Exptime exptime = 0, uint32_t flags = 0) {
  return cache_calls::Store(cache, ctx, StoreMode::kSet, key, flags, exptime, value);
}

// Whether an item of `key_size` and `value_size` bytes with no flags, expiry or CAS in its header
// costs `stored` bytes: exactly, or 8 bytes more once merge eviction copied it forward and it
// carries its CAS.
inline bool StoredAsPlainItem(size_t stored, size_t key_size, size_t value_size) {
  ItemHeader header;
  header.key_size = static_cast<uint8_t>(key_size);
  header.value_size = static_cast<uint32_t>(value_size);
  return stored == header.item_size() || stored == header.item_size() + sizeof(uint64_t);
}

}  // namespace mnemo::storage
