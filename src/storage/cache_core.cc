#include "storage/cache_core.h"

#include <algorithm>
#include <utility>

#include "base/clock.h"
#include "base/hash.h"
#include "storage/expiry.h"
#include "storage/flash_tier.h"

namespace mnemo::storage {
namespace {

// Address space reserved beyond -m so that cache_memlimit can raise the limit later.
constexpr size_t kReserveFactor = 4;
constexpr size_t kMaxReserveBytes = size_t{64} << 30;
// The hash table is sized for items of at least this many bytes on average; smaller ones still
// fit (see HashTable), in longer chains.
constexpr size_t kMinAverageItemBytes = 16;

size_t ReserveBytes(const CacheOptions& options) {
  // A memory file holds -m and no more: what a restart finds must be all the cache had.
  if (!options.memory_file.empty()) return options.memory_limit;
  const size_t wanted = std::max(options.memory_limit,
                                 std::min(options.memory_limit * kReserveFactor, kMaxReserveBytes));
  return std::min(wanted, size_t{kMaxSegments} * options.segment_size);
}

}  // namespace

CacheOptions CacheCore::Normalize(CacheOptions options) {
  size_t segment = std::clamp<size_t>(options.segment_size, kMinSegmentSize, kMaxSegmentSize);
  while (options.memory_limit / segment < kMinSegments && segment / 2 >= kMinSegmentSize) {
    segment /= 2;
  }
  options.segment_size = segment;
  return options;
}

CacheCore::CacheCore(CacheOptions normalized)
    : options(std::move(normalized)),
      pool(options.memory_limit, ReserveBytes(options), options.segment_size),
      buckets(&pool),
      table(options.hash_power_initial,
            (ReserveBytes(options) + FlashBytes(options)) / kMinAverageItemBytes, this),
      limit_bytes(options.memory_limit) {
  table.SetMemoryLimit(IndexLimit(options.memory_limit));
}

size_t CacheCore::FlashBytes(const CacheOptions& options) {
  if (options.flash == nullptr) return 0;
  return size_t{options.flash->segment_count()} * options.flash->segment_size();
}

bool CacheCore::SetMemoryLimit(size_t bytes) {
  if (!pool.SetLimit(bytes)) return false;
  table.SetMemoryLimit(IndexLimit(bytes));
  limit_bytes.store(bytes, std::memory_order_relaxed);
  return true;
}

Status CacheCore::Init() {
  Status status = pool.Init(options.memory_file);
  if (!status.ok()) return status;
  void* table_memory = nullptr;
  if (!options.memory_file.empty()) {
    durable = std::make_unique<DurableIndex>(IndexPathFor(options.memory_file));
    status = durable->Open({options.memory_limit, options.segment_size, pool.max_segments(),
                            options.use_cas, options.item_size_max, table.reservation_bytes()},
                           &crashed);
    if (!status.ok()) return status;
    pool.PlaceDescriptors(durable->descriptors());
    table_memory = durable->table();
    clocks_ = durable->clocks();
  }
  HashTable::Commit commit;
  if (durable != nullptr) {
    commit = [index = durable.get()](size_t offset, size_t bytes) {
      return index->CommitTable(offset, bytes);
    };
  }
  status = table.Init(table_memory, std::move(commit));
  if (!status.ok()) return status;
  SpinLockGuard guard(dead_lock_);
  dead_.reserve(pool.max_segments());
  return Status::Ok();
}

uint64_t CacheCore::HashAt(ItemLocation loc) const {
  if (OnFlash(loc.segment)) return flash->HashAt(loc);
  const char* item = ItemAt(loc);
  ItemHeader header;
  ItemHeader::Decode(item, &header);
  return HashKey(ItemKey(item, header));
}

uint32_t CacheCore::Now() {
  const uint32_t now = MonotonicSeconds();
  uint32_t at = clocks_->flush_at.load(std::memory_order_acquire);
  if (at != 0 && now >= at && clocks_->flush_at.compare_exchange_strong(at, 0)) {
    clocks_->flush_gen.fetch_add(1, std::memory_order_acq_rel);
  }
  return now;
}

void CacheCore::FlushAll(const FlushRequest& request) {
  // The latest flush_all replaces a pending one, as memcached's oldest_live does.
  const uint32_t at = MonotonicSeconds() + request.delay_seconds;
  clocks_->flushed_second.store(request.whole_second ? at : 0, std::memory_order_relaxed);
  if (request.delay_seconds == 0) {
    clocks_->flush_at.store(0, std::memory_order_release);
    clocks_->flush_gen.fetch_add(1, std::memory_order_acq_rel);
  } else {
    clocks_->flush_at.store(at, std::memory_order_release);
  }
}

CacheCore::SavedClocks CacheCore::SaveClocks() const {
  return {clocks_->next_epoch.load(std::memory_order_relaxed), flush_gen(),
          clocks_->flush_at.load(std::memory_order_relaxed),
          clocks_->flushed_second.load(std::memory_order_relaxed)};
}

void CacheCore::RestoreClocks(const SavedClocks& clocks) {
  clocks_->next_epoch.store(clocks.next_epoch, std::memory_order_relaxed);
  clocks_->flush_gen.store(clocks.flush_gen, std::memory_order_relaxed);
  clocks_->flush_at.store(clocks.flush_at, std::memory_order_relaxed);
  clocks_->flushed_second.store(clocks.flushed_second, std::memory_order_relaxed);
}

uint64_t CacheCore::VersionOf(ItemLocation loc) const {
  return CasBase() + pool.Info(loc.segment).epoch * pool.segment_size() + loc.offset + 1;
}

bool CacheCore::Older(uint64_t token, uint64_t current) const {
  if (token == current) return false;
  // Below the first CAS this cache derives (epoch 1, offset 0): never issued by it, so a client's
  // own (meta E), compared with a client's CAS as memcached compares, and newer than any other.
  const uint64_t first_derived = CasBase() + pool.segment_size() + 1;
  if (token < first_derived) return current < first_derived && token < current;
  if (token < current) return true;
  // A derived CAS grows with the epoch of its segment, not with time: an item written later into
  // a segment opened earlier (another TTL bucket) has a lower one, and so may the CAS a touch
  // carried. So while the item's CAS is one this cache could have derived, any such CAS counts
  // as older than it; one it never issued does not.
  const uint64_t issued =
      CasBase() + clocks_->next_epoch.load(std::memory_order_relaxed) * pool.segment_size();
  return current < issued && token < issued;
}

uint64_t CacheCore::UnusedCas() {
  return options.use_cas ? NextEpoch() * pool.segment_size() + 1 : 0;
}

uint64_t CacheCore::CasOf(ItemLocation loc, const ItemHeader& header) const {
  if (!options.use_cas) return 0;
  return header.has_cas ? header.cas : VersionOf(loc);
}

void CacheCore::SetCas(ItemHeader* header, std::optional<uint64_t> cas) const {
  // With -C every CAS reads as 0: carrying one would cost 8 bytes for nothing.
  header->has_cas = options.use_cas && cas.has_value();
  header->cas = header->has_cas ? *cas : 0;
}

bool CacheCore::Flushed(ItemLocation loc) const {
  if (OnFlash(loc.segment)) return flash->Flushed(loc.segment, flush_gen());
  return pool.Info(loc.segment).flush_gen.load(std::memory_order_relaxed) < flush_gen();
}

bool CacheCore::Invalid(ItemLocation loc, const ItemHeader& header, uint32_t now) const {
  return IsExpired(header.expiry, now) || Flushed(loc);
}

void CacheCore::LiveAdd(uint32_t segment, size_t size) {
  if (OnFlash(segment)) return flash->LiveAdd(segment, size);
  SegmentInfo& info = pool.Info(segment);
  info.live_items.fetch_add(1, std::memory_order_relaxed);
  info.live_bytes.fetch_add(size, std::memory_order_relaxed);
}

void CacheCore::LiveSub(uint32_t segment, size_t size) {
  if (OnFlash(segment)) return flash->LiveSub(segment, size);
  SegmentInfo& info = pool.Info(segment);
  info.live_bytes.fetch_sub(size, std::memory_order_relaxed);
  // Sequentially consistent, as the store of kSealed (TtlBuckets) and the load in Seal: of this
  // unlink and the seal, at least one sees the other, so a segment that dies sealed is queued.
  // (A merge destination the evictor seals is not re-checked so: if its last item goes meanwhile,
  // the background pass's scan of the descriptors finds it dead within a second.)
  if (info.live_items.fetch_sub(1, std::memory_order_seq_cst) != 1) return;
  if (info.state.load(std::memory_order_seq_cst) == SegmentState::kSealed) NoteDead(segment);
}

void CacheCore::NoteDead(uint32_t id) {
  SpinLockGuard guard(dead_lock_);
  if (dead_.size() < dead_.capacity()) dead_.push_back(id);
}

uint32_t CacheCore::TakeDead() {
  SpinLockGuard guard(dead_lock_);
  if (dead_.empty()) return kNoSegment;
  const uint32_t id = dead_.back();
  dead_.pop_back();
  return id;
}

void CacheCore::OpenSegment(uint32_t id, uint16_t bucket, uint32_t now) {
  SegmentInfo& info = pool.Info(id);
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

uint64_t CacheCore::OldestItemAge(uint32_t now) const {
  // A scan of the descriptors, a few words per segment: `stats items` is rare. A descriptor being
  // reopened meanwhile gives a slightly wrong age, never a torn one (create_time is atomic).
  uint32_t oldest = now;
  const uint32_t touched = pool.touched();
  for (uint32_t id = 0; id < touched; ++id) {
    const SegmentInfo& info = pool.Info(id);
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

void RaiseMaxExpiry(SegmentInfo& info, uint32_t expiry) {
  uint32_t current = info.max_expiry.load(std::memory_order_relaxed);
  while (current < expiry &&
         !info.max_expiry.compare_exchange_weak(current, expiry, std::memory_order_relaxed)) {
  }
}

uint32_t NoteAccessAt(SegmentInfo& info, uint32_t now) {
  const uint32_t before = info.last_access.load(std::memory_order_relaxed);
  if (before < now) info.last_access.store(now, std::memory_order_relaxed);
  return before;
}

int64_t TtlOf(uint32_t expiry, uint32_t now) {
  if (expiry == kNeverExpires) return -1;
  return expiry > now ? expiry - now : 0;
}

}  // namespace mnemo::storage
