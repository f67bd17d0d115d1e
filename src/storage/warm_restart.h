// WarmRestart saves what a cache with a memory file (-e) needs to come back after a graceful stop,
// and rebuilds the cache from that file at the next start (docs/warm-restart.md).
//
// Segments are self-describing logs of items (item.h, invariant 1), so the file itself holds
// every item; what it cannot say is which items were live, nor what their numbers meant. Save
// (once every request has finished) writes RestartMeta next to the file: the location of each
// item the hash table points at (a list, rather than a mark in the item: every bit of an item's
// info byte is in use, and a stop is the only moment the list must be right), the descriptors of
// their segments with a checksum of each segment's item headers and keys, the CAS epochs, the
// flush_all clocks and the clock's time base. Restore checks all of it before it changes anything:
// the metadata's own checksum, the settings that decide the file's layout, the file's size, and a
// walk of each segment from its first item to its write offset, on which every saved location
// must be an item's start and the headers and keys must have the saved checksum. Values are not
// checked: a graceful stop synced them, and nothing else writes the file (docs/warm-restart.md).
// Then it resumes the clock (base/clock.h) and the epochs, so
// that expiry seconds and CAS values mean what they meant, and links each saved item that is still
// valid (not expired, not flushed) into the hash table. Anything wrong: one line on stderr saying
// why, and the cache starts empty. Never a crash.
//
// With a flash tier, Save has the tier write out its buffer, sync its devices and list its items
// (FlashTier::Save); Restore links them with their saved hashes, reading no flash, if the devices
// are the same (else one line, and only the RAM items come back). Their bytes are trusted no more
// than at any time: each read of an item on flash verifies its record, so a changed flash file
// gives misses, never wrong data.
//
// Thread safety: Save and Restore REQUIRE that no other thread uses the cache.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "base/status.h"
#include "storage/cache_core.h"
#include "storage/restart_meta.h"
#include "storage/thread_context.h"

namespace mnemo::storage {

class WarmRestart {
 public:
  explicit WarmRestart(CacheCore& core) : core_(core) {}

  // Syncs the memory file, then writes its metadata. REQUIRES: a memory file.
  Status Save();

  // Reads (and removes) the metadata of the memory file and, if it describes this cache's file
  // and the file is intact, links every valid saved item, counting them in `ctx`. Without
  // metadata, recovers what a crashed process left (crash_recovery.h) if one did. Returns the
  // items linked. Logs on stderr what it did, or why the cache starts empty. REQUIRES: a memory
  // file, nothing allocated from the pool yet.
  size_t Restore(ThreadContext& ctx);

  // What Save would write now of the RAM items, and the checks Restore makes: for tests.
  RestartMeta Collect() const;
  // Empty if `meta` may be restored into this cache; else why not, in memcached's words.
  std::string Incompatible(const RestartMeta& meta) const;
  // Whether `meta` may be restored into this cache and its memory file has the size `meta`
  // describes; if not, logs why (the size as `described`, e.g. "saved") and the start is cold.
  bool Fits(const RestartMeta& meta, const char* described) const;
  // What the walk of Check learns of each saved item: Apply links it from this, without reading
  // item memory again (a restore's time is mostly the misses of reading it).
  struct WalkedItem {
    uint64_t hash = 0;  // of its key
    uint32_t expiry = 0;
    uint32_t size = 0;
  };
  // Whether the memory file holds what `meta` says it does; on success, (*walked)[i] describes
  // meta.items[i].
  Status Check(const RestartMeta& meta, std::vector<WalkedItem>* walked) const;
  // Empty if the items on flash of `meta` may be linked (or it has none): saved by a tier on this
  // cache's devices, each within its segment's records; else why not.
  std::string CheckFlash(const RestartMeta& meta) const;

  using Clock = std::chrono::steady_clock;

  // Restores descriptors, clocks and items, linking each item that is still valid from what a
  // walk learnt of it (walked[i] describes meta.items[i]); the restore began at `start`, and its
  // checks took `checked` seconds. REQUIRES: Incompatible() found nothing, and Check() or
  // CrashRecovery::Collect vouched for `meta` and filled `walked`.
  size_t Apply(const RestartMeta& meta, const std::vector<WalkedItem>& walked,
               Clock::time_point start, double checked, ThreadContext& ctx);

  // Forgets the flash tier's part of `meta`: its items are not linked.
  static void DropFlash(RestartMeta* meta);

 private:
  CacheCore& core_;
};

}  // namespace mnemo::storage
