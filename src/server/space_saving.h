// SpaceSaving is the Space-Saving sketch of Metwally, Agrawal and El Abbadi ("Efficient
// Computation of Frequent and Top-k Elements in Data Streams", 2005): it counts a stream of keys
// in a fixed number of slots, whatever the number of distinct keys. A key that has a slot adds to
// it; a new key, once every slot is taken, takes the slot of the least counted key and starts from
// that key's count, remembering it as its possible overestimate.
//
// Guarantees, for a stream of N additions and C slots:
//  (1) A key's count is never below its true count, and at most `error` above it.
//  (2) Every key whose true count exceeds N / C has a slot.
// So the keys most counted are the stream's most frequent ones, in order, wherever their counts
// stand clear of each other by more than the errors, and a heavy key seen early keeps an error of
// (nearly) nothing.
//
// Memory: `capacity` slots, each holding its key (a cache key is at most 250 bytes).
// Thread safety: none; its owner locks (hot_keys.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mnemo::server {

class SpaceSaving {
 public:
  struct Slot {
    std::string key;
    uint64_t count = 0;
    uint64_t error = 0;  // of `count`, at most this much may be other keys'
  };

  // REQUIRES: capacity > 0.
  explicit SpaceSaving(size_t capacity);
  // Not copyable: index_ views the slots' strings, which a copy would not carry along. Moving
  // and swapping keep them, since the slots' vector moves its buffer whole.
  SpaceSaving(const SpaceSaving&) = delete;
  SpaceSaving& operator=(const SpaceSaving&) = delete;
  SpaceSaving(SpaceSaving&&) = default;
  SpaceSaving& operator=(SpaceSaving&&) = default;

  void Add(std::string_view key, uint64_t weight = 1);
  void Clear();

  // Every slot in use, in no particular order.
  const std::vector<Slot>& slots() const { return slots_; }
  size_t capacity() const { return capacity_; }
  // The additions counted since the last Clear().
  uint64_t total() const { return total_; }

 private:
  size_t capacity_;
  uint64_t total_ = 0;
  std::vector<Slot> slots_;  // reserved to capacity_ at once: it never reallocates
  // Key to index in slots_; the views point into the slots' own strings, so a slot's key is
  // erased here before it is overwritten.
  std::unordered_map<std::string_view, size_t> index_;
};

}  // namespace mnemo::server
