// BufferPool keeps the fixed-size blocks that connection buffers borrow while they hold bytes, so
// that a request never pays for malloc and an idle connection holds no buffer at all. It also
// accounts for its worker's connection memory: the blocks it made and the larger heap blocks its
// buffers report (ChargeHeap/CreditHeap), against the process-wide MemoryBudget.
//
// Idle blocks are bounded twice: at most max_idle are kept when given back, and Trim() (once a
// second) frees those that stayed idle through the whole interval, so that after a burst the
// memory goes back to the system within a few seconds.
//
// Invariants:
//  (1) Every block handed out by Take() is block_size() bytes and is returned to the pool that
//      made it.
//  (2) At most max_idle blocks are kept; beyond that, returned blocks go back to the allocator.
//  (3) The budget is charged for every block and heap block from allocation until it is freed:
//      blocks_ * block_size() + heap_bytes_ of it are this pool's.
// Thread safety: one worker thread owns a pool and alone calls its non-const methods; the gauges
// (blocks(), idle_blocks(), heap_blocks(), heap_bytes()) may be read from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "net/memory_budget.h"

namespace mnemo::net {

class BufferPool {
 public:
  static constexpr size_t kDefaultBlockSize = size_t{16} << 10;
  static constexpr size_t kDefaultMaxIdle = 64;  // 1 MiB of 16 KiB blocks per worker

  // `budget` (none: a private, unlimited one) must outlive the pool.
  explicit BufferPool(size_t block_size = kDefaultBlockSize, size_t max_idle = kDefaultMaxIdle,
                      MemoryBudget* budget = nullptr);
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  size_t block_size() const { return block_size_; }
  MemoryBudget& budget() { return *budget_; }
  const MemoryBudget& budget() const { return *budget_; }

  // Returns a block of block_size() bytes, reusing an idle one when there is one; nullptr if the
  // allocator has none to give.
  char* Take() {
    if (idle_.empty()) return NewBlock();
    char* block = idle_.back();
    idle_.pop_back();
    Publish(idle_count_, idle_.size());
    if (idle_.size() < idle_low_) idle_low_ = idle_.size();
    return block;
  }

  // REQUIRES: `block` came from this pool's Take().
  void Give(char* block) {
    if (idle_.size() < max_idle_) {
      idle_.push_back(block);  // never reallocates: reserved up to max_idle_
      Publish(idle_count_, idle_.size());
    } else {
      FreeBlock(block);
    }
  }

  // A buffer took (or gave back) a heap block of `bytes` from the allocator.
  void ChargeHeap(size_t bytes) {
    Publish(heap_blocks_, heap_blocks_.load(std::memory_order_relaxed) + 1);
    Publish(heap_bytes_, heap_bytes_.load(std::memory_order_relaxed) + bytes);
    budget_->Charge(bytes);
  }
  void CreditHeap(size_t bytes) {
    Publish(heap_blocks_, heap_blocks_.load(std::memory_order_relaxed) - 1);
    Publish(heap_bytes_, heap_bytes_.load(std::memory_order_relaxed) - bytes);
    budget_->Credit(bytes);
  }

  // Frees the idle blocks that no Take() needed since the last call.
  void Trim();

  size_t blocks() const { return blocks_.load(std::memory_order_relaxed); }
  size_t idle_blocks() const { return idle_count_.load(std::memory_order_relaxed); }
  size_t heap_blocks() const { return heap_blocks_.load(std::memory_order_relaxed); }
  size_t heap_bytes() const { return heap_bytes_.load(std::memory_order_relaxed); }

 private:
  // The owner alone writes a gauge: a plain store, no locked instruction.
  static void Publish(std::atomic<size_t>& gauge, size_t value) {
    gauge.store(value, std::memory_order_relaxed);
  }

  char* NewBlock();
  void FreeBlock(char* block);

  const size_t block_size_;
  const size_t max_idle_;
  MemoryBudget own_budget_;  // used when no budget is given
  MemoryBudget* const budget_;
  std::vector<char*> idle_;
  size_t idle_low_ = 0;  // fewest idle blocks since the last Trim()
  std::atomic<size_t> blocks_{0};
  std::atomic<size_t> idle_count_{0};
  std::atomic<size_t> heap_blocks_{0};
  std::atomic<size_t> heap_bytes_{0};
};

}  // namespace mnemo::net
