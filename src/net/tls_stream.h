// TlsStream is the TLS state of one accepted TCP socket (an OpenSSL SSL object reading and writing
// the socket itself). It never blocks: the handshake runs inside the first reads, as they come,
// and an operation that needs the socket readable or writable says so (kWantRead, kWantWrite)
// instead of waiting; the caller calls it again, with the same bytes for a write, once the socket
// is.
//
// In TLS either direction may need the other: a read may have to send (the handshake's replies, a
// key update) and a write may have to receive (a handshake not finished yet). The stream remembers
// which, so that its connection knows which socket edge lets the stalled direction go on
// (read_needs_writable(), write_needs_readable()).
//
// Failures are told apart as memcached counts them: a failure before the handshake completed is a
// handshake error (ssl_handshake_errors), an OpenSSL error after it a protocol error
// (ssl_proto_errors: a garbage record, a bad MAC); a socket error or a peer that hung up without
// close_notify is neither.
//
// Invariants:
//  (1) ssl_ is owned and freed exactly once, by the destructor; the fd is not owned.
//  (2) handshake_done() never goes from true to false.
// Thread safety: none; a stream belongs to its connection's worker thread.
#pragma once

#include <cstddef>
#include <cstdint>

struct ssl_st;

namespace mnemo::net {

class TlsStream {
 public:
  enum class Result : uint8_t {
    kOk,              // *n > 0 bytes were read or written
    kWantRead,        // call again once the socket is readable
    kWantWrite,       // call again once the socket is writable
    kClosed,          // the peer closed the stream (close_notify, or the socket's end)
    kHandshakeError,  // the handshake failed: a bad or missing client certificate, not TLS ...
    kProtocolError,   // a broken record after the handshake
    kError,           // the socket failed
  };

  // Takes ownership of `ssl`, already set to the socket and to accept.
  explicit TlsStream(ssl_st* ssl);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  // Reads up to `size` decrypted bytes into `buffer`, running the handshake first if it is not
  // done.
  [[nodiscard]] Result Read(char* buffer, size_t size, size_t* n);
  // Encrypts and sends `size` bytes of `buffer` as one write: all of them or none (*n == size on
  // kOk). After kWantRead or kWantWrite, call again with at least the same bytes, wherever they
  // now lie.
  [[nodiscard]] Result Write(const char* buffer, size_t size, size_t* n);

  bool handshake_done() const { return handshake_done_; }
  // How many new sessions the server's session cache made for this stream since the last call
  // (-o ssl_session_cache): memcached's ssl_new_sessions, which counts each TLS 1.3 ticket.
  uint32_t TakeNewSessions() {
    const uint32_t made = new_sessions_;
    new_sessions_ = 0;
    return made;
  }
  // The last Read stopped because the socket must become writable.
  bool read_needs_writable() const { return read_needs_writable_; }
  // The last Write stopped because the socket must become readable.
  bool write_needs_readable() const { return write_needs_readable_; }
  // OpenSSL's words for the last kHandshakeError or kProtocolError, for -v.
  const char* last_error() const { return last_error_; }

  // Sends close_notify if it can without blocking (memcached's ssl_conn_close).
  void Shutdown();

  // The session cache's callback: counts a session made for `ssl`'s stream.
  static void NoteNewSession(ssl_st* ssl);

 private:
  Result Failure(int ret);

  ssl_st* const ssl_;
  bool handshake_done_ = false;
  uint32_t new_sessions_ = 0;
  bool read_needs_writable_ = false;
  bool write_needs_readable_ = false;
  bool failed_ = false;  // a fatal error: no close_notify may follow
  char last_error_[256] = {};
};

}  // namespace mnemo::net
