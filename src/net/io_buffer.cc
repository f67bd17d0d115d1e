#include "net/io_buffer.h"

#include <bit>
#include <cstdlib>

namespace mnemo::net {

bool IoBuffer::MakeRoom(size_t n) {
  if (failed_) return false;
  const size_t block = pool_->block_size();
  const size_t needed = size() + n;
  if (capacity_ == 0) {
    const size_t capacity = needed <= block ? block : std::bit_ceil(needed);
    char* storage = capacity == block ? pool_->Take() : static_cast<char*>(std::malloc(capacity));
    if (storage == nullptr) {
      failed_ = true;
      return false;
    }
    data_ = storage;
    capacity_ = capacity;
    return true;
  }
  if (needed <= capacity_) {
    // Compacting costs one move of the unconsumed tail (usually a partial command); growing
    // instead would let a connection that reads steadily creep up to ever larger buffers.
    std::memmove(data_, data_ + begin_, size());
    end_ -= begin_;
    begin_ = 0;
    return true;
  }
  const size_t capacity = std::bit_ceil(needed);
  char* storage = static_cast<char*>(std::malloc(capacity));
  if (storage == nullptr) {
    failed_ = true;
    return false;
  }
  MoveTo(storage, capacity);
  return true;
}

void IoBuffer::Shrink() {
  if (empty()) {
    Release();
    return;
  }
  const size_t block = pool_->block_size();
  if (capacity_ > block && size() <= block / 2) {
    char* storage = pool_->Take();
    if (storage != nullptr) MoveTo(storage, block);  // else keep the larger block for now
  }
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
  }
  data_ = nullptr;
  capacity_ = begin_ = end_ = 0;
}

}  // namespace mnemo::net
