#include "net/connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace mnemo::net {

Connection::~Connection() { close(fd_); }

Connection::ReadStatus Connection::Read(uint64_t* bytes, size_t wanted) {
  const size_t size = input_.size();
  char* room = input_.PrepareAppend(ReadNeedsGrowth() && wanted > size + kMinRead ? wanted - size
                                                                                  : kMinRead);
  if (room == nullptr) return ReadStatus::kError;  // no memory to read into
  const size_t space = input_.writable();
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
