// ItemDump answers memcached's dumps of the cache's items, as 1.6.45 formats them:
//
//   stats cachedump CLASS LIMIT    "ITEM <key> [<value bytes> b; <expiry Unix time, 0 never> s]"
//                                  lines, then "END"; binary keys left out; at most LIMIT items
//                                  (0: no limit) and 2 MB in all, as memcached caps it.
//   lru_crawler metadump CLASSES   "OK", then "key=<key URI-encoded> exp=<Unix time, -1 never>
//                                  la=<last access> cas=<cas> fetch=<yes|no> cls=1
//                                  size=<stored bytes> flags=<flags> \n" lines, then "END".
//   lru_crawler mgdump CLASSES     "OK", then "mg <key>" (or "mg <base64 key> b"), then "EN".
//
// mnemo has no slab classes; it presents all its items as class 1 (as `stats items` and `stats
// slabs` do), so a dump of class 1 (or of "all" or "hash") shows every item and a dump of any
// other class memcached accepts shows none. The lines come from a walk of the cache (Cache::Walk),
// a batch of items at a time, and go out a chunk at a time: a dump of millions of items holds
// neither a lock nor more than a chunk of output, and the connection's worker serves its other
// connections between chunks.
//
// A connection owns one ItemDump; a dump that stops because the output is full goes on where it
// stopped. metadump and mgdump hold the crawler (memcached runs one at a time) until they end or
// their connection closes.
//
// Thread safety: none; one ItemDump per connection, on its worker's thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "net/io_buffer.h"
#include "storage/cache.h"

namespace mnemo::server {

enum class DumpKind : uint8_t { kCachedump, kMetadump, kMgdump };

class ItemDump {
 public:
  ItemDump() = default;
  ~ItemDump() { Stop(); }
  ItemDump(const ItemDump&) = delete;
  ItemDump& operator=(const ItemDump&) = delete;

  // Starts a dump of every item if `everything`, else of none. `limit`: cachedump's (0: none).
  // `crawler`: the flag the dump holds (already set by the caller), cleared when it ends; null
  // for cachedump.
  void Start(DumpKind kind, bool everything, uint32_t limit, std::atomic<bool>* crawler);
  bool active() const { return active_; }

  // Appends the dump's next lines to `out`, about `chunk` bytes of them. Returns true once the
  // dump has ended (its last line appended); false if it goes on.
  bool Continue(storage::Cache& cache, net::IoBuffer& out, size_t chunk);

  // Ends the dump where it is, letting the crawler go.
  void Stop();

 private:
  // Appends `item`'s line to `line`; false if the dump ends before it (cachedump's limits).
  bool Format(const storage::WalkedItem& item, std::string_view key, std::string* line);

  DumpKind kind_ = DumpKind::kCachedump;
  bool active_ = false;
  bool everything_ = false;
  bool started_ = false;  // the first line (metadump, mgdump: OK) is out
  uint32_t limit_ = 0;
  uint32_t shown_ = 0;
  size_t bytes_ = 0;  // cachedump: bytes of lines so far, against memcached's 2 MB
  std::atomic<bool>* crawler_ = nullptr;
  storage::WalkCursor cursor_;
  storage::WalkBatch batch_;
  size_t next_ = 0;  // the next item of batch_ to answer
  std::string line_;
};

}  // namespace mnemo::server
