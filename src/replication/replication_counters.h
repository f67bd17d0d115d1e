// ReplicationCounters: the replication thread's and the workers' counts for `stats`, as relaxed
// atomics (each is added to from several threads, rarely: once per batch, drop or connection).
//
// Thread safety: any thread.
#pragma once

#include <atomic>
#include <cstdint>

namespace mnemo::replication {

struct ReplicationCounters {
  std::atomic<uint64_t> records_sent{0};
  std::atomic<uint64_t> bytes_sent{0};
  std::atomic<uint64_t> backlog_overflows{0};
  std::atomic<uint64_t> partial_resyncs{0};
  std::atomic<uint64_t> sync_timeouts{0};
  std::atomic<uint64_t> full_resyncs{0};
  std::atomic<uint64_t> move_keys_sent{0};
  std::atomic<uint64_t> move_keys_received{0};
  std::atomic<uint64_t> move_fetched_on_miss{0};
  std::atomic<uint64_t> move_keys_dropped{0};
  std::atomic<uint64_t> move_keys_late{0};
  std::atomic<int64_t> move_keys_remaining{0};  // the replication thread's walk
  std::atomic<int64_t> peers_connected{0};
  std::atomic<int64_t> lag_ms{0};  // the worst peer's, as of the replication thread's last pass

  static void Add(std::atomic<uint64_t>& counter, uint64_t n = 1) {
    counter.fetch_add(n, std::memory_order_relaxed);
  }
};

// What `stats` shows of replication (server/stats.h).
struct ReplicationStats {
  uint64_t records_sent = 0;
  uint64_t bytes_sent = 0;
  uint64_t backlog_bytes = 0;
  uint64_t lag_ms = 0;
  uint64_t peers_connected = 0;
  uint64_t backlog_overflows = 0;
  uint64_t partial_resyncs = 0;
  uint64_t sync_timeouts = 0;
  uint64_t full_resyncs = 0;
  bool returning = false;
  bool move_in_progress = false;
  uint64_t move_keys_sent = 0;
  uint64_t move_keys_received = 0;
  uint64_t move_fetched_on_miss = 0;
  uint64_t move_keys_remaining = 0;
  uint64_t move_keys_dropped = 0;
  uint64_t move_keys_late = 0;
};

}  // namespace mnemo::replication
