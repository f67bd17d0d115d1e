// ValueHold keeps one item's value readable after the lookup that found it has returned and its
// stripe lock is released: it holds the item's segment (SegmentPool::Hold), which is then not
// reused until the hold is released, even if the item is overwritten, deleted or evicted
// meanwhile. A reader finds the item under the lock, takes the hold, drops the lock, and sends the
// stored bytes straight from segment memory (ForEachPiece), or decodes a compressed value outside
// the lock (Decode). The same hold is what a read from flash will keep while its I/O is pending.
//
// Invariants:
//  (1) A non-empty hold counts once in its segment's readers until Release (or its destructor, or
//      the release function of Detach's token) runs, exactly once.
//  (2) The bytes it shows are those of the version that was read: an item's stored value never
//      changes once linked (item.h, invariant 3), and its segment is not reused while held.
// Thread safety: a hold belongs to one thread, except that Detach's token may be released by
// whoever ends up owning it. Decode must run on the thread whose lookup made the hold (it uses
// that thread's context).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <utility>

#include "storage/hash_table.h"
#include "storage/item.h"
#include "storage/segment_pool.h"

namespace mnemo::storage {

class ThreadContext;
class ValueCodec;

class ValueHold {
 public:
  // Releases a hold given up by Detach: `owner` is the pool, `token` the segment.
  struct Token {
    void (*release)(void* owner, uint64_t token) = nullptr;
    void* owner = nullptr;
    uint64_t token = 0;
  };

  ValueHold() = default;
  ~ValueHold() { Release(); }
  ValueHold(ValueHold&& other) noexcept { *this = std::move(other); }
  ValueHold& operator=(ValueHold&& other) noexcept {
    if (this != &other) {
      Release();
      pool_ = std::exchange(other.pool_, nullptr);
      codec_ = other.codec_;
      ctx_ = other.ctx_;
      segment_ = other.segment_;
      value_at_ = other.value_at_;
      header_ = other.header_;
    }
    return *this;
  }
  ValueHold(const ValueHold&) = delete;
  ValueHold& operator=(const ValueHold&) = delete;

  bool held() const { return pool_ != nullptr; }
  // The value as stored: a snappy block if compressed().
  size_t stored_size() const { return header_.value_size; }
  bool compressed() const { return header_.compressed; }
  // The value clients see.
  size_t value_size() const { return header_.original_size(); }

  // Calls fn(std::string_view) for each contiguous piece of the stored bytes, in order: one for a
  // small item, one per segment of a chained one.
  template <typename Fn>
  void ForEachPiece(Fn&& fn) const {
    uint32_t segment = value_at_.segment;
    size_t offset = value_at_.offset;
    size_t left = header_.value_size;
    const size_t segment_size = pool_->segment_size();
    while (left > 0) {
      if (offset == segment_size) {
        segment = pool_->Info(segment).chain_next;
        offset = 0;
      }
      const size_t n = std::min(left, segment_size - offset);
      fn(std::string_view(pool_->Data(segment) + offset, n));
      offset += n;
      left -= n;
    }
  }

  // Copies the original value to `out` (room for value_size() bytes), decoding a compressed one;
  // false if its block is corrupt. REQUIRES: held(), on the thread that made the hold.
  [[nodiscard]] bool Decode(char* out) const;

  // Gives up the hold without releasing it: the token's release function releases it later.
  // REQUIRES: held(). Leaves the hold empty.
  Token Detach();

  void Release() {
    if (pool_ != nullptr) std::exchange(pool_, nullptr)->Unhold(segment_);
  }

 private:
  friend class ItemIndex;
  // REQUIRES: the item's segment was held for this hold.
  ValueHold(SegmentPool* pool, const ValueCodec* codec, ThreadContext* ctx, uint32_t segment,
            ItemLocation value_at, const ItemHeader& header)
      : pool_(pool),
        codec_(codec),
        ctx_(ctx),
        segment_(segment),
        value_at_(value_at),
        header_(header) {}

  SegmentPool* pool_ = nullptr;  // null: nothing held
  const ValueCodec* codec_ = nullptr;
  ThreadContext* ctx_ = nullptr;
  uint32_t segment_ = kNoSegment;  // the item's (a chain's head)
  ItemLocation value_at_;          // where its stored value starts
  ItemHeader header_;
};

}  // namespace mnemo::storage
