#include "storage/segment_cache.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "base/clock.h"
#include "base/hash.h"
#include "storage/arithmetic.h"
#include "storage/expiry.h"
#include "storage/item_cursor.h"

namespace mnemo::storage {
namespace {

enum Counter : size_t {
  kCurrItems,
  kBytes,
  kTotalItems,
  kEvictions,
  kEvictedUnfetched,
  kReclaimed,
  kExpiredUnfetched,
  kSegmentMerges,
  kSegmentEvictions,
  kSegmentsExpired,
  kItemsCopiedForward,
  kNumCounters,
};

// Address space reserved beyond -m so that cache_memlimit can raise the limit later.
constexpr size_t kReserveFactor = 4;
constexpr size_t kMaxReserveBytes = size_t{64} << 30;
// The hash table is sized for items of at least this many bytes on average; smaller ones still
// fit (see HashTable), in longer chains.
constexpr size_t kMinAverageItemBytes = 16;
// Attempts to get a segment, each after an eviction, before answering kNoMemory: other threads
// may take the segments an eviction frees.
constexpr int kAcquireAttempts = 8;

CacheOptions Normalize(CacheOptions options) {
  size_t segment =
      std::clamp<size_t>(options.segment_size, SegmentCache::kMinSegmentSize, kMaxSegmentSize);
  while (options.memory_limit / segment < SegmentCache::kMinSegments &&
         segment / 2 >= SegmentCache::kMinSegmentSize) {
    segment /= 2;
  }
  options.segment_size = segment;
  return options;
}

size_t ReserveBytes(const CacheOptions& options) {
  const size_t wanted = std::max(options.memory_limit,
                                 std::min(options.memory_limit * kReserveFactor, kMaxReserveBytes));
  return std::min(wanted, size_t{kMaxSegments} * options.segment_size);
}

void RaiseMaxExpiry(SegmentInfo& info, uint32_t expiry) {
  uint32_t current = info.max_expiry.load(std::memory_order_relaxed);
  while (current < expiry &&
         !info.max_expiry.compare_exchange_weak(current, expiry, std::memory_order_relaxed)) {
  }
}

}  // namespace

struct SegmentCache::Totals {
  std::array<int64_t, kNumCounters> value{};
};

class SegmentCache::ThreadContext final : public Cache::Context {
 public:
  struct OpenSegment {
    uint32_t segment = kNoSegment;
    uint16_t bucket = 0;
    uint64_t last_use = 0;
  };

  explicit ThreadContext(SegmentCache* cache) : cache_(cache) {
    for (auto& counter : counters_) counter.store(0, std::memory_order_relaxed);
    cache_->Register(this);
  }
  ~ThreadContext() override {
    cache_->SealOpenSegments(*this);
    cache_->Retire(this);
  }

  // Only the owning thread adds, so a load and a store suffice; they are atomic so that Stats may
  // read them from another thread.
  void Add(Counter c, int64_t delta) {
    counters_[c].store(counters_[c].load(std::memory_order_relaxed) + delta,
                       std::memory_order_relaxed);
  }
  int64_t Read(Counter c) const { return counters_[c].load(std::memory_order_relaxed); }

  void Add(const ReclaimCounters& c) {
    Add(kEvictions, static_cast<int64_t>(c.evictions));
    Add(kEvictedUnfetched, static_cast<int64_t>(c.evicted_unfetched));
    Add(kReclaimed, static_cast<int64_t>(c.reclaimed));
    Add(kExpiredUnfetched, static_cast<int64_t>(c.expired_unfetched));
    Add(kSegmentMerges, static_cast<int64_t>(c.segment_merges));
    Add(kSegmentEvictions, static_cast<int64_t>(c.segment_evictions));
    Add(kSegmentsExpired, static_cast<int64_t>(c.segments_expired));
    Add(kItemsCopiedForward, static_cast<int64_t>(c.items_copied_forward));
    Add(kCurrItems, -static_cast<int64_t>(c.items_unlinked));
    Add(kBytes, -static_cast<int64_t>(c.bytes_unlinked));
  }

  // The open segment entry for `bucket`: its own, an unused one, or the least recently used one,
  // whose segment is sealed first.
  OpenSegment& EntryFor(uint16_t bucket) {
    OpenSegment* lru = &open_[0];
    for (OpenSegment& entry : open_) {
      if (entry.segment != kNoSegment && entry.bucket == bucket) {
        entry.last_use = ++uses_;
        return entry;
      }
      if (entry.segment == kNoSegment ||
          (lru->segment != kNoSegment && entry.last_use < lru->last_use)) {
        lru = &entry;
      }
    }
    if (lru->segment != kNoSegment) {
      cache_->Seal(lru->segment);
      lru->segment = kNoSegment;
    }
    lru->bucket = bucket;
    lru->last_use = ++uses_;
    return *lru;
  }

  std::array<OpenSegment, kMaxOpenSegments>& open() { return open_; }

 private:
  SegmentCache* cache_;
  std::array<std::atomic<int64_t>, kNumCounters> counters_;
  std::array<OpenSegment, kMaxOpenSegments> open_;
  uint64_t uses_ = 0;
};

struct SegmentCache::Found {
  Slot* slot = nullptr;
  ItemLocation loc;
  char* item = nullptr;
  ItemHeader header;
  size_t header_size = 0;
};

struct SegmentCache::Placement {
  ItemLocation loc;
  bool chained = false;
};

// The new version a rewrite writes: `header` (key and value sizes are filled in by RewriteItem),
// then the key, then prefix, the old value (if keep_value), suffix and `pad` spaces.
struct SegmentCache::Rewrite {
  ItemHeader header;
  std::string_view prefix;
  bool keep_value = true;
  std::string_view suffix;
  size_t pad = 0;
};

enum class SegmentCache::RewriteStep : uint8_t {
  kRewrite,       // write the new version described by the Rewrite
  kRefuse,        // leave the item as it is and report kRefused
  kDone,          // the plan changed the item in place
  kDoneThenDrop,  // as kDone, then unlink the item (touched with an exptime in the past)
};

enum class SegmentCache::RewriteOutcome : uint8_t {
  kDone,
  kMiss,
  kExpired,
  kFlushed,
  kRefused,
  kNoMemory,
};

class SegmentCache::View final : public ItemView {
 public:
  View(const SegmentCache& cache, const Found& found, uint32_t now, bool fetched)
      : cache_(cache), found_(found), now_(now), fetched_(fetched) {}

  std::string_view key() const override {
    return {found_.item + found_.header_size, found_.header.key_size};
  }
  uint32_t flags() const override { return found_.header.flags; }
  uint64_t cas() const override { return cache_.CasOf(found_.loc); }
  size_t value_size() const override { return found_.header.value_size; }
  bool CopyValue(char* out) const override {
    // Compression is a later issue: nothing writes a compressed item yet, and this reader cannot
    // decode one, so it reports the value as unreadable rather than return encoded bytes.
    if (found_.header.compressed) return false;
    ItemCursor cursor(cache_.pool_, found_.loc);
    cursor.Skip(found_.header_size + found_.header.key_size);
    cursor.Read(out, found_.header.value_size);
    return true;
  }
  int64_t ttl_remaining() const override {
    if (found_.header.expiry == kNeverExpires) return -1;
    return found_.header.expiry > now_ ? found_.header.expiry - now_ : 0;
  }
  bool fetched() const override { return fetched_; }

 private:
  const SegmentCache& cache_;
  const Found& found_;
  uint32_t now_;
  bool fetched_;
};

// The cache's side of eviction for one pass, on behalf of one Context (whose counters it feeds).
class SegmentCache::Reclaimer final : public SegmentReclaimer {
 public:
  explicit Reclaimer(SegmentCache* cache) : cache_(cache), now_(cache->Now()) {}

  void DropSegment(uint32_t id) override {
    Walk(id, [&](ItemLocation loc, const ItemHeader& header, uint64_t hash) {
      SpinLockGuard guard(cache_->table_.StripeFor(hash));
      Slot* slot = cache_->table_.FindLocation(hash, loc);
      if (slot != nullptr) Unlink(hash, slot, loc, header);
    });
    cache_->FreeWithChain(id);
  }

  void CollectLive(uint32_t id, std::vector<LiveItem>* items) override {
    Walk(id, [&](ItemLocation loc, const ItemHeader& header, uint64_t hash) {
      SpinLockGuard guard(cache_->table_.StripeFor(hash));
      const Slot* slot = cache_->table_.FindLocation(hash, loc);
      if (slot != nullptr) {
        items->push_back(
            {loc.offset, static_cast<uint32_t>(header.item_size()), slot->counter(), hash});
      }
    });
  }

  bool KeepOrDrop(uint32_t from, const LiveItem& item, uint32_t threshold, uint32_t dest) override {
    const ItemLocation loc{from, item.offset};
    SpinLockGuard guard(cache_->table_.StripeFor(item.hash));
    Slot* slot = cache_->table_.FindLocation(item.hash, loc);
    if (slot == nullptr) return false;
    ItemHeader header;
    ItemHeader::Decode(cache_->ItemAt(loc), &header);
    const size_t size = header.item_size();
    if (dest != kNoSegment && !cache_->Invalid(loc, header, now_) && slot->counter() > threshold &&
        cache_->pool_.Info(dest).write_offset.load(std::memory_order_relaxed) + size <=
            cache_->pool_.segment_size()) {
      SegmentInfo& to = cache_->pool_.Info(dest);
      const uint32_t offset = to.write_offset.load(std::memory_order_relaxed);
      std::memcpy(cache_->pool_.Data(dest) + offset, cache_->ItemAt(loc), size);
      to.write_offset.store(static_cast<uint32_t>(offset + size), std::memory_order_relaxed);
      RaiseMaxExpiry(to, header.expiry == kNeverExpires ? kNeverExpiresMax : header.expiry);
      slot->Relocate({dest, offset});
      cache_->LiveSub(from, size);
      cache_->LiveAdd(dest, size);
      return true;
    }
    Unlink(item.hash, slot, loc, header);
    return false;
  }

  void OpenMergeDestination(uint32_t dest, uint16_t bucket) override {
    cache_->OpenSegment(dest, bucket, now_);
  }

  bool Outdated(uint32_t id) const override {
    return cache_->pool_.Info(id).flush_gen.load(std::memory_order_relaxed) < cache_->flush_gen();
  }

  ReclaimCounters& counters() override { return counters_; }

 private:
  // Calls fn(location, header, hash) for each item of detached segment `id`, in order.
  template <typename Fn>
  void Walk(uint32_t id, Fn&& fn) {
    const uint32_t end = cache_->pool_.Info(id).write_offset.load(std::memory_order_relaxed);
    for (uint32_t offset = 0; offset < end;) {
      const ItemLocation loc{id, offset};
      const char* item = cache_->ItemAt(loc);
      ItemHeader header;
      ItemHeader::Decode(item, &header);
      fn(loc, header, HashKey(ItemKey(item, header)));
      if (header.chained) break;  // the only item of its segment chain
      offset += static_cast<uint32_t>(header.item_size());
    }
  }

  // REQUIRES: the stripe lock of `hash`.
  void Unlink(uint64_t hash, Slot* slot, ItemLocation loc, const ItemHeader& header) {
    const bool fetched = slot->counter() > 0;
    if (cache_->Invalid(loc, header, now_)) {
      ++counters_.reclaimed;
      if (!fetched) ++counters_.expired_unfetched;
    } else {
      ++counters_.evictions;
      if (!fetched) ++counters_.evicted_unfetched;
    }
    cache_->table_.Erase(hash, slot);
    cache_->LiveSub(loc.segment, header.item_size());
    ++counters_.items_unlinked;
    counters_.bytes_unlinked += header.item_size();
  }

  SegmentCache* cache_;
  uint32_t now_;
  ReclaimCounters counters_;
};

std::unique_ptr<Cache> Cache::Create(const CacheOptions& options) {
  return std::make_unique<SegmentCache>(options);
}

SegmentCache::SegmentCache(const CacheOptions& options)
    : options_(Normalize(options)),
      pool_(options_.memory_limit, ReserveBytes(options_), options_.segment_size),
      buckets_(&pool_),
      table_(options_.hash_power_initial, ReserveBytes(options_) / kMinAverageItemBytes, this),
      limit_bytes_(options_.memory_limit),
      retired_(std::make_unique<Totals>()),
      baseline_(std::make_unique<Totals>()) {
  // With -M nothing is ever evicted, and merge's destination would be a segment held for nothing.
  evictor_ = options_.eviction == EvictionPolicy::kMerge && options_.evict
                 ? NewMergeEvictor(&pool_, &buckets_, kMergeRun)
                 : NewFifoEvictor(&buckets_);
  background_ctx_ = std::make_unique<ThreadContext>(this);
  if (options_.background_thread) background_ = std::thread([this] { BackgroundLoop(); });
}

SegmentCache::~SegmentCache() {
  if (background_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(background_mu_);
      background_stop_ = true;
    }
    background_cv_.notify_one();
    background_.join();
  }
  background_ctx_.reset();
}

std::unique_ptr<Cache::Context> SegmentCache::NewContext() {
  return std::make_unique<ThreadContext>(this);
}

void SegmentCache::Register(ThreadContext* ctx) {
  std::lock_guard<std::mutex> lock(registry_mu_);
  contexts_.push_back(ctx);
}

void SegmentCache::Retire(ThreadContext* ctx) {
  std::lock_guard<std::mutex> lock(registry_mu_);
  for (size_t c = 0; c < kNumCounters; ++c) {
    retired_->value[c] += ctx->Read(static_cast<Counter>(c));
  }
  contexts_.erase(std::find(contexts_.begin(), contexts_.end(), ctx));
}

uint64_t SegmentCache::HashAt(ItemLocation loc) const {
  const char* item = ItemAt(loc);
  ItemHeader header;
  ItemHeader::Decode(item, &header);
  return HashKey(ItemKey(item, header));
}

uint32_t SegmentCache::Now() {
  const uint32_t now = MonotonicSeconds();
  uint32_t at = flush_at_.load(std::memory_order_acquire);
  if (at != 0 && now >= at && flush_at_.compare_exchange_strong(at, 0)) {
    flush_gen_.fetch_add(1, std::memory_order_acq_rel);
  }
  return now;
}

uint64_t SegmentCache::VersionOf(ItemLocation loc) const {
  return pool_.Info(loc.segment).epoch * pool_.segment_size() + loc.offset + 1;
}

bool SegmentCache::Flushed(ItemLocation loc) const {
  return pool_.Info(loc.segment).flush_gen.load(std::memory_order_relaxed) < flush_gen();
}

bool SegmentCache::Invalid(ItemLocation loc, const ItemHeader& header, uint32_t now) const {
  return IsExpired(header.expiry, now) || Flushed(loc);
}

void SegmentCache::LiveAdd(uint32_t segment, size_t size) {
  SegmentInfo& info = pool_.Info(segment);
  info.live_items.fetch_add(1, std::memory_order_relaxed);
  info.live_bytes.fetch_add(size, std::memory_order_relaxed);
}

void SegmentCache::LiveSub(uint32_t segment, size_t size) {
  SegmentInfo& info = pool_.Info(segment);
  info.live_items.fetch_sub(1, std::memory_order_release);
  info.live_bytes.fetch_sub(size, std::memory_order_relaxed);
}

bool SegmentCache::FindLocked(uint64_t hash, std::string_view key, Found* found) {
  found->slot = table_.Find(hash, [&](ItemLocation loc) {
    const char* item = ItemAt(loc);
    if (static_cast<uint8_t>(item[1]) != key.size()) return false;
    ItemHeader header;
    const size_t header_size = ItemHeader::Decode(item, &header);
    return std::memcmp(item + header_size, key.data(), key.size()) == 0;
  });
  if (found->slot == nullptr) return false;
  found->loc = found->slot->location();
  found->item = pool_.Data(found->loc.segment) + found->loc.offset;
  found->header_size = ItemHeader::Decode(found->item, &found->header);
  return true;
}

void SegmentCache::UnlinkLocked(ThreadContext& ctx, uint64_t hash, const Found& found) {
  const size_t size = found.header.item_size();
  table_.Erase(hash, found.slot);
  LiveSub(found.loc.segment, size);
  ctx.Add(kCurrItems, -1);
  ctx.Add(kBytes, -static_cast<int64_t>(size));
}

LookupResult SegmentCache::DropIfInvalid(ThreadContext& ctx, uint64_t hash, const Found& found,
                                         uint32_t now) {
  LookupResult result = LookupResult::kHit;
  if (Flushed(found.loc)) {
    result = LookupResult::kFlushed;
  } else if (IsExpired(found.header.expiry, now)) {
    result = LookupResult::kExpired;
  }
  if (result != LookupResult::kHit) UnlinkLocked(ctx, hash, found);
  return result;
}

bool SegmentCache::LinkLocked(ThreadContext& ctx, uint64_t hash, const Found* old, ItemLocation loc,
                              size_t size) {
  if (old != nullptr) {
    const size_t old_size = old->header.item_size();
    LiveSub(old->loc.segment, old_size);
    old->slot->Relocate(loc);
    ctx.Add(kBytes, static_cast<int64_t>(size) - static_cast<int64_t>(old_size));
  } else {
    if (!table_.Insert(hash, loc)) return false;
    ctx.Add(kCurrItems, 1);
    ctx.Add(kBytes, static_cast<int64_t>(size));
  }
  LiveAdd(loc.segment, size);
  return true;
}

void SegmentCache::OpenSegment(uint32_t id, uint16_t bucket, uint32_t now) {
  SegmentInfo& info = pool_.Info(id);
  info.write_offset.store(0, std::memory_order_relaxed);
  info.live_items.store(0, std::memory_order_relaxed);
  info.live_bytes.store(0, std::memory_order_relaxed);
  info.max_expiry.store(bucket == 0 ? kNeverExpiresMax : 0, std::memory_order_relaxed);
  info.epoch = NextEpoch();
  info.create_time = now;
  info.flush_gen.store(flush_gen(), std::memory_order_relaxed);
  info.ttl_bucket = bucket;
  info.chain_head = false;
  info.chain_next = kNoSegment;
  info.prev = kNoSegment;
  info.next = kNoSegment;
  info.state.store(SegmentState::kOpen, std::memory_order_release);
}

void SegmentCache::FreeWithChain(uint32_t id) {
  uint32_t next = pool_.Info(id).chain_next;
  pool_.Free(id);
  while (next != kNoSegment) {
    const uint32_t after = pool_.Info(next).chain_next;
    pool_.Free(next);
    next = after;
  }
}

void SegmentCache::Seal(uint32_t id) {
  // Only the owner links items into a segment it has open, so no item of it can become live
  // again: with none live now, nothing can reach it, and it is free at once.
  if (pool_.Info(id).live_items.load(std::memory_order_acquire) == 0) {
    FreeWithChain(id);
  } else {
    buckets_.Append(id);
  }
}

void SegmentCache::SealOpenSegments(ThreadContext& ctx) {
  for (auto& entry : ctx.open()) {
    if (entry.segment != kNoSegment) Seal(entry.segment);
    entry.segment = kNoSegment;
  }
}

uint32_t SegmentCache::AcquireSegment(ThreadContext& ctx, SegmentState state) {
  for (int attempt = 0; attempt < kAcquireAttempts; ++attempt) {
    uint32_t id = pool_.Allocate(state);
    if (id != kNoSegment) {
      if (options_.evict && pool_.available() < LowWater()) WakeBackground();
      return id;
    }
    std::lock_guard<std::mutex> lock(evict_mu_);
    id = pool_.Allocate(state);
    if (id != kNoSegment) return id;
    if (!EvictOne(ctx)) return kNoSegment;
  }
  return kNoSegment;
}

uint32_t SegmentCache::LowWater() const {
  return std::min<uint32_t>(pool_.limit() / kMinSegments, kMaxFreeAhead);
}

bool SegmentCache::EvictOne(ThreadContext& ctx) {
  // A segment whose items all expired or were flushed goes first: freeing it loses nothing.
  const uint32_t now = Now();
  const uint32_t dead = buckets_.DetachDead(now, flush_gen());
  Reclaimer reclaimer(this);
  bool freed = false;
  if (dead != kNoSegment) {
    const SegmentInfo& info = pool_.Info(dead);
    const uint32_t max_expiry = info.max_expiry.load(std::memory_order_relaxed);
    if (max_expiry != kNeverExpiresMax && max_expiry <= now &&
        info.flush_gen.load(std::memory_order_relaxed) == flush_gen()) {
      ++reclaimer.counters().segments_expired;
    }
    reclaimer.DropSegment(dead);
    freed = true;
  } else if (options_.evict) {
    freed = evictor_->Evict(reclaimer);
  }
  ctx.Add(reclaimer.counters());
  return freed;
}

bool SegmentCache::Reserve(ThreadContext& ctx, size_t size, uint32_t expiry, uint32_t now,
                           Placement* place) {
  const size_t segment_size = pool_.segment_size();
  const uint16_t bucket = TtlBuckets::BucketFor(expiry, now);
  const uint32_t expiry_max = expiry == kNeverExpires ? kNeverExpiresMax : expiry;
  if (size > segment_size) {
    // A large item: a chain of whole segments, the head first. One more than the chain must stay
    // for the others' open segments, or storing it would empty the cache and still fail.
    const size_t count = (size + segment_size - 1) / segment_size;
    if (count + 1 > pool_.limit()) return false;
    const uint32_t head = AcquireSegment(ctx, SegmentState::kOpen);
    if (head == kNoSegment) return false;
    OpenSegment(head, bucket, now);
    SegmentInfo& info = pool_.Info(head);
    info.chain_head = true;
    info.write_offset.store(static_cast<uint32_t>(segment_size), std::memory_order_relaxed);
    RaiseMaxExpiry(info, expiry_max);
    uint32_t tail = head;
    for (size_t i = 1; i < count; ++i) {
      const uint32_t next = AcquireSegment(ctx, SegmentState::kChained);
      if (next == kNoSegment) {
        FreeWithChain(head);
        return false;
      }
      pool_.Info(tail).chain_next = next;
      tail = next;
    }
    place->loc = {head, 0};
    place->chained = true;
    return true;
  }
  ThreadContext::OpenSegment& entry = ctx.EntryFor(bucket);
  if (entry.segment != kNoSegment) {
    const SegmentInfo& info = pool_.Info(entry.segment);
    // A segment opened before a flush holds only invalid items; a new one starts valid.
    if (info.flush_gen.load(std::memory_order_relaxed) != flush_gen() ||
        info.write_offset.load(std::memory_order_relaxed) + size > segment_size) {
      Seal(entry.segment);
      entry.segment = kNoSegment;
    }
  }
  if (entry.segment == kNoSegment) {
    const uint32_t id = AcquireSegment(ctx, SegmentState::kOpen);
    if (id == kNoSegment) return false;
    OpenSegment(id, bucket, now);
    entry.segment = id;
  }
  SegmentInfo& info = pool_.Info(entry.segment);
  const uint32_t offset = info.write_offset.load(std::memory_order_relaxed);
  info.write_offset.store(static_cast<uint32_t>(offset + size), std::memory_order_relaxed);
  RaiseMaxExpiry(info, expiry_max);
  place->loc = {entry.segment, offset};
  place->chained = false;
  return true;
}

void SegmentCache::Finish(const Placement& place, bool linked) {
  if (!place.chained) return;
  if (linked) {
    Seal(place.loc.segment);
  } else {
    FreeWithChain(place.loc.segment);
  }
}

ItemCursor SegmentCache::WriteHeader(const Placement& place, ItemHeader header,
                                     std::string_view key) {
  header.chained = place.chained;
  char bytes[kItemMaxHeader];
  const size_t size = header.Encode(bytes);
  ItemCursor cursor(pool_, place.loc);
  cursor.Write(bytes, size);
  cursor.Write(key.data(), key.size());
  return cursor;
}

namespace {

StoreResult CheckMode(StoreMode mode, bool present, uint64_t version, uint64_t cas, bool use_cas) {
  switch (mode) {
    case StoreMode::kSet:
    case StoreMode::kAppend:
    case StoreMode::kPrepend:
      return StoreResult::kStored;
    case StoreMode::kAdd:
      return present ? StoreResult::kNotStored : StoreResult::kStored;
    case StoreMode::kReplace:
      return present ? StoreResult::kStored : StoreResult::kNotStored;
    case StoreMode::kCas:
      if (!present) return StoreResult::kNotFound;
      // With -C an item has no CAS to match, so memcached answers EXISTS to every cas.
      return use_cas && version == cas ? StoreResult::kStored : StoreResult::kExists;
  }
  return StoreResult::kNotStored;
}

}  // namespace

StoreResult SegmentCache::Store(Context& context, StoreMode mode, std::string_view key,
                                uint32_t flags, Exptime exptime, std::string_view value,
                                uint64_t cas, uint64_t* new_cas) {
  auto& ctx = static_cast<ThreadContext&>(context);
  if (key.empty() || key.size() > kMaxKeySize) return StoreResult::kNotStored;
  const uint64_t hash = HashKey(key);
  const uint32_t now = Now();
  if (value.size() > options_.item_size_max) {
    // As memcached: a set that cannot be stored must not leave the old value readable.
    if (mode == StoreMode::kSet) {
      SpinLockGuard guard(table_.StripeFor(hash));
      Found found;
      if (FindLocked(hash, key, &found)) UnlinkLocked(ctx, hash, found);
    }
    return StoreResult::kTooLarge;
  }
  if (mode == StoreMode::kAppend || mode == StoreMode::kPrepend) {
    return Concatenate(ctx, mode, key, value, new_cas);
  }
  const uint32_t expiry = ExpiryFromExptime(exptime, now, WallSeconds());
  if (IsExpired(expiry, now)) return StoreExpired(ctx, mode, key, hash, cas, now);

  ItemHeader header;
  header.value_size = static_cast<uint32_t>(value.size());
  header.flags = flags;
  header.expiry = expiry;
  header.key_size = static_cast<uint8_t>(key.size());
  const size_t size = header.item_size();
  Placement place;
  if (!Reserve(ctx, size, expiry, now, &place)) return StoreResult::kNoMemory;
  ItemCursor cursor = WriteHeader(place, header, key);
  cursor.Write(value.data(), value.size());

  StoreResult result;
  bool linked = false;
  {
    SpinLockGuard guard(table_.StripeFor(hash));
    Found found;
    const bool present =
        FindLocked(hash, key, &found) && DropIfInvalid(ctx, hash, found, now) == LookupResult::kHit;
    result = CheckMode(mode, present, present ? VersionOf(found.loc) : 0, cas, options_.use_cas);
    if (result == StoreResult::kStored) {
      linked = LinkLocked(ctx, hash, present ? &found : nullptr, place.loc, size);
      if (!linked) result = StoreResult::kNoMemory;
      if (linked && new_cas != nullptr) *new_cas = CasOf(place.loc);
    }
  }
  Finish(place, linked);
  if (linked) {
    ctx.Add(kTotalItems, 1);
    table_.Grow();
  }
  return result;
}

StoreResult SegmentCache::StoreExpired(ThreadContext& ctx, StoreMode mode, std::string_view key,
                                       uint64_t hash, uint64_t cas, uint32_t now) {
  // memcached stores the item and it is invisible at once: the mode's checks decide the answer,
  // and a success only removes the old version.
  SpinLockGuard guard(table_.StripeFor(hash));
  Found found;
  const bool present =
      FindLocked(hash, key, &found) && DropIfInvalid(ctx, hash, found, now) == LookupResult::kHit;
  const StoreResult result =
      CheckMode(mode, present, present ? VersionOf(found.loc) : 0, cas, options_.use_cas);
  if (result == StoreResult::kStored) {
    if (present) UnlinkLocked(ctx, hash, found);
    ctx.Add(kTotalItems, 1);
  }
  return result;
}

// A read-modify-write without holding a lock across the allocation (invariant 3): look at the
// current version under the stripe lock and let `plan` describe the new one; write it outside the
// lock; lock again and swap it in only if the key still has the version that was looked at (its
// CAS, unique per version, so a reused location cannot fool the check). Otherwise the new bytes
// are dead and the loop starts over with the newer version.
template <typename Plan>
SegmentCache::RewriteOutcome SegmentCache::RewriteItem(ThreadContext& ctx, std::string_view key,
                                                       uint64_t hash, uint32_t now, Plan&& plan,
                                                       ItemSink* sink, uint64_t* new_cas) {
  SpinLock& stripe = table_.StripeFor(hash);
  for (;;) {
    Rewrite rewrite;
    uint64_t version = 0;
    uint32_t old_value_size = 0;
    bool fetched = false;
    {
      SpinLockGuard guard(stripe);
      Found found;
      if (!FindLocked(hash, key, &found)) return RewriteOutcome::kMiss;
      switch (DropIfInvalid(ctx, hash, found, now)) {
        case LookupResult::kHit:
          break;
        case LookupResult::kMiss:
          return RewriteOutcome::kMiss;
        case LookupResult::kExpired:
          return RewriteOutcome::kExpired;
        case LookupResult::kFlushed:
          return RewriteOutcome::kFlushed;
      }
      rewrite.header = found.header;
      rewrite.header.compressed = false;
      const RewriteStep step = plan(found, &rewrite);
      fetched = found.slot->counter() > 0;
      switch (step) {
        case RewriteStep::kRewrite:
          break;
        case RewriteStep::kRefuse:
          return RewriteOutcome::kRefused;
        case RewriteStep::kDone:
        case RewriteStep::kDoneThenDrop:
          found.slot->CountAccess();
          if (sink != nullptr) sink->OnItem(View(*this, found, now, fetched));
          if (new_cas != nullptr) *new_cas = CasOf(found.loc);
          if (step == RewriteStep::kDoneThenDrop) UnlinkLocked(ctx, hash, found);
          return RewriteOutcome::kDone;
      }
      version = VersionOf(found.loc);
      old_value_size = found.header.value_size;
    }

    ItemHeader& header = rewrite.header;
    header.key_size = static_cast<uint8_t>(key.size());
    const size_t value_size = rewrite.prefix.size() + (rewrite.keep_value ? old_value_size : 0) +
                              rewrite.suffix.size() + rewrite.pad;
    header.value_size = static_cast<uint32_t>(value_size);
    const size_t size = header.item_size();
    Placement place;
    if (!Reserve(ctx, size, header.expiry, now, &place)) return RewriteOutcome::kNoMemory;
    ItemCursor cursor = WriteHeader(place, header, key);
    cursor.Write(rewrite.prefix.data(), rewrite.prefix.size());
    ItemCursor old_value_at = cursor;
    if (rewrite.keep_value) cursor.Skip(old_value_size);
    cursor.Write(rewrite.suffix.data(), rewrite.suffix.size());
    cursor.Fill(' ', rewrite.pad);

    bool linked = false;
    {
      SpinLockGuard guard(stripe);
      Found found;
      if (FindLocked(hash, key, &found) && VersionOf(found.loc) == version &&
          !Invalid(found.loc, found.header, now)) {
        if (rewrite.keep_value) {
          ItemCursor from(pool_, found.loc);
          from.Skip(found.header_size + found.header.key_size);
          old_value_at.CopyFrom(from, old_value_size);
        }
        linked = LinkLocked(ctx, hash, &found, place.loc, size);
        if (new_cas != nullptr) *new_cas = CasOf(place.loc);
        if (sink != nullptr) {
          Found now_found;
          FindLocked(hash, key, &now_found);
          now_found.slot->CountAccess();
          sink->OnItem(View(*this, now_found, now, fetched));
        }
      }
    }
    Finish(place, linked);
    if (linked) return RewriteOutcome::kDone;
  }
}

StoreResult SegmentCache::Concatenate(ThreadContext& ctx, StoreMode mode, std::string_view key,
                                      std::string_view value, uint64_t* new_cas) {
  const uint64_t hash = HashKey(key);
  const uint32_t now = Now();
  const RewriteOutcome outcome = RewriteItem(
      ctx, key, hash, now,
      [&](const Found& old, Rewrite* rewrite) {
        if (old.header.value_size + value.size() > options_.item_size_max) {
          return RewriteStep::kRefuse;
        }
        (mode == StoreMode::kAppend ? rewrite->suffix : rewrite->prefix) = value;
        return RewriteStep::kRewrite;
      },
      nullptr, new_cas);
  switch (outcome) {
    case RewriteOutcome::kDone:
      ctx.Add(kTotalItems, 1);
      return StoreResult::kStored;
    case RewriteOutcome::kNoMemory:
      return StoreResult::kNoMemory;
    case RewriteOutcome::kMiss:
    case RewriteOutcome::kExpired:
    case RewriteOutcome::kFlushed:
    case RewriteOutcome::kRefused:
      return StoreResult::kNotStored;
  }
  return StoreResult::kNotStored;
}

ArithResult SegmentCache::Arithmetic(Context& context, std::string_view key, bool increment,
                                     uint64_t delta, uint64_t* result, uint64_t* new_cas) {
  auto& ctx = static_cast<ThreadContext&>(context);
  if (key.empty() || key.size() > kMaxKeySize) return ArithResult::kNotFound;
  const uint64_t hash = HashKey(key);
  const uint32_t now = Now();
  char digits[kMaxCounterDigits];
  uint64_t value = 0;
  const RewriteOutcome outcome = RewriteItem(
      ctx, key, hash, now,
      [&](const Found& old, Rewrite* rewrite) {
        // A chained item is far too long to be a number (memcached refuses chunked items too).
        if (old.header.value_size == 0 || old.header.chained || old.header.compressed) {
          return RewriteStep::kRefuse;
        }
        const std::string_view text(old.item + old.header_size + old.header.key_size,
                                    old.header.value_size);
        if (!ParseCounter(text, &value)) return RewriteStep::kRefuse;
        value = ApplyDelta(value, increment, delta);
        const size_t length = FormatCounter(value, 0, digits);
        rewrite->prefix = {digits, length};
        rewrite->keep_value = false;
        rewrite->pad = old.header.value_size > length ? old.header.value_size - length : 0;
        return RewriteStep::kRewrite;
      },
      nullptr, new_cas);
  switch (outcome) {
    case RewriteOutcome::kDone:
      *result = value;
      return ArithResult::kOk;
    case RewriteOutcome::kRefused:
      return ArithResult::kNonNumeric;
    case RewriteOutcome::kNoMemory:
      return ArithResult::kNoMemory;
    case RewriteOutcome::kMiss:
    case RewriteOutcome::kExpired:
    case RewriteOutcome::kFlushed:
      return ArithResult::kNotFound;
  }
  return ArithResult::kNotFound;
}

LookupResult SegmentCache::TouchImpl(ThreadContext& ctx, std::string_view key, Exptime exptime,
                                     ItemSink* sink) {
  const uint64_t hash = HashKey(key);
  const uint32_t now = Now();
  const uint32_t expiry = ExpiryFromExptime(exptime, now, WallSeconds());
  const RewriteOutcome outcome = RewriteItem(
      ctx, key, hash, now,
      [&](const Found& old, Rewrite* rewrite) {
        // The expiry bytes can change in place when the item has them and keeps them: readers
        // read them under the stripe lock held here. The item stays in its segment's TTL bucket,
        // whose max expiry is raised so that the segment does not expire before it.
        if (old.header.expiry != kNeverExpires && expiry != kNeverExpires) {
          RewriteExpiry(old.item, old.header, expiry);
          RaiseMaxExpiry(pool_.Info(old.loc.segment), expiry);
          return IsExpired(expiry, now) ? RewriteStep::kDoneThenDrop : RewriteStep::kDone;
        }
        if (old.header.expiry == expiry) return RewriteStep::kDone;
        if (IsExpired(expiry, now)) return RewriteStep::kDoneThenDrop;
        rewrite->header.expiry = expiry;
        return RewriteStep::kRewrite;
      },
      sink, nullptr);
  switch (outcome) {
    case RewriteOutcome::kDone:
      return LookupResult::kHit;
    case RewriteOutcome::kExpired:
      return LookupResult::kExpired;
    case RewriteOutcome::kFlushed:
      return LookupResult::kFlushed;
    case RewriteOutcome::kNoMemory:
      // The item stays with its old expiry; a gat still returns it.
      return sink != nullptr ? Get(ctx, key, *sink) : LookupResult::kMiss;
    case RewriteOutcome::kMiss:
    case RewriteOutcome::kRefused:
      return LookupResult::kMiss;
  }
  return LookupResult::kMiss;
}

LookupResult SegmentCache::Get(Context& context, std::string_view key, ItemSink& sink) {
  auto& ctx = static_cast<ThreadContext&>(context);
  if (key.empty() || key.size() > kMaxKeySize) return LookupResult::kMiss;
  const uint64_t hash = HashKey(key);
  const uint32_t now = Now();
  SpinLockGuard guard(table_.StripeFor(hash));
  Found found;
  if (!FindLocked(hash, key, &found)) return LookupResult::kMiss;
  const LookupResult result = DropIfInvalid(ctx, hash, found, now);
  if (result != LookupResult::kHit) return result;
  const bool fetched = found.slot->counter() > 0;
  found.slot->CountAccess();
  sink.OnItem(View(*this, found, now, fetched));
  return LookupResult::kHit;
}

LookupResult SegmentCache::GetAndTouch(Context& context, std::string_view key, Exptime exptime,
                                       ItemSink& sink) {
  if (key.empty() || key.size() > kMaxKeySize) return LookupResult::kMiss;
  return TouchImpl(static_cast<ThreadContext&>(context), key, exptime, &sink);
}

TouchResult SegmentCache::Touch(Context& context, std::string_view key, Exptime exptime) {
  if (key.empty() || key.size() > kMaxKeySize) return TouchResult::kNotFound;
  return TouchImpl(static_cast<ThreadContext&>(context), key, exptime, nullptr) ==
                 LookupResult::kHit
             ? TouchResult::kTouched
             : TouchResult::kNotFound;
}

DeleteResult SegmentCache::Delete(Context& context, std::string_view key, uint64_t cas) {
  auto& ctx = static_cast<ThreadContext&>(context);
  if (key.empty() || key.size() > kMaxKeySize) return DeleteResult::kNotFound;
  const uint64_t hash = HashKey(key);
  const uint32_t now = Now();
  SpinLockGuard guard(table_.StripeFor(hash));
  Found found;
  if (!FindLocked(hash, key, &found)) return DeleteResult::kNotFound;
  if (DropIfInvalid(ctx, hash, found, now) != LookupResult::kHit) return DeleteResult::kNotFound;
  if (cas != 0 && CasOf(found.loc) != cas) return DeleteResult::kExists;
  UnlinkLocked(ctx, hash, found);
  return DeleteResult::kDeleted;
}

void SegmentCache::FlushAll(uint32_t delay_seconds) {
  if (delay_seconds == 0) {
    flush_at_.store(0, std::memory_order_release);
    flush_gen_.fetch_add(1, std::memory_order_acq_rel);
  } else {
    flush_at_.store(MonotonicSeconds() + delay_seconds, std::memory_order_release);
  }
  WakeBackground();
}

bool SegmentCache::SetMemoryLimit(size_t bytes) {
  if (!pool_.SetLimit(bytes)) return false;
  limit_bytes_.store(bytes, std::memory_order_relaxed);
  return true;
}

CacheStats SegmentCache::Stats() const {
  Totals sum;
  {
    std::lock_guard<std::mutex> lock(registry_mu_);
    sum = *retired_;
    for (const ThreadContext* ctx : contexts_) {
      for (size_t c = 0; c < kNumCounters; ++c) sum.value[c] += ctx->Read(static_cast<Counter>(c));
    }
    for (size_t c = 0; c < kNumCounters; ++c) {
      if (c != kCurrItems && c != kBytes) sum.value[c] -= baseline_->value[c];
    }
  }
  auto get = [&sum](Counter c) {
    return static_cast<uint64_t>(std::max<int64_t>(sum.value[c], 0));
  };
  CacheStats stats;
  stats.curr_items = get(kCurrItems);
  stats.total_items = get(kTotalItems);
  stats.bytes = get(kBytes);
  stats.limit_maxbytes = limit_bytes_.load(std::memory_order_relaxed);
  stats.evictions = get(kEvictions);
  stats.reclaimed = get(kReclaimed);
  stats.expired_unfetched = get(kExpiredUnfetched);
  stats.evicted_unfetched = get(kEvictedUnfetched);
  stats.segment_size = pool_.segment_size();
  stats.segments_total = pool_.limit();
  stats.segments_in_use = pool_.in_use();
  stats.segments_free = pool_.free_count();
  stats.segment_merges = get(kSegmentMerges);
  stats.segment_evictions = get(kSegmentEvictions);
  stats.segments_expired = get(kSegmentsExpired);
  stats.items_copied_forward = get(kItemsCopiedForward);
  stats.hash_table_bytes = table_.memory_bytes();
  stats.hash_power_level = static_cast<uint64_t>(table_.power());
  stats.hash_is_expanding = table_.expanding() ? 1 : 0;
  return stats;
}

void SegmentCache::ResetStats() {
  std::lock_guard<std::mutex> lock(registry_mu_);
  Totals sum = *retired_;
  for (const ThreadContext* ctx : contexts_) {
    for (size_t c = 0; c < kNumCounters; ++c) sum.value[c] += ctx->Read(static_cast<Counter>(c));
  }
  *baseline_ = sum;
}

bool SegmentCache::Dead(uint32_t id, uint32_t now, bool* expired) const {
  const SegmentInfo& info = pool_.Info(id);
  if (info.state.load(std::memory_order_acquire) != SegmentState::kSealed) return false;
  const uint32_t max_expiry = info.max_expiry.load(std::memory_order_relaxed);
  const bool flushed = info.flush_gen.load(std::memory_order_relaxed) < flush_gen();
  *expired = !flushed && max_expiry != kNeverExpiresMax && max_expiry <= now;
  return *expired || flushed || info.live_items.load(std::memory_order_acquire) == 0;
}

bool SegmentCache::ReclaimIfDead(ThreadContext& ctx, uint32_t id, uint32_t now) {
  bool expired = false;
  if (!Dead(id, now, &expired) || !buckets_.Detach(id)) return false;
  Reclaimer reclaimer(this);
  if (expired) ++reclaimer.counters().segments_expired;
  reclaimer.DropSegment(id);
  ctx.Add(reclaimer.counters());
  return true;
}

void SegmentCache::RunBackgroundPass() {
  ThreadContext& ctx = *background_ctx_;
  const uint32_t now = Now();
  size_t done = 0;
  // Descriptors, not items, are scanned: a few words per segment, once a second.
  const uint32_t touched = pool_.touched();
  for (uint32_t id = 0; id < touched && done < kMaxSegmentsPerPass; ++id) {
    bool expired = false;
    if (!Dead(id, now, &expired)) continue;  // looked at without the lock, checked again under it
    std::lock_guard<std::mutex> lock(evict_mu_);
    if (ReclaimIfDead(ctx, id, now)) ++done;
  }
  if (!options_.evict) return;
  while (done < kMaxSegmentsPerPass && pool_.available() < LowWater()) {
    std::lock_guard<std::mutex> lock(evict_mu_);
    if (pool_.available() >= LowWater() || !EvictOne(ctx)) break;
    ++done;
  }
}

void SegmentCache::WakeBackground() {
  {
    std::lock_guard<std::mutex> lock(background_mu_);
    background_kick_ = true;
  }
  background_cv_.notify_one();
}

void SegmentCache::BackgroundLoop() {
  std::unique_lock<std::mutex> lock(background_mu_);
  while (!background_stop_) {
    background_cv_.wait_for(lock, std::chrono::seconds(1),
                            [this] { return background_stop_ || background_kick_; });
    if (background_stop_) break;
    background_kick_ = false;
    lock.unlock();
    RunBackgroundPass();
    lock.lock();
  }
}

}  // namespace mnemo::storage
