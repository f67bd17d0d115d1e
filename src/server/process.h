// Process-wide set-up that mnemod does once at startup, as memcached does it: the file descriptor
// and core file limits (-r), dropping root privileges (-u), running as a daemon (-d), locking
// memory (-k) and the pid file (-P).
//
// Thread safety: call from the main thread before any other thread starts.
#pragma once

#include <string>

#include "base/status.h"

namespace mnemo::server {

// Raises RLIMIT_NOFILE so that `max_connections` clients plus the server's own descriptors fit.
Status RaiseFileLimit(int max_connections);

// Raises RLIMIT_CORE to unlimited, or else to its hard limit, as memcached's -r does; fails if
// core files stay disabled.
Status EnableCoreDumps();

// Locks the process's memory, present and future, into RAM (mlockall), as memcached's -k does. A
// failure is only a warning on stderr, in memcached's words.
void LockMemory();

// Switches to `user` when running as root.
Status DropPrivileges(const std::string& user);

// Forks into the background and detaches from the terminal; the parent exits 0. Standard streams
// are redirected to /dev/null unless `keep_stderr` (-v), and the working directory becomes /
// unless `keep_directory` (-r, so that a core file lands where the server started), as memcached's
// daemonize() does.
Status Daemonize(bool keep_stderr, bool keep_directory);

// Writes the server's pid to `path` as memcached's save_pid does: a warning if the file already
// names a running process, then "<path>.tmp" renamed into place. A failure is reported on stderr
// and is not fatal: like memcached, the server then runs without its pid file. Unlike memcached,
// the temporary file is removed when the write or the rename fails. Returns whether the file was
// written (and so is the server's to remove).
bool WritePidFile(const std::string& path);
void RemovePidFile(const std::string& path);

}  // namespace mnemo::server
