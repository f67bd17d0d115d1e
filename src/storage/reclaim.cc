#include "storage/reclaim.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "base/hash.h"
#include "storage/eviction_observer.h"
#include "storage/expiry.h"
#include "storage/flash_tier.h"

namespace mnemo::storage {

// The cache's side of eviction for one pass, on behalf of one context (whose counters it feeds).
class Reclaim::Reclaimer final : public SegmentReclaimer {
 public:
  explicit Reclaimer(CacheCore& core) : core_(core), now_(core.Now()) {}

  void DropSegment(uint32_t id) override {
    UnlinkAll(id);
    core_.pool.Free(id);
  }

  void UnlinkAll(uint32_t id) override {
    Walk(id, [&](ItemLocation loc, const ItemSpan& span, uint64_t hash) {
      const bool to_flash = RoomOnFlash(loc, span.item_size() + CarriedCasBytes(loc));
      SpinLockGuard guard(core_.table.StripeFor(hash));
      Slot* slot = core_.table.FindLocation(hash, loc);
      if (slot == nullptr) return;
      ItemHeader header;
      ItemHeader::Decode(core_.ItemAt(loc), &header);
      Unlink(hash, slot, loc, header, to_flash);
    });
  }

  void CollectLive(uint32_t id, std::vector<LiveItem>* items) override {
    Walk(id, [&](ItemLocation loc, const ItemSpan& span, uint64_t hash) {
      SpinLockGuard guard(core_.table.StripeFor(hash));
      const Slot* slot = core_.table.FindLocation(hash, loc);
      if (slot == nullptr) return;
      // What its copy will take: KeepOrDrop adds the CAS the item carries from now on.
      items->push_back({loc.offset, static_cast<uint32_t>(span.item_size() + CarriedCasBytes(loc)),
                        slot->counter(), hash});
    });
  }

  bool KeepOrDrop(uint32_t from, const LiveItem& item, uint32_t threshold, uint32_t dest) override {
    const ItemLocation loc{from, item.offset};
    const bool to_flash = RoomOnFlash(loc, item.size);
    SpinLockGuard guard(core_.table.StripeFor(item.hash));
    Slot* slot = core_.table.FindLocation(item.hash, loc);
    if (slot == nullptr) return false;
    ItemHeader header;
    ItemHeader::Decode(core_.ItemAt(loc), &header);
    const size_t size = header.item_size();
    // The copy keeps its version's CAS, so that a client holding it still matches: a CAS derived
    // from the old location goes into the header, 8 bytes more (invariant 4 keeps it unique).
    ItemHeader moved = header;
    if (!moved.has_cas) core_.SetCas(&moved, core_.VersionOf(loc));
    const size_t moved_size = moved.item_size();
    SegmentPool& pool = core_.pool;
    if (dest != kNoSegment && !core_.Invalid(loc, header, now_) && slot->counter() > threshold &&
        pool.Info(dest).write_offset.load(std::memory_order_relaxed) + moved_size <=
            pool.segment_size()) {
      SegmentInfo& to = pool.Info(dest);
      const uint32_t offset = to.write_offset.load(std::memory_order_relaxed);
      char* const copy = pool.Data(dest) + offset;
      const size_t header_size = moved.Encode(copy);
      std::memcpy(copy + header_size, core_.ItemAt(loc) + header.size(), size - header.size());
      to.write_offset.store(static_cast<uint32_t>(offset + moved_size), std::memory_order_relaxed);
      RaiseMaxExpiry(to, header.expiry == kNeverExpires ? kNeverExpiresMax : header.expiry);
      slot->Relocate({dest, offset});
      core_.LiveSub(from, size);
      core_.LiveAdd(dest, moved_size);
      counters_.bytes_carried += moved_size - size;
      return true;
    }
    Unlink(item.hash, slot, loc, header, to_flash);
    return false;
  }

  void OpenMergeDestination(uint32_t dest, uint16_t bucket) override {
    core_.OpenSegment(dest, bucket, now_);
  }

  bool Outdated(uint32_t id) const override {
    return core_.pool.Info(id).flush_gen.load(std::memory_order_relaxed) < core_.flush_gen();
  }

  bool Expired(uint32_t id) const override {
    const uint32_t max_expiry = core_.pool.Info(id).max_expiry.load(std::memory_order_relaxed);
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
    const SegmentInfo& info = core_.pool.Info(id);
    const uint32_t end = info.write_offset.load(std::memory_order_relaxed);
    for (uint32_t offset = 0; offset < end;) {
      const ItemLocation loc{id, offset};
      const char* item = core_.ItemAt(loc);
      const ItemSpan span = ItemSpanAt(item);
      fn(loc, span, HashKey({item + span.header_size, span.key_size}));
      if (info.chain_head) break;  // the only item of its segment chain
      offset += static_cast<uint32_t>(span.item_size());
    }
  }

  // Bytes a copy of the item at `loc` adds to carry its CAS (copies keep their version's CAS).
  size_t CarriedCasBytes(ItemLocation loc) const {
    const bool carries_cas = (item_internal::LoadInfo(core_.ItemAt(loc)) & kItemHasCas) != 0;
    return core_.options.use_cas && !carries_cas ? sizeof(uint64_t) : 0;
  }

  // Whether the item at `loc`, of `moved_size` bytes once it carries its CAS, would go to flash if
  // it is still linked and valid when Unlink sees it: there is a flash tier with room for it, and
  // it is in one piece and not flushed. Called before the stripe lock, since making room may reuse
  // a flash segment, which takes stripe locks (flash_tier.h).
  bool RoomOnFlash(ItemLocation loc, size_t moved_size) {
    if (core_.flash == nullptr) return false;
    // Without the stripe lock only the layout bits may be read (item.h, invariant 4), not the
    // expiry, which touch rewrites: an item that expired is dropped under the lock (Unlink).
    if ((item_internal::LoadInfo(core_.ItemAt(loc)) & kItemChained) != 0 || core_.Flushed(loc)) {
      return false;
    }
    return core_.flash->MakeRoom(moved_size, core_.flush_gen(), &counters_);
  }

  // Removes the item at `loc` from RAM: to flash if `to_flash` (RoomOnFlash said so) and it is
  // still valid, else out of the cache. REQUIRES: the stripe lock of `hash`.
  void Unlink(uint64_t hash, Slot* slot, ItemLocation loc, const ItemHeader& header,
              bool to_flash) {
    const bool invalid = core_.Invalid(loc, header, now_);
    if (to_flash && !invalid) {
      ItemHeader moved = header;
      if (!moved.has_cas) core_.SetCas(&moved, core_.VersionOf(loc));
      const ItemLocation at = core_.flash->Append(moved, core_.ItemAt(loc) + header.size());
      slot->Relocate(at);
      core_.LiveSub(loc.segment, header.item_size());
      core_.LiveAdd(at.segment, moved.item_size());
      counters_.bytes_carried += moved.item_size() - header.item_size();
      return;
    }
    const bool fetched = slot->counter() > 0;
    if (invalid) {
      ++counters_.reclaimed;
      if (!fetched) ++counters_.expired_unfetched;
    } else {
      ++counters_.evictions;
      if (!fetched) ++counters_.evicted_unfetched;
      if (core_.options.eviction_observer != nullptr) [[unlikely]] {
        ReportEviction(loc, header, fetched);
      }
    }
    core_.table.Erase(hash, slot);
    core_.LiveSub(loc.segment, header.item_size());
    ++counters_.items_unlinked;
    counters_.bytes_unlinked += header.item_size();
  }

  void ReportEviction(ItemLocation loc, const ItemHeader& header, bool fetched) {
    const uint32_t last_access =
        core_.pool.Info(loc.segment).last_access.load(std::memory_order_relaxed);
    core_.options.eviction_observer->OnEvict(
        {.key = std::string_view(core_.ItemAt(loc) + header.size(), header.key_size),
         .value_size = header.original_size(),
         .fetched = fetched,
         .ttl = TtlOf(header.expiry, now_),
         .idle_seconds = now_ > last_access ? now_ - last_access : 0});
  }

  CacheCore& core_;
  uint32_t now_;
  ReclaimCounters counters_;
};

namespace {

std::unique_ptr<Evictor> NewEvictor(CacheCore& core) {
  // With -M nothing is ever evicted, and merge's destination would be a segment held for nothing.
  if (core.options.eviction == EvictionPolicy::kMerge && core.options.evict) {
    return NewMergeEvictor(&core.pool, &core.buckets, Reclaim::kMergeRun);
  }
  return NewFifoEvictor(&core.buckets);
}

}  // namespace

Reclaim::Reclaim(CacheCore& core) : core_(core) {}

void Reclaim::Init() { evictor_ = NewEvictor(core_); }

Reclaim::~Reclaim() { background_.Stop(); }

uint32_t Reclaim::LowWater() const {
  return std::min<uint32_t>(core_.pool.limit() / CacheCore::kMinSegments, kMaxFreeAhead);
}

uint32_t Reclaim::Acquire(ThreadContext& ctx, SegmentState state) {
  for (int attempt = 0; attempt < kAcquireAttempts; ++attempt) {
    // A new segment brings new items: with the index full they would have no slot, so the
    // index's limit counts as the pool's (HashTable invariant 5).
    uint32_t id = core_.table.full() ? kNoSegment : core_.pool.Allocate(state);
    if (id != kNoSegment) {
      if (core_.options.evict && core_.pool.available() < LowWater()) WakeBackground();
      return id;
    }
    MutexLock lock(evict_mu_);
    if (core_.table.full()) {
      if (!EvictUntilTheIndexHasRoom(ctx)) return kNoSegment;
      continue;
    }
    id = core_.pool.Allocate(state);
    if (id != kNoSegment) return id;
    if (!EvictOne(ctx)) return kNoSegment;
  }
  return kNoSegment;
}

bool Reclaim::EvictForIndex(ThreadContext& ctx) {
  MutexLock lock(evict_mu_);
  return EvictUntilTheIndexHasRoom(ctx);
}

bool Reclaim::EvictUntilTheIndexHasRoom(ThreadContext& ctx) {
  // At least once: a store the table refused needs a slot even if full() is false (its chain ran
  // out of overflow buckets). Dead segments go first and free no slot, hence the loop; each turn
  // frees a segment, so it ends.
  do {
    if (!EvictOne(ctx)) return false;
  } while (core_.table.full());
  return true;
}

void Reclaim::StartBackground(ThreadContext* ctx) {
  background_.Start([this, ctx] { RunPass(*ctx); });
}

bool Reclaim::EvictOne(ThreadContext& ctx) {
  // A segment that holds nothing valid goes first: freeing it loses nothing. Most are found on
  // the dead queue (every item replaced or deleted), wherever they are in their bucket's chain;
  // the heads of the chains are where expired and flushed segments gather.
  const uint32_t now = core_.Now();
  if (ReclaimQueuedDead(ctx, now, 1) > 0) return true;
  const uint32_t dead = core_.buckets.DetachDead(now, core_.flush_gen());
  Reclaimer reclaimer(core_);
  bool freed = false;
  if (dead != kNoSegment) {
    const SegmentInfo& info = core_.pool.Info(dead);
    const uint32_t max_expiry = info.max_expiry.load(std::memory_order_relaxed);
    if (max_expiry != kNeverExpiresMax && max_expiry <= now &&
        info.flush_gen.load(std::memory_order_relaxed) == core_.flush_gen()) {
      ++reclaimer.counters().segments_expired;
    }
    reclaimer.DropSegment(dead);
    freed = true;
  } else if (core_.options.evict) {
    freed = evictor_->Evict(reclaimer);
  }
  ctx.Add(reclaimer.counters());
  return freed;
}

size_t Reclaim::ReclaimQueuedDead(ThreadContext& ctx, uint32_t now, size_t max) {
  size_t freed = 0;
  while (freed < max) {
    const uint32_t id = core_.TakeDead();
    if (id == kNoSegment) break;
    if (ReclaimIfDead(ctx, id, now)) ++freed;
  }
  return freed;
}

bool Reclaim::Dead(uint32_t id, uint32_t now, bool* expired) const {
  const SegmentInfo& info = core_.pool.Info(id);
  if (info.state.load(std::memory_order_acquire) != SegmentState::kSealed) return false;
  const uint32_t max_expiry = info.max_expiry.load(std::memory_order_relaxed);
  const bool flushed = info.flush_gen.load(std::memory_order_relaxed) < core_.flush_gen();
  *expired = !flushed && max_expiry != kNeverExpiresMax && max_expiry <= now;
  return *expired || flushed || info.live_items.load(std::memory_order_acquire) == 0;
}

bool Reclaim::ReclaimIfDead(ThreadContext& ctx, uint32_t id, uint32_t now) {
  bool expired = false;
  if (!Dead(id, now, &expired) || !core_.buckets.Detach(id)) return false;
  Reclaimer reclaimer(core_);
  if (expired) ++reclaimer.counters().segments_expired;
  // A sealed segment never gains an item, so with none live (the acquire load in Dead) there is
  // nothing to unlink and its items need not be walked.
  if (core_.pool.Info(id).live_items.load(std::memory_order_acquire) == 0) {
    core_.pool.Free(id);
  } else {
    reclaimer.DropSegment(id);
  }
  ctx.Add(reclaimer.counters());
  return true;
}

void Reclaim::RunPass(ThreadContext& ctx) {
  const uint32_t now = core_.Now();
  size_t done = 0;
  {
    MutexLock lock(evict_mu_);
    done += ReclaimQueuedDead(ctx, now, kMaxSegmentsPerPass);
  }
  // Descriptors, not items, are scanned: a few words per segment, once a second.
  const uint32_t touched = core_.pool.touched();
  for (uint32_t id = 0; id < touched && done < kMaxSegmentsPerPass; ++id) {
    bool expired = false;
    if (!Dead(id, now, &expired)) continue;  // looked at without the lock, checked again under it
    MutexLock lock(evict_mu_);
    if (ReclaimIfDead(ctx, id, now)) ++done;
  }
  if (!core_.options.evict) return;
  {
    MutexLock lock(evict_mu_);
    Reclaimer reclaimer(core_);
    evictor_->EmptyIfInvalid(reclaimer);
    ctx.Add(reclaimer.counters());
  }
  while (done < kMaxSegmentsPerPass && core_.pool.available() < LowWater()) {
    MutexLock lock(evict_mu_);
    if (core_.pool.available() >= LowWater() || !EvictOne(ctx)) break;
    ++done;
  }
}

}  // namespace mnemo::storage
