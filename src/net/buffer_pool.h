// BufferPool keeps the fixed-size blocks that connection buffers borrow while they hold bytes, so
// that a request never pays for malloc and an idle connection holds no buffer at all.
//
// Invariants:
//  (1) Every block handed out by Take() is block_size() bytes and is returned to the pool that
//      made it.
//  (2) At most max_idle blocks are kept; beyond that, returned blocks go back to the allocator.
// Thread safety: none. Each worker thread owns one pool, and its connections use only that one.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <vector>

namespace mnemo::net {

class BufferPool {
 public:
  static constexpr size_t kDefaultBlockSize = size_t{16} << 10;

  explicit BufferPool(size_t block_size = kDefaultBlockSize, size_t max_idle = 1024);
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  size_t block_size() const { return block_size_; }

  // Returns a block of block_size() bytes, reusing an idle one when there is one; nullptr if the
  // allocator has none to give.
  char* Take() {
    if (idle_.empty()) return NewBlock();
    char* block = idle_.back();
    idle_.pop_back();
    return block;
  }

  // REQUIRES: `block` came from this pool's Take().
  void Give(char* block) {
    if (idle_.size() < max_idle_) {
      idle_.push_back(block);  // never reallocates: reserved up to max_idle_
    } else {
      std::free(block);
    }
  }

  size_t idle_blocks() const { return idle_.size(); }

 private:
  char* NewBlock() const;

  const size_t block_size_;
  const size_t max_idle_;
  std::vector<char*> idle_;
};

}  // namespace mnemo::net
