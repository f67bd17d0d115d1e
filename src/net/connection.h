// Connection is the byte plumbing of one accepted TCP socket: the non-blocking fd, the bytes read
// from it and not yet consumed, and the bytes queued for it and not yet sent. It knows nothing of
// the protocol; its owner parses `input()` and formats replies into `output()`.
//
// Reading takes as much as the input buffer has room for in one read(); a short read means the
// socket is drained for now (new bytes will raise a new edge). Flushing sends the whole output in
// one send(), so everything one batch of input produced goes out in one system call.
//
// Invariants:
//  (1) The fd is owned: it is closed exactly once, by the destructor.
//  (2) Bytes in output() are sent in order, each once.
// Thread safety: none; a connection belongs to one worker thread from accept to close.
#pragma once

#include <cstddef>
#include <cstdint>

#include "net/buffer_pool.h"
#include "net/io_buffer.h"

namespace mnemo::net {

class Connection {
 public:
  // Takes ownership of `fd`, which must be non-blocking.
  Connection(int fd, BufferPool& pool) : fd_(fd), input_(pool), output_(pool) {}
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd() const { return fd_; }
  IoBuffer& input() { return input_; }
  IoBuffer& output() { return output_; }

  enum class ReadStatus : uint8_t {
    kFilled,   // read filled all the room there was: more bytes may be waiting
    kDrained,  // the socket has no more bytes for now (possibly none were read)
    kEof,      // the peer closed its side
    kError,    // the connection is broken, or there is no memory to read into
  };
  // Reads once into input(), making room for at least kMinRead bytes first. Adds the number of
  // bytes read to *bytes.
  [[nodiscard]] ReadStatus Read(uint64_t* bytes);

  enum class FlushStatus : uint8_t {
    kDone,     // output() is empty
    kBlocked,  // the socket's send buffer is full; wait for it to become writable
    kError,    // the connection is broken, or output() failed() (a reply could not be queued)
  };
  // Sends what output() holds, with one send(). Adds the number of bytes sent to *bytes.
  [[nodiscard]] FlushStatus Flush(uint64_t* bytes);

  static constexpr size_t kMinRead = size_t{4} << 10;

 private:
  const int fd_;
  IoBuffer input_;
  IoBuffer output_;
};

}  // namespace mnemo::net
