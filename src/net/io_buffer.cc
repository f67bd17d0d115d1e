#include "net/io_buffer.h"

#include <bit>
#include <cstdio>
#include <cstdlib>

namespace mnemo::net {
namespace {

char* AllocateHeap(size_t capacity) {
  char* storage = static_cast<char*>(std::malloc(capacity));
  if (storage == nullptr) {
    std::fprintf(stderr, "mnemod: out of memory growing a connection buffer to %zu bytes\n",
                 capacity);
    std::abort();
  }
  return storage;
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
    std::free(data_);
    pool_->CreditHeap(capacity_);
  }
  data_ = nullptr;
  capacity_ = begin_ = end_ = 0;
}

}  // namespace mnemo::net
