// HashTable maps a key's hash to the location of the key's newest item. It stores no keys: a slot
// holds a tag (12 bits of the hash), the item's segment and offset, and a small access counter, so
// a lookup compares tags before it touches item memory, and the caller confirms the key.
//
// Layout: buckets of one cache line, seven slots and the index of an overflow bucket. The table
// grows by linear hashing: one bucket at a time is split into itself and its partner 2^level
// buckets above, so growth never stalls a request and never moves the table. Bucket memory is
// reserved up front (address space only) and committed by the OS as the table grows; with a
// memory file, the caller gives it (a shared file's pages: durable_index.h).
//
// Invariants:
//  (1) A key's slot is in the chain of bucket Index(hash): hash mod 2^level, or hash mod
//      2^(level+1) when that is below the split pointer.
//  (2) Bucket i and its split partner i + 2^level are guarded by the same stripe lock, because the
//      table never has fewer buckets than stripes and stripe = hash mod kStripes.
//  (3) A slot value of 0 means empty; live slots never encode 0 (tags are never 0).
//  (4) Within a chain, live slots are packed to the front: an empty slot ends the chain.
//  (5) Memory in use (buckets up to the split point, overflow buckets in use) stays within the
//      limit SetMemoryLimit sets, or within the starting buckets if those alone are more: buckets
//      stop splitting at bucket_limit, and overflow buckets are refused beyond overflow_limit, so
//      Insert fails rather than exceed it. full() turns true before that (kTargetLoad items per
//      bucket of the limit), and the cache answers it by evicting (reclaim.h), so that Insert
//      rarely fails.
//  (6) Slot words outside the chains are 0: an erase, a split and a freed overflow bucket clear
//      what they move, and a slot changes with one whole-word store. So after a crash every
//      non-zero slot word is a live slot or, for an instant of an erase, a second copy of one;
//      a bucket being split may miss some (crash_recovery.h).
//
// Thread safety: Find, Insert and Erase require the stripe lock of `hash` (StripeFor(hash)). Grow
// takes stripe locks itself and must be called with none held. Lock order: a stripe lock, then the
// overflow pool's lock.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "base/spin_lock.h"
#include "base/status.h"
#include "base/thread_annotations.h"

namespace mnemo::storage {

// Where an item lives: the segment's index in the pool and the byte offset in it.
struct ItemLocation {
  uint32_t segment = 0;  // < 2^24
  uint32_t offset = 0;   // < 2^24, so segments are at most 16 MiB

  friend bool operator==(ItemLocation, ItemLocation) = default;
};

inline constexpr uint32_t kMaxSegments = 1u << 24;
inline constexpr uint32_t kMaxSegmentSize = 1u << 24;

// One slot: [63..60] access counter, [59..48] tag, [47..24] segment, [23..0] offset.
class Slot {
 public:
  static constexpr uint32_t kMaxCounter = 15;

  bool empty() const { return bits_ == 0; }
  ItemLocation location() const {
    return {static_cast<uint32_t>(bits_ >> 24) & 0xffffff, static_cast<uint32_t>(bits_) & 0xffffff};
  }
  uint32_t counter() const { return static_cast<uint32_t>(bits_ >> 60); }
  uint32_t tag() const { return static_cast<uint32_t>(bits_ >> 48) & 0xfff; }

  // Counts a read; saturates at kMaxCounter.
  void CountAccess() {
    if (counter() < kMaxCounter) bits_ += uint64_t{1} << 60;
  }
  void ResetCounter() { bits_ &= ~(uint64_t{0xf} << 60); }
  // Points the slot at a new version of the same key; the counter starts again at 0.
  void Relocate(ItemLocation loc) { bits_ = Encode(tag(), loc, 0); }
  // Points the slot at a rewrite of the same item that counts as the same for recency (touch,
  // invalidation, incr): the counter stays.
  void MoveTo(ItemLocation loc) { bits_ = Encode(tag(), loc, counter()); }

  static uint32_t TagOf(uint64_t hash) {
    const uint32_t tag = static_cast<uint32_t>(hash >> 52);
    return tag == 0 ? 1 : tag;
  }
  static uint64_t Encode(uint32_t tag, ItemLocation loc, uint32_t counter) {
    return uint64_t{counter} << 60 | uint64_t{tag} << 48 | uint64_t{loc.segment} << 24 | loc.offset;
  }
  // The slot a word of bucket memory holds: for a crash recovery, which reads the words of a
  // table it did not build (crash_recovery.h).
  static Slot FromBits(uint64_t bits) {
    Slot slot;
    slot.bits_ = bits;
    return slot;
  }

 private:
  friend class HashTable;
  uint64_t bits_ = 0;
};
static_assert(sizeof(Slot) == 8, "a slot is one word: see docs/item-layout.md");

// Tells the table the full hash of the key stored at a location; needed to split a bucket, since
// slots keep only a tag.
class LocationHasher {
 public:
  // REQUIRES: the stripe lock guarding the slot that points at `loc` is held, so the item cannot
  // be reclaimed meanwhile.
  virtual uint64_t HashAt(ItemLocation loc) const = 0;

  virtual ~LocationHasher() = default;
};

class HashTable {
 public:
  static constexpr int kSlotsPerBucket = 7;
  static constexpr uint32_t kStripes = 1024;
  // Average items per bucket above which the table splits a bucket: a trade of memory for chain
  // length. Filled with 1.38 M small items (bench/memory_fill.py, -m 64), the table costs 14.8
  // bytes per item at 5, 13.6 at 6 and about 13 at 7, where four buckets in ten have an overflow
  // bucket; 7 is what keeps mnemod's RSS within 1.2x memcached 1.6.45's.
  static constexpr size_t kTargetLoad = 7;

  // Overflow buckets allowed per bucket of the bucket limit. With kTargetLoad items per bucket on
  // average, the counts per bucket are about Poisson(7): 40% of the buckets need one overflow
  // bucket and 0.6% two, so 0.41 per bucket at full(); the rest is headroom for the items that
  // threads with open segments add before they next look at full().
  static constexpr double kOverflowPerBucket = 0.625;

  // `initial_power`: log2 of the starting bucket count (raised to log2(kStripes) if lower).
  // `max_items`: the most items the table must be able to index; sizes the reservation, which
  // Init() makes. The memory limit starts at the reservation's.
  HashTable(int initial_power, size_t max_items, const LocationHasher* hasher);
  ~HashTable();
  HashTable(const HashTable&) = delete;
  HashTable& operator=(const HashTable&) = delete;

  // Reserves the address space for the buckets; an error says how much could not be had. Every
  // other method REQUIRES: Init() returned ok. With `memory`, the table uses those
  // reservation_bytes() instead (zeroed, as a new file's pages are; the caller keeps them mapped
  // while the table lives): buckets first, then overflow buckets, each a word per slot and one
  // for the overflow index, so that what the table writes there outlives the process
  // (durable_index.h). With `commit` too, the table touches none of that memory before
  // commit(offset, bytes) said yes for it (a file's blocks allocated, so that a full file system
  // refuses a commit rather than kill the process with SIGBUS on the first write): the starting
  // buckets at Init (an error if refused), then a chunk ahead as splits and overflow buckets need
  // it. A refused chunk stops the table's growth where it is (its limit lowered to it): full()
  // turns true and the cache evicts, as at its memory limit.
  using Commit = std::function<bool(size_t offset, size_t bytes)>;
  Status Init(void* memory = nullptr, Commit commit = nullptr);
  // Bytes of the buckets and overflow buckets the table reserves.
  size_t reservation_bytes() const { return (max_buckets_ + max_overflow_) * kBucketBytes; }
  // Bytes of a bucket: kSlotsPerBucket slot words, then the 1-based index of its overflow bucket.
  static constexpr size_t kBucketBytes = 64;

  SpinLock& StripeFor(uint64_t hash) const { return stripes_[hash % kStripes].lock; }

  // Returns the slot of `hash` for which key_matches(slot.location()) is true, or nullptr. Only
  // slots whose tag matches are offered to key_matches.
  // REQUIRES: StripeFor(hash) is held. The pointer is valid until it is released.
  template <typename KeyMatches>
  Slot* Find(uint64_t hash, KeyMatches&& key_matches) {
    const uint32_t tag = Slot::TagOf(hash);
    for (Bucket* bucket = &buckets_[Index(hash)];; bucket = OverflowBucket(bucket->next)) {
      for (Slot& slot : bucket->slots) {
        if (slot.empty()) return nullptr;
        if (slot.tag() == tag && key_matches(slot.location())) return &slot;
      }
      if (bucket->next == 0) return nullptr;
    }
  }

  // Returns the slot of `hash` that points exactly at `loc`, or nullptr. For the eviction path,
  // which knows the location and must not drop a newer version of the key.
  // REQUIRES: StripeFor(hash) is held.
  Slot* FindLocation(uint64_t hash, ItemLocation loc) {
    return Find(hash, [loc](ItemLocation at) { return at == loc; });
  }

  // Calls visit(slot) for every slot in the chain of the bucket that holds `hash`, and returns
  // the bucket's depth: the number of low bits of a hash that choose it. Every hash that agrees
  // with `hash` in those bits is in this bucket, and no other; depths only grow (splits), so a
  // walk can resume after a bucket whatever splits happen meanwhile (item_walk.h).
  // REQUIRES: StripeFor(hash) is held.
  template <typename Visit>
  uint32_t VisitBucket(uint64_t hash, Visit&& visit) {
    for (Bucket* bucket = &buckets_[Index(hash)];; bucket = OverflowBucket(bucket->next)) {
      for (const Slot& slot : bucket->slots) {
        if (slot.empty()) return Depth(hash);
        visit(slot);
      }
      if (bucket->next == 0) return Depth(hash);
    }
  }

  // Calls visit(slot) for every slot of the table. REQUIRES: no other thread uses the table (a
  // warm restart's save, once every request has finished).
  template <typename Visit>
  void ForEachSlot(Visit&& visit) const {
    const size_t count = bucket_count();
    for (size_t i = 0; i < count; ++i) {
      for (const Bucket* bucket = &buckets_[i];; bucket = OverflowBucket(bucket->next)) {
        for (const Slot& slot : bucket->slots) {
          if (slot.empty()) break;  // invariant 4: the chain ends here
          visit(slot);
        }
        if (bucket->slots[kSlotsPerBucket - 1].empty() || bucket->next == 0) break;
      }
    }
  }

  // Adds a slot for a key that has none; its counter starts at 0. Returns false when the table
  // cannot take another item (the overflow pool is exhausted).
  // REQUIRES: StripeFor(hash) is held.
  [[nodiscard]] bool Insert(uint64_t hash, ItemLocation loc);

  // Removes `slot`, which Find or FindLocation returned for `hash`.
  // REQUIRES: StripeFor(hash) is held.
  void Erase(uint64_t hash, Slot* slot);

  // Splits up to `max_splits` buckets while the load is above kTargetLoad, so that the calling
  // request pays for a bounded part of the growth. Returns at once if another thread is growing.
  // REQUIRES: no stripe lock is held by the caller.
  void Grow(int max_splits = 2);
  // Splits buckets as Grow would once `items` items were in, before they are: for a warm restart,
  // which knows how many it will insert, so that its inserts split no bucket (a split reads the
  // key of every slot it moves). REQUIRES: the table is empty; no other thread uses it.
  void Reserve(size_t items);

  // Bounds the table's memory at `bytes` (invariant 5), within the reservation. Lowering it below
  // what is in use stops growth and makes full() true until evictions bring the items down;
  // buckets already split stay.
  void SetMemoryLimit(size_t bytes);
  // The memory the table may use: the limit, or the starting buckets if those alone are more.
  size_t memory_limit() const;
  // True when the table holds as many items as it is sized for: the cache should free items
  // (evict) before it adds more.
  bool full() const { return size() >= item_limit(); }

  size_t size() const { return size_.load(std::memory_order_relaxed); }
  size_t bucket_count() const;
  // Bytes of table memory in use: buckets up to the split point, overflow buckets, stripes.
  size_t memory_bytes() const;
  // log2 of the bucket count, rounded down (memcached's hash_power_level).
  int power() const;
  // True while a level of splits is under way (memcached's hash_is_expanding).
  bool expanding() const;

 private:
  struct alignas(64) Bucket {
    Slot slots[kSlotsPerBucket];
    uint64_t next;  // 1-based index of an overflow bucket, or 0
  };
  static_assert(sizeof(Bucket) == kBucketBytes, "a bucket is one cache line");

  struct alignas(64) Stripe {
    mutable SpinLock lock;
  };

  // The table's shape, read as one word so that a reader never mixes a level with another level's
  // split pointer: level in the high 32 bits, split pointer in the low 32.
  static uint64_t PackShape(uint32_t level, uint32_t split) {
    return uint64_t{level} << 32 | split;
  }
  size_t Index(uint64_t hash) const;
  // The bits of `hash` that Index reads: level, or level + 1 below the split pointer.
  uint32_t Depth(uint64_t hash) const;
  // Buckets the table may split up to: the limit's, or the starting count if that is more.
  size_t bucket_limit() const;
  size_t item_limit() const { return bucket_limit() * kTargetLoad; }
  Bucket* OverflowBucket(uint64_t index) const { return &overflow_[index - 1]; }
  // Adds `bits` at the end of the chain of `bucket`, taking a new overflow bucket from `spare`
  // (if given and not empty) or the pool. False if one was needed and none is left.
  bool Append(Bucket* bucket, uint64_t bits, std::vector<uint64_t>* spare);
  // Returns the 1-based index of a zeroed overflow bucket, or 0 if none is left.
  uint64_t AllocateOverflow();
  void FreeOverflow(uint64_t index);
  // Splits the bucket at the split pointer into itself and its partner 2^level above.
  void SplitOne() REQUIRES(grow_lock_);
  // Whether the next split's partner bucket is committed (Init's `commit`), committing a chunk
  // if need be; if that is refused, stops the growth at the current bucket count.
  bool CommitNextBucket() REQUIRES(grow_lock_);
  // Whether overflow bucket `index` (1-based) is committed, committing a chunk if need be; if
  // that is refused, no more overflow buckets are handed out than are in use.
  bool CommitOverflow(uint64_t index) REQUIRES(overflow_lock_);

  const LocationHasher* hasher_;
  Stripe* stripes_;
  Bucket* buckets_ = nullptr;   // address space reserved for max_buckets_, committed as used
  Bucket* overflow_ = nullptr;  // address space reserved for max_overflow_
  size_t max_buckets_;          // reserved
  size_t max_overflow_;         // reserved
  size_t initial_buckets_;
  bool owns_memory_ = false;  // buckets_ and overflow_ are the table's own mappings
  Commit commit_;             // empty: all of the memory may be touched
  size_t committed_buckets_ GUARDED_BY(grow_lock_) = 0;
  uint64_t committed_overflow_ GUARDED_BY(overflow_lock_) = 0;
  std::atomic<size_t> bucket_limit_;
  std::atomic<size_t> overflow_limit_;
  std::atomic<uint64_t> shape_;
  std::atomic<size_t> size_{0};
  SpinLock grow_lock_;
  SpinLock overflow_lock_;
  uint64_t overflow_free_ GUARDED_BY(overflow_lock_) = 0;  // free list head, linked via next
  uint64_t overflow_high_ GUARDED_BY(overflow_lock_) = 0;  // overflow buckets ever handed out
  std::atomic<size_t> overflow_in_use_{0};
};

}  // namespace mnemo::storage
