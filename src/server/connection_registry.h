// ConnectionRegistry lists every open socket of the server, listening and accepted, for
// `stats conns`. Connections register when accepted and leave before their fd is closed; their
// state and the time of their last command are atomics that the owning worker stores and the
// reporting thread loads, so the request path takes no lock.
//
// Invariants:
//  (1) An entry is in the registry only while its fd is open, so the reporter may ask the kernel
//      for the fd's addresses while holding the registry's lock.
//  (2) entries_[e->index_] == e for every registered entry e.
// Thread safety: Add, Remove and AppendStats may be called from any thread; an entry's fields
// other than state and last_command are written only before Add.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "base/thread_annotations.h"

namespace mnemo::server {

// memcached's names for a connection's state, as `stats conns` shows them.
enum class ConnectionState : uint8_t {
  kListening,  // a listening socket
  kWaiting,    // no partial command buffered, nothing to send
  kRead,       // part of a command (or of its data block) has arrived
  kParseCmd,   // running commands
  kSwallow,    // discarding the data block of a refused command
  kMwrite,     // replies are waiting for the client to read them
};

struct ConnectionEntry {
  ConnectionEntry(int fd_in, ConnectionState initial, uint32_t now)
      : fd(fd_in), state(initial), last_command(now) {}

  const int fd;
  std::atomic<ConnectionState> state;
  std::atomic<uint32_t> last_command;  // MonotonicSeconds() of the last command run
  bool udp = false;                    // a UDP socket (-U), shown as memcached shows its own

 private:
  friend class ConnectionRegistry;
  size_t index_ = 0;
};

class ConnectionRegistry {
 public:
  void Add(ConnectionEntry* entry) EXCLUDES(mu_);
  void Remove(ConnectionEntry* entry) EXCLUDES(mu_);
  size_t size() const EXCLUDES(mu_);

  // Appends memcached's `stats conns` lines, ordered by fd as memcached orders them:
  // "STAT <fd>:UDP UDP" (UDP sockets only), "STAT <fd>:addr ...", "STAT <fd>:listen_addr ..."
  // (accepted sockets only), "STAT <fd>:state ...", "STAT <fd>:secs_since_last_cmd ...".
  void AppendStats(uint32_t now, std::string* out) const EXCLUDES(mu_);

 private:
  mutable Mutex mu_;
  std::vector<ConnectionEntry*> entries_ GUARDED_BY(mu_);
};

}  // namespace mnemo::server
