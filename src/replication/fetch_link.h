// FetchLink is the replication thread's client connection to a key's previous owner while a move
// brings this node keys (read-through, docs/design/partitioning.md): for each key a client's miss
// asks for, it sends `mg <key> v f t`, pipelined, and reads the replies in order (VA or EN), as
// mcrouter's WarmUp route asks the cold pool's warm neighbour. It never blocks: the socket is
// non-blocking and registered edge-triggered with the replication thread's loop.
//
// Invariants:
//  (1) Every request handed to Ask is answered exactly once through the callback: with the
//      value, with a miss, or with a miss when the connection fails (the requests it carried
//      and those queued behind them are all answered then).
//  (2) sent_ holds the requests written and not yet answered, in the order written.
// Thread safety: the replication thread only.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "cluster/server_address.h"
#include "net/event_loop.h"

namespace mnemo::replication {

class FetchLink final : public net::EventLoop::Handler {
 public:
  // One key's answer: hit, with the value, its flags and its remaining TTL (-1: none).
  struct Answer {
    bool hit = false;
    std::string_view value;
    uint32_t flags = 0;
    int64_t ttl = -1;
  };
  // Called with each request's tag and key and its answer.
  using Callback = std::function<void(uint64_t tag, std::string_view key, const Answer& answer)>;

  FetchLink(net::EventLoop& loop, cluster::ServerAddress address, Callback callback)
      : loop_(loop), address_(std::move(address)), callback_(std::move(callback)) {}
  ~FetchLink() { Fail(); }
  FetchLink(const FetchLink&) = delete;
  FetchLink& operator=(const FetchLink&) = delete;

  // Asks for `key` (text-safe, at most 250 bytes); `tag` comes back with its answer.
  void Ask(uint64_t tag, std::string_view key);
  void OnEvents(uint32_t events) override;

 private:
  struct Request {
    uint64_t tag;
    std::string key;
  };
  void Connect();
  void Write();
  void Read();
  // Parses the replies at the front of input_; false if one is not a reply of mg.
  bool TakeReplies();
  // Closes the connection and answers every request a miss.
  void Fail();

  net::EventLoop& loop_;
  const cluster::ServerAddress address_;
  Callback callback_;
  int fd_ = -1;
  bool connected_ = false;
  std::deque<Request> queued_;  // not yet written
  std::deque<Request> sent_;    // invariant 2
  std::string output_;          // written up to output_at_
  size_t output_at_ = 0;
  std::string input_;
};

}  // namespace mnemo::replication
