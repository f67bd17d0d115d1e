// ItemIndex is how the segment cache finds, links and unlinks items: the hash table's slots joined
// to the items they point at, the accounting every link and unlink must do (curr_items, bytes,
// the segment's live counts), and the view a reader gets of a found item.
//
// Invariants (numbered as in segment_cache.h):
//  (1) A slot of the hash table points at the newest linked version of its key; every linked item
//      is counted once in curr_items/bytes and in its segment's live_items/live_bytes.
//  (2) An item's memory is read only under its key's stripe lock, under a hold on its segment
//      (ValueHold), or by the thread that owns its segment before the item is linked.
// Thread safety: every method whose name ends in Locked requires the stripe lock of the key's
// hash; the rest take what they need.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "storage/cache.h"
#include "storage/cache_core.h"
#include "storage/expiry.h"
#include "storage/thread_context.h"
#include "storage/value_codec.h"

namespace mnemo::storage {

// A slot and the item it points at, decoded.
struct Found {
  Slot* slot = nullptr;
  ItemLocation loc;
  // Null for an item on flash, which only operations that take items on flash are given
  // (FlashCandidates): they read its header and replace or unlink it, never its bytes. Only
  // FlashRecall serves one, with `item` at the record it read into the reader's scratch.
  char* item = nullptr;
  ItemHeader header;
  size_t header_size = 0;
};

// What a reader is told of an item beyond its current bytes (ItemMeta): its state as of before
// the read, and what the read did.
struct ReadState {
  uint32_t expiry = kNeverExpires;  // before a touch
  uint32_t last_access = 0;         // of its segment, before this read
  bool fetched = false;             // its access counter was above 0
  bool win_sent = false;            // before this read
  bool win = false;                 // this read won
  bool created = false;             // this read created it
};

uint8_t StateBits(const ItemHeader& header);

// Whether a reader of `header` wins the right to recache it (ReadOptions): nobody has since it
// was written or invalidated, and it is stale or, with `recache`, expires (at `expiry`) before
// `recache_expiry`.
bool Wins(const ItemHeader& header, bool recache, uint32_t expiry, uint32_t recache_expiry);

// What a lookup found. kPending: the key may be on flash (FlashCandidates): the operation must
// change nothing and end, so that the cache reads the candidates and runs it again.
enum class [[nodiscard]] FindResult : uint8_t{kFound, kAbsent, kPending};

class ItemIndex {
 public:
  ItemIndex(CacheCore& core, const ValueCodec& codec) : core_(core), codec_(codec) {}

  // Finds the slot of `key` among the items in RAM; kPending if slots on flash may be the key's
  // (recorded in ctx.flash). REQUIRES: the stripe lock of `hash`.
  FindResult FindLocked(ThreadContext& ctx, uint64_t hash, std::string_view key, Found* found);
  // Unlinks the item `found` points at and accounts for it in `ctx`. REQUIRES: its stripe lock.
  void UnlinkLocked(ThreadContext& ctx, uint64_t hash, const Found& found);
  // Unlinks an invalid item and says why it was; kHit if it is valid. REQUIRES: its stripe lock.
  LookupResult DropIfInvalid(ThreadContext& ctx, uint64_t hash, const Found& found, uint32_t now);
  // FindLocked, then DropIfInvalid: kFound if `key` has a valid item. REQUIRES: the stripe lock.
  FindResult FindValidLocked(ThreadContext& ctx, uint64_t hash, std::string_view key, uint32_t now,
                             Found* found);
  // Points the slot at `loc` (an item of `size` bytes), replacing `old` if present, whose access
  // counter the slot keeps if `keep_counter`; false if the table is full. REQUIRES: the stripe
  // lock of `hash`.
  bool LinkLocked(ThreadContext& ctx, uint64_t hash, const Found* old, ItemLocation loc,
                  size_t size, bool keep_counter = false);
  // Counts a read of `found` (unless !options.count_access), records a win if the reader makes
  // one, and calls the sink. REQUIRES: the stripe lock of `found`'s key.
  void ServeLocked(ThreadContext& ctx, Found& found, uint32_t now, const ReadOptions& options,
                   uint32_t recache_expiry, ItemSink& sink);
  // Calls the sink with a view of `found` as `state` describes the read. REQUIRES: the stripe
  // lock of `found`'s key, or (an item never linked) ownership of its segment. An item on flash
  // is served from the record read (Found::item): its view holds nothing (ItemView::Hold).
  void Serve(ThreadContext& ctx, const Found& found, uint32_t now, const ReadState& state,
             ItemSink& sink);

  // Tell the change observer (CacheOptions::change_observer), if there is one and ctx does not
  // suppress it (change_observer.h), of a client's change to a key: that `version`, just linked,
  // is the key's new version (one marked stale is reported as a removal), that the key has been
  // removed, or that `version` has a new expiry. REQUIRES: the stripe lock of the key.
  void ObserveStoreLocked(ThreadContext& ctx, const Found& version, uint32_t now);
  void ObserveRemoveLocked(ThreadContext& ctx, std::string_view key);
  void ObserveTouchLocked(ThreadContext& ctx, const Found& version, uint32_t now);

  // Copies the original value of `found` to `out`, decoding a compressed one; false if its block
  // is corrupt. REQUIRES: as for any read of the item.
  bool ReadValue(ThreadContext& ctx, const Found& found, char* out) const;

 private:
  class View;

  CacheCore& core_;
  const ValueCodec& codec_;
};

}  // namespace mnemo::storage
