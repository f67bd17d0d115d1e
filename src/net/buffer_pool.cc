#include "net/buffer_pool.h"

namespace mnemo::net {

BufferPool::BufferPool(size_t block_size, size_t max_idle, MemoryBudget* budget)
    : block_size_(block_size),
      max_idle_(max_idle),
      budget_(budget != nullptr ? budget : &own_budget_) {
  idle_.reserve(max_idle_);
}

BufferPool::~BufferPool() {
  for (char* block : idle_) FreeBlock(block);
}

char* BufferPool::NewBlock() {
  char* block = static_cast<char*>(std::malloc(block_size_));
  if (block == nullptr) return nullptr;
  Publish(blocks_, blocks_.load(std::memory_order_relaxed) + 1);
  budget_->Charge(block_size_);
  return block;
}

void BufferPool::FreeBlock(char* block) {
  std::free(block);
  Publish(blocks_, blocks_.load(std::memory_order_relaxed) - 1);
  budget_->Credit(block_size_);
}

void BufferPool::Trim() {
  // Blocks idle through the whole interval were not needed: a steady load keeps what it uses,
  // and the rest of a burst's blocks go back within two intervals.
  for (size_t surplus = idle_low_; surplus > 0 && !idle_.empty(); --surplus) {
    FreeBlock(idle_.back());
    idle_.pop_back();
  }
  Publish(idle_count_, idle_.size());
  idle_low_ = idle_.size();
}

}  // namespace mnemo::net
