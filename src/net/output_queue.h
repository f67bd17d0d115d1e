// OutputQueue is what a connection has still to send: bytes copied into its own buffer (replies
// formatted in place) interleaved with views of memory it does not own (values sent straight from
// item memory), in the order they were appended. Each group of views comes with a pin that keeps
// the memory alive; the queue releases the pin once the group's last byte is sent, or when the
// queue is destroyed with the group unsent.
//
// The copied bytes are one IoBuffer, so a queue that never receives a view sends exactly as a
// plain buffer does: one send() of one contiguous span. A view records how many copied bytes had
// been appended before it (its position in the copied stream); Flush() gathers copied spans and
// views in that order into one sendmsg() of up to IOV_MAX iovecs.
//
// Invariants:
//  (1) Bytes go out in append order, each once; a partial send may stop inside any piece.
//  (2) Each pin is released exactly once: after its group's last byte is sent, or by the
//      destructor. A group with no bytes is released once every byte appended before it is sent.
//  (3) external_[i].copied_pos is non-decreasing in i, and the first unsent one is never below
//      copied_sent_.
//  (4) external_bytes_ is the sum of the unsent bytes of external_.
// Thread safety: none; a queue belongs to one connection, which belongs to one worker thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "net/buffer_pool.h"
#include "net/io_buffer.h"

namespace mnemo::net {

// Keeps memory that a connection sends from alive until it is sent. release(owner, token) is
// called once, on the connection's thread.
struct OutputPin {
  void (*release)(void* owner, uint64_t token);
  void* owner;
  uint64_t token;
};

class OutputQueue {
 public:
  explicit OutputQueue(BufferPool& pool) : copied_(pool) {}
  ~OutputQueue();
  OutputQueue(const OutputQueue&) = delete;
  OutputQueue& operator=(const OutputQueue&) = delete;

  // Where copied bytes are appended. Bytes appended here go out after every group of views
  // appended before them.
  IoBuffer& copied() { return copied_; }
  const IoBuffer& copied() const { return copied_; }

  // Queues `pieces` to go out after every byte appended before and before every byte appended
  // after. The memory they view must stay valid until pin.release(pin.owner, pin.token) is called.
  // REQUIRES: pin.release != nullptr.
  void AppendExternal(std::span<const std::string_view> pieces, OutputPin pin);

  // Unsent bytes: copied and external.
  size_t size() const { return copied_.size() + external_bytes_; }
  size_t external_bytes() const { return external_bytes_; }
  bool empty() const { return copied_.empty() && head_ == external_.size(); }

  enum class FlushStatus : uint8_t {
    kDone,     // everything is sent
    kBlocked,  // the socket's send buffer is full; wait for it to become writable
    kError,    // the connection is broken, or copied() failed() (a reply could not be queued)
  };
  // Sends what the queue holds to `fd` (non-blocking). Adds the bytes sent to *bytes and, of
  // those, the bytes sent from external memory to *external_bytes. Sends nothing once copied()
  // failed(): a reply in the middle is missing.
  [[nodiscard]] FlushStatus Flush(int fd, uint64_t* bytes, uint64_t* external_bytes);

  // Copies up to `capacity` unsent bytes, in send order, to `buffer`, and keeps them unsent: for a
  // transport that encrypts what it sends (TLS), which must offer the same bytes again after a
  // send that could not go out. Returns how many it copied; 0 with only empty groups left, which
  // Advance(0) releases.
  size_t Peek(char* buffer, size_t capacity) const;
  // Drops the `n` unsent bytes at the front, sent by the caller after Peek(), releasing the pins
  // of finished groups. Returns how many of them were external.
  size_t Advance(size_t n) {
    const size_t external_sent = Consume(n);
    if (empty()) copied_.Shrink();
    return external_sent;
  }

  // Appends every unsent byte to *out, in send order, and drops it as if sent, releasing the pins:
  // for a datagram transport, which cuts the replies into packets of its own. Returns how many of
  // the bytes were external.
  size_t DrainTo(std::string* out);

 private:
  // One view, or (with an empty view) a marker for a group without bytes. The last entry of a
  // group carries its pin; the others have pin.release == nullptr.
  struct External {
    std::string_view bytes;
    uint64_t copied_pos;  // copied bytes appended before this view, counted as copied_sent_ is
    OutputPin pin;
  };

  FlushStatus FlushCopiedOnly(int fd, uint64_t* bytes);
  // Drops `n` sent bytes from the front, in send order, releasing pins of finished groups.
  // Returns how many of them were external.
  size_t Consume(size_t n);
  // Pops entries at the front that have no bytes left and whose copied bytes before them are all
  // sent, releasing their pins.
  void PopFinished();

  IoBuffer copied_;
  uint64_t copied_sent_ = 0;  // copied bytes sent since the queue was made
  // Unsent views are external_[head_, size()); the vector is cleared whenever they are all sent,
  // so it allocates nothing until the first view and then reuses its capacity.
  std::vector<External> external_;
  size_t head_ = 0;
  size_t external_bytes_ = 0;
};

}  // namespace mnemo::net
