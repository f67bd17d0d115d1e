#include "net/buffer_pool.h"

namespace mnemo::net {

BufferPool::BufferPool(size_t block_size, size_t max_idle)
    : block_size_(block_size), max_idle_(max_idle) {
  idle_.reserve(max_idle_);
}

BufferPool::~BufferPool() {
  for (char* block : idle_) std::free(block);
}

char* BufferPool::NewBlock() const { return static_cast<char*>(std::malloc(block_size_)); }

}  // namespace mnemo::net
