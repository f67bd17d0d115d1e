// Cache is the storage engine's facade: the one interface the server uses to store, read and
// remove items. It knows nothing of sockets or protocol text; results are enums that the server
// turns into wire replies.
//
// Memory: `memory_limit` bytes of item memory, carved into equal segments taken lazily and reused
// (see segment_pool.h); the hash table lives outside that budget. Every write appends a new item
// version to a segment owned by the calling thread's Context; older versions become dead bytes,
// reclaimed when their segment is evicted or merged.
//
// Thread safety: every method may be called concurrently from any number of threads, each with its
// own Context. A Context must not be shared between threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "flash/flash_space.h"
#include "storage/cache_stats.h"
#include "storage/value_hold.h"

namespace mnemo::storage {

class ChangeObserver;    // change_observer.h
class EvictionObserver;  // eviction_observer.h

enum class EvictionPolicy : uint8_t {
  kMerge,  // Segcache-style: merge the oldest segments, keeping items read since written
  kFifo,   // drop the oldest segment whole
};

enum class Compression : uint8_t {
  kOff,
  kSnappy,  // values of at least compress_min bytes, stored compressed when it saves enough
};

struct CacheOptions {
  size_t memory_limit = size_t{64} << 20;  // -m
  size_t segment_size = size_t{1} << 20;   // -o segment_size
  size_t item_size_max = size_t{1} << 20;  // -I: the largest value accepted
  bool evict = true;                       // false with -M: answer kNoMemory instead
  bool use_cas = true;                     // false with -C: CAS values are always 0
  EvictionPolicy eviction = EvictionPolicy::kMerge;
  int hash_power_initial = 16;    // -o hashpower: log2 of the initial bucket count
  bool background_thread = true;  // reclaim expired segments ahead of demand
  // -o compression, compress_min, compress_ratio: a value of at least compress_min bytes (and at
  // most ValueCodec::kMaxCompressedValue) is stored compressed if its block is at most
  // compress_ratio of its length. Defaults from bench/RESULTS.md.
  Compression compression = Compression::kSnappy;
  size_t compress_min = 256;
  double compress_ratio = 0.875;
  // -o ext_path: the flash devices of the flash tier, opened by the caller with this cache's
  // segment size (Normalize); none if null. Must outlive the cache.
  const flash::FlashSpace* flash = nullptr;
  // -e: item memory is a shared mapping of this file, and a cache saved with SaveForRestart is
  // restored from it (docs/warm-restart.md). Empty: anonymous memory.
  std::string memory_file;
  // A cluster node's tag, 1 to 255, in the top 8 bits (kCasTagShift) of every CAS this cache
  // derives, so that no two nodes of a cluster issue the same CAS and a `cas` with a token
  // another node issued (a client failing over to a replica) answers EXISTS instead of
  // overwriting: docs/cluster.md, "CAS across a failover". 0: no tag.
  uint8_t cas_tag = 0;
  // Told of every change a client command commits (change_observer.h); none if null. Must
  // outlive the cache.
  ChangeObserver* change_observer = nullptr;
  // Told of every live item eviction drops (eviction_observer.h); none if null. Must outlive the
  // cache.
  EvictionObserver* eviction_observer = nullptr;
};

// Where CacheOptions::cas_tag sits in a CAS: the 56 bits below it count 64 PiB of writes.
inline constexpr int kCasTagShift = 56;

// Exptime as memcached clients send it: 0 never expires; up to 30 days, relative seconds; above,
// an absolute Unix time; negative or an absolute time in the past, expired at once.
using Exptime = int64_t;

enum class StoreMode : uint8_t { kSet, kAdd, kReplace, kAppend, kPrepend, kCas };

enum class [[nodiscard]] StoreResult : uint8_t{
    kStored,
    kNotStored,  // add on a present key, replace/append/prepend on a missing one, append too large
    kExists,     // cas with a stale token
    kNotFound,   // cas on a missing key
    kTooLarge,   // value above item_size_max (the old value under the key has been removed by Set)
    kNoMemory,   // -M and the cache is full, or the item cannot fit at all
};

enum class [[nodiscard]] LookupResult : uint8_t{
    kHit,
    kMiss,     // never stored, deleted or evicted
    kExpired,  // present but past its exptime (counted as get_expired)
    kFlushed,  // present but invalidated by flush_all (counted as get_flushed)
    // Only with ReadOptions::may_wait_for_flash: the read needs bytes of flash that are not in
    // the page cache, and did nothing (Cache::TakeFlashWait says which bytes).
    kWaitForFlash,
};

enum class [[nodiscard]] DeleteResult : uint8_t{
    kDeleted,  // removed, or (DeleteRequest) invalidated or emptied as asked
    kNotFound,
    kExists,    // the item's CAS is not the one given
    kNoMemory,  // DeleteRequest only: the new version could not be written
};

enum class [[nodiscard]] ArithResult : uint8_t{
    kOk,
    kNotFound,
    kNonNumeric,  // the value is not a number as memcached's safe_strtoull reads it (empty, not
                  // decimal, or above 2^64-1; leading and trailing whitespace allowed)
    kExists,      // ArithRequest only: the item's CAS is not the one given
    kNoMemory,
};

// kNoMemory: under -M the item had to move (its header grows) and nothing could be freed for it;
// it keeps its old exptime.
enum class [[nodiscard]] TouchResult : uint8_t{kTouched, kNotFound, kNoMemory};

// What the meta protocol reports of an item besides its value: mg's h, l, t, W, X, Z flags, the
// encoding of the key it echoes, and me's fields. All of it as of before the read, except `win`.
struct ItemMeta {
  int64_t ttl_before = -1;    // seconds until it expired before this call changed it; -1 never
  uint32_t idle_seconds = 0;  // since it was last accessed, at the granularity of its segment
                              // (docs/storage.md): never more than the item's own idle time
  size_t stored_bytes = 0;    // what it costs in item memory: header, key and value
  bool stale = false;         // invalidated (meta I), awaiting a recache: X
  bool win_sent = false;      // an earlier reader was told to recache it: Z
  bool win = false;           // this read won the right to recache it: W
  bool created = false;       // this read created it (meta N)
  bool key_binary = false;    // its key came base64-encoded, and goes back so
};

// What a reader sees of an item while the cache holds it steady. The view is valid only inside
// ItemSink::OnItem; copy out what must outlive the call.
class ItemView {
 public:
  virtual std::string_view key() const = 0;
  virtual uint32_t flags() const = 0;
  virtual uint64_t cas() const = 0;
  virtual size_t value_size() const = 0;
  // Copies the whole value (its original bytes, never a compressed form) to `out`, which has room
  // for value_size() bytes. Returns false if the stored bytes are corrupt; nothing useful is in
  // `out` then.
  [[nodiscard]] virtual bool CopyValue(char* out) const = 0;
  // Holds the item's value so that it can be read after OnItem returns, without a copy
  // (value_hold.h): for values worth sending straight from item memory, and for decoding a
  // compressed one outside the cache's lock. An item served from a copy read from flash cannot
  // be held: the hold is empty (!held()), and the value must be copied (CopyValue) in OnItem.
  virtual ValueHold Hold() const = 0;
  // Seconds until the item expires; -1 if it never does.
  virtual int64_t ttl_remaining() const = 0;
  // True if the item was read since it was written (before this read).
  virtual bool fetched() const = 0;
  virtual ItemMeta meta() const = 0;

  virtual ~ItemView() = default;
};

class ItemSink {
 public:
  // Called at most once per lookup, on a hit, while the item cannot change or be reclaimed (under
  // its stripe lock: keep it short, and Hold() what is to be read at length). Must not call back
  // into the cache.
  virtual void OnItem(const ItemView& item) = 0;

  virtual ~ItemSink() = default;
};

// flush_all. memcached's flush with a time invalidates whole seconds (oldest_live): every item
// stored up to the end of the second it takes effect in, so a store during that second answers
// as usual but its item is invisible at once. Its flush without one invalidates exactly what was
// stored before it.
struct FlushRequest {
  uint32_t delay_seconds = 0;  // it takes effect at the start of the second this far from now
  bool whole_second = false;   // what is stored during that second is flushed too
  // False for a flush the ChangeObserver must not be told of (one applied from a peer: see
  // Cache::SuppressChanges).
  bool observed = true;
};

// A write with every option of the meta protocol's ms.
struct WriteRequest {
  StoreMode mode = StoreMode::kSet;
  std::string_view key;
  std::string_view value;
  uint32_t flags = 0;
  Exptime exptime = 0;
  // kCas: the token the client read. kAppend/kPrepend: if non-zero, the item's CAS must be this
  // one (kExists otherwise).
  uint64_t cas = 0;
  // kCas: an older token than the item's CAS stores too, but the new version is stale, and keeps
  // the old one's expiry and win state (meta I). Older means lower, as memcached's CAS counter
  // grows with time; a CAS derived from a location does not, so any CAS the cache derived
  // before counts as older than one it derived (see CacheCore::Older).
  bool invalidate = false;
  // kAppend/kPrepend on a missing key: store `value` as a new item expiring at vivify_exptime,
  // with `flags` (meta N).
  bool vivify = false;
  Exptime vivify_exptime = 0;
  std::optional<uint64_t> new_cas;  // meta E: the new version's CAS, instead of a fresh one
  // The key came base64-encoded. Every write records how it named the key, for replies that
  // echo it (the last write decides).
  bool key_binary = false;
};

struct WriteOutcome {
  uint64_t cas = 0;         // on kStored: the new version's CAS
  uint32_t value_size = 0;  // on kStored: the new version's value size (append: the whole)
};

// A read with the meta protocol's options (mg, me). Besides what the options ask, a read of a
// stale item wins the right to recache it (W) if nobody has since it was invalidated.
struct ReadOptions {
  bool count_access = true;  // false (meta u): the access counter and time are left alone
  bool can_win = true;       // false (me, and gat): takes no win, whatever the item's state
  // meta T: gives a present item this exptime, as gat does, keeping its CAS.
  bool touch = false;
  Exptime touch_exptime = 0;
  // meta N: on a miss, creates an empty item with flags 0 expiring at vivify_exptime, and this
  // reader wins. Counts as a hit.
  bool vivify = false;
  Exptime vivify_exptime = 0;
  // meta R: the reader wins if nobody has since the item was written or invalidated, and the item
  // expires before recache_exptime would; against the expiry T gives it if recache_after_touch.
  bool recache = false;
  Exptime recache_exptime = 0;
  bool recache_after_touch = false;
  std::optional<uint64_t> new_cas;  // meta E: the CAS of an item created by vivify
  bool key_binary = false;          // the key came base64-encoded (kept by a created item)
  // The caller can wait for flash (Cache::AllowFlashWaits): a key on flash whose bytes are not in
  // the page cache makes the read end kWaitForFlash, with no effect, instead of reading the
  // device while the calling thread waits.
  bool may_wait_for_flash = false;
};

// Bytes of a flash device that a read needs and the page cache does not hold: read them through
// `fd` (a buffered descriptor, so that the page cache keeps them), then run the read again.
struct FlashWait {
  int fd = -1;
  uint64_t offset = 0;
  uint32_t length = 0;
};

// A delete with every option of md.
struct DeleteRequest {
  std::string_view key;
  std::optional<uint64_t> cas;  // if given, the item's CAS must be this one (kExists otherwise)
  // meta I: instead of removing the item, mark it stale with a new CAS and no winner yet.
  bool invalidate = false;
  // meta x: instead of removing the item, replace it with an empty value with `flags`, expiring
  // at `exptime` (never if !touch), keeping its CAS unless invalidated.
  bool drop_value = false;
  uint32_t flags = 0;
  bool touch = false;  // meta T: with invalidate or drop_value, the new exptime
  Exptime exptime = 0;
  std::optional<uint64_t> new_cas;  // meta E: the CAS of what is left
};

// incr/decr with every option of ma.
struct ArithRequest {
  std::string_view key;
  bool increment = true;
  uint64_t delta = 1;
  uint64_t cas = 0;    // if non-zero, the item's CAS must be this one (kExists otherwise)
  bool touch = false;  // meta T: the exptime of the changed item
  Exptime touch_exptime = 0;
  // meta N, J: on a miss, create the item with the value `initial` (delta not applied), flags 0,
  // expiring at vivify_exptime.
  bool vivify = false;
  Exptime vivify_exptime = 0;
  uint64_t initial = 0;
  std::optional<uint64_t> new_cas;  // meta E
  bool key_binary = false;
};

struct ArithOutcome {
  uint64_t value = 0;
  uint64_t cas = 0;
  int64_t ttl_before = -1;  // seconds until the item expired before the change; -1 never or created
  bool created = false;
};

// One item as a walk of the cache copies it out (Cache::Walk): what stats cachedump and
// lru_crawler metadump show of it.
struct WalkedItem {
  int64_t expires_at = 0;   // the Unix time it expires at; 0 if never
  int64_t last_access = 0;  // the Unix time its segment was last read or written (docs/storage.md)
  uint64_t cas = 0;
  uint32_t flags = 0;
  uint32_t value_size = 0;    // the value's length as clients see it
  uint32_t stored_bytes = 0;  // what it costs in item memory: header, key and value
  bool fetched = false;       // read since it was written
  bool key_binary = false;    // its key came base64-encoded (meta b)
  uint32_t key_offset = 0;    // where WalkBatch::key finds its key
  uint8_t key_size = 0;
};

// The items one step of a walk copied out, with their keys; reused from step to step.
class WalkBatch {
 public:
  const std::vector<WalkedItem>& items() const { return items_; }
  std::string_view key(const WalkedItem& item) const {
    return std::string_view(keys_).substr(item.key_offset, item.key_size);
  }
  void Clear() {
    items_.clear();
    keys_.clear();
  }
  void Add(WalkedItem item, std::string_view key) {
    item.key_offset = static_cast<uint32_t>(keys_.size());
    item.key_size = static_cast<uint8_t>(key.size());
    keys_.append(key);
    items_.push_back(item);
  }

 private:
  std::vector<WalkedItem> items_;
  std::string keys_;
};

// Where a walk stands: every item of the cache lies on one side of it, by its key's hash. A new
// cursor starts at the beginning.
struct WalkCursor {
  uint64_t position = 0;
  bool done = false;
};

class Cache {
 public:
  // Per-thread state: the segments this thread appends to and its counters. Opaque to callers;
  // complete here so that a caller's std::unique_ptr<Context> can destroy it.
  class Context {
   public:
    virtual ~Context() = default;
  };

  // Makes the cache and reserves its memory; an error says what could not be had (a -m larger
  // than the address space allows, say), and leaves *cache as it was.
  static Status Create(const CacheOptions& options, std::unique_ptr<Cache>* cache);
  virtual ~Cache() = default;

  virtual std::unique_ptr<Context> NewContext() = 0;

  // Called about once a second on the thread that owns `ctx`: hands over the segments the context
  // holds open that hold nothing valid any more (flushed, or every item expired), so that they are
  // reclaimed, and their items leave curr_items and bytes, even if its thread writes no more.
  virtual void Tick(Context& ctx) = 0;

  // Stores request.value under request.key as request.mode and its options ask. `outcome` (may be
  // null) receives the new version's CAS and value size on kStored.
  virtual StoreResult Store(Context& ctx, const WriteRequest& request, WriteOutcome* outcome) = 0;

  // Calls sink.OnItem on a hit, or on the item that options.vivify created. Counts the hit in the
  // item's access counter unless options say not to. gat is a Get with options.touch (the item
  // keeps its CAS, as in memcached) and can_win false.
  virtual LookupResult Get(Context& ctx, std::string_view key, const ReadOptions& options,
                           ItemSink& sink) = 0;

  // Sets a new exptime; the item keeps its CAS.
  virtual TouchResult Touch(Context& ctx, std::string_view key, Exptime exptime) = 0;

  // Removes the item, or (meta I, x) marks it stale or empties it, as the request asks.
  virtual DeleteResult Delete(Context& ctx, const DeleteRequest& request) = 0;

  // incr (or decr) by delta, as memcached does: incr wraps at 2^64, decr stops at 0, and a
  // shorter result keeps the length of the old value, padded with trailing spaces.
  virtual ArithResult Arithmetic(Context& ctx, const ArithRequest& request,
                                 ArithOutcome* outcome) = 0;

  // Invalidates every item stored before now + delay_seconds once that time comes (and during
  // that second, with whole_second). O(1).
  virtual void FlushAll(const FlushRequest& request) = 0;

  // While suppressed, the changes made through `ctx` are not reported to the ChangeObserver
  // (CacheOptions::change_observer): a thread applying changes that came from a peer suppresses
  // them around each, so that they are not sent on again.
  virtual void SuppressChanges(Context& ctx, bool suppress) = 0;
  virtual bool ChangesSuppressed(const Context& ctx) const = 0;

  // cache_memlimit: changes the memory budget. Lowering it below what is in use takes effect as
  // segments are evicted. Returns false if the value is too small to hold a segment.
  virtual bool SetMemoryLimit(size_t bytes) = 0;

  // One step of a walk over every valid item (stats cachedump, lru_crawler metadump): replaces
  // the batch's items with the next ones after `cursor` and moves the cursor past them; sets
  // cursor->done at the end. A step copies about max_items (a hash bucket's worth more at most),
  // fewer or none if it ends or has passed over many empty buckets; call it until done. Each stripe
  // of the index is locked only while its items are copied, so a walk stalls no request and holds
  // no more than a batch. An item present from the first step to the last is seen exactly once; one
  // stored or removed meanwhile, at most once. Expired and flushed items are not seen. Counts no
  // access.
  virtual void Walk(WalkCursor* cursor, size_t max_items, WalkBatch* batch) = 0;

  virtual CacheStats Stats() const = 0;
  virtual void ResetStats() = 0;

  // Reads of flash that would wait for the device. A thread that can read flash asynchronously
  // (a worker with a flash reader) allows its context to wait; Gets on it that ask to
  // (ReadOptions::may_wait_for_flash) then end kWaitForFlash where they would block, and
  // TakeFlashWait returns (and forgets) the bytes the last one needed. Once the caller has read
  // them into the page cache, SetFlashWaitServed(wait) makes the next Get on the context read
  // from the device, blocking, whatever the page cache lost again up to the end of `wait` (or on
  // another device), so that the read that waited always progresses; that Get forgets it, and so
  // does SetFlashWaitServed(nullopt). A caller that cannot wait asynchronously may call
  // SetFlashWaitServed without reading: the Get that follows then reads those bytes blocking.
  virtual void AllowFlashWaits(Context& ctx) = 0;
  virtual std::optional<FlashWait> TakeFlashWait(Context& ctx) = 0;
  virtual void SetFlashWaitServed(Context& ctx, std::optional<FlashWait> wait) = 0;
  // A graceful stop with a memory file (-e): syncs the file and saves, next to it, what the next
  // start needs to restore every live item (docs/warm-restart.md). Ok, doing nothing, without a
  // memory file. REQUIRES: no operation in flight, and none after it but the destructor.
  virtual Status SaveForRestart() = 0;
};

}  // namespace mnemo::storage
