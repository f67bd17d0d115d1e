// Listener over real loopback sockets: what Open binds and reports, what Accept returns in each
// case (a connection, none waiting, no descriptor left), and how -l entries are split.
#include "net/listener.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace mnemo::net {
namespace {

uint16_t PortOf(const Listener& listener) {
  const std::string& address = listener.address();
  return static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
}

// A blocking client connected to 127.0.0.1:port.
int Connect(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)), 0)
      << strerror(errno);
  return fd;
}

// Accepts the connection the kernel has queued; kWouldBlock only while the handshake finishes.
Listener::AcceptStatus AcceptOne(Listener& listener, int* fd) {
  Listener::AcceptStatus status = Listener::AcceptStatus::kWouldBlock;
  for (int i = 0; i < 1000 && status == Listener::AcceptStatus::kWouldBlock; ++i) {
    status = listener.Accept(fd);
    if (status == Listener::AcceptStatus::kWouldBlock) usleep(1000);
  }
  return status;
}

TEST(ListenerTest, OpensOneNonBlockingSocketPerAddressAndReportsWhereItListens) {
  std::vector<std::unique_ptr<Listener>> listeners;
  ASSERT_TRUE(Listener::Open("127.0.0.1", 0, 16, &listeners).ok());
  ASSERT_EQ(listeners.size(), 1u);
  const Listener& listener = *listeners[0];
  EXPECT_EQ(listener.address().rfind("tcp:127.0.0.1:", 0), 0u) << listener.address();
  EXPECT_NE(PortOf(listener), 0) << "the port the kernel chose for port 0";
  EXPECT_NE(fcntl(listener.fd(), F_GETFL) & O_NONBLOCK, 0);
  EXPECT_NE(fcntl(listener.fd(), F_GETFD) & FD_CLOEXEC, 0);
}

TEST(ListenerTest, OpensAUnixSocketWithTheMaskReplacingAStaleOne) {
  char dir[] = "/tmp/mnemo-listener-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string path = std::string(dir) + "/s";
  std::vector<std::unique_ptr<Listener>> listeners;
  ASSERT_TRUE(Listener::OpenUnix(path, 0640, 16, &listeners).ok());
  ASSERT_EQ(listeners.size(), 1u);
  EXPECT_EQ(listeners[0]->address(), "unix:" + path);
  struct stat file {};
  ASSERT_EQ(lstat(path.c_str(), &file), 0);
  EXPECT_TRUE(S_ISSOCK(file.st_mode));
  EXPECT_EQ(file.st_mode & 0777, 0640u);

  const int client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  path.copy(address.sun_path, path.size());
  ASSERT_EQ(connect(client, reinterpret_cast<const sockaddr*>(&address), sizeof(address)), 0);
  int fd = -1;
  ASSERT_EQ(AcceptOne(*listeners[0], &fd), Listener::AcceptStatus::kAccepted);
  EXPECT_NE(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
  close(fd);
  close(client);

  listeners.clear();  // the socket file stays, as memcached leaves it
  ASSERT_TRUE(Listener::OpenUnix(path, 0700, 16, &listeners).ok()) << "stale socket replaced";
  listeners.clear();
  unlink(path.c_str());
  const std::string regular = std::string(dir) + "/file";
  close(open(regular.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
  const Status status = Listener::OpenUnix(regular, 0700, 16, &listeners);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("failed to listen on UNIX socket: " + regular),
            std::string::npos);
  unlink(regular.c_str());
  rmdir(dir);
}

TEST(ListenerTest, AcceptsNonBlockingConnectionsAndSaysWhenNoneIsWaiting) {
  std::vector<std::unique_ptr<Listener>> listeners;
  ASSERT_TRUE(Listener::Open("127.0.0.1", 0, 16, &listeners).ok());
  Listener& listener = *listeners[0];
  int fd = -1;
  EXPECT_EQ(listener.Accept(&fd), Listener::AcceptStatus::kWouldBlock);
  EXPECT_EQ(fd, -1);

  const int client = Connect(PortOf(listener));
  ASSERT_EQ(AcceptOne(listener, &fd), Listener::AcceptStatus::kAccepted);
  EXPECT_NE(fcntl(fd, F_GETFL) & O_NONBLOCK, 0) << "accepted sockets are non-blocking";
  EXPECT_NE(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
  ASSERT_EQ(send(client, "ping", 4, 0), 4);
  char buf[8] = {};
  ssize_t got = -1;
  for (int i = 0; i < 1000 && (got = recv(fd, buf, sizeof(buf), 0)) < 0; ++i) usleep(1000);
  EXPECT_EQ(std::string(buf, got > 0 ? got : 0), "ping");
  EXPECT_EQ(listener.Accept(&fd), Listener::AcceptStatus::kWouldBlock) << "one connection only";
  close(fd);
  close(client);
}

TEST(ListenerTest, SaysOutOfFilesWhenNoDescriptorIsLeftForAWaitingConnection) {
  std::vector<std::unique_ptr<Listener>> listeners;
  ASSERT_TRUE(Listener::Open("127.0.0.1", 0, 16, &listeners).ok());
  Listener& listener = *listeners[0];
  const int client = Connect(PortOf(listener));
  // The lowest free descriptor is the next one the process would get: a limit there leaves none.
  const int next = dup(0);
  ASSERT_GE(next, 0);
  close(next);
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
  rlimit tight = saved;
  tight.rlim_cur = static_cast<rlim_t>(next);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &tight), 0);
  int fd = -1;
  Listener::AcceptStatus status = Listener::AcceptStatus::kWouldBlock;
  for (int i = 0; i < 1000 && status == Listener::AcceptStatus::kWouldBlock; ++i) {
    status = listener.Accept(&fd);
    if (status == Listener::AcceptStatus::kWouldBlock) usleep(1000);
  }
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
  EXPECT_EQ(status, Listener::AcceptStatus::kOutOfFiles);
  // The connection is still waiting, and is taken once a descriptor is free.
  EXPECT_EQ(AcceptOne(listener, &fd), Listener::AcceptStatus::kAccepted);
  close(fd);
  close(client);
}

TEST(ListenerTest, APortInUseIsRefusedWithItsNumber) {
  std::vector<std::unique_ptr<Listener>> listeners;
  ASSERT_TRUE(Listener::Open("127.0.0.1", 0, 16, &listeners).ok());
  const uint16_t port = PortOf(*listeners[0]);
  const Status status = Listener::Open("127.0.0.1", port, 16, &listeners);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("failed to listen on TCP port " + std::to_string(port)),
            std::string::npos)
      << status.message();
  EXPECT_EQ(listeners.size(), 1u);
}

TEST(ListenerTest, AHostThatDoesNotResolveIsRefused) {
  std::vector<std::unique_ptr<Listener>> listeners;
  const Status status = Listener::Open("no-such-host.invalid", 0, 16, &listeners);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("no-such-host.invalid"), std::string::npos) << status.message();
  EXPECT_TRUE(listeners.empty());
}

TEST(ListenerTest, SplitsListenAddresses) {
  std::string host;
  uint16_t port = 0;
  ASSERT_TRUE(ParseListenAddress("127.0.0.1", 11211, &host, &port).ok());
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 11211);
  ASSERT_TRUE(ParseListenAddress("localhost:22122", 11211, &host, &port).ok());
  EXPECT_EQ(host, "localhost");
  EXPECT_EQ(port, 22122);
  ASSERT_TRUE(ParseListenAddress("[::1]:5", 11211, &host, &port).ok());
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 5);
  ASSERT_TRUE(ParseListenAddress("[::1]", 11211, &host, &port).ok());
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 11211);
  ASSERT_TRUE(ParseListenAddress("fe80::1", 11211, &host, &port).ok()) << "bare IPv6";
  EXPECT_EQ(host, "fe80::1");
  EXPECT_EQ(port, 11211);
  for (const char* bad : {"[::1", "[::1]x", "host:0", "host:65536", "host:12a"}) {
    EXPECT_FALSE(ParseListenAddress(bad, 11211, &host, &port).ok()) << bad;
  }
}

}  // namespace
}  // namespace mnemo::net
