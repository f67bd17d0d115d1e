// FlashCandidates is what one cache operation met on flash (flash_tier.h): slots of its key's
// chain whose tag matches but whose item is on flash, so that only reading the item can say
// whether it is the key's. A lookup records such a candidate and answers "pending"; the cache
// reads the candidates outside any lock (flash_recall.h), notes those that hold another key, and
// for the one that holds the key either brings its item back to RAM or, for an operation that
// needs only its header (a store that replaces it, a delete), notes it as confirmed; then it runs
// the operation again, and the lookup finds the confirmed item where it is.
//
// Thread safety: one per ThreadContext, used by its thread only.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "storage/hash_table.h"
#include "storage/item.h"

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

  // Starts an operation, which takes a confirmed item on flash (header only) if
  // `takes_items_on_flash`: forgets everything.
  void Reset(bool takes_items_on_flash) {
    takes_items_on_flash_ = takes_items_on_flash;
    wanted_count_ = 0;
    other_count_ = 0;
    confirmed_ = false;
  }
  // Starts a round of the same operation: forgets the candidates to read, keeps what was learnt.
  void NextRound() { wanted_count_ = 0; }

  bool takes_items_on_flash() const { return takes_items_on_flash_; }

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

  // The key's item, read at `candidate` and found to have `header`.
  void Confirm(const Candidate& candidate, const ItemHeader& header) {
    confirmed_ = true;
    confirmed_candidate_ = candidate;
    confirmed_header_ = header;
  }
  // The header of the key's item if it was confirmed at `loc` in `generation`, else null.
  const ItemHeader* Confirmed(ItemLocation loc, uint32_t generation) const {
    if (!confirmed_ || !(confirmed_candidate_.loc == loc) ||
        confirmed_candidate_.generation != generation) {
      return nullptr;
    }
    return &confirmed_header_;
  }

  // Records a candidate to read; beyond kMax it waits for the next round.
  void Want(ItemLocation loc, uint32_t generation) {
    for (size_t i = 0; i < wanted_count_; ++i) {
      if (wanted_[i].loc == loc) return;
    }
    if (wanted_count_ < wanted_.size()) wanted_[wanted_count_++] = {loc, generation};
  }
  bool pending() const { return wanted_count_ != 0; }
  const Candidate* begin() const { return wanted_.data(); }
  const Candidate* end() const { return wanted_.data() + wanted_count_; }

 private:
  bool takes_items_on_flash_ = false;
  std::array<Candidate, kMax> wanted_{};
  size_t wanted_count_ = 0;
  // Read ones that hold other keys; the same bound, since each was once wanted.
  std::array<ItemLocation, 4 * kMax> others_{};
  size_t other_count_ = 0;
  bool confirmed_ = false;
  Candidate confirmed_candidate_;
  ItemHeader confirmed_header_;
};

}  // namespace mnemo::storage
