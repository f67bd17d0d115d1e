// ServerProcess is a server that compare mode starts, measures and stops. Its command runs as
// `/bin/sh -c "exec COMMAND"` with "{port}" replaced by a free loopback port, so the shell
// becomes the server and the process id is the server's own: its CPU time in /proc/PID/stat
// is the server's, not a wrapper's.
//
// Invariants:
//  (1) While pid_ > 0 the process is ours and not yet reaped; Stop() reaps it.
//  (2) The child gets SIGTERM if mnemo-bench dies first (PR_SET_PDEATHSIG), so an interrupted
//      comparison leaves no server behind.
// Thread safety: none; compare mode drives it from the main thread, with no load threads alive
// while it forks.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace mnemo::bench {

// `command` with every "{port}" replaced by the port number.
std::string SubstitutePort(std::string_view command, uint16_t port);

// Parses utime + stime (fields 14 and 15, in clock ticks) out of the text of /proc/PID/stat.
// The command name in field 2 may hold spaces and parentheses, so fields are counted from the
// last ')'.
bool ParseCpuTicks(std::string_view stat, uint64_t* ticks);

class ServerProcess {
 public:
  static constexpr int kStartTimeoutMs = 10000;
  static constexpr int kStopTimeoutMs = 5000;

  ServerProcess() = default;
  ~ServerProcess() { Stop(); }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  // Picks a free port on 127.0.0.1, starts `command` and waits until the port accepts
  // connections. Fails if the process exits or the port stays closed for kStartTimeoutMs.
  Status Start(std::string_view command);
  uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }

  // The CPU time (user + system) the server has used so far, in seconds.
  Status CpuSeconds(double* seconds) const;

  // SIGTERM, then SIGKILL if it has not exited within kStopTimeoutMs. Idempotent.
  void Stop();

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

}  // namespace mnemo::bench
