// Server over real loopback sockets: the listener hands each accepted connection to a worker, -c
// admits exactly the clients memcached 1.6.45 admits and tells the next one so, and a shutdown
// closes every connection and joins every thread before Run() returns.
#include "server/server.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "testing/server/loopback_client.h"

namespace mnemo::server {
namespace {

constexpr std::string_view kTooMany = "ERROR Too many open connections\r\n";

// A port that was free a moment ago.
uint16_t FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)), 0);
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

// The descriptors memcached 1.6.45 holds before its first client with -t `threads` and one
// listening socket: -c that plus 1 admits no client.
int OwnDescriptors(int threads) { return 3 + 3 + 1 + 5 * threads; }

class ServerTest : public ::testing::Test {
 protected:
  ~ServerTest() override { Stop(); }

  // Creates the server on 127.0.0.1 and runs it on a thread of its own; returns once a client is
  // answered, or, with `refusing`, turned away.
  void Start(bool refusing = false) {
    options_.listen = {"127.0.0.1"};
    Status status = Status::Ok();
    for (int attempt = 0; attempt < 5; ++attempt) {  // another process may take the port first
      options_.port = FreePort();
      status = Server::Create(options_, &server_);
      if (status.ok()) break;
    }
    ASSERT_TRUE(status.ok()) << status.message();
    run_ = std::async(std::launch::async, [this] { return server_->Run(); });
    for (int i = 0; i < 1000; ++i) {
      LoopbackClient probe(options_.port);
      if (probe.connected()) {
        const std::string reply = refusing ? probe.ReadToEof() : probe.Call("version\r\n", "\r\n");
        ASSERT_EQ(reply.substr(0, 8), refusing ? kTooMany.substr(0, 8) : "VERSION ");
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    FAIL() << "the server did not listen";
  }

  // Waits until the server counts no client but the one that asks.
  void WaitUntilNoClient() {
    for (int i = 0; i < 1000 && Stat("curr_connections") != "1"; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_EQ(Stat("curr_connections"), "1");
  }

  // Asks the server to stop and waits for Run() to return; false if it does not within 10 s.
  bool Stop() {
    if (!run_.valid()) return true;
    server_->RequestShutdown(/*graceful=*/false);
    if (run_.wait_for(std::chrono::seconds(10)) != std::future_status::ready) return false;
    EXPECT_TRUE(run_.get().ok());
    return true;
  }

  std::unique_ptr<LoopbackClient> Admitted() {
    auto client = std::make_unique<LoopbackClient>(options_.port);
    EXPECT_EQ(client->Call("version\r\n", "\r\n").rfind("VERSION ", 0), 0u);
    return client;
  }

  std::string Stat(std::string_view name) {
    LoopbackClient client(options_.port);
    const std::string text = client.Call("stats\r\n", "END\r\n");
    const std::string prefix = "STAT " + std::string(name) + " ";
    const size_t at = text.find(prefix);
    if (at == std::string::npos) return "<absent: " + text + ">";
    const size_t end = text.find("\r\n", at);
    return text.substr(at + prefix.size(), end - at - prefix.size());
  }

  Options options_;
  std::unique_ptr<Server> server_;
  std::future<Status> run_;
};

TEST_F(ServerTest, HandsConnectionsToEveryWorkerAndServesThemFromOneCache) {
  options_.threads = 3;
  Start();
  std::vector<std::unique_ptr<LoopbackClient>> clients;
  for (int i = 0; i < 6; ++i) clients.push_back(Admitted());
  EXPECT_EQ(clients[0]->Call("set k 0 0 1\r\nx\r\n", "\r\n"), "STORED\r\n");
  for (const auto& client : clients) {
    EXPECT_EQ(client->Call("get k\r\n", "END\r\n"), "VALUE k 0 1\r\nx\r\nEND\r\n");
  }
  EXPECT_EQ(Stat("threads"), "3");
  EXPECT_EQ(Stat("get_hits"), "6");
}

TEST_F(ServerTest, AdmitsExactlyTheClientsMemcachedAdmitsAndTellsTheNextOne) {
  options_.threads = 1;
  options_.max_connections = OwnDescriptors(1) + 1 + 3;  // room for 3 clients
  Start();
  WaitUntilNoClient();
  std::vector<std::unique_ptr<LoopbackClient>> admitted;
  for (int i = 0; i < 3; ++i) admitted.push_back(Admitted());
  LoopbackClient refused(options_.port);
  EXPECT_EQ(refused.ReadToEof(), kTooMany);
  // A place given back is taken by exactly one newcomer.
  admitted.pop_back();
  std::unique_ptr<LoopbackClient> newcomer;
  for (int i = 0; i < 1000 && newcomer == nullptr; ++i) {
    auto client = std::make_unique<LoopbackClient>(options_.port);
    if (client->Call("version\r\n", "\r\n").rfind("VERSION ", 0) == 0) newcomer = std::move(client);
  }
  ASSERT_NE(newcomer, nullptr);
  LoopbackClient late(options_.port);
  EXPECT_EQ(late.ReadToEof(), kTooMany);
  EXPECT_EQ(admitted[0]->Call("get k\r\n", "END\r\n"), "END\r\n");
}

TEST_F(ServerTest, RefusesAConnectionLimitThatLeavesNoRoom) {
  options_.threads = 1;
  options_.listen = {"127.0.0.1"};
  options_.port = FreePort();
  options_.max_connections = OwnDescriptors(1);
  const Status status = Server::Create(options_, &server_);
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.message(), "Maxconns setting is too low, use -c to increase.");
  options_.max_connections = OwnDescriptors(1) + 1;  // starts, and turns every client away
  Start(/*refusing=*/true);
  LoopbackClient refused(options_.port);
  EXPECT_EQ(refused.ReadToEof(), kTooMany);
}

TEST_F(ServerTest, MemoryFreedOnOneWorkerResumesAConnectionWaitingOnAnotherAtOnce) {
  options_.threads = 2;
  options_.read_buf_mem_limit = size_t{1} << 20;
  Start();
  const std::string value(900000, 'v');
  const std::string header = "set k 0 0 " + std::to_string(value.size()) + "\r\n";
  // Each worker's tick would resume the waiting connection within a second anyway: only a wake
  // passes every round.
  for (int round = 0; round < 3; ++round) {
    // Consecutive connections go to different workers. The first holds the whole budget for a
    // value it never finishes; the second, whole, waits for memory to read its value.
    auto holder = std::make_unique<LoopbackClient>(options_.port);
    LoopbackClient waiter(options_.port);
    holder->Call(header + value.substr(0, value.size() / 2), "");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::future<std::string> stored = std::async(
        std::launch::async, [&] { return waiter.Call(header + value + "\r\n", "\r\n"); });
    ASSERT_EQ(stored.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout)
        << "the second connection did not wait for memory";
    holder.reset();
    const auto closed = std::chrono::steady_clock::now();
    EXPECT_EQ(stored.get(), "STORED\r\n");
    EXPECT_LT(std::chrono::steady_clock::now() - closed, std::chrono::milliseconds(200))
        << "round " << round;
  }
}

TEST_F(ServerTest, ShutdownClosesEveryConnectionAndJoinsEveryThread) {
  options_.threads = 2;
  Start();
  auto first = Admitted();
  auto second = Admitted();
  ASSERT_TRUE(Stop()) << "Run() did not return within 10 s of RequestShutdown()";
  EXPECT_EQ(first->ReadToEof(), "");
  EXPECT_EQ(second->ReadToEof(), "");
  LoopbackClient late(options_.port);
  EXPECT_FALSE(late.connected()) << "the listening socket is closed";
}

}  // namespace
}  // namespace mnemo::server
