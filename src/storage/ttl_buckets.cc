#include "storage/ttl_buckets.h"

#include <bit>

#include "storage/expiry.h"

namespace mnemo::storage {
namespace {

// log2 of the bucket width of each group: 8 s, 128 s, 2048 s, 32768 s.
constexpr uint32_t kWidthShift[TtlBuckets::kGroups] = {3, 7, 11, 15};

uint32_t CreatedAt(const SegmentPool& pool, uint32_t id) {
  return pool.Info(id).create_time.load(std::memory_order_relaxed);
}

}  // namespace

uint16_t TtlBuckets::BucketFor(uint32_t expiry, uint32_t now) {
  if (expiry == kNeverExpires) return 0;
  uint64_t ttl = expiry > now ? expiry - now : 0;
  for (uint32_t group = 0; group < kGroups; ++group) {
    const uint64_t span = uint64_t{kBucketsPerGroup} << kWidthShift[group];
    if (ttl < span) {
      return static_cast<uint16_t>(1 + group * kBucketsPerGroup + (ttl >> kWidthShift[group]));
    }
    ttl -= span;
  }
  return kCount - 1;
}

void TtlBuckets::LinkBefore(Bucket& bucket, uint32_t id, uint32_t next) {
  SegmentInfo& info = pool_->Info(id);
  const uint32_t prev = next == kNoSegment ? bucket.tail : pool_->Info(next).prev;
  info.prev = prev;
  info.next = next;
  if (prev == kNoSegment) {
    bucket.head = id;
  } else {
    pool_->Info(prev).next = id;
  }
  if (next == kNoSegment) {
    bucket.tail = id;
  } else {
    pool_->Info(next).prev = id;
  }
  ++bucket.size;
  ++sealed_;
  const uint32_t b = info.ttl_bucket;
  nonempty_[b / 64] |= uint64_t{1} << (b % 64);
  // Sequentially consistent, with the live_items operations of SegmentCache::Seal and LiveSub:
  // of a seal and an unlink of the segment's last item, at least one sees the other.
  info.state.store(SegmentState::kSealed, std::memory_order_seq_cst);
}

void TtlBuckets::Unlink(Bucket& bucket, uint32_t id) {
  SegmentInfo& info = pool_->Info(id);
  const uint32_t next = info.next;
  if (info.prev == kNoSegment) {
    bucket.head = info.next;
  } else {
    pool_->Info(info.prev).next = info.next;
  }
  if (info.next == kNoSegment) {
    bucket.tail = info.prev;
  } else {
    pool_->Info(info.next).prev = info.prev;
  }
  info.prev = kNoSegment;
  info.next = kNoSegment;
  // The hand moves on; past the end it starts again from the oldest.
  if (bucket.cursor == id) bucket.cursor = next != kNoSegment ? next : bucket.head;
  --bucket.size;
  --sealed_;
  if (bucket.size == 0) {
    const uint32_t b = info.ttl_bucket;
    nonempty_[b / 64] &= ~(uint64_t{1} << (b % 64));
  }
  info.state.store(SegmentState::kReclaiming, std::memory_order_release);
}

void TtlBuckets::Append(uint32_t id) {
  SpinLockGuard guard(lock_);
  LinkBefore(buckets_[pool_->Info(id).ttl_bucket], id, kNoSegment);
}

bool TtlBuckets::Detach(uint32_t id) {
  SpinLockGuard guard(lock_);
  SegmentInfo& info = pool_->Info(id);
  if (info.state.load(std::memory_order_relaxed) != SegmentState::kSealed) return false;
  Unlink(buckets_[info.ttl_bucket], id);
  return true;
}

uint32_t TtlBuckets::DetachDead(uint32_t now, uint32_t flush_gen) {
  SpinLockGuard guard(lock_);
  for (size_t word = 0; word < std::size(nonempty_); ++word) {
    for (uint64_t bits = nonempty_[word]; bits != 0; bits &= bits - 1) {
      Bucket& bucket = buckets_[word * 64 + std::countr_zero(bits)];
      const SegmentInfo& info = pool_->Info(bucket.head);
      const uint32_t max_expiry = info.max_expiry.load(std::memory_order_relaxed);
      if ((max_expiry != kNeverExpiresMax && max_expiry <= now) ||
          info.flush_gen.load(std::memory_order_relaxed) < flush_gen ||
          info.live_items.load(std::memory_order_acquire) == 0) {
        const uint32_t id = bucket.head;
        Unlink(bucket, id);
        return id;
      }
    }
  }
  return kNoSegment;
}

uint32_t TtlBuckets::DetachOldest() {
  SpinLockGuard guard(lock_);
  uint32_t oldest = kNoSegment;
  for (size_t word = 0; word < std::size(nonempty_); ++word) {
    for (uint64_t bits = nonempty_[word]; bits != 0; bits &= bits - 1) {
      const uint32_t head = buckets_[word * 64 + std::countr_zero(bits)].head;
      if (oldest == kNoSegment || CreatedAt(*pool_, head) < CreatedAt(*pool_, oldest)) {
        oldest = head;
      }
    }
  }
  if (oldest != kNoSegment) Unlink(buckets_[pool_->Info(oldest).ttl_bucket], oldest);
  return oldest;
}

uint32_t TtlBuckets::DetachNextToMerge() {
  SpinLockGuard guard(lock_);
  Bucket* chosen = nullptr;
  uint32_t chosen_start = kNoSegment;
  for (size_t word = 0; word < std::size(nonempty_); ++word) {
    for (uint64_t bits = nonempty_[word]; bits != 0; bits &= bits - 1) {
      Bucket& bucket = buckets_[word * 64 + std::countr_zero(bits)];
      const uint32_t start = bucket.cursor != kNoSegment ? bucket.cursor : bucket.head;
      if (chosen == nullptr || CreatedAt(*pool_, start) < CreatedAt(*pool_, chosen_start)) {
        chosen = &bucket;
        chosen_start = start;
      }
    }
  }
  if (chosen == nullptr) return kNoSegment;
  const uint32_t next = pool_->Info(chosen_start).next;
  Unlink(*chosen, chosen_start);
  chosen->cursor = next != kNoSegment ? next : chosen->head;
  return chosen_start;
}

void TtlBuckets::InsertMerged(uint32_t id) {
  SpinLockGuard guard(lock_);
  Bucket& bucket = buckets_[pool_->Info(id).ttl_bucket];
  LinkBefore(bucket, id, bucket.cursor);
}

size_t TtlBuckets::sealed() const {
  SpinLockGuard guard(lock_);
  return sealed_;
}

}  // namespace mnemo::storage
