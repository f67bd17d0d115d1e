// MoveGuard is a receiving node's memory, for the length of a move (docs/design/partitioning.md),
// of which keys changed here by anything but a moved copy: a client's write or delete, or a
// peer's ordinary replication record. A copy of such a key (from the key's previous holder's walk,
// or fetched on a miss) is older than that change, and is not applied; after a flush_all, no copy
// is. Keys are remembered by a 64-bit hash: two keys that share one only cost a copy (a miss
// later, never a stale value).
//
// Invariant: once Note(key) has returned, Allows(key) is false until the guard is destroyed;
// once NoteFlush() has returned, Allows is false for every key.
// Thread safety: any thread (striped mutexes; Note is called under a key's stripe lock, and the
// guard's mutexes are leaves).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string_view>
#include <unordered_set>

#include "base/mutex.h"
#include "base/thread_annotations.h"

namespace mnemo::replication {

class MoveGuard {
 public:
  void Note(std::string_view key) {
    const uint64_t hash = Hash(key);
    Stripe& stripe = stripes_[hash % kStripes];
    MutexLock lock(stripe.mu);
    stripe.changed.insert(hash);
  }
  void NoteFlush() { flushed_.store(true, std::memory_order_release); }
  // Whether a copy of `key` may still be applied.
  bool Allows(std::string_view key) {
    if (flushed_.load(std::memory_order_acquire)) return false;
    const uint64_t hash = Hash(key);
    Stripe& stripe = stripes_[hash % kStripes];
    MutexLock lock(stripe.mu);
    return !stripe.changed.contains(hash);
  }

 private:
  static constexpr size_t kStripes = 64;
  static uint64_t Hash(std::string_view key) { return std::hash<std::string_view>()(key); }
  struct Stripe {
    Mutex mu;
    std::unordered_set<uint64_t> changed GUARDED_BY(mu);
  };
  std::array<Stripe, kStripes> stripes_;
  std::atomic<bool> flushed_{false};
};

}  // namespace mnemo::replication
