#include "server/process.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace mnemo::server {
namespace {

// Listeners, epoll and event fds, the signal fd, the reserve fd and the standard streams, with
// room to spare.
constexpr rlim_t kReservedFds = 64;

}  // namespace

Status RaiseFileLimit(int max_connections) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return Status::Error("failed to getrlimit number of files");
  }
  const rlim_t wanted = static_cast<rlim_t>(max_connections) + kReservedFds;
  if (limit.rlim_cur >= wanted) return Status::Ok();
  rlimit raised = limit;
  raised.rlim_cur = raised.rlim_max = std::max(wanted, limit.rlim_max);
  if (setrlimit(RLIMIT_NOFILE, &raised) == 0) return Status::Ok();
  // Without the right to raise the hard limit, take all of it. memcached asks for exactly -c
  // descriptors, so it fails only when the hard limit is below -c; so do we. Beyond the limit,
  // accept() fails with EMFILE and the client is told "Too many open connections".
  raised.rlim_cur = raised.rlim_max = limit.rlim_max;
  if (limit.rlim_max < static_cast<rlim_t>(max_connections) ||
      setrlimit(RLIMIT_NOFILE, &raised) != 0) {
    return Status::Error(
        "failed to set rlimit for open files. Try starting as root or requesting smaller maxconns "
        "value.");
  }
  return Status::Ok();
}

Status EnableCoreDumps() {
  rlimit limit{};
  if (getrlimit(RLIMIT_CORE, &limit) == 0) {
    const rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
    if (setrlimit(RLIMIT_CORE, &unlimited) != 0) {
      const rlimit hard{limit.rlim_max, limit.rlim_max};
      (void)setrlimit(RLIMIT_CORE, &hard);
    }
  }
  if (getrlimit(RLIMIT_CORE, &limit) != 0 || limit.rlim_cur == 0) {
    return Status::Error("failed to ensure corefile creation");
  }
  return Status::Ok();
}

void LockMemory() {
  // On fault: item memory and the hash table are reserved whole at start and filled as they are
  // used; locking them up front would make all of -m resident at once, where memcached's memory,
  // allocated as it goes, is locked as it goes.
  if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0) {
    std::fprintf(stderr, "warning: -k invalid, mlockall() failed: %s\n", strerror(errno));
  }
}

Status DropPrivileges(const std::string& user) {
  if (getuid() != 0 && geteuid() != 0) return Status::Ok();
  const passwd* entry = getpwnam(user.c_str());
  if (entry == nullptr) return Status::Error("can't find the user " + user + " to switch to");
  if (setgroups(0, nullptr) != 0 && errno != EPERM) {
    return Status::Error(std::string("failed to drop supplementary groups: ") + strerror(errno));
  }
  if (setgid(entry->pw_gid) != 0 || setuid(entry->pw_uid) != 0) {
    return Status::Error("failed to assume identity of user " + user);
  }
  return Status::Ok();
}

Status Daemonize(bool keep_stderr, bool keep_directory) {
  const pid_t child = fork();
  if (child < 0) return Status::Error(std::string("fork: ") + strerror(errno));
  if (child > 0) _exit(EXIT_SUCCESS);
  if (setsid() < 0) return Status::Error(std::string("setsid: ") + strerror(errno));
  if (!keep_directory && chdir("/") != 0)
    return Status::Error(std::string("chdir: ") + strerror(errno));
  const int null_fd = open("/dev/null", O_RDWR);
  if (null_fd < 0) return Status::Error(std::string("open /dev/null: ") + strerror(errno));
  dup2(null_fd, STDIN_FILENO);
  dup2(null_fd, STDOUT_FILENO);
  if (!keep_stderr) dup2(null_fd, STDERR_FILENO);
  if (null_fd > STDERR_FILENO) close(null_fd);
  return Status::Ok();
}

bool WritePidFile(const std::string& path) {
  if (FILE* old = std::fopen(path.c_str(), "r"); old != nullptr) {
    char line[32];
    if (std::fgets(line, sizeof(line), old) != nullptr) {
      char* end = nullptr;
      errno = 0;
      const long pid = std::strtol(line, &end, 10);
      const bool number = errno == 0 && end != line && (*end == '\n' || *end == '\0');
      if (number && pid > 0 && pid <= INT32_MAX && kill(static_cast<pid_t>(pid), 0) == 0) {
        std::fprintf(stderr, "WARNING: The pid file contained the following (running) pid: %ld\n",
                     pid);
      }
    }
    std::fclose(old);
  }
  // Written aside and renamed into place, so that whoever polls for the file (a supervisor, a
  // test) never reads it empty or half written.
  const std::string temporary = path + ".tmp";
  FILE* file = std::fopen(temporary.c_str(), "w");
  if (file == nullptr) {
    std::fprintf(stderr, "Could not open the pid file %s for writing: %s\n", temporary.c_str(),
                 strerror(errno));
    return false;
  }
  std::fprintf(file, "%ld\n", static_cast<long>(getpid()));
  if (std::fclose(file) != 0) {
    std::fprintf(stderr, "Could not close the pid file %s: %s\n", temporary.c_str(),
                 strerror(errno));
    unlink(temporary.c_str());
    return false;
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::fprintf(stderr, "Could not rename the pid file from %s to %s: %s\n", temporary.c_str(),
                 path.c_str(), strerror(errno));
    unlink(temporary.c_str());
    return false;
  }
  return true;
}

void RemovePidFile(const std::string& path) {
  // The server may have dropped the privileges that wrote it; memcached leaves it then, too.
  unlink(path.c_str());
}

}  // namespace mnemo::server
