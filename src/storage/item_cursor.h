// ItemCursor walks an item's bytes in order. A small item is contiguous in one segment; a large
// (chained) item starts at offset 0 of its head segment and continues at offset 0 of each segment
// of the head's chain, so the cursor follows chain_next whenever it reaches a segment's end.
//
// Thread safety: none of its own. Reading requires what reading the item requires (its stripe
// lock, or ownership of its segments); writing, that the item is not linked yet.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "storage/hash_table.h"
#include "storage/segment_pool.h"

namespace mnemo::storage {

class ItemCursor {
 public:
  ItemCursor(const SegmentPool& pool, ItemLocation loc)
      : pool_(&pool),
        segment_(loc.segment),
        pos_(pool.Data(loc.segment) + loc.offset),
        end_(pool.Data(loc.segment) + pool.segment_size()) {}

  void Skip(size_t n) {
    Step(n, [](char*, size_t) {});
  }
  void Write(const char* in, size_t n) {
    Step(n, [&in](char* at, size_t k) {
      std::memcpy(at, in, k);
      in += k;
    });
  }
  void Fill(char c, size_t n) {
    Step(n, [c](char* at, size_t k) { std::memset(at, c, k); });
  }
  void Read(char* out, size_t n) {
    Step(n, [&out](char* at, size_t k) {
      std::memcpy(out, at, k);
      out += k;
    });
  }
  // Copies the next n bytes of `from` to here.
  void CopyFrom(ItemCursor& from, size_t n) {
    Step(n, [&from](char* at, size_t k) { from.Read(at, k); });
  }

 private:
  template <typename Op>
  void Step(size_t n, Op&& op) {
    while (n > 0) {
      if (pos_ == end_) {
        segment_ = pool_->Info(segment_).chain_next;
        pos_ = pool_->Data(segment_);
        end_ = pos_ + pool_->segment_size();
      }
      const size_t k = std::min(n, static_cast<size_t>(end_ - pos_));
      op(pos_, k);
      pos_ += k;
      n -= k;
    }
  }

  const SegmentPool* pool_;
  uint32_t segment_;
  char* pos_;
  char* end_;
};

}  // namespace mnemo::storage
