#include "net/connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace mnemo::net {

Connection::~Connection() { close(fd_); }

Connection::ReadStatus Connection::Read(uint64_t* bytes) {
  char* room = input_.PrepareAppend(kMinRead);
  if (room == nullptr) return ReadStatus::kError;  // no memory to read into
  const size_t wanted = input_.writable();
  for (;;) {
    const ssize_t n = read(fd_, room, wanted);
    if (n > 0) {
      input_.CommitAppend(static_cast<size_t>(n));
      *bytes += static_cast<uint64_t>(n);
      return static_cast<size_t>(n) == wanted ? ReadStatus::kFilled : ReadStatus::kDrained;
    }
    if (n == 0) return ReadStatus::kEof;
    if (errno == EINTR) continue;
    if (errno == EAGAIN) return ReadStatus::kDrained;
    return ReadStatus::kError;
  }
}

Connection::FlushStatus Connection::Flush(uint64_t* bytes) {
  if (output_.failed()) return FlushStatus::kError;  // a reply is missing: send nothing more
  while (!output_.empty()) {
    const std::string_view pending = output_.readable();
    const ssize_t n = send(fd_, pending.data(), pending.size(), MSG_NOSIGNAL);
    if (n > 0) {
      output_.Consume(static_cast<size_t>(n));
      *bytes += static_cast<uint64_t>(n);
      // A partial send means the socket buffer is full; trying again now would only return
      // EAGAIN. The writable edge will call us back.
      if (!output_.empty()) return FlushStatus::kBlocked;
      break;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return FlushStatus::kBlocked;
    return FlushStatus::kError;
  }
  output_.Shrink();
  return FlushStatus::kDone;
}

}  // namespace mnemo::net
