// LogBuffer is one thread's queue of `watch` log lines (watch_log.h): a bounded ring of bytes that
// its one writer fills and the logger thread drains, without a lock. A line that does not fit is
// dropped and counted, so the writer (a worker on the request path) never waits for the logger,
// as memcached's per-worker logger buffer drops what its logger thread has not drained.
//
// A record is a Header followed by the line's bytes; records wrap around the end of the ring.
//
// Invariants:
//  (1) tail_ <= head_ <= tail_ + capacity: the bytes between them are whole records.
//  (2) Only the writer stores head_ (release, after the record's bytes); only the reader stores
//      tail_ (release, after it has copied the records out).
// Thread safety: Push from one writer thread at a time; Drain from one reader thread at a time;
// written() and dropped() from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mnemo::server {

// What a record says of its line besides its bytes.
struct LogRecord {
  uint16_t event = 0;        // the watch flag it belongs to (watch_log.h, WatchFlag)
  uint64_t gid = 0;          // memcached's global id, in the order lines were logged
  int64_t seconds = 0;       // when it was logged: gettimeofday's seconds
  int32_t microseconds = 0;  // ... and microseconds
  std::string_view line;     // the line after "ts=... gid=... ", with its newline
};

class LogBuffer {
 public:
  explicit LogBuffer(size_t capacity) : ring_(capacity) {}
  LogBuffer(const LogBuffer&) = delete;
  LogBuffer& operator=(const LogBuffer&) = delete;

  // Appends a record of `record.line`; false, and counted in dropped(), if the ring has no room.
  // Writer only.
  bool Push(const LogRecord& record);

  // Calls fn(const LogRecord&) for every record pushed before the call, oldest first, then frees
  // their room. The line's view is valid during its call only. Returns the records seen. Reader
  // only.
  template <typename Fn>
  size_t Drain(Fn&& fn) {
    const uint64_t head = head_.load(std::memory_order_acquire);
    uint64_t tail = tail_.load(std::memory_order_relaxed);
    size_t records = 0;
    while (tail != head) {
      Header header;
      CopyOut(tail, reinterpret_cast<char*>(&header), sizeof(header));
      scratch_.resize(header.size);
      CopyOut(tail + sizeof(header), scratch_.data(), header.size);
      tail += sizeof(header) + header.size;
      fn(LogRecord{header.event, header.gid, header.seconds, header.microseconds, scratch_});
      ++records;
    }
    tail_.store(tail, std::memory_order_release);
    return records;
  }

  uint64_t written() const { return written_.load(std::memory_order_relaxed); }
  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

 private:
  struct Header {
    uint32_t size;  // of the line that follows
    uint16_t event;
    int32_t microseconds;
    uint64_t gid;
    int64_t seconds;
  };

  void CopyIn(uint64_t position, const char* bytes, size_t size);
  void CopyOut(uint64_t position, char* bytes, size_t size) const;

  std::vector<char> ring_;
  std::atomic<uint64_t> head_{0};  // bytes ever pushed (invariant 2)
  std::atomic<uint64_t> tail_{0};  // bytes ever drained
  // Written by the writer alone, with a plain load and store (stats.h's counters' way).
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> dropped_{0};
  std::string scratch_;  // the reader's copy of the record it hands out
};

}  // namespace mnemo::server
