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
#include <string>
#include <string_view>

namespace mnemo::storage {

enum class EvictionPolicy : uint8_t {
  kMerge,  // Segcache-style: merge the oldest segments, keeping items read since written
  kFifo,   // drop the oldest segment whole
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
};

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
};

enum class [[nodiscard]] DeleteResult : uint8_t{kDeleted, kNotFound, kExists};

enum class [[nodiscard]] ArithResult : uint8_t{
    kOk,
    kNotFound,
    kNonNumeric,  // the value is not a number as memcached's safe_strtoull reads it (empty, not
                  // decimal, or above 2^64-1; leading and trailing whitespace allowed)
    kNoMemory,
};

enum class [[nodiscard]] TouchResult : uint8_t{kTouched, kNotFound};

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
  // Seconds until the item expires; -1 if it never does.
  virtual int64_t ttl_remaining() const = 0;
  // True if the item was read since it was written.
  virtual bool fetched() const = 0;

  virtual ~ItemView() = default;
};

class ItemSink {
 public:
  // Called at most once per lookup, on a hit, while the item cannot change or be reclaimed. Must
  // not call back into the cache.
  virtual void OnItem(const ItemView& item) = 0;

  virtual ~ItemSink() = default;
};

// Counters of the engine, summed over threads when read. Names follow memcached's stats.
struct CacheStats {
  uint64_t curr_items = 0;
  uint64_t total_items = 0;
  uint64_t bytes = 0;  // bytes of live items (header, key and value)
  uint64_t limit_maxbytes = 0;
  uint64_t evictions = 0;          // live, unexpired items dropped to make room
  uint64_t reclaimed = 0;          // expired items whose memory was reused
  uint64_t expired_unfetched = 0;  // ...of which never read
  uint64_t evicted_unfetched = 0;  // evicted items never read
  uint64_t segment_size = 0;
  uint64_t segments_total = 0;   // segments the pool may hold (-m / segment_size)
  uint64_t segments_in_use = 0;  // holding items (open or sealed)
  uint64_t segments_free = 0;    // taken from the OS and ready for reuse
  uint64_t segment_merges = 0;
  uint64_t segment_evictions = 0;  // segments emptied by eviction (merge or FIFO)
  uint64_t segments_expired = 0;   // segments freed because all their items expired
  uint64_t items_copied_forward = 0;
  uint64_t hash_table_bytes = 0;
  uint64_t hash_power_level = 0;
  uint64_t hash_is_expanding = 0;
};

class Cache {
 public:
  // Per-thread state: the segments this thread appends to and its counters. Opaque to callers;
  // complete here so that a caller's std::unique_ptr<Context> can destroy it.
  class Context {
   public:
    virtual ~Context() = default;
  };

  static std::unique_ptr<Cache> Create(const CacheOptions& options);
  virtual ~Cache() = default;

  virtual std::unique_ptr<Context> NewContext() = 0;

  // Stores `value` under `key` as `mode` asks. For kCas, `cas` is the token the client read.
  // On kStored, *new_cas (if not null) receives the new version's CAS.
  virtual StoreResult Store(Context& ctx, StoreMode mode, std::string_view key, uint32_t flags,
                            Exptime exptime, std::string_view value, uint64_t cas,
                            uint64_t* new_cas) = 0;

  // Calls sink->OnItem on a hit. Counts the hit in the item's access counter.
  virtual LookupResult Get(Context& ctx, std::string_view key, ItemSink& sink) = 0;

  // Get and set a new exptime at once (gat/gats).
  virtual LookupResult GetAndTouch(Context& ctx, std::string_view key, Exptime exptime,
                                   ItemSink& sink) = 0;

  virtual TouchResult Touch(Context& ctx, std::string_view key, Exptime exptime) = 0;

  // With cas != 0, deletes only if the item's CAS matches (kExists otherwise).
  virtual DeleteResult Delete(Context& ctx, std::string_view key, uint64_t cas = 0) = 0;

  // incr (or decr) by delta, as memcached does: incr wraps at 2^64, decr stops at 0, and a
  // shorter result keeps the length of the old value, padded with trailing spaces.
  virtual ArithResult Arithmetic(Context& ctx, std::string_view key, bool increment, uint64_t delta,
                                 uint64_t* result, uint64_t* new_cas) = 0;

  // Invalidates every item stored before now + delay_seconds, once that time comes. O(1).
  virtual void FlushAll(uint32_t delay_seconds) = 0;

  // cache_memlimit: changes the memory budget. Lowering it below what is in use takes effect as
  // segments are evicted. Returns false if the value is too small to hold a segment.
  virtual bool SetMemoryLimit(size_t bytes) = 0;

  virtual CacheStats Stats() const = 0;
  virtual void ResetStats() = 0;
};

}  // namespace mnemo::storage
