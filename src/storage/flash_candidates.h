// FlashCandidates is what one cache operation met on flash (flash_tier.h): slots of its key's
// chain whose tag matches but whose item is on flash, so that only reading the item can say
// whether it is the key's. A lookup records such a candidate and answers "pending"; the cache
// reads the candidates outside any lock, brings the key's item back to RAM or notes that the
// candidate holds another key, and runs the operation again (segment_cache.cc).
//
// Thread safety: one per ThreadContext, used by its thread only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "storage/hash_table.h"

namespace mnemo::storage {

class FlashCandidates {
 public:
  // Candidates one lookup can report at once. A chain holds a key once, and a tag matches another
  // key's with odds of 1 in 4096 per slot, so two at once are already rare; more are left for the
  // next round.
  static constexpr size_t kMax = 4;

  struct Candidate {
    ItemLocation loc;
    uint32_t generation = 0;  // of its flash segment when the slot was seen (FlashTier)
  };

  // Starts an operation: forgets everything.
  void Reset() {
    wanted_count_ = 0;
    other_count_ = 0;
  }
  // Starts a round of the same operation: forgets the candidates to read, keeps those known to
  // hold another key.
  void NextRound() { wanted_count_ = 0; }

  // True if `loc` was read and holds another key.
  bool HoldsAnotherKey(ItemLocation loc) const {
    for (size_t i = 0; i < other_count_; ++i) {
      if (others_[i] == loc) return true;
    }
    return false;
  }
  void NoteAnotherKey(ItemLocation loc) {
    if (other_count_ < others_.size()) others_[other_count_++] = loc;
  }

  // Records a candidate to read; beyond kMax it waits for the next round.
  void Want(ItemLocation loc, uint32_t generation) {
    if (wanted_count_ < wanted_.size()) wanted_[wanted_count_++] = {loc, generation};
  }
  bool pending() const { return wanted_count_ != 0; }
  const Candidate* begin() const { return wanted_.data(); }
  const Candidate* end() const { return wanted_.data() + wanted_count_; }

 private:
  std::array<Candidate, kMax> wanted_{};
  size_t wanted_count_ = 0;
  // Read ones that hold other keys; the same bound, since each was once wanted.
  std::array<ItemLocation, 4 * kMax> others_{};
  size_t other_count_ = 0;
};

}  // namespace mnemo::storage
