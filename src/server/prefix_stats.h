// PrefixStats is memcached's `stats detail`: per key prefix (a key's bytes before the first
// delimiter, -D, ':' by default), how many gets, get hits, sets and deletes named a key with that
// prefix. Keys without the delimiter are not counted. Counting is off until `stats detail on` (or
// -D), and costs nothing but one relaxed load while off.
//
// What counts, as memcached counts it: each key of get, gets, gat and gats (a hit when it was
// found), each set, add, replace, append, prepend and cas whose line was accepted (before the
// store is tried, so a refused one counts too), and each delete with a valid key. The meta
// commands are not counted.
//
// Dump() lists the prefixes in memcached's order: by bucket of its 256-bucket table (MurmurHash3
// of the prefix, memcached's default hash), the newest first within a bucket; then "END". At most
// 65536 prefixes are kept (memcached's cap); later ones are not counted. `stats reset` clears
// them all (Clear).
//
// Thread safety: every method may be called from any thread; a mutex guards the table.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/mutex.h"
#include "base/thread_annotations.h"

namespace mnemo::server {

class PrefixStats {
 public:
  PrefixStats(char delimiter, bool enabled) : delimiter_(delimiter), enabled_(enabled) {}

  bool enabled() const { return enabled_.load(std::memory_order_relaxed); }
  void set_enabled(bool enabled) { enabled_.store(enabled, std::memory_order_relaxed); }

  // Each is a no-op while counting is off or when `key` holds no delimiter.
  void RecordGet(std::string_view key, bool hit);
  void RecordSet(std::string_view key);
  void RecordDelete(std::string_view key);

  // "PREFIX <prefix> get <n> hit <n> set <n> del <n>\r\n" per prefix, then "END\r\n".
  std::string Dump() const;
  void Clear();

  static constexpr size_t kMaxPrefixes = size_t{1} << 16;

 private:
  struct Counts {
    uint64_t gets = 0;
    uint64_t hits = 0;
    uint64_t sets = 0;
    uint64_t deletes = 0;
    uint64_t order = 0;  // when the prefix was first seen
  };

  // The counts of `key`'s prefix, created if need be; null if the key has none or the table is
  // full.
  Counts* Find(std::string_view key) REQUIRES(mu_);

  const char delimiter_;
  std::atomic<bool> enabled_;
  mutable Mutex mu_;
  std::unordered_map<std::string, Counts> prefixes_ GUARDED_BY(mu_);
  uint64_t next_order_ GUARDED_BY(mu_) = 0;
};

// MurmurHash3_x86_32 with seed 0, as memcached's murmur3_hash.c computes it.
uint32_t MemcachedMurmur3(std::string_view bytes);

}  // namespace mnemo::server
