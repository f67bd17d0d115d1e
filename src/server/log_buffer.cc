#include "server/log_buffer.h"

#include <algorithm>
#include <cstring>

namespace mnemo::server {

bool LogBuffer::Push(const LogRecord& record) {
  const uint64_t head = head_.load(std::memory_order_relaxed);
  const uint64_t tail = tail_.load(std::memory_order_acquire);
  const size_t needed = sizeof(Header) + record.line.size();
  if (head - tail + needed > ring_.size()) {
    dropped_.store(dropped_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return false;
  }
  const Header header{static_cast<uint32_t>(record.line.size()), record.event, record.microseconds,
                      record.gid, record.seconds};
  CopyIn(head, reinterpret_cast<const char*>(&header), sizeof(header));
  CopyIn(head + sizeof(header), record.line.data(), record.line.size());
  head_.store(head + needed, std::memory_order_release);
  written_.store(written_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return true;
}

void LogBuffer::CopyIn(uint64_t position, const char* bytes, size_t size) {
  const size_t at = position % ring_.size();
  const size_t first = std::min(size, ring_.size() - at);
  std::memcpy(ring_.data() + at, bytes, first);
  std::memcpy(ring_.data(), bytes + first, size - first);
}

void LogBuffer::CopyOut(uint64_t position, char* bytes, size_t size) const {
  const size_t at = position % ring_.size();
  const size_t first = std::min(size, ring_.size() - at);
  std::memcpy(bytes, ring_.data() + at, first);
  std::memcpy(bytes + first, ring_.data(), size - first);
}

}  // namespace mnemo::server
