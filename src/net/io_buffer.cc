#include "net/io_buffer.h"

#include <sys/mman.h>

#include <bit>
#include <cstdio>
#include <cstdlib>

namespace mnemo::net {
namespace {

// Blocks from this size on (values of about -I's default and more) are mapped and unmapped
// directly: freed, they go back to the system at once. From malloc, they would raise glibc's
// dynamic mmap threshold, and later ones would land in its thread arenas, where freed memory stays
// resident (measured: 17 MB kept after 500 slow readers of compressed 512 KiB values left;
// docs/robustness.md). Smaller blocks stay with malloc, which reuses them across a stream of sets
// instead of faulting fresh pages in for each.
constexpr size_t kMapMin = size_t{1} << 20;

char* AllocateHeap(size_t capacity) {
  char* storage = nullptr;
  if (capacity >= kMapMin) {
    void* p = mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    storage = p == MAP_FAILED ? nullptr : static_cast<char*>(p);
  } else {
    storage = static_cast<char*>(std::malloc(capacity));
  }
  if (storage == nullptr) {
    std::fprintf(stderr, "mnemod: out of memory growing a connection buffer to %zu bytes\n",
                 capacity);
    std::abort();
  }
  return storage;
}

void FreeHeap(char* storage, size_t capacity) {
  if (capacity >= kMapMin) {
    munmap(storage, capacity);
  } else {
    std::free(storage);
  }
}

}  // namespace

void IoBuffer::MakeRoom(size_t n) {
  const size_t block = pool_->block_size();
  const size_t needed = size() + n;
  if (capacity_ == 0) {
    if (needed <= block) {
      data_ = pool_->Take();
      capacity_ = block;
    } else {
      capacity_ = std::bit_ceil(needed);
      data_ = AllocateHeap(capacity_);
      pool_->ChargeHeap(capacity_);
    }
    return;
  }
  if (needed <= capacity_) {
    // Compacting costs one move of the unconsumed tail (usually a partial command); growing
    // instead would let a connection that reads steadily creep up to ever larger buffers.
    std::memmove(data_, data_ + begin_, size());
    end_ -= begin_;
    begin_ = 0;
    return;
  }
  const size_t capacity = std::bit_ceil(needed);
  char* const storage = AllocateHeap(capacity);
  pool_->ChargeHeap(capacity);
  MoveTo(storage, capacity);
}

void IoBuffer::Shrink() {
  if (empty()) {
    Release();
    return;
  }
  const size_t block = pool_->block_size();
  if (capacity_ > block && size() <= block / 2) MoveTo(pool_->Take(), block);
}

void IoBuffer::MoveTo(char* storage, size_t capacity) {
  const size_t length = size();
  std::memcpy(storage, data_ + begin_, length);
  Release();
  data_ = storage;
  capacity_ = capacity;
  end_ = length;
}

void IoBuffer::Release() {
  if (capacity_ == pool_->block_size()) {
    pool_->Give(data_);
  } else if (capacity_ != 0) {
    FreeHeap(data_, capacity_);
    pool_->CreditHeap(capacity_);
  }
  data_ = nullptr;
  capacity_ = begin_ = end_ = 0;
}

}  // namespace mnemo::net
