#include "storage/segment_cache.h"

#include <algorithm>
#include <utility>

#include "base/clock.h"
#include "base/hash.h"
#include "storage/change_observer.h"
#include "storage/expiry.h"

namespace mnemo::storage {
namespace {

bool ValidKey(std::string_view key) { return !key.empty() && key.size() <= kMaxKeySize; }

}  // namespace

Status Cache::Create(const CacheOptions& options, std::unique_ptr<Cache>* cache) {
  auto segment_cache = std::make_unique<SegmentCache>(options);
  Status status = segment_cache->Init();
  if (!status.ok()) return status;
  *cache = std::move(segment_cache);
  return Status::Ok();
}

SegmentCache::SegmentCache(const CacheOptions& options)
    : core_(CacheCore::Normalize(options)),
      codec_(core_.options, core_.pool),
      index_(core_, codec_),
      reclaim_(core_),
      writer_(core_, reclaim_),
      store_(core_, index_, writer_, reclaim_, codec_),
      rewriter_(core_, index_, writer_, store_, codec_),
      recall_(core_, index_, writer_) {}

Status SegmentCache::Init() {
  Status status = core_.Init();
  if (!status.ok()) return status;
  if (core_.options.flash != nullptr) {
    flash_ = std::make_unique<FlashTier>(core_, *core_.options.flash);
    status = flash_->Init();
    if (!status.ok()) return status;
    core_.flash = flash_.get();
  }
  background_ctx_ = std::make_unique<ThreadContext>(this);
  {
    MutexLock lock(registry_mu_);
    contexts_.push_back(background_ctx_.get());
  }
  // Before anything takes a segment from the pool (the merge policy's destination, in Init).
  if (core_.durable != nullptr) {
    WarmRestart(core_).Restore(*background_ctx_);
    // From here a crash leaves what the next start recovers; the base may be a restored one.
    core_.durable->MarkRunning(ProcessStartWallSeconds());
  }
  reclaim_.Init();
  if (core_.options.background_thread) reclaim_.StartBackground(background_ctx_.get());
  return Status::Ok();
}

Status SegmentCache::SaveForRestart() {
  if (core_.options.memory_file.empty()) return Status::Ok();
  reclaim_.StopBackground();
  return WarmRestart(core_).Save();
}

SegmentCache::~SegmentCache() {
  reclaim_.StopBackground();
  background_ctx_.reset();
}

std::unique_ptr<Cache::Context> SegmentCache::NewContext() {
  auto ctx = std::make_unique<ThreadContext>(this);
  MutexLock lock(registry_mu_);
  contexts_.push_back(ctx.get());
  return ctx;
}

void SegmentCache::Retire(ThreadContext& ctx) {
  writer_.SealOpenSegments(ctx);
  MutexLock lock(registry_mu_);
  for (size_t c = 0; c < kNumCacheCounters; ++c) retired_[c] += ctx.Read(c);
  contexts_.erase(std::find(contexts_.begin(), contexts_.end(), &ctx));
}

void SegmentCache::Tick(Context& context) {
  writer_.SealDeadOpenSegments(static_cast<ThreadContext&>(context), core_.Now());
}

StoreResult SegmentCache::Store(Context& context, const WriteRequest& request,
                                WriteOutcome* outcome) {
  auto& ctx = static_cast<ThreadContext&>(context);
  const std::string_view key = request.key;
  if (!ValidKey(key)) return StoreResult::kNotStored;
  const uint64_t hash = HashKey(key);
  const uint32_t now = core_.Now();
  // A store that writes a whole new version needs no more of the old one than its header.
  const bool rewrites = request.mode == StoreMode::kAppend || request.mode == StoreMode::kPrepend ||
                        (request.mode == StoreMode::kCas && request.invalidate);
  KeptVersion kept;
  const StoreResult result =
      recall_.Run(ctx, hash, key, StoreResult::kNoMemory,
                  rewrites ? FlashRecall::Needs::kItem : FlashRecall::Needs::kHeader,
                  [&] { return StoreOnce(ctx, request, hash, now, outcome, &kept); });
  store_.Release(kept);
  return result;
}

StoreResult SegmentCache::StoreOnce(ThreadContext& ctx, const WriteRequest& request, uint64_t hash,
                                    uint32_t now, WriteOutcome* outcome, KeptVersion* kept) {
  const std::string_view key = request.key;
  if (request.value.size() > core_.options.item_size_max) {
    return store_.RefuseTooLarge(ctx, request.mode, key, hash);
  }
  if (request.mode == StoreMode::kAppend || request.mode == StoreMode::kPrepend) {
    return rewriter_.Concatenate(ctx, request, hash, now, outcome);
  }
  if (request.mode == StoreMode::kCas && request.invalidate) {
    return rewriter_.StoreInvalidating(ctx, request, hash, now, outcome);
  }
  ItemHeader header;
  header.flags = request.flags;
  header.expiry = ExpiryFromExptime(request.exptime, now, WallSeconds());
  header.key_binary = request.key_binary;
  core_.SetCas(&header, request.new_cas);
  return store_.StoreVersion(ctx, request.mode, key, hash, now, header, request.value, request.cas,
                             outcome, nullptr, kept);
}

LookupResult SegmentCache::Get(Context& context, std::string_view key, const ReadOptions& options,
                               ItemSink& sink) {
  auto& ctx = static_cast<ThreadContext&>(context);
  if (!ValidKey(key)) return LookupResult::kMiss;
  const uint64_t hash = HashKey(key);
  const uint32_t now = core_.Now();
  const uint32_t recache_expiry =
      options.recache ? ExpiryFromExptime(options.recache_exptime, now, WallSeconds()) : 0;
  FlashRecall::Reader reader{options, recache_expiry, sink};
  ctx.flash_waits.pending.reset();
  const LookupResult result = recall_.RunRead(ctx, hash, key, reader, [&] {
    return GetOnce(ctx, key, hash, now, options, recache_expiry, sink);
  });
  ctx.flash_waits.served.reset();  // it was for this Get only
  return result;
}

void SegmentCache::AllowFlashWaits(Context& context) {
  static_cast<ThreadContext&>(context).flash_waits.allowed = core_.flash != nullptr;
}

std::optional<FlashWait> SegmentCache::TakeFlashWait(Context& context) {
  return std::exchange(static_cast<ThreadContext&>(context).flash_waits.pending, std::nullopt);
}

void SegmentCache::SetFlashWaitServed(Context& context, std::optional<FlashWait> wait) {
  static_cast<ThreadContext&>(context).flash_waits.served = wait;
}

LookupResult SegmentCache::GetOnce(ThreadContext& ctx, std::string_view key, uint64_t hash,
                                   uint32_t now, const ReadOptions& options,
                                   uint32_t recache_expiry, ItemSink& sink) {
  for (;;) {
    LookupResult result = LookupResult::kMiss;
    if (options.touch) {
      const uint32_t expiry = ExpiryFromExptime(options.touch_exptime, now, WallSeconds());
      result = ReadTouching(ctx, key, hash, now, options, expiry, recache_expiry, sink);
    } else {
      SpinLockGuard guard(core_.table.StripeFor(hash));
      Found found;
      if (index_.FindLocked(ctx, hash, key, &found) == FindResult::kFound) {
        result = index_.DropIfInvalid(ctx, hash, found, now);
      }
      if (result == LookupResult::kHit) {
        index_.ServeLocked(ctx, found, now, options, recache_expiry, sink);
      }
    }
    // Pending on flash: nothing was done; FlashRecall reads flash and runs the read again.
    if (ctx.flash.pending()) return result;
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

LookupResult SegmentCache::ReadTouching(ThreadContext& ctx, std::string_view key, uint64_t hash,
                                        uint32_t now, const ReadOptions& options, uint32_t expiry,
                                        uint32_t recache_expiry, ItemSink& sink) {
  switch (rewriter_.TouchVersion(ctx, key, hash, now, options, expiry, recache_expiry, &sink)) {
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
      return GetOnce(ctx, key, hash, now, untouched, recache_expiry, sink);
    }
    case RewriteOutcome::kMiss:
    case RewriteOutcome::kRefused:
    case RewriteOutcome::kCorrupt:  // never: a touch moves a compressed block as it is
      return LookupResult::kMiss;
  }
  return LookupResult::kMiss;
}

StoreResult SegmentCache::Vivify(ThreadContext& ctx, std::string_view key, uint64_t hash,
                                 uint32_t now, const ReadOptions& options, ItemSink& sink) {
  ItemHeader header;
  header.expiry = ExpiryFromExptime(options.vivify_exptime, now, WallSeconds());
  header.key_binary = options.key_binary;
  header.win_sent = true;  // the creator is told W
  core_.SetCas(&header, options.new_cas);
  ReadState state;
  state.last_access = now;
  state.win = true;
  state.created = true;
  if (!IsExpired(header.expiry, now)) {
    const CreatedReader reader{options, state, sink};
    return store_.StoreVersion(ctx, StoreMode::kAdd, key, hash, now, header, {}, 0, nullptr,
                               &reader);
  }
  // memcached creates the item and then gives it the exptime, so an exptime in the past still
  // answers as a creation, and nobody sees the item after. Written, served, never linked.
  header.key_size = static_cast<uint8_t>(key.size());
  Placement place;
  if (!writer_.Reserve(ctx, header.item_size(), header.expiry, now, &place)) {
    return StoreResult::kNoMemory;
  }
  header.chained = place.chained;
  writer_.WriteHeader(place, header, key);
  Found created;
  created.loc = place.loc;
  created.item = core_.pool.Data(place.loc.segment) + place.loc.offset;
  created.header = header;
  created.header_size = header.size();
  index_.Serve(ctx, created, now, state, sink);
  writer_.Finish(place, false);
  return StoreResult::kStored;
}

TouchResult SegmentCache::Touch(Context& context, std::string_view key, Exptime exptime) {
  if (!ValidKey(key)) return TouchResult::kNotFound;
  const uint32_t now = core_.Now();
  const uint32_t expiry = ExpiryFromExptime(exptime, now, WallSeconds());
  ReadOptions options;
  options.can_win = false;  // the recache race is the meta protocol's; touch takes no part in it
  auto& ctx = static_cast<ThreadContext&>(context);
  const uint64_t hash = HashKey(key);
  switch (recall_.Run(ctx, hash, key, RewriteOutcome::kNoMemory, FlashRecall::Needs::kItem, [&] {
    return rewriter_.TouchVersion(ctx, key, hash, now, options, expiry, 0, nullptr);
  })) {
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

DeleteResult SegmentCache::Delete(Context& context, const DeleteRequest& request) {
  auto& ctx = static_cast<ThreadContext&>(context);
  const std::string_view key = request.key;
  if (!ValidKey(key)) return DeleteResult::kNotFound;
  const uint64_t hash = HashKey(key);
  const uint32_t now = core_.Now();
  const bool rewrites = request.invalidate || request.drop_value;
  return recall_.Run(ctx, hash, key, DeleteResult::kNoMemory,
                     rewrites ? FlashRecall::Needs::kItem : FlashRecall::Needs::kHeader,
                     [&] { return DeleteOnce(ctx, request, hash, now); });
}

DeleteResult SegmentCache::DeleteOnce(ThreadContext& ctx, const DeleteRequest& request,
                                      uint64_t hash, uint32_t now) {
  const std::string_view key = request.key;
  if (request.invalidate || request.drop_value) return rewriter_.Delete(ctx, request, hash, now);
  SpinLockGuard guard(core_.table.StripeFor(hash));
  Found found;
  if (index_.FindValidLocked(ctx, hash, key, now, &found) != FindResult::kFound) {
    return DeleteResult::kNotFound;
  }
  if (request.cas && core_.CasOf(found.loc, found.header) != *request.cas) {
    return DeleteResult::kExists;
  }
  index_.UnlinkLocked(ctx, hash, found);
  index_.ObserveRemoveLocked(ctx, key);
  return DeleteResult::kDeleted;
}

ArithResult SegmentCache::Arithmetic(Context& context, const ArithRequest& request,
                                     ArithOutcome* outcome) {
  if (!ValidKey(request.key)) return ArithResult::kNotFound;
  auto& ctx = static_cast<ThreadContext&>(context);
  const uint64_t hash = HashKey(request.key);
  const uint32_t now = core_.Now();
  return recall_.Run(ctx, hash, request.key, ArithResult::kNoMemory, FlashRecall::Needs::kItem,
                     [&] { return rewriter_.Arithmetic(ctx, request, hash, now, outcome); });
}

void SegmentCache::FlushAll(const FlushRequest& request) {
  core_.FlushAll(request);
  if (request.observed && core_.options.change_observer != nullptr) {
    Change change;
    change.kind = ChangeKind::kFlush;
    change.flush = request;
    core_.options.change_observer->OnChange(change);
  }
  reclaim_.WakeBackground();
}

bool SegmentCache::SetMemoryLimit(size_t bytes) { return core_.SetMemoryLimit(bytes); }

CounterTotals SegmentCache::SumCounters() const {
  CounterTotals sum = retired_;
  for (const ThreadContext* ctx : contexts_) {
    for (size_t c = 0; c < kNumCacheCounters; ++c) sum[c] += ctx->Read(c);
  }
  return sum;
}

CacheStats SegmentCache::Stats() const {
  CounterTotals sum{};
  {
    // One lock for the sum and the baseline, so that a stats reset between them cannot leave a
    // counter below its baseline. stats reset restarts the counters; gauges (curr_items, bytes)
    // are levels and keep theirs.
    MutexLock lock(registry_mu_);
    sum = SumCounters();
    for (size_t c = 0; c < kNumCacheCounters; ++c) {
      if (kCacheCounters[c].metric.kind == MetricKind::kCounter) sum[c] -= baseline_[c];
    }
  }
  CacheStats stats;
  for (size_t c = 0; c < kNumCacheCounters; ++c) {
    stats.*kCacheCounters[c].field =
        static_cast<uint64_t>(std::max<int64_t>(sum[c], 0)) / kCacheCounters[c].divisor;
  }
  const SegmentPool& pool = core_.pool;
  stats.limit_maxbytes = core_.limit_bytes.load(std::memory_order_relaxed);
  stats.segment_size = pool.segment_size();
  stats.segments_total = pool.limit();
  stats.segments_in_use = pool.in_use();
  stats.segments_free = pool.free_count();
  stats.segments_draining = static_cast<uint64_t>(std::max(pool.draining(), 0));
  stats.hash_table_bytes = core_.table.memory_bytes();
  stats.hash_bytes_limit = core_.table.memory_limit();
  stats.hash_power_level = static_cast<uint64_t>(core_.table.power());
  stats.hash_is_expanding = core_.table.expanding() ? 1 : 0;
  stats.oldest_item_age = core_.OldestItemAge(MonotonicSeconds());
  if (flash_ != nullptr) {
    const FlashStats flash = flash_->Stats();
    stats.badcrc_from_extstore = flash.badcrc;
    stats.extstore_limit_maxbytes = flash.limit_bytes;
    stats.extstore_pages_total = flash.segments_total;
    stats.extstore_pages_used = flash.segments_used;
    stats.extstore_objects_used = flash.objects_used;
    stats.extstore_bytes_used = flash.bytes_used;
    stats.extstore_objects_written = flash.objects_written;
    stats.extstore_bytes_written = flash.bytes_written;
    stats.extstore_item_bytes_written = flash.item_bytes_written;
    stats.extstore_objects_read = flash.objects_read;
    stats.extstore_bytes_read = flash.bytes_read;
    stats.extstore_page_reclaims = flash.segment_reuses;
    stats.extstore_page_evictions = flash.segment_evictions;
    stats.extstore_objects_evicted = flash.objects_evicted;
    stats.extstore_bytes_evicted = flash.bytes_evicted;
    stats.extstore_io_errors = flash.io_errors;
    stats.extstore_enabled = flash.enabled ? 1 : 0;
  }
  return stats;
}

void SegmentCache::ResetStats() {
  MutexLock lock(registry_mu_);
  baseline_ = SumCounters();
}

}  // namespace mnemo::storage
