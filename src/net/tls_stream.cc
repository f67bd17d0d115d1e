#include "net/tls_stream.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <climits>

namespace mnemo::net {

TlsStream::TlsStream(ssl_st* ssl) : ssl_(ssl) { SSL_set_app_data(ssl_, this); }

TlsStream::~TlsStream() { SSL_free(ssl_); }

void TlsStream::NoteNewSession(ssl_st* ssl) {
  auto* stream = static_cast<TlsStream*>(SSL_get_app_data(ssl));
  if (stream != nullptr) ++stream->new_sessions_;
}

TlsStream::Result TlsStream::Read(char* buffer, size_t size, size_t* n) {
  ERR_clear_error();
  const int ret = SSL_read(ssl_, buffer, static_cast<int>(std::min<size_t>(size, INT_MAX)));
  if (ret > 0) {
    handshake_done_ = true;
    read_needs_writable_ = false;
    *n = static_cast<size_t>(ret);
    return Result::kOk;
  }
  const Result result = Failure(ret);
  read_needs_writable_ = result == Result::kWantWrite;
  return result;
}

TlsStream::Result TlsStream::Write(const char* buffer, size_t size, size_t* n) {
  ERR_clear_error();
  const int ret = SSL_write(ssl_, buffer, static_cast<int>(std::min<size_t>(size, INT_MAX)));
  if (ret > 0) {
    write_needs_readable_ = false;
    *n = static_cast<size_t>(ret);
    return Result::kOk;
  }
  const Result result = Failure(ret);
  write_needs_readable_ = result == Result::kWantRead;
  return result;
}

TlsStream::Result TlsStream::Failure(int ret) {
  const int error = SSL_get_error(ssl_, ret);
  if (SSL_is_init_finished(ssl_) != 0) handshake_done_ = true;
  Result result = Result::kError;
  switch (error) {
    case SSL_ERROR_WANT_READ:
      return Result::kWantRead;
    case SSL_ERROR_WANT_WRITE:
      return Result::kWantWrite;
    case SSL_ERROR_ZERO_RETURN:
      result = Result::kClosed;
      break;
    case SSL_ERROR_SSL:
      // A return of 0 is the peer going away mid-record (OpenSSL 3 reports a socket's end without
      // close_notify so); memcached does not count it, and neither does this.
      if (ret == 0) {
        result = Result::kClosed;
      } else {
        ERR_error_string_n(ERR_peek_error(), last_error_, sizeof(last_error_));
        result = handshake_done_ ? Result::kProtocolError : Result::kHandshakeError;
      }
      break;
    default:  // SSL_ERROR_SYSCALL: the socket's own error, or its end
      result = ret == 0 ? Result::kClosed : Result::kError;
      break;
  }
  if (result != Result::kClosed) failed_ = true;
  ERR_clear_error();
  return result;
}

void TlsStream::Shutdown() {
  ERR_clear_error();
  if (handshake_done_ && !failed_) (void)SSL_shutdown(ssl_);  // not after a fatal error
  ERR_clear_error();
}

}  // namespace mnemo::net
