#include "net/connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace mnemo::net {

Connection::~Connection() {
  if (tls_ != nullptr) tls_->Shutdown();
  close(fd_);
}

void Connection::SetTls(std::unique_ptr<TlsStream> tls, std::span<char> write_buffer) {
  tls_ = std::move(tls);
  tls_write_buffer_ = write_buffer;
}

Connection::ReadStatus Connection::Read(uint64_t* bytes, size_t wanted) {
  const size_t size = input_.size();
  char* room = input_.PrepareAppend(ReadNeedsGrowth() && wanted > size + kMinRead ? wanted - size
                                                                                  : kMinRead);
  if (room == nullptr) return ReadStatus::kError;  // no memory to read into
  const size_t space = input_.writable();
  if (tls_ != nullptr) [[unlikely]]
    return ReadTls(room, space, bytes);
  for (;;) {
    const ssize_t n = read(fd_, room, space);
    if (n > 0) {
      input_.CommitAppend(static_cast<size_t>(n));
      *bytes += static_cast<uint64_t>(n);
      return static_cast<size_t>(n) == space ? ReadStatus::kFilled : ReadStatus::kDrained;
    }
    if (n == 0) return ReadStatus::kEof;
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return ReadStatus::kDrained;
    return ReadStatus::kError;
  }
}

}  // namespace mnemo::net

namespace mnemo::net {

Connection::ReadStatus Connection::ReadTls(char* room, size_t space, uint64_t* bytes) {
  // The stream ended behind bytes the last read returned: it ends now. (OpenSSL would not say
  // why again.)
  if (tls_failure_ != TlsStream::Result::kOk) {
    return tls_failure_ == TlsStream::Result::kClosed ? ReadStatus::kEof : ReadStatus::kError;
  }
  size_t total = 0;
  TlsStream::Result result = TlsStream::Result::kOk;
  while (total < space) {
    size_t n = 0;
    result = tls_->Read(room + total, space - total, &n);
    if (result != TlsStream::Result::kOk) break;
    total += n;
  }
  input_.CommitAppend(total);
  *bytes += total;
  if (total == space) return ReadStatus::kFilled;
  switch (result) {
    case TlsStream::Result::kOk:  // not reached: the loop ends on a full room or a failure
    case TlsStream::Result::kWantRead:
    case TlsStream::Result::kWantWrite:
      return ReadStatus::kDrained;
    case TlsStream::Result::kClosed:
      tls_failure_ = result;
      return total != 0 ? ReadStatus::kFilled : ReadStatus::kEof;
    case TlsStream::Result::kHandshakeError:
    case TlsStream::Result::kProtocolError:
    case TlsStream::Result::kError:
      tls_failure_ = result;
      return total != 0 ? ReadStatus::kFilled : ReadStatus::kError;
  }
  return ReadStatus::kError;
}

Connection::FlushStatus Connection::FlushTls(uint64_t* bytes, uint64_t* external_bytes) {
  if (output_.copied().failed()) return FlushStatus::kError;  // a reply is missing
  while (!output_.empty()) {
    const size_t gathered = output_.Peek(tls_write_buffer_.data(), tls_write_buffer_.size());
    if (gathered == 0) {
      (void)output_.Advance(0);  // only empty groups left: release them
      continue;
    }
    size_t sent = 0;
    const TlsStream::Result result = tls_->Write(tls_write_buffer_.data(), gathered, &sent);
    switch (result) {
      case TlsStream::Result::kOk:
        *bytes += sent;
        *external_bytes += output_.Advance(sent);
        break;
      case TlsStream::Result::kWantRead:
      case TlsStream::Result::kWantWrite:
        return FlushStatus::kBlocked;  // offered again, the same bytes first, on the next edge
      default:
        tls_failure_ = result;
        return FlushStatus::kError;
    }
  }
  return FlushStatus::kDone;
}

}  // namespace mnemo::net
