// Worker over real loopback sockets: connections handed over with Adopt() are served on the
// worker's thread and share one cache; a client's close, -o idle_timeout and Stop() each close
// connections and give back their place in curr_connections; Stop() and Join() end the thread.
#include "server/worker.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "net/listener.h"
#include "testing/server/loopback_client.h"
#include "testing/storage/cache_test_util.h"

namespace mnemo::server {
namespace {

class WorkerTest : public ::testing::Test {
 protected:
  WorkerTest() {
    EXPECT_TRUE(net::Listener::Open("127.0.0.1", 0, 64, &listeners_).ok());
    const std::string& address = listeners_[0]->address();
    port_ = static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
  }

  // Builds the cache, the shared context and the worker, and starts it.
  void Start() {
    cache_ = storage::CreateCacheOrDie(options_.ToCacheOptions());
    server_ = std::make_unique<ServerContext>(options_, *cache_);
    worker_ = std::make_unique<Worker>(*server_);
    server_->stats.Register(&worker_->stats());
    ASSERT_TRUE(worker_->Start().ok());
  }

  // Connects a client and hands its accepted socket to the worker, as the server's listener does.
  std::unique_ptr<LoopbackClient> Connect() {
    auto client = std::make_unique<LoopbackClient>(port_);
    EXPECT_TRUE(client->connected());
    int fd = -1;
    net::Listener::AcceptStatus status = net::Listener::AcceptStatus::kWouldBlock;
    for (int i = 0; i < 1000 && status == net::Listener::AcceptStatus::kWouldBlock; ++i) {
      status = listeners_[0]->Accept(&fd);
      if (status == net::Listener::AcceptStatus::kWouldBlock) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
    EXPECT_EQ(status, net::Listener::AcceptStatus::kAccepted);
    server_->curr_connections.fetch_add(1);
    worker_->Adopt(fd);
    return client;
  }

  // Waits up to 10 seconds for curr_connections to read `expected`; returns what it last read.
  int64_t WaitForConnections(int64_t expected) {
    for (int i = 0; i < 1000 && server_->curr_connections.load() != expected; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return server_->curr_connections.load();
  }

  Options options_;
  std::vector<std::unique_ptr<net::Listener>> listeners_;
  uint16_t port_ = 0;
  std::unique_ptr<storage::Cache> cache_;
  std::unique_ptr<ServerContext> server_;
  std::unique_ptr<Worker> worker_;
};

TEST_F(WorkerTest, ServesEveryConnectionItIsHandedFromOneCache) {
  Start();
  auto writer = Connect();
  auto reader = Connect();
  EXPECT_EQ(writer->Call("set k 0 0 1\r\nx\r\n", "\r\n"), "STORED\r\n");
  EXPECT_EQ(reader->Call("get k\r\n", "END\r\n"), "VALUE k 0 1\r\nx\r\nEND\r\n");
  EXPECT_EQ(writer->Call("mg k v\r\n", "x\r\n"), "VA 1\r\nx\r\n");
  EXPECT_EQ(worker_->stats().Get(Stat::kCmdGet), 2u) << "counted on the worker's own stats";
  EXPECT_EQ(server_->curr_connections.load(), 2);
}

TEST_F(WorkerTest, AClientThatClosesGivesBackItsPlace) {
  Start();
  auto stays = Connect();
  auto leaves = Connect();
  EXPECT_EQ(leaves->Call("version\r\n", "\r\n").rfind("VERSION ", 0), 0u);
  leaves.reset();
  EXPECT_EQ(WaitForConnections(1), 1);
  EXPECT_EQ(stays->Call("get k\r\n", "END\r\n"), "END\r\n");
}

TEST_F(WorkerTest, QuitClosesTheConnectionAfterItsEarlierReplies) {
  Start();
  auto client = Connect();
  EXPECT_EQ(client->Call("set k 0 0 1\r\nx\r\nquit\r\nget k\r\n", "STORED\r\n"), "STORED\r\n");
  EXPECT_EQ(client->ReadToEof(), "");
  EXPECT_EQ(WaitForConnections(0), 0);
}

TEST_F(WorkerTest, StopClosesEveryConnectionAndJoinEndsTheThread) {
  Start();
  auto first = Connect();
  auto second = Connect();
  EXPECT_EQ(first->Call("version\r\n", "\r\n").rfind("VERSION ", 0), 0u);
  EXPECT_EQ(second->Call("version\r\n", "\r\n").rfind("VERSION ", 0), 0u);
  worker_->Stop();
  worker_->Join();
  EXPECT_EQ(server_->curr_connections.load(), 0);
  EXPECT_EQ(first->ReadToEof(), "");
  EXPECT_EQ(second->ReadToEof(), "");
  worker_.reset();  // Stop and Join again, from the destructor: harmless
}

TEST_F(WorkerTest, IdleConnectionsAreClosedAfterIdleTimeoutAndCounted) {
  options_.idle_timeout = 1;
  Start();
  auto idle = Connect();
  auto busy = Connect();
  const auto started = std::chrono::steady_clock::now();
  // The busy client keeps sending; only the idle one is closed.
  for (int i = 0; i < 25; ++i) {
    EXPECT_EQ(busy->Call("get k\r\n", "END\r\n"), "END\r\n");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(idle->ReadToEof(), "");
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(8));
  EXPECT_EQ(busy->Call("get k\r\n", "END\r\n"), "END\r\n");
  EXPECT_EQ(worker_->stats().Get(Stat::kIdleKicks), 1u);
  EXPECT_EQ(WaitForConnections(1), 1);
}

}  // namespace
}  // namespace mnemo::server
