#include "server_process.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <fstream>
#include <iterator>
#include <thread>

#include "endpoint.h"
#include "errno_text.h"

namespace mnemo::bench {
namespace {

constexpr auto kPollPeriod = std::chrono::milliseconds(10);

// Asks the kernel for a free ephemeral port on 127.0.0.1. Another process could take it before
// the server binds it; on a benchmark machine that race is rare, and Start then fails clearly.
Status FindFreePort(uint16_t* port) {
  const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return Status::Error("socket: " + ErrnoText(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  const bool ok = bind(s, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                  getsockname(s, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  const int error = errno;
  close(s);
  if (!ok) return Status::Error("find a free port: " + ErrnoText(error));
  *port = ntohs(address.sin_port);
  return Status::Ok();
}

std::string DescribeExit(int wait_status) {
  if (WIFEXITED(wait_status))
    return "exited with status " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status))
    return "was killed by signal " + std::to_string(WTERMSIG(wait_status));
  return "stopped";
}

}  // namespace

std::string SubstitutePort(std::string_view command, uint16_t port) {
  constexpr std::string_view kPlaceholder = "{port}";
  const std::string number = std::to_string(port);
  std::string out;
  size_t pos = 0;
  for (size_t found; (found = command.find(kPlaceholder, pos)) != std::string_view::npos;
       pos = found + kPlaceholder.size()) {
    out.append(command.substr(pos, found - pos));
    out.append(number);
  }
  out.append(command.substr(pos));
  return out;
}

bool ParseCpuTicks(std::string_view stat, uint64_t* ticks) {
  const size_t close_paren = stat.rfind(')');
  if (close_paren == std::string_view::npos) return false;
  // After ")": " state ppid ..." with state as field 3, so utime (14) is the 12th token.
  std::string_view rest = stat.substr(close_paren + 1);
  uint64_t values[2] = {0, 0};
  int field = 2;
  while (!rest.empty() && field < 15) {
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    const size_t end = std::min(rest.find(' '), rest.size());
    ++field;
    if (field == 14 || field == 15) {
      const auto [ptr, error] = std::from_chars(rest.data(), rest.data() + end, values[field - 14]);
      if (error != std::errc() || ptr != rest.data() + end) return false;
    }
    rest.remove_prefix(end);
  }
  if (field != 15) return false;
  *ticks = values[0] + values[1];
  return true;
}

Status ServerProcess::Start(std::string_view command) {
  Status status = FindFreePort(&port_);
  if (!status.ok()) return status;
  const std::string script = "exec " + SubstitutePort(command, port_);
  const int dev_null = open("/dev/null", O_WRONLY | O_CLOEXEC);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    if (dev_null >= 0) close(dev_null);
    return Status::Error("fork: " + ErrnoText(errno));
  }
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    if (dev_null >= 0) dup2(dev_null, STDOUT_FILENO);
    execl("/bin/sh", "sh", "-c", script.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  if (dev_null >= 0) close(dev_null);
  pid_ = pid;

  Endpoint endpoint;
  status = ResolveEndpoint(cluster::ServerAddress{"127.0.0.1", port_, 1}, &endpoint);
  if (!status.ok()) return status;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kStartTimeoutMs);
  while (true) {
    int wait_status = 0;
    if (waitpid(pid_, &wait_status, WNOHANG) == pid_) {
      pid_ = -1;
      return Status::Error("server '" + script + "' " + DescribeExit(wait_status));
    }
    int fd = -1;
    if (ConnectTo(endpoint, &fd).ok()) {
      close(fd);
      return Status::Ok();
    }
    if (std::chrono::steady_clock::now() > deadline) {
      Stop();
      return Status::Error("server '" + script + "' did not accept connections on port " +
                           std::to_string(port_) + " within " +
                           std::to_string(kStartTimeoutMs / 1000) + " s");
    }
    std::this_thread::sleep_for(kPollPeriod);
  }
}

Status ServerProcess::CpuSeconds(double* seconds) const {
  const std::string path = "/proc/" + std::to_string(pid_) + "/stat";
  std::ifstream file(path);
  if (!file) return Status::Error("cannot read " + path);
  const std::string stat((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  uint64_t ticks = 0;
  if (!ParseCpuTicks(stat, &ticks)) return Status::Error("cannot parse " + path);
  *seconds = static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
  return Status::Ok();
}

void ServerProcess::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kStopTimeoutMs);
  while (waitpid(pid_, nullptr, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      break;
    }
    std::this_thread::sleep_for(kPollPeriod);
  }
  pid_ = -1;
}

}  // namespace mnemo::bench
