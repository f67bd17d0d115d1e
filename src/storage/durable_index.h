// DurableIndex is the file (PATH.index, next to the memory file PATH of -e) whose shared mapping
// holds what a cache needs, beyond its items, to find them again after the process dies without
// saving (kill -9, an OOM kill, a bug): the segment descriptors, the hash table's buckets and the
// cache's clocks (CacheClocks). A crash loses the process, not the page cache: every store the
// process made to a shared mapping is in the file afterwards, so the cache keeps these structures
// there as it runs, at no cost on the request path beyond where the memory lives.
//
// Layout (all page-aligned): a header page (magic, format version, the settings that decide the
// layout, a `running` word, the clock's time base, the clocks), then max_segments descriptors of
// 64 bytes, then the table's reservation (HashTable::reservation_bytes: buckets, then overflow
// buckets). The file is sparse: only the pages the table touches take memory, as its anonymous
// reservation would.
//
// Open reads what the last process left, if the header says it was running (it died without a
// graceful stop) and the layout is this one: its settings, clocks and descriptors, and every slot
// word of its table, into a CrashState (crash_recovery.h decides what of it can be trusted). Then
// it empties the file and starts a new index in it: the new process's table, descriptors and
// clocks start empty, whatever a restore then puts back in them.
//
// Invariants:
//  (1) `running` is 1 from MarkRunning (once the cache is restored, before it serves) to
//      MarkStopped (a graceful stop, after its metadata is written, or an orderly exit); a file
//      whose header says so was left by a process that died in between.
//  (2) The header's settings and time base describe the descriptors, slots and item expiry
//      seconds of the process that has the file open.
//
// Thread safety: Open, MarkRunning and MarkStopped before and after the cache serves, from one
// thread. The memory it hands out is the cache's, used under the cache's own rules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "storage/cache_clocks.h"
#include "storage/restart_meta.h"

namespace mnemo::storage {

// What a process that died while running left in its durable index.
struct CrashState {
  // A descriptor as the dead process left it.
  struct Segment {
    uint32_t write_offset = 0;
    uint32_t max_expiry = 0;
    uint32_t flush_gen = 0;
    uint8_t state = 0;  // a SegmentState
    uint32_t last_access = 0;
    uint64_t epoch = 0;
    uint32_t create_time = 0;
    uint16_t ttl_bucket = 0;
    bool chain_head = false;
    uint32_t chain_next = 0;
  };

  // Its settings (to compare, in restart_meta's terms), time base and clocks; segments and items
  // empty.
  RestartMeta meta;
  // Empty unless the layout was this process's: then one per segment id.
  std::vector<Segment> segments;
  // Every non-zero slot word of its table's buckets and overflow buckets, in file order.
  std::vector<uint64_t> slots;
};

// The durable index of memory file `memory_file`.
std::string IndexPathFor(const std::string& memory_file);

class DurableIndex {
 public:
  // The settings that decide the file's layout and the meaning of its contents.
  struct Layout {
    uint64_t memory_limit = 0;
    uint64_t segment_size = 0;
    uint32_t max_segments = 0;
    bool use_cas = true;
    uint64_t item_size_max = 0;
    uint64_t table_bytes = 0;
  };

  explicit DurableIndex(std::string path) : path_(std::move(path)) {}
  ~DurableIndex();
  DurableIndex(const DurableIndex&) = delete;
  DurableIndex& operator=(const DurableIndex&) = delete;

  // Opens (creating) the file; if a process died running with it, fills *crashed. Then empties it,
  // sizes it for `layout` and maps it. An error says what could not be done; every other method
  // REQUIRES: Open returned ok and the caller holds the memory file's lock (SegmentPool::Init),
  // which keeps a second process from emptying the index under the first.
  Status Open(const Layout& layout, std::optional<CrashState>* crashed);

  // Memory for the pool's descriptors, the table and the clocks: zeroed by Open.
  void* descriptors() const { return base_ + descriptors_at_; }
  void* table() const { return base_ + table_at_; }
  CacheClocks* clocks() const;

  // Allocates the file's blocks for `bytes` of the table's memory from `offset` (HashTable::Init's
  // `commit`); false if the file system has no room for them.
  bool CommitTable(size_t offset, size_t bytes);

  // Invariant 1. `time_base`: ProcessStartWallSeconds(), which a restore may have changed.
  void MarkRunning(int64_t time_base);
  void MarkStopped();

  const std::string& path() const { return path_; }

 private:
  struct Header;
  Header* header() const;

  const std::string path_;
  int fd_ = -1;  // open from Open on, for CommitTable
  char* base_ = nullptr;
  size_t size_ = 0;
  size_t descriptors_at_ = 0;
  size_t table_at_ = 0;
};

}  // namespace mnemo::storage
