// Connection is the byte plumbing of one accepted TCP socket: the non-blocking fd, the bytes read
// from it and not yet consumed, and the bytes queued for it and not yet sent. It knows nothing of
// the protocol; its owner parses `input()` and formats replies into `output()`.
//
// Reading takes as much as the input buffer has room for in one read(); a short read means the
// socket is drained for now (new bytes will raise a new edge). Flushing sends the whole output in
// one send(), so everything one batch of input produced goes out in one system call.
//
// A connection is plain or TLS (SetTls, once, before its first read). The plain path is the code
// above, behind one predictable branch; a TLS connection reads through its TlsStream until the
// stream wants the socket again, and sends its output in writes of up to the worker's TLS write
// buffer (memcached's ssl_wbuf_size), each encrypted as one record. The decrypted input and the
// output live in the same pool buffers as a plain connection's, under the same memory budget;
// OpenSSL's own record buffers (about 34 KiB while a record is in flight, none while idle) are
// outside it.
//
// Invariants:
//  (1) The fd is owned: it is closed exactly once, by the destructor.
//  (2) Bytes in output() are sent in order, each once.
// Thread safety: none; a connection belongs to one worker thread from accept to close.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "net/buffer_pool.h"
#include "net/io_buffer.h"
#include "net/output_queue.h"
#include "net/tls_stream.h"

namespace mnemo::net {

class Connection {
 public:
  // Takes ownership of `fd`, which must be non-blocking.
  Connection(int fd, BufferPool& pool)
      : fd_(fd), pool_block_size_(pool.block_size()), input_(pool), output_(pool) {}
  ~Connection();
  // Makes the connection TLS: it reads and writes through `tls` from now on, encrypting its output
  // in `write_buffer` (the worker's, shared by its connections: it holds bytes only during a
  // Flush).
  // REQUIRES: nothing read or sent yet; `write_buffer` is not empty and outlives the connection.
  void SetTls(std::unique_ptr<TlsStream> tls, std::span<char> write_buffer);
  // Null for a plain connection.
  TlsStream* tls() const { return tls_.get(); }
  // Why the TLS stream ended (kClosed: Read() said kEof) or failed (Read() or Flush() said
  // kError); kOk while it goes on.
  TlsStream::Result tls_failure() const { return tls_failure_; }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  int fd() const { return fd_; }
  IoBuffer& input() { return input_; }
  // Copied output: bytes appended here go out after every view queued before them.
  IoBuffer& output() { return output_.copied(); }
  const IoBuffer& output() const { return output_.copied(); }
  const IoBuffer& input() const { return input_; }
  // The whole output: copied bytes and views, for a writer that appends both.
  OutputQueue& output_queue() { return output_; }
  // Queues views of memory the connection does not own (OutputQueue::AppendExternal).
  void AppendExternal(std::span<const std::string_view> pieces, OutputPin pin) {
    output_.AppendExternal(pieces, pin);
  }
  // Output not yet sent, copied and external.
  size_t output_size() const { return output_.size(); }
  size_t output_external_bytes() const { return output_.external_bytes(); }
  bool output_empty() const { return output_.empty(); }

  enum class ReadStatus : uint8_t {
    kFilled,   // read filled all the room there was: more bytes may be waiting
    kDrained,  // the socket has no more bytes for now (possibly none were read)
    kEof,      // the peer closed its side
    kError,    // the connection is broken, or there is no memory to read into
  };
  // Reads once into input(), making room for at least kMinRead bytes first. Adds the number of
  // bytes read to *bytes. `wanted` is what the command at the front of the input needs in all,
  // when known (0 if not): if the input must grow to make room, it grows at once to hold that
  // much, so that a connection past its allowance can finish the command without growing again.
  // A TLS connection reads until the room is full or the stream wants the socket (kDrained), and
  // returns kFilled, not an end or an error, when it read bytes before one: the next Read()
  // reports it, without reading.
  [[nodiscard]] ReadStatus Read(uint64_t* bytes, size_t wanted = 0);
  // Whether the next Read() must grow the input past its storage (or past a pool block): the
  // growth that connection memory limits.
  bool ReadNeedsGrowth() const {
    return input_.size() + kMinRead > std::max(input_.capacity(), pool_block_size_);
  }

  using FlushStatus = OutputQueue::FlushStatus;
  // Sends the output: one send() of output() when no views are queued, else sendmsg() calls of up
  // to IOV_MAX pieces. Adds the number of bytes sent to *bytes and, of those, the bytes sent from
  // views to *external_bytes.
  [[nodiscard]] FlushStatus Flush(uint64_t* bytes, uint64_t* external_bytes) {
    if (tls_ != nullptr) [[unlikely]]
      return FlushTls(bytes, external_bytes);
    return output_.Flush(fd_, bytes, external_bytes);
  }

  static constexpr size_t kMinRead = size_t{4} << 10;

 private:
  ReadStatus ReadTls(char* room, size_t space, uint64_t* bytes);
  FlushStatus FlushTls(uint64_t* bytes, uint64_t* external_bytes);

  const int fd_;
  const size_t pool_block_size_;
  IoBuffer input_;
  OutputQueue output_;
  std::unique_ptr<TlsStream> tls_;  // null: plain
  std::span<char> tls_write_buffer_;
  TlsStream::Result tls_failure_ = TlsStream::Result::kOk;
};

}  // namespace mnemo::net
