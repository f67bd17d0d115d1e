// MoveGuard is a receiving node's memory, for the length of a move (docs/design/partitioning.md),
// of which keys changed here by anything but a moved copy: a client's write or delete, or a
// peer's ordinary replication record. A copy of such a key (from the key's previous holder's walk,
// or fetched on a miss) is older than that change, and is not applied; after a flush_all, no copy
// is. Keys are remembered by a 64-bit hash: two keys that share one only cost a copy (a miss
// later, never a stale value).
//
// Its memory is bounded: past kMaxNoted keys (a long move under many writes) it forgets them all
// and refuses every copy from then on, as after a flush (the keys not copied yet miss); Close(),
// at the end of the move's receiving, does the same.
//
// Invariant: once Note(key) has returned, Allows(key) is false until the guard is destroyed;
// once NoteFlush() or Close() has returned, Allows is false for every key.
// Thread safety: any thread (striped mutexes; Note is called under a key's stripe lock, and the
// guard's mutexes are leaves).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <unordered_set>

#include "base/mutex.h"
#include "base/thread_annotations.h"

namespace mnemo::replication {

class MoveGuard {
 public:
  // Keys remembered at most, about 40 bytes each.
  static constexpr size_t kMaxNoted = size_t{1} << 20;

  void Note(std::string_view key) {
    if (flushed_.load(std::memory_order_acquire)) return;
    const uint64_t hash = Hash(key);
    Stripe& stripe = stripes_[hash % kStripes];
    MutexLock lock(stripe.mu);
    stripe.changed.insert(hash);
    // The flag is set before the stripe is emptied, under its lock: an Allows that takes the
    // lock after it sees the flag.
    if (stripe.changed.size() > kMaxNoted / kStripes) {
      flushed_.store(true, std::memory_order_release);
      std::unordered_set<uint64_t>().swap(stripe.changed);
    }
  }
  void NoteFlush() { flushed_.store(true, std::memory_order_release); }
  // Refuses every copy from now on, and gives back the memory of the keys noted.
  void Close() {
    flushed_.store(true, std::memory_order_release);
    for (Stripe& stripe : stripes_) {
      MutexLock lock(stripe.mu);
      std::unordered_set<uint64_t>().swap(stripe.changed);
    }
  }
  // Whether a copy of `key` may still be applied.
  bool Allows(std::string_view key) {
    if (flushed_.load(std::memory_order_acquire)) return false;
    const uint64_t hash = Hash(key);
    Stripe& stripe = stripes_[hash % kStripes];
    MutexLock lock(stripe.mu);
    // Read again under the lock: the stripe may have been emptied since the first read.
    return !flushed_.load(std::memory_order_acquire) && !stripe.changed.contains(hash);
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
