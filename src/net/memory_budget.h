// MemoryBudget is the limit on connection memory, summed over every connection of every worker:
// the storage of read and write buffers (pool blocks, idle ones included, and larger heap blocks,
// which hold partial values and pending replies). memcached's -o read_buf_mem_limit.
//
// The budget only counts; it never refuses an allocation. Its users decide: a connection that
// wants to grow past its allowance (one pool block per direction) while the budget is exhausted is
// paused until memory frees, so a buffer's growth can overshoot the limit by at most the one
// growth that crossed it, per worker. Memory is charged when it is taken from the system and
// credited when it goes back, so reusing a pool block costs the budget nothing: the request path
// of a small command never touches the shared counter.
//
// Invariants:
//  (1) used() is the sum of charges minus credits: the connection memory held now.
//  (2) A limit of 0 means no limit: exhausted() is never true.
// Thread safety: every method may be called from any thread; counts are relaxed atomics.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace mnemo::net {

class MemoryBudget {
 public:
  explicit MemoryBudget(size_t limit = 0) : limit_(limit) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  void Charge(size_t bytes) { used_.fetch_add(bytes, std::memory_order_relaxed); }
  void Credit(size_t bytes) {
    used_.fetch_sub(bytes, std::memory_order_relaxed);
    freed_.fetch_add(bytes, std::memory_order_relaxed);
  }

  size_t limit() const { return limit_; }
  size_t used() const { return used_.load(std::memory_order_relaxed); }
  bool exhausted() const { return limit_ != 0 && used() >= limit_; }

  // Bytes credited since the last call: what a caller may ask the allocator to give back to the
  // system (malloc_trim).
  size_t TakeFreed() { return freed_.exchange(0, std::memory_order_relaxed); }

 private:
  const size_t limit_;
  std::atomic<size_t> used_{0};
  std::atomic<size_t> freed_{0};
};

}  // namespace mnemo::net
