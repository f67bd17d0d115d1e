// ChangeObserver is told of every change a client command commits to the cache, so that the
// change can be sent elsewhere (replication, docs/design/replication.md). A change is reported as
// its result, never as the command that made it: a store reports the key's whole new version (an
// append the appended whole, an incr the number), a removal reports that the key is gone, a touch
// the key's new expiry, so that applying a change anywhere is idempotent.
//
// What is a change: a new version stored by any command (set, add, replace, append, prepend, cas,
// incr/decr, mg N and ma N creations, ms, md x); a removal by delete, md, a store whose expiry is
// already past, a set refused as too large, or an invalidation (meta I: a stale version is reported
// as removed, so that no copy holds stale-marked items); a new expiry by touch, gat, gats or mg T;
// flush_all. What is not: evictions, merges, moves to and from flash, expiry, a warm restart's
// restore, and any change made through a context whose observation is suppressed
// (Cache::SuppressChanges: a change applied from a peer).
//
// Ordering: OnChange is called under the key's stripe lock, after the change is linked and before
// the lock is released, so two changes of one key are reported in the order they were applied,
// whatever threads made them. A flush is reported under no lock.
//
// Thread safety: OnChange is called concurrently from every thread that writes; it must not call
// back into the cache, and must not block (it runs under a spin lock).
#pragma once

#include <cstdint>
#include <string_view>

#include "storage/cache.h"

namespace mnemo::storage {

enum class ChangeKind : uint8_t {
  kStore,   // the key has a new version: `item`, expiring at `expires_at`
  kRemove,  // the key has no valid version any more
  kTouch,   // the key's version has a new expiry, `expires_at`
  kFlush,   // flush_all: `flush`
};

struct Change {
  ChangeKind kind = ChangeKind::kStore;
  std::string_view key;     // all but kFlush
  bool key_binary = false;  // kStore, kTouch: the key came base64-encoded
  // kStore: the new version (flags, value; the view is valid during OnChange only).
  const ItemView* item = nullptr;
  // kStore, kTouch: the absolute Unix time the version expires at; 0 if never.
  int64_t expires_at = 0;
  FlushRequest flush;  // kFlush
};

class ChangeObserver {
 public:
  virtual void OnChange(const Change& change) = 0;

 protected:
  ~ChangeObserver() = default;
};

}  // namespace mnemo::storage
