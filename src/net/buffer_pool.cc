#include "net/buffer_pool.h"

#include <cstdio>

namespace mnemo::net {

BufferPool::BufferPool(size_t block_size, size_t max_idle)
    : block_size_(block_size), max_idle_(max_idle) {
  idle_.reserve(max_idle_);
}

BufferPool::~BufferPool() {
  for (char* block : idle_) std::free(block);
}

char* BufferPool::NewBlock() const {
  char* block = static_cast<char*>(std::malloc(block_size_));
  if (block == nullptr) {
    // A server that cannot get 16 KiB cannot answer anyone; failing loudly beats a silent stall.
    std::fprintf(stderr, "mnemod: out of memory allocating a connection buffer\n");
    std::abort();
  }
  return block;
}

}  // namespace mnemo::net
