// Statistics: the counters each thread keeps, their sum over threads, and the text of `stats` and
// its sub-commands in memcached's names, order and formats, so that tools written for memcached
// (memcached-tool, exporters, dashboards) read mnemod unchanged.
//
// A counter belongs to one thread, which alone adds to it; other threads only read. Counters are
// relaxed atomics written with a plain load and store (no locked instruction), so counting costs
// what a plain increment costs, and a reader summing them sees each counter whole.
//
// Invariants:
//  (1) Only the owning thread of a ThreadStats calls Add on it.
//  (2) Totals() never goes backwards except across Reset(): `stats reset` moves a baseline instead
//      of zeroing counters that other threads own.
// Thread safety: ThreadStats::Add from its owner only; everything else from any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "base/thread_annotations.h"
#include "server/options.h"
#include "storage/cache.h"

namespace mnemo::server {

enum class Stat : uint8_t {
  kCmdGet,
  kCmdSet,
  kCmdFlush,
  kCmdTouch,
  kCmdMeta,  // me, the one command memcached counts here
  kGetHits,
  kGetMisses,
  kGetExpired,
  kGetFlushed,
  kDeleteMisses,
  kDeleteHits,
  kIncrMisses,
  kIncrHits,
  kDecrMisses,
  kDecrHits,
  kCasMisses,
  kCasHits,
  kCasBadval,
  kTouchHits,
  kTouchMisses,
  kStoreTooLarge,
  kStoreNoMemory,
  kBytesRead,
  kBytesWritten,
  kBytesWrittenZeroCopy,  // of bytes_written, those sent straight from memory the cache owns
  kConnYields,
  kIdleKicks,
  kReadBufOom,      // closed: stuck waiting for connection memory, or holding it with a partial
                    // command while the budget was exhausted
  kResponseObjOom,  // closed: stuck with unsent replies holding connection or item memory
  kTotalConnections,
  kRejectedConnections,
  kCount,
};

inline constexpr size_t kNumStats = static_cast<size_t>(Stat::kCount);
using StatTotals = std::array<uint64_t, kNumStats>;

class alignas(64) ThreadStats {
 public:
  void Add(Stat stat, uint64_t n = 1) {
    std::atomic<uint64_t>& counter = counters_[static_cast<size_t>(stat)];
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  uint64_t Get(Stat stat) const {
    return counters_[static_cast<size_t>(stat)].load(std::memory_order_relaxed);
  }

 private:
  std::array<std::atomic<uint64_t>, kNumStats> counters_{};
};

class StatsRegistry {
 public:
  // REQUIRES: called before any thread reads totals; `stats` outlives the registry.
  void Register(const ThreadStats* stats) { threads_.push_back(stats); }

  // The sum over threads since the last Reset().
  StatTotals Totals() const EXCLUDES(mu_);
  void Reset() EXCLUDES(mu_);

 private:
  StatTotals RawTotals() const;

  std::vector<const ThreadStats*> threads_;  // fixed once the server runs
  mutable Mutex mu_;
  StatTotals baseline_ GUARDED_BY(mu_) = {};
};

// What `stats` and its sub-commands report besides the options.
struct StatsSnapshot {
  StatTotals totals = {};
  storage::CacheStats cache;
  uint64_t curr_connections = 0;
  uint64_t connection_structures = 0;  // sockets open: accepted and listening
  uint32_t oldest_live = 0;            // seconds since start at which flush_all last took effect
  // Connection buffers (net/buffer_pool.h): pool blocks, idle ones included, and heap blocks.
  uint64_t conn_buffers = 0;
  uint64_t conn_buffer_bytes = 0;
  uint64_t conn_buffer_idle_bytes = 0;  // of which idle in the pools
};

// `stats`
void AppendGeneralStats(const Options& options, const StatsSnapshot& snapshot, std::string* out);
// `stats settings`
void AppendSettingsStats(const Options& options, const StatsSnapshot& snapshot, std::string* out);
// `stats items` and `stats slabs`: memcached's shape with a single class, 1, standing for the
// whole segment pool (each segment a page holding one chunk).
void AppendItemsStats(const StatsSnapshot& snapshot, std::string* out);
void AppendSlabsStats(const StatsSnapshot& snapshot, std::string* out);

}  // namespace mnemo::server
