#include "storage/segment_cache.h"

#include <snappy.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <optional>

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
  kCompressItems,
  kCompressRejected,
  kCompressBytesIn,
  kCompressBytesOut,
  kCompressNanos,
  kDecompressItems,
  kDecompressErrors,
  kDecompressNanos,
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
// A Context keeps scratch buffers up to this size between requests; a larger one (a value
// rebuilt for append under a raised -I) is released after use.
constexpr size_t kScratchKeep = size_t{2} << 20;

int64_t NanosSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                              start)
      .count();
}

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

// Seconds until `expiry`; -1 if it is kNeverExpires.
int64_t TtlOf(uint32_t expiry, uint32_t now) {
  if (expiry == kNeverExpires) return -1;
  return expiry > now ? expiry - now : 0;
}

// Records an access to a segment at `now`; returns its last access before this one. A store at
// most once a second per segment: the descriptor's line is already in cache (the flush check
// reads it), and a hot segment's is not written on every read.
uint32_t NoteAccessAt(SegmentInfo& info, uint32_t now) {
  const uint32_t before = info.last_access.load(std::memory_order_relaxed);
  if (before < now) info.last_access.store(now, std::memory_order_relaxed);
  return before;
}

// Fills a caller's WriteOutcome, which may be null.
void Report(WriteOutcome* outcome, uint64_t cas, uint32_t value_size) {
  if (outcome == nullptr) return;
  outcome->cas = cas;
  outcome->value_size = value_size;
}

uint8_t StateBits(const ItemHeader& header) {
  return static_cast<uint8_t>((header.stale ? kItemStale : 0) |
                              (header.win_sent ? kItemWinSent : 0));
}

// Whether a reader of `header` wins the right to recache it (ReadOptions): nobody has since it
// was written or invalidated, and it is stale or, with `recache`, expires (at `expiry`) before
// `recache_expiry`.
bool Wins(const ItemHeader& header, bool recache, uint32_t expiry, uint32_t recache_expiry) {
  if (header.win_sent) return false;
  if (header.stale) return true;
  return recache && expiry != kNeverExpires && expiry < recache_expiry;
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
    Add(kBytes, static_cast<int64_t>(c.bytes_carried) - static_cast<int64_t>(c.bytes_unlinked));
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

  // A buffer that grows to the largest size asked of it, without zero-filling.
  class Scratch {
   public:
    char* Get(size_t size) {
      if (size > capacity_) {
        data_ = std::make_unique_for_overwrite<char[]>(size);
        capacity_ = size;
      }
      return data_.get();
    }
    void Trim() {
      if (capacity_ > kScratchKeep) {
        data_.reset();
        capacity_ = 0;
      }
    }

   private:
    std::unique_ptr<char[]> data_;
    size_t capacity_ = 0;
  };
  // Compressed blocks being written; a chained item's block being read; a value being rebuilt by
  // a read-modify-write. Distinct, as one operation may need all three at once.
  Scratch compressed;
  Scratch block;
  Scratch rebuilt;

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

// What a reader is told of an item beyond its current bytes (ItemMeta): its state as of before
// the read, and what the read did.
struct SegmentCache::ReadState {
  uint32_t expiry = kNeverExpires;  // before a touch
  uint32_t last_access = 0;         // of its segment, before this read
  bool fetched = false;             // its access counter was above 0
  bool win_sent = false;            // before this read
  bool win = false;                 // this read won
  bool created = false;             // this read created it
};

// The new version a rewrite writes: `header` (key and value sizes are filled in by RewriteItem),
// then the key, then prefix, the old value (if keep_value), suffix and `pad` spaces. The header
// starts as the old version's, with its state bits, but with no CAS of its own: the new version
// gets a fresh CAS unless the plan says otherwise.
struct SegmentCache::Rewrite {
  ItemHeader header;
  std::string_view prefix;
  bool keep_value = true;
  std::string_view suffix;
  size_t pad = 0;
  // The new version is the same item changed where memcached changes it in place (touch,
  // invalidation, incr): the slot keeps its access counter.
  bool keep_counter = false;
  // The rewrite is a read (touch, gat, mg T), which counts as an access unless meta u.
  bool counts_as_read = false;
  bool win = false;  // for the sink: whether the reader won
};

enum class SegmentCache::RewriteStep : uint8_t {
  kRewrite,       // write the new version described by the Rewrite
  kRefuse,        // leave the item as it is and report kRefused
  kDone,          // the plan changed the item in place
  kDoneThenDrop,  // as kDone, then unlink the item (touched with an exptime in the past)
  kDrop,          // unlink the item and report kDone (rewritten with an exptime in the past)
};

enum class SegmentCache::RewriteOutcome : uint8_t {
  kDone,
  kMiss,
  kExpired,
  kFlushed,
  kRefused,
  kNoMemory,
  kCorrupt,  // the current version's compressed block does not decode
};

class SegmentCache::View final : public ItemView {
 public:
  View(const SegmentCache& cache, ThreadContext& ctx, const Found& found, uint32_t now,
       const ReadState& state)
      : cache_(cache), ctx_(ctx), found_(found), now_(now), state_(state) {}

  std::string_view key() const override {
    return {found_.item + found_.header_size, found_.header.key_size};
  }
  uint32_t flags() const override { return found_.header.flags; }
  uint64_t cas() const override { return cache_.CasOf(found_.loc, found_.header); }
  size_t value_size() const override { return found_.header.original_size(); }
  bool CopyValue(char* out) const override { return cache_.ReadValue(ctx_, found_, out); }
  int64_t ttl_remaining() const override { return TtlOf(found_.header.expiry, now_); }
  bool fetched() const override { return state_.fetched; }
  ItemMeta meta() const override {
    ItemMeta meta;
    meta.ttl_before = TtlOf(state_.expiry, now_);
    meta.idle_seconds = now_ > state_.last_access ? now_ - state_.last_access : 0;
    meta.stored_bytes = found_.header.item_size();
    meta.stale = found_.header.stale;
    meta.win_sent = state_.win_sent;
    meta.win = state_.win;
    meta.created = state_.created;
    meta.key_binary = found_.header.key_binary;
    return meta;
  }

 private:
  const SegmentCache& cache_;
  ThreadContext& ctx_;  // the reader's: its scratch and counters
  const Found& found_;
  uint32_t now_;
  const ReadState& state_;
};

// The cache's side of eviction for one pass, on behalf of one Context (whose counters it feeds).
class SegmentCache::Reclaimer final : public SegmentReclaimer {
 public:
  explicit Reclaimer(SegmentCache* cache) : cache_(cache), now_(cache->Now()) {}

  void DropSegment(uint32_t id) override {
    UnlinkAll(id);
    cache_->FreeWithChain(id);
  }

  void UnlinkAll(uint32_t id) override {
    Walk(id, [&](ItemLocation loc, const ItemSpan&, uint64_t hash) {
      SpinLockGuard guard(cache_->table_.StripeFor(hash));
      Slot* slot = cache_->table_.FindLocation(hash, loc);
      if (slot == nullptr) return;
      ItemHeader header;
      ItemHeader::Decode(cache_->ItemAt(loc), &header);
      Unlink(hash, slot, loc, header);
    });
  }

  void CollectLive(uint32_t id, std::vector<LiveItem>* items) override {
    Walk(id, [&](ItemLocation loc, const ItemSpan& span, uint64_t hash) {
      SpinLockGuard guard(cache_->table_.StripeFor(hash));
      const Slot* slot = cache_->table_.FindLocation(hash, loc);
      if (slot == nullptr) return;
      // What its copy will take: KeepOrDrop adds the CAS the item carries from now on.
      const bool carries_cas = (item_internal::LoadInfo(cache_->ItemAt(loc)) & kItemHasCas) != 0;
      const size_t carried = cache_->options_.use_cas && !carries_cas ? sizeof(uint64_t) : 0;
      items->push_back(
          {loc.offset, static_cast<uint32_t>(span.item_size() + carried), slot->counter(), hash});
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
    // The copy keeps its version's CAS, so that a client holding it still matches: a CAS derived
    // from the old location goes into the header, 8 bytes more (invariant 4 keeps it unique).
    ItemHeader moved = header;
    if (!moved.has_cas) cache_->SetCas(&moved, cache_->VersionOf(loc));
    const size_t moved_size = moved.item_size();
    if (dest != kNoSegment && !cache_->Invalid(loc, header, now_) && slot->counter() > threshold &&
        cache_->pool_.Info(dest).write_offset.load(std::memory_order_relaxed) + moved_size <=
            cache_->pool_.segment_size()) {
      SegmentInfo& to = cache_->pool_.Info(dest);
      const uint32_t offset = to.write_offset.load(std::memory_order_relaxed);
      char* const copy = cache_->pool_.Data(dest) + offset;
      const size_t header_size = moved.Encode(copy);
      std::memcpy(copy + header_size, cache_->ItemAt(loc) + header.size(), size - header.size());
      to.write_offset.store(static_cast<uint32_t>(offset + moved_size), std::memory_order_relaxed);
      RaiseMaxExpiry(to, header.expiry == kNeverExpires ? kNeverExpiresMax : header.expiry);
      slot->Relocate({dest, offset});
      cache_->LiveSub(from, size);
      cache_->LiveAdd(dest, moved_size);
      counters_.bytes_carried += moved_size - size;
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

  bool Expired(uint32_t id) const override {
    const uint32_t max_expiry = cache_->pool_.Info(id).max_expiry.load(std::memory_order_relaxed);
    return max_expiry != kNeverExpiresMax && max_expiry <= now_;
  }

  ReclaimCounters& counters() override { return counters_; }

 private:
  // Calls fn(location, span, hash) for each item of segment `id`, in order: a detached segment, or
  // the merge destination, which only the evictor writes, under the eviction mutex its caller
  // holds. Reads only what never changes (item.h, invariant 1): other threads may be touching the
  // items meanwhile.
  template <typename Fn>
  void Walk(uint32_t id, Fn&& fn) {
    const SegmentInfo& info = cache_->pool_.Info(id);
    const uint32_t end = info.write_offset.load(std::memory_order_relaxed);
    for (uint32_t offset = 0; offset < end;) {
      const ItemLocation loc{id, offset};
      const char* item = cache_->ItemAt(loc);
      const ItemSpan span = ItemSpanAt(item);
      fn(loc, span, HashKey({item + span.header_size, span.key_size}));
      if (info.chain_head) break;  // the only item of its segment chain
      offset += static_cast<uint32_t>(span.item_size());
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

Status Cache::Create(const CacheOptions& options, std::unique_ptr<Cache>* cache) {
  auto segment_cache = std::make_unique<SegmentCache>(options);
  Status status = segment_cache->Init();
  if (!status.ok()) return status;
  *cache = std::move(segment_cache);
  return Status::Ok();
}

SegmentCache::SegmentCache(const CacheOptions& options)
    : options_(Normalize(options)),
      pool_(options_.memory_limit, ReserveBytes(options_), options_.segment_size),
      buckets_(&pool_),
      table_(options_.hash_power_initial, ReserveBytes(options_) / kMinAverageItemBytes, this),
      limit_bytes_(options_.memory_limit),
      retired_(std::make_unique<Totals>()),
      baseline_(std::make_unique<Totals>()) {}

Status SegmentCache::Init() {
  Status status = pool_.Init();
  if (status.ok()) status = table_.Init();
  if (!status.ok()) return status;
  // With -M nothing is ever evicted, and merge's destination would be a segment held for nothing.
  evictor_ = options_.eviction == EvictionPolicy::kMerge && options_.evict
                 ? NewMergeEvictor(&pool_, &buckets_, kMergeRun)
                 : NewFifoEvictor(&buckets_);
  {
    SpinLockGuard guard(dead_lock_);
    dead_.reserve(pool_.max_segments());
  }
  background_ctx_ = std::make_unique<ThreadContext>(this);
  if (options_.background_thread) background_ = std::thread([this] { BackgroundLoop(); });
  return Status::Ok();
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

void SegmentCache::Tick(Context& context) {
  auto& ctx = static_cast<ThreadContext&>(context);
  const uint32_t now = Now();
  // Only segments that hold nothing valid: sealing one with a live item would waste its free
  // space, a segment per tick for a worker that writes less often than that.
  for (auto& entry : ctx.open()) {
    if (entry.segment == kNoSegment) continue;
    const SegmentInfo& info = pool_.Info(entry.segment);
    const uint32_t max_expiry = info.max_expiry.load(std::memory_order_relaxed);
    const bool expired = max_expiry != kNeverExpiresMax && max_expiry <= now;
    if (expired || info.flush_gen.load(std::memory_order_relaxed) != flush_gen() ||
        info.live_items.load(std::memory_order_acquire) == 0) {
      Seal(entry.segment);
      entry.segment = kNoSegment;
    }
  }
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

bool SegmentCache::Older(uint64_t token, uint64_t current) const {
  if (token == current) return false;
  if (token < current) return true;
  // A derived CAS grows with the epoch of its segment, not with time: an item written later into
  // a segment opened earlier (another TTL bucket) has a lower one, and so may the CAS a touch
  // carried. So while the item's CAS is one this cache could have derived, any such CAS counts
  // as older than it; one it never issued does not.
  const uint64_t issued = next_epoch_.load(std::memory_order_relaxed) * pool_.segment_size();
  return current < issued && token < issued;
}

uint64_t SegmentCache::UnusedCas() {
  return options_.use_cas ? NextEpoch() * pool_.segment_size() + 1 : 0;
}

uint64_t SegmentCache::CasOf(ItemLocation loc, const ItemHeader& header) const {
  if (!options_.use_cas) return 0;
  return header.has_cas ? header.cas : VersionOf(loc);
}

void SegmentCache::SetCas(ItemHeader* header, std::optional<uint64_t> cas) const {
  // With -C every CAS reads as 0: carrying one would cost 8 bytes for nothing.
  header->has_cas = options_.use_cas && cas.has_value();
  header->cas = header->has_cas ? *cas : 0;
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
  info.live_bytes.fetch_sub(size, std::memory_order_relaxed);
  // Sequentially consistent, as the store of kSealed (TtlBuckets) and the load in Seal: of this
  // unlink and the seal, at least one sees the other, so a segment that dies sealed is queued.
  // (A merge destination the evictor seals is not re-checked so: if its last item goes meanwhile,
  // the background pass's scan of the descriptors finds it dead within a second.)
  if (info.live_items.fetch_sub(1, std::memory_order_seq_cst) != 1) return;
  if (info.state.load(std::memory_order_seq_cst) == SegmentState::kSealed) NoteDead(segment);
}

void SegmentCache::NoteDead(uint32_t id) {
  SpinLockGuard guard(dead_lock_);
  if (dead_.size() < dead_.capacity()) dead_.push_back(id);
}

size_t SegmentCache::ReclaimQueuedDead(ThreadContext& ctx, uint32_t now, size_t max) {
  size_t freed = 0;
  while (freed < max) {
    uint32_t id = kNoSegment;
    {
      SpinLockGuard guard(dead_lock_);
      if (dead_.empty()) break;
      id = dead_.back();
      dead_.pop_back();
    }
    if (ReclaimIfDead(ctx, id, now)) ++freed;
  }
  return freed;
}

uint32_t SegmentCache::NoteAccess(uint32_t segment, uint32_t now) {
  return NoteAccessAt(pool_.Info(segment), now);
}

bool SegmentCache::FindLocked(uint64_t hash, std::string_view key, Found* found) {
  found->slot = table_.Find(hash, [&](ItemLocation loc) {
    const char* item = ItemAt(loc);
    if (static_cast<uint8_t>(item[1]) != key.size()) return false;
    return std::memcmp(item + ItemSpanAt(item).header_size, key.data(), key.size()) == 0;
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
                              size_t size, bool keep_counter) {
  if (old != nullptr) {
    const size_t old_size = old->header.item_size();
    LiveSub(old->loc.segment, old_size);
    if (keep_counter) {
      old->slot->MoveTo(loc);
    } else {
      old->slot->Relocate(loc);
    }
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
  info.create_time.store(now, std::memory_order_relaxed);
  info.last_access.store(now, std::memory_order_relaxed);
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
  SegmentInfo& info = pool_.Info(id);
  if (info.live_items.load(std::memory_order_acquire) == 0) {
    FreeWithChain(id);
    return;
  }
  buckets_.Append(id);
  // Its last item may have been unlinked while it was still open (see LiveSub).
  if (info.live_items.load(std::memory_order_seq_cst) == 0) NoteDead(id);
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
  // A segment that holds nothing valid goes first: freeing it loses nothing. Most are found on
  // the dead queue (every item replaced or deleted), wherever they are in their bucket's chain;
  // the heads of the chains are where expired and flushed segments gather.
  const uint32_t now = Now();
  if (ReclaimQueuedDead(ctx, now, 1) > 0) return true;
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
  NoteAccessAt(info, now);
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

std::string_view SegmentCache::Compress(ThreadContext& ctx, std::string_view value,
                                        ItemHeader* header) {
  header->compressed = false;
  if (options_.compression != Compression::kSnappy || value.size() < options_.compress_min ||
      value.size() > kMaxCompressedValue) {
    return value;
  }
  const auto start = std::chrono::steady_clock::now();
  char* out = ctx.compressed.Get(snappy::MaxCompressedLength(value.size()));
  size_t length = 0;
  snappy::RawCompress(value.data(), value.size(), out, &length);
  ctx.Add(kCompressNanos, NanosSince(start));
  if (static_cast<double>(length) > options_.compress_ratio * static_cast<double>(value.size())) {
    ctx.Add(kCompressRejected, 1);
    return value;
  }
  ctx.Add(kCompressItems, 1);
  ctx.Add(kCompressBytesIn, static_cast<int64_t>(value.size()));
  ctx.Add(kCompressBytesOut, static_cast<int64_t>(length));
  header->compressed = true;
  header->raw_size = static_cast<uint32_t>(value.size());
  return {out, length};
}

bool SegmentCache::ReadValue(ThreadContext& ctx, const Found& found, char* out) const {
  const ItemHeader& header = found.header;
  ItemCursor cursor(pool_, found.loc);
  cursor.Skip(found.header_size + header.key_size);
  if (!header.compressed) {
    cursor.Read(out, header.value_size);
    return true;
  }
  const auto start = std::chrono::steady_clock::now();
  // A small item's block lies in one piece in its segment; a chained one's is gathered first.
  const char* block = found.item + found.header_size + header.key_size;
  if (header.chained) {
    char* gathered = ctx.block.Get(header.value_size);
    cursor.Read(gathered, header.value_size);
    block = gathered;
  }
  // The block's own length must be the one the header recorded, so snappy writes exactly the
  // raw_size bytes the caller has room for, and never more.
  size_t length = 0;
  const bool ok = snappy::GetUncompressedLength(block, header.value_size, &length) &&
                  length == header.raw_size && snappy::RawUncompress(block, header.value_size, out);
  ctx.block.Trim();
  ctx.Add(kDecompressNanos, NanosSince(start));
  ctx.Add(ok ? kDecompressItems : kDecompressErrors, 1);
  return ok;
}

namespace {

StoreResult CheckMode(StoreMode mode, bool present, uint64_t item_cas, uint64_t cas, bool use_cas) {
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
      // With -C an item has no CAS to match, so memcached answers EXISTS to every cas; and a
      // token of 0 matches nothing, not even an item given CAS 0 by meta E.
      return use_cas && cas != 0 && item_cas == cas ? StoreResult::kStored : StoreResult::kExists;
  }
  return StoreResult::kNotStored;
}

}  // namespace

StoreResult SegmentCache::Store(Context& context, StoreMode mode, std::string_view key,
                                uint32_t flags, Exptime exptime, std::string_view value,
                                uint64_t cas, uint64_t* new_cas) {
  if (mode == StoreMode::kAppend || mode == StoreMode::kPrepend) {
    WriteRequest request;
    request.mode = mode;
    request.key = key;
    request.value = value;
    WriteOutcome outcome;
    const StoreResult result = Store(context, request, &outcome);
    if (new_cas != nullptr && result == StoreResult::kStored) *new_cas = outcome.cas;
    return result;
  }
  // The hot path of set: the full form's, without building a request.
  auto& ctx = static_cast<ThreadContext&>(context);
  if (key.empty() || key.size() > kMaxKeySize) return StoreResult::kNotStored;
  const uint64_t hash = HashKey(key);
  const uint32_t now = Now();
  if (value.size() > options_.item_size_max) return RefuseTooLarge(ctx, mode, key, hash);
  ItemHeader header;
  header.flags = flags;
  header.expiry = ExpiryFromExptime(exptime, now, WallSeconds());
  return StoreVersion(ctx, mode, key, hash, now, header, value, cas,
                      [&](uint64_t stored_cas, uint32_t) {
                        if (new_cas != nullptr) *new_cas = stored_cas;
                      });
}

StoreResult SegmentCache::RefuseTooLarge(ThreadContext& ctx, StoreMode mode, std::string_view key,
                                         uint64_t hash) {
  // As memcached: a set that cannot be stored must not leave the old value readable.
  if (mode == StoreMode::kSet) {
    SpinLockGuard guard(table_.StripeFor(hash));
    Found found;
    if (FindLocked(hash, key, &found)) UnlinkLocked(ctx, hash, found);
  }
  return StoreResult::kTooLarge;
}

StoreResult SegmentCache::Store(Context& context, const WriteRequest& request,
                                WriteOutcome* outcome) {
  auto& ctx = static_cast<ThreadContext&>(context);
  const std::string_view key = request.key;
  if (key.empty() || key.size() > kMaxKeySize) return StoreResult::kNotStored;
  const uint64_t hash = HashKey(key);
  const uint32_t now = Now();
  if (request.value.size() > options_.item_size_max) {
    return RefuseTooLarge(ctx, request.mode, key, hash);
  }
  if (request.mode == StoreMode::kAppend || request.mode == StoreMode::kPrepend) {
    return Concatenate(ctx, request, hash, now, outcome);
  }
  if (request.mode == StoreMode::kCas && request.invalidate) {
    return StoreInvalidating(ctx, request, hash, now, outcome);
  }
  ItemHeader header;
  header.flags = request.flags;
  header.expiry = ExpiryFromExptime(request.exptime, now, WallSeconds());
  header.key_binary = request.key_binary;
  SetCas(&header, request.new_cas);
  return StoreVersion(
      ctx, request.mode, key, hash, now, header, request.value, request.cas,
      [&](uint64_t stored_cas, uint32_t value_size) { Report(outcome, stored_cas, value_size); });
}

template <typename OnStored>
StoreResult SegmentCache::StoreVersion(ThreadContext& ctx, StoreMode mode, std::string_view key,
                                       uint64_t hash, uint32_t now, ItemHeader header,
                                       std::string_view value, uint64_t cas, OnStored&& on_stored) {
  if (IsExpired(header.expiry, now)) {
    const StoreResult result = StoreExpired(ctx, mode, key, hash, cas, now);
    if (result == StoreResult::kStored) {
      // Nothing is linked, but memcached's reply still shows the CAS the item got.
      on_stored(header.has_cas ? header.cas : UnusedCas(), static_cast<uint32_t>(value.size()));
    }
    return result;
  }
  header.key_size = static_cast<uint8_t>(key.size());
  const std::string_view stored = Compress(ctx, value, &header);
  header.value_size = static_cast<uint32_t>(stored.size());
  const size_t size = header.item_size();
  Placement place;
  if (!Reserve(ctx, size, header.expiry, now, &place)) return StoreResult::kNoMemory;
  header.chained = place.chained;
  ItemCursor cursor = WriteHeader(place, header, key);
  cursor.Write(stored.data(), stored.size());

  StoreResult result;
  bool linked = false;
  {
    SpinLockGuard guard(table_.StripeFor(hash));
    Found found;
    const bool present =
        FindLocked(hash, key, &found) && DropIfInvalid(ctx, hash, found, now) == LookupResult::kHit;
    // Only cas compares the CAS: the other modes never derive it.
    const uint64_t item_cas =
        present && mode == StoreMode::kCas ? CasOf(found.loc, found.header) : 0;
    result = CheckMode(mode, present, item_cas, cas, options_.use_cas);
    if (result == StoreResult::kStored) {
      linked = LinkLocked(ctx, hash, present ? &found : nullptr, place.loc, size);
      if (linked) {
        on_stored(CasOf(place.loc, header), header.original_size());
      } else {
        result = StoreResult::kNoMemory;
      }
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
  const uint64_t item_cas = present && mode == StoreMode::kCas ? CasOf(found.loc, found.header) : 0;
  const StoreResult result = CheckMode(mode, present, item_cas, cas, options_.use_cas);
  if (result == StoreResult::kStored) {
    if (present) UnlinkLocked(ctx, hash, found);
    ctx.Add(kTotalItems, 1);
  }
  return result;
}

StoreResult SegmentCache::StoreInvalidating(ThreadContext& ctx, const WriteRequest& request,
                                            uint64_t hash, uint32_t now, WriteOutcome* outcome) {
  const uint32_t expiry = ExpiryFromExptime(request.exptime, now, WallSeconds());
  uint64_t cas = 0;
  const RewriteOutcome result = RewriteItem(
      ctx, request.key, hash, now,
      [&](Found& old, Rewrite* rewrite) {
        const uint64_t current = CasOf(old.loc, old.header);
        if (!options_.use_cas || request.cas == 0 ||
            (request.cas != current && !Older(request.cas, current))) {
          return RewriteStep::kRefuse;
        }
        ItemHeader& header = rewrite->header;
        header.flags = request.flags;
        header.key_binary = request.key_binary;
        SetCas(&header, request.new_cas);
        rewrite->prefix = request.value;
        rewrite->keep_value = false;
        if (request.cas == current) {
          // A match stores as ms with C does: a fresh item.
          header.expiry = expiry;
          header.stale = false;
          header.win_sent = false;
          return IsExpired(expiry, now) ? RewriteStep::kDrop : RewriteStep::kRewrite;
        }
        // An older token: the value is stored, but stays stale with the old expiry and winner.
        header.stale = true;
        return RewriteStep::kRewrite;
      },
      nullptr, &cas);
  switch (result) {
    case RewriteOutcome::kDone:
      ctx.Add(kTotalItems, 1);
      Report(outcome, cas, static_cast<uint32_t>(request.value.size()));
      return StoreResult::kStored;
    case RewriteOutcome::kRefused:
      return StoreResult::kExists;
    case RewriteOutcome::kCorrupt:
    case RewriteOutcome::kNoMemory:
      return StoreResult::kNoMemory;
    case RewriteOutcome::kMiss:
    case RewriteOutcome::kExpired:
    case RewriteOutcome::kFlushed:
      return StoreResult::kNotFound;
  }
  return StoreResult::kNotFound;
}

// A read-modify-write without holding a lock across the allocation (invariant 3): look at the
// current version under the stripe lock and let `plan` describe the new one; write it outside the
// lock; lock again and swap it in only if the key still has the version that was looked at (its
// location, unique per version, so a reused location cannot fool the check) in the same state
// (invariant 6). Otherwise the new bytes are dead and the loop starts over with the newer version.
template <typename Plan>
SegmentCache::RewriteOutcome SegmentCache::RewriteItem(ThreadContext& ctx, std::string_view key,
                                                       uint64_t hash, uint32_t now, Plan&& plan,
                                                       ItemSink* sink, uint64_t* new_cas) {
  SpinLock& stripe = table_.StripeFor(hash);
  for (;;) {
    Rewrite rewrite;
    ReadState read;
    uint64_t version = 0;
    uint8_t state = 0;
    uint32_t old_value_size = 0;
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
      SetCas(&rewrite.header, std::nullopt);
      read.expiry = found.header.expiry;
      read.last_access = pool_.Info(found.loc.segment).last_access.load(std::memory_order_relaxed);
      read.fetched = found.slot->counter() > 0;
      read.win_sent = found.header.win_sent;
      version = VersionOf(found.loc);
      state = StateBits(found.header);
      old_value_size = found.header.value_size;
      const RewriteStep step = plan(found, &rewrite);
      read.win = rewrite.win;
      switch (step) {
        case RewriteStep::kRewrite:
          break;
        case RewriteStep::kRefuse:
          return RewriteOutcome::kRefused;
        case RewriteStep::kDrop:
          UnlinkLocked(ctx, hash, found);
          if (new_cas != nullptr) {
            *new_cas = rewrite.header.has_cas ? rewrite.header.cas : UnusedCas();
          }
          return RewriteOutcome::kDone;
        case RewriteStep::kDone:
        case RewriteStep::kDoneThenDrop:
          if (rewrite.counts_as_read) {
            found.slot->CountAccess();
            NoteAccess(found.loc.segment, now);
          }
          if (sink != nullptr) sink->OnItem(View(*this, ctx, found, now, read));
          if (new_cas != nullptr) *new_cas = CasOf(found.loc, found.header);
          if (step == RewriteStep::kDoneThenDrop) UnlinkLocked(ctx, hash, found);
          return RewriteOutcome::kDone;
      }
      // A compressed value that the rewrite keeps as it is (touch, md I) moves as its block; one
      // that changes is rebuilt whole, here, and compressed again outside the lock.
      if (rewrite.keep_value) {
        const size_t added = rewrite.prefix.size() + rewrite.suffix.size() + rewrite.pad;
        const size_t total = found.header.original_size() + added;
        if (found.header.compressed && added == 0) {
          rewrite.header.compressed = true;  // with the raw size the header was copied with
        } else if (found.header.compressed ||
                   (added != 0 && options_.compression != Compression::kOff &&
                    total >= options_.compress_min && total <= kMaxCompressedValue)) {
          if (!Rebuild(ctx, found, &rewrite)) return RewriteOutcome::kCorrupt;
        }
      }
    }

    ItemHeader& header = rewrite.header;
    header.key_size = static_cast<uint8_t>(key.size());
    if (!rewrite.keep_value && rewrite.suffix.empty() && rewrite.pad == 0) {
      rewrite.prefix = Compress(ctx, rewrite.prefix, &header);
    }
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
    ctx.rebuilt.Trim();

    bool linked = false;
    {
      SpinLockGuard guard(stripe);
      Found found;
      if (FindLocked(hash, key, &found) && VersionOf(found.loc) == version &&
          StateBits(found.header) == state && !Invalid(found.loc, found.header, now)) {
        if (rewrite.keep_value) {
          ItemCursor from(pool_, found.loc);
          from.Skip(found.header_size + found.header.key_size);
          old_value_at.CopyFrom(from, old_value_size);
        }
        linked = LinkLocked(ctx, hash, &found, place.loc, size, rewrite.keep_counter);
        if (new_cas != nullptr) *new_cas = CasOf(place.loc, header);
        if (rewrite.counts_as_read || sink != nullptr) {
          Found moved;
          FindLocked(hash, key, &moved);
          if (rewrite.counts_as_read) {
            moved.slot->CountAccess();
            NoteAccess(moved.loc.segment, now);
          }
          if (sink != nullptr) sink->OnItem(View(*this, ctx, moved, now, read));
        }
      }
    }
    Finish(place, linked);
    if (linked) return RewriteOutcome::kDone;
  }
}

bool SegmentCache::Rebuild(ThreadContext& ctx, const Found& old, Rewrite* rewrite) const {
  const size_t raw = old.header.original_size();
  const size_t total = rewrite->prefix.size() + raw + rewrite->suffix.size() + rewrite->pad;
  char* out = ctx.rebuilt.Get(total);
  // An empty view may have a null data(), which memcpy must not be given even for 0 bytes.
  if (!rewrite->prefix.empty()) std::memcpy(out, rewrite->prefix.data(), rewrite->prefix.size());
  if (!ReadValue(ctx, old, out + rewrite->prefix.size())) return false;
  char* after = out + rewrite->prefix.size() + raw;
  if (!rewrite->suffix.empty()) std::memcpy(after, rewrite->suffix.data(), rewrite->suffix.size());
  std::memset(after + rewrite->suffix.size(), ' ', rewrite->pad);
  rewrite->prefix = {out, total};
  rewrite->keep_value = false;
  rewrite->suffix = {};
  rewrite->pad = 0;
  return true;
}

StoreResult SegmentCache::Concatenate(ThreadContext& ctx, const WriteRequest& request,
                                      uint64_t hash, uint32_t now, WriteOutcome* outcome) {
  const std::string_view value = request.value;
  for (;;) {
    StoreResult refused = StoreResult::kNotStored;
    uint32_t value_size = 0;
    uint64_t cas = 0;
    const RewriteOutcome result = RewriteItem(
        ctx, request.key, hash, now,
        [&](Found& old, Rewrite* rewrite) {
          if (request.cas != 0 && CasOf(old.loc, old.header) != request.cas) {
            refused = StoreResult::kExists;
            return RewriteStep::kRefuse;
          }
          if (old.header.original_size() + value.size() > options_.item_size_max) {
            refused = StoreResult::kNotStored;
            return RewriteStep::kRefuse;
          }
          (request.mode == StoreMode::kAppend ? rewrite->suffix : rewrite->prefix) = value;
          value_size = static_cast<uint32_t>(old.header.original_size() + value.size());
          // The result is a new item, as memcached makes one: neither stale nor won.
          ItemHeader& header = rewrite->header;
          header.stale = false;
          header.win_sent = false;
          header.key_binary = request.key_binary;
          SetCas(&header, request.new_cas);
          return RewriteStep::kRewrite;
        },
        nullptr, &cas);
    switch (result) {
      case RewriteOutcome::kDone:
        ctx.Add(kTotalItems, 1);
        Report(outcome, cas, value_size);
        return StoreResult::kStored;
      case RewriteOutcome::kCorrupt:
      case RewriteOutcome::kNoMemory:
        return StoreResult::kNoMemory;
      case RewriteOutcome::kRefused:
        return refused;
      case RewriteOutcome::kMiss:
      case RewriteOutcome::kExpired:
      case RewriteOutcome::kFlushed:
        break;
    }
    if (!request.vivify) return StoreResult::kNotStored;
    ItemHeader header;
    header.flags = request.flags;
    header.expiry = ExpiryFromExptime(request.vivify_exptime, now, WallSeconds());
    header.key_binary = request.key_binary;
    SetCas(&header, request.new_cas);
    const StoreResult created = StoreVersion(
        ctx, StoreMode::kAdd, request.key, hash, now, header, value, 0,
        [&](uint64_t stored_cas, uint32_t size) { Report(outcome, stored_cas, size); });
    // kNotStored: another client created the key meanwhile; append to theirs.
    if (created != StoreResult::kNotStored) return created;
  }
}

ArithResult SegmentCache::Arithmetic(Context& context, std::string_view key, bool increment,
                                     uint64_t delta, uint64_t* result, uint64_t* new_cas) {
  ArithRequest request;
  request.key = key;
  request.increment = increment;
  request.delta = delta;
  ArithOutcome outcome;
  const ArithResult status = Arithmetic(context, request, &outcome);
  if (status == ArithResult::kOk) {
    *result = outcome.value;
    if (new_cas != nullptr) *new_cas = outcome.cas;
  }
  return status;
}

ArithResult SegmentCache::Arithmetic(Context& context, const ArithRequest& request,
                                     ArithOutcome* outcome) {
  auto& ctx = static_cast<ThreadContext&>(context);
  const std::string_view key = request.key;
  if (key.empty() || key.size() > kMaxKeySize) return ArithResult::kNotFound;
  const uint64_t hash = HashKey(key);
  const uint32_t now = Now();
  const uint32_t touch_expiry =
      request.touch ? ExpiryFromExptime(request.touch_exptime, now, WallSeconds()) : 0;
  char digits[kMaxCounterDigits];
  for (;;) {
    ArithResult refused = ArithResult::kNonNumeric;
    uint64_t value = 0;
    uint64_t cas = 0;
    uint32_t expiry_before = kNeverExpires;
    const RewriteOutcome result = RewriteItem(
        ctx, key, hash, now,
        [&](Found& old, Rewrite* rewrite) {
          // A chained item is far too long to be a number (memcached refuses chunked items too).
          // memcached looks at the size before the CAS, and at the digits after it.
          if (old.header.value_size == 0 || old.header.chained) return RewriteStep::kRefuse;
          if (request.cas != 0 && CasOf(old.loc, old.header) != request.cas) {
            refused = ArithResult::kExists;
            return RewriteStep::kRefuse;
          }
          std::string_view text(old.item + old.header_size + old.header.key_size,
                                old.header.value_size);
          if (old.header.compressed) {
            // Only a number padded with whitespace compresses; it counts as it would raw.
            char* raw = ctx.rebuilt.Get(old.header.raw_size);
            if (!ReadValue(ctx, old, raw)) {
              refused = ArithResult::kNoMemory;
              return RewriteStep::kRefuse;
            }
            text = {raw, old.header.raw_size};
          }
          if (!ParseCounter(text, &value)) return RewriteStep::kRefuse;
          value = ApplyDelta(value, request.increment, request.delta);
          const size_t length = FormatCounter(value, 0, digits);
          rewrite->prefix = {digits, length};
          rewrite->keep_value = false;
          const uint32_t old_size = old.header.original_size();
          rewrite->pad = old_size > length ? old_size - length : 0;
          expiry_before = old.header.expiry;
          if (request.touch) rewrite->header.expiry = touch_expiry;
          // memcached changes a number in place, keeping whether it was read.
          rewrite->keep_counter = true;
          SetCas(&rewrite->header, request.new_cas);
          return RewriteStep::kRewrite;
        },
        nullptr, &cas);
    switch (result) {
      case RewriteOutcome::kDone:
        outcome->value = value;
        outcome->cas = cas;
        outcome->ttl_before = TtlOf(expiry_before, now);
        outcome->created = false;
        return ArithResult::kOk;
      case RewriteOutcome::kRefused:
        return refused;
      case RewriteOutcome::kCorrupt:
      case RewriteOutcome::kNoMemory:
        return ArithResult::kNoMemory;
      case RewriteOutcome::kMiss:
      case RewriteOutcome::kExpired:
      case RewriteOutcome::kFlushed:
        break;
    }
    if (!request.vivify) return ArithResult::kNotFound;
    ItemHeader header;
    header.expiry = ExpiryFromExptime(request.vivify_exptime, now, WallSeconds());
    header.key_binary = request.key_binary;
    SetCas(&header, request.new_cas);
    const size_t length = FormatCounter(request.initial, 0, digits);
    const StoreResult created =
        StoreVersion(ctx, StoreMode::kAdd, key, hash, now, header, {digits, length}, 0,
                     [&](uint64_t stored_cas, uint32_t) { cas = stored_cas; });
    switch (created) {
      case StoreResult::kStored:
        outcome->value = request.initial;
        outcome->cas = cas;
        outcome->ttl_before = -1;
        outcome->created = true;
        return ArithResult::kOk;
      case StoreResult::kNotStored:
        continue;  // another client created the key meanwhile: apply the delta to theirs
      case StoreResult::kExists:
      case StoreResult::kNotFound:
      case StoreResult::kTooLarge:
      case StoreResult::kNoMemory:
        return ArithResult::kNoMemory;
    }
  }
}

SegmentCache::RewriteOutcome SegmentCache::TouchVersion(ThreadContext& ctx, std::string_view key,
                                                        uint64_t hash, uint32_t now,
                                                        const ReadOptions& options, uint32_t expiry,
                                                        uint32_t recache_expiry, ItemSink* sink) {
  return RewriteItem(
      ctx, key, hash, now,
      [&](Found& old, Rewrite* rewrite) {
        rewrite->counts_as_read = options.count_access;
        rewrite->win =
            options.can_win &&
            Wins(old.header, options.recache,
                 options.recache_after_touch ? expiry : old.header.expiry, recache_expiry);
        const auto in_place = [&](RewriteStep step) {
          if (rewrite->win) {
            old.header.win_sent = true;
            RewriteState(old.item, StateBits(old.header));
          }
          return step;
        };
        // The expiry bytes can change in place when the item has them and keeps them: readers
        // read them under the stripe lock held here. The item stays in its segment's TTL bucket,
        // whose max expiry is raised so that the segment does not expire before it.
        if (old.header.expiry != kNeverExpires && expiry != kNeverExpires) {
          RewriteExpiry(old.item, old.header, expiry);
          RaiseMaxExpiry(pool_.Info(old.loc.segment), expiry);
          old.header.expiry = expiry;
          return in_place(IsExpired(expiry, now) ? RewriteStep::kDoneThenDrop : RewriteStep::kDone);
        }
        if (old.header.expiry == expiry) return in_place(RewriteStep::kDone);
        if (IsExpired(expiry, now)) return in_place(RewriteStep::kDoneThenDrop);
        // The header changes size: the item moves, keeping its CAS (as memcached's touch does),
        // its state and its access counter. Carrying the CAS is safe by invariant 4.
        rewrite->header.expiry = expiry;
        SetCas(&rewrite->header, CasOf(old.loc, old.header));
        rewrite->header.win_sent = old.header.win_sent || rewrite->win;
        rewrite->keep_counter = true;
        return RewriteStep::kRewrite;
      },
      sink, nullptr);
}

LookupResult SegmentCache::ReadTouching(ThreadContext& ctx, std::string_view key, uint64_t hash,
                                        uint32_t now, const ReadOptions& options, uint32_t expiry,
                                        uint32_t recache_expiry, ItemSink& sink) {
  switch (TouchVersion(ctx, key, hash, now, options, expiry, recache_expiry, &sink)) {
    case RewriteOutcome::kDone:
      return LookupResult::kHit;
    case RewriteOutcome::kExpired:
      return LookupResult::kExpired;
    case RewriteOutcome::kFlushed:
      return LookupResult::kFlushed;
    case RewriteOutcome::kNoMemory: {
      // The item stays with its old expiry; a read still returns it.
      ReadOptions untouched = options;
      untouched.touch = false;
      untouched.vivify = false;
      return Get(ctx, key, untouched, sink);
    }
    case RewriteOutcome::kMiss:
    case RewriteOutcome::kRefused:
    case RewriteOutcome::kCorrupt:  // never: a touch moves a compressed block as it is
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
  ReadState state;
  state.expiry = found.header.expiry;
  state.fetched = found.slot->counter() > 0;
  state.win_sent = found.header.win_sent;
  found.slot->CountAccess();
  state.last_access = NoteAccess(found.loc.segment, now);
  sink.OnItem(View(*this, ctx, found, now, state));
  return LookupResult::kHit;
}

void SegmentCache::ServeLocked(ThreadContext& ctx, Found& found, uint32_t now,
                               const ReadOptions& options, uint32_t recache_expiry,
                               ItemSink& sink) {
  ReadState state;
  state.expiry = found.header.expiry;
  state.fetched = found.slot->counter() > 0;
  state.win_sent = found.header.win_sent;
  state.win =
      options.can_win && Wins(found.header, options.recache, found.header.expiry, recache_expiry);
  if (state.win) {
    found.header.win_sent = true;
    RewriteState(found.item, StateBits(found.header));
  }
  if (options.count_access) {
    found.slot->CountAccess();
    state.last_access = NoteAccess(found.loc.segment, now);
  } else {
    state.last_access = pool_.Info(found.loc.segment).last_access.load(std::memory_order_relaxed);
  }
  sink.OnItem(View(*this, ctx, found, now, state));
}

LookupResult SegmentCache::Get(Context& context, std::string_view key, const ReadOptions& options,
                               ItemSink& sink) {
  auto& ctx = static_cast<ThreadContext&>(context);
  if (key.empty() || key.size() > kMaxKeySize) return LookupResult::kMiss;
  const uint64_t hash = HashKey(key);
  const uint32_t now = Now();
  const int64_t wall = WallSeconds();
  const uint32_t recache_expiry =
      options.recache ? ExpiryFromExptime(options.recache_exptime, now, wall) : 0;
  for (;;) {
    LookupResult result = LookupResult::kMiss;
    if (options.touch) {
      const uint32_t expiry = ExpiryFromExptime(options.touch_exptime, now, wall);
      result = ReadTouching(ctx, key, hash, now, options, expiry, recache_expiry, sink);
    } else {
      SpinLockGuard guard(table_.StripeFor(hash));
      Found found;
      if (FindLocked(hash, key, &found)) result = DropIfInvalid(ctx, hash, found, now);
      if (result == LookupResult::kHit) ServeLocked(ctx, found, now, options, recache_expiry, sink);
    }
    if (result == LookupResult::kHit || !options.vivify) return result;
    switch (Vivify(ctx, key, hash, now, options, sink)) {
      case StoreResult::kStored:
        return LookupResult::kHit;
      case StoreResult::kNotStored:
        continue;  // another reader created it meanwhile: read theirs
      case StoreResult::kExists:
      case StoreResult::kNotFound:
      case StoreResult::kTooLarge:
      case StoreResult::kNoMemory:
        return result;
    }
  }
}

StoreResult SegmentCache::Vivify(ThreadContext& ctx, std::string_view key, uint64_t hash,
                                 uint32_t now, const ReadOptions& options, ItemSink& sink) {
  ItemHeader header;
  header.expiry = ExpiryFromExptime(options.vivify_exptime, now, WallSeconds());
  header.key_binary = options.key_binary;
  header.win_sent = true;  // the creator is told W
  SetCas(&header, options.new_cas);
  ReadState state;
  state.last_access = now;
  state.win = true;
  state.created = true;
  if (!IsExpired(header.expiry, now)) {
    return StoreVersion(ctx, StoreMode::kAdd, key, hash, now, header, {}, 0,
                        [&](uint64_t, uint32_t) {
                          Found created;
                          FindLocked(hash, key, &created);
                          // memcached counts the creator's read, as any read but u.
                          if (options.count_access) created.slot->CountAccess();
                          sink.OnItem(View(*this, ctx, created, now, state));
                        });
  }
  // memcached creates the item and then gives it the exptime, so an exptime in the past still
  // answers as a creation, and nobody sees the item after. Written, served, never linked.
  header.key_size = static_cast<uint8_t>(key.size());
  Placement place;
  if (!Reserve(ctx, header.item_size(), header.expiry, now, &place)) return StoreResult::kNoMemory;
  header.chained = place.chained;
  WriteHeader(place, header, key);
  Found created;
  created.loc = place.loc;
  created.item = pool_.Data(place.loc.segment) + place.loc.offset;
  created.header = header;
  created.header_size = header.size();
  sink.OnItem(View(*this, ctx, created, now, state));
  Finish(place, false);
  return StoreResult::kStored;
}

LookupResult SegmentCache::GetAndTouch(Context& context, std::string_view key, Exptime exptime,
                                       ItemSink& sink) {
  ReadOptions options;
  options.touch = true;
  options.touch_exptime = exptime;
  options.can_win = false;  // the recache race is the meta protocol's; gat takes no part in it
  return Get(context, key, options, sink);
}

TouchResult SegmentCache::Touch(Context& context, std::string_view key, Exptime exptime) {
  if (key.empty() || key.size() > kMaxKeySize) return TouchResult::kNotFound;
  const uint32_t now = Now();
  const uint32_t expiry = ExpiryFromExptime(exptime, now, WallSeconds());
  ReadOptions options;
  options.can_win = false;  // as GetAndTouch
  switch (TouchVersion(static_cast<ThreadContext&>(context), key, HashKey(key), now, options,
                       expiry, 0, nullptr)) {
    case RewriteOutcome::kDone:
      return TouchResult::kTouched;
    case RewriteOutcome::kNoMemory:
      return TouchResult::kNoMemory;
    case RewriteOutcome::kMiss:
    case RewriteOutcome::kExpired:
    case RewriteOutcome::kFlushed:
    case RewriteOutcome::kRefused:
    case RewriteOutcome::kCorrupt:
      break;
  }
  return TouchResult::kNotFound;
}

DeleteResult SegmentCache::Delete(Context& context, std::string_view key, uint64_t cas) {
  DeleteRequest request;
  request.key = key;
  if (cas != 0) request.cas = cas;
  return Delete(context, request);
}

DeleteResult SegmentCache::Delete(Context& context, const DeleteRequest& request) {
  auto& ctx = static_cast<ThreadContext&>(context);
  const std::string_view key = request.key;
  if (key.empty() || key.size() > kMaxKeySize) return DeleteResult::kNotFound;
  const uint64_t hash = HashKey(key);
  const uint32_t now = Now();
  if (!request.invalidate && !request.drop_value) {
    SpinLockGuard guard(table_.StripeFor(hash));
    Found found;
    if (!FindLocked(hash, key, &found)) return DeleteResult::kNotFound;
    if (DropIfInvalid(ctx, hash, found, now) != LookupResult::kHit) return DeleteResult::kNotFound;
    if (request.cas && CasOf(found.loc, found.header) != *request.cas) return DeleteResult::kExists;
    UnlinkLocked(ctx, hash, found);
    return DeleteResult::kDeleted;
  }
  const uint32_t expiry =
      request.touch ? ExpiryFromExptime(request.exptime, now, WallSeconds()) : kNeverExpires;
  const RewriteOutcome outcome = RewriteItem(
      ctx, key, hash, now,
      [&](Found& old, Rewrite* rewrite) {
        const uint64_t current = CasOf(old.loc, old.header);
        if (request.cas && current != *request.cas) return RewriteStep::kRefuse;
        ItemHeader& header = rewrite->header;
        if (request.drop_value) {
          // memcached stores an empty item in its place: new flags and exptime, same CAS.
          rewrite->keep_value = false;
          header.flags = request.flags;
          header.expiry = expiry;
          header.stale = false;
          header.win_sent = false;
          SetCas(&header, request.new_cas.value_or(current));
        }
        if (request.invalidate) {
          header.stale = true;
          header.win_sent = false;  // so that the next reader wins
          if (request.touch) header.expiry = expiry;
          SetCas(&header, request.new_cas);
          // The same item marked, as memcached marks it in place: it stays read if it was.
          rewrite->keep_counter = !request.drop_value;
        }
        return IsExpired(header.expiry, now) ? RewriteStep::kDrop : RewriteStep::kRewrite;
      },
      nullptr, nullptr);
  switch (outcome) {
    case RewriteOutcome::kDone:
      return DeleteResult::kDeleted;
    case RewriteOutcome::kRefused:
      return DeleteResult::kExists;
    case RewriteOutcome::kCorrupt:
    case RewriteOutcome::kNoMemory:
      return DeleteResult::kNoMemory;
    case RewriteOutcome::kMiss:
    case RewriteOutcome::kExpired:
    case RewriteOutcome::kFlushed:
      return DeleteResult::kNotFound;
  }
  return DeleteResult::kNotFound;
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
  stats.oldest_item_age = OldestItemAge(MonotonicSeconds());
  stats.compress_items = get(kCompressItems);
  stats.compress_rejected = get(kCompressRejected);
  stats.compress_bytes_in = get(kCompressBytesIn);
  stats.compress_bytes_out = get(kCompressBytesOut);
  stats.compress_time_us = get(kCompressNanos) / 1000;
  stats.decompress_items = get(kDecompressItems);
  stats.decompress_errors = get(kDecompressErrors);
  stats.decompress_time_us = get(kDecompressNanos) / 1000;
  return stats;
}

uint64_t SegmentCache::OldestItemAge(uint32_t now) const {
  // A scan of the descriptors, a few words per segment: `stats items` is rare. A descriptor being
  // reopened meanwhile gives a slightly wrong age, never a torn one (create_time is atomic).
  uint32_t oldest = now;
  const uint32_t touched = pool_.touched();
  for (uint32_t id = 0; id < touched; ++id) {
    const SegmentInfo& info = pool_.Info(id);
    const SegmentState state = info.state.load(std::memory_order_acquire);
    if ((state != SegmentState::kOpen && state != SegmentState::kSealed) ||
        info.live_items.load(std::memory_order_relaxed) == 0) {
      continue;
    }
    const uint32_t created = info.create_time.load(std::memory_order_relaxed);
    if (created != 0 && created < oldest) oldest = created;
  }
  return now - oldest;
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
  // A sealed segment never gains an item, so with none live (the acquire load in Dead) there is
  // nothing to unlink and its items need not be walked.
  if (pool_.Info(id).live_items.load(std::memory_order_acquire) == 0) {
    FreeWithChain(id);
  } else {
    reclaimer.DropSegment(id);
  }
  ctx.Add(reclaimer.counters());
  return true;
}

void SegmentCache::RunBackgroundPass() {
  ThreadContext& ctx = *background_ctx_;
  const uint32_t now = Now();
  size_t done = 0;
  {
    std::lock_guard<std::mutex> lock(evict_mu_);
    done += ReclaimQueuedDead(ctx, now, kMaxSegmentsPerPass);
  }
  // Descriptors, not items, are scanned: a few words per segment, once a second.
  const uint32_t touched = pool_.touched();
  for (uint32_t id = 0; id < touched && done < kMaxSegmentsPerPass; ++id) {
    bool expired = false;
    if (!Dead(id, now, &expired)) continue;  // looked at without the lock, checked again under it
    std::lock_guard<std::mutex> lock(evict_mu_);
    if (ReclaimIfDead(ctx, id, now)) ++done;
  }
  if (!options_.evict) return;
  {
    std::lock_guard<std::mutex> lock(evict_mu_);
    Reclaimer reclaimer(this);
    evictor_->EmptyIfInvalid(reclaimer);
    ctx.Add(reclaimer.counters());
  }
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
