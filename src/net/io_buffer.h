// IoBuffer is one direction of a connection's bytes: appended at the back (read from the socket,
// or replies formatted into it) and consumed from the front (parsed, or sent). Its storage is a
// block borrowed from a BufferPool while the contents fit in one, a larger heap block while they
// do not, and nothing at all while the buffer is empty.
//
// Storage grows only when bytes that are already here, plus the room asked for, do not fit. A
// reader asks for room for the next chunk, or for the rest of a value whose size was declared
// once it outgrows a pool block (Connection::Read); blocks that large are mapped, so room not yet
// read into holds no resident memory. After a large value, Shrink() returns to a pool block. Heap
// blocks are charged to the pool's MemoryBudget while they are held.
//
// Invariants:
//  (1) begin_ <= end_ <= capacity_; the readable bytes are data_[begin_, end_).
//  (2) capacity_ is 0 (no storage), the pool's block size (a pool block), or larger (a heap
//      block); so whether to give storage back to the pool or to free it follows from capacity_.
//  (3) An empty buffer has begin_ == end_ == 0, so appending to it never moves bytes.
//  (4) Once failed(), it stays failed(): the bytes held lack what could not be appended.
// Thread safety: none; a buffer belongs to one connection, which belongs to one worker thread.
#pragma once

#include <cstddef>
#include <cstring>
#include <string_view>

#include "net/buffer_pool.h"

namespace mnemo::net {

class IoBuffer {
 public:
  explicit IoBuffer(BufferPool& pool) : pool_(&pool) {}
  ~IoBuffer() { Release(); }
  IoBuffer(const IoBuffer&) = delete;
  IoBuffer& operator=(const IoBuffer&) = delete;

  std::string_view readable() const { return {data_ + begin_, end_ - begin_}; }
  size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  size_t capacity() const { return capacity_; }

  // Drops `n` bytes from the front. Views into the bytes that remain stay valid.
  // REQUIRES: n <= size().
  void Consume(size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }

  // Drops `n` bytes from the back. REQUIRES: n <= size().
  void DropBack(size_t n) {
    end_ -= n;
    if (begin_ == end_) begin_ = end_ = 0;
  }

  // Returns a pointer to at least `n` writable bytes at the back, moving or reallocating the
  // readable bytes if they must make room (which invalidates views into them). Write into it, then
  // CommitAppend() what was written; writable() tells how much room there is in all.
  // Returns nullptr, and the buffer is failed() from then on, if the room must be allocated and
  // cannot be (or the buffer failed before).
  char* PrepareAppend(size_t n) {
    if (capacity_ - end_ < n && !MakeRoom(n)) return nullptr;
    return data_ + end_;
  }
  size_t writable() const { return capacity_ - end_; }
  // REQUIRES: n <= writable().
  void CommitAppend(size_t n) { end_ += n; }

  // Drops `bytes` if there is no room and none can be had (see PrepareAppend).
  void Append(std::string_view bytes) {
    char* room = PrepareAppend(bytes.size());
    if (room == nullptr) return;
    std::memcpy(room, bytes.data(), bytes.size());
    end_ += bytes.size();
  }

  // True once an append could not get memory: what the buffer holds lacks bytes in the middle,
  // so its connection can only be closed (as memcached closes one it cannot buffer for).
  bool failed() const { return failed_; }

  // Gives storage back once it is no longer needed: all of it when the buffer is empty, and a
  // heap block when what is left fits in half a pool block. Call at the end of a batch.
  void Shrink();

 private:
  // False, and failed(), if the memory cannot be had (or the buffer failed before).
  bool MakeRoom(size_t n);
  void Release();
  // Moves the readable bytes to the front of `storage`, which has `capacity` bytes, and frees the
  // old storage.
  void MoveTo(char* storage, size_t capacity);

  BufferPool* pool_;
  char* data_ = nullptr;
  size_t capacity_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
  bool failed_ = false;
};

}  // namespace mnemo::net
