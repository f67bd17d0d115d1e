#include "storage/hash_table.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace mnemo::storage {
namespace {

// Reserves address space that the kernel backs with zeroed pages on first touch, so that the
// table's resident size follows its use, not its reservation.
Status ReserveZeroed(size_t bytes, const char* what, void** out) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    return Status::Error("cannot reserve " + std::to_string(bytes) +
                         " bytes of address space for " + what + ": " + std::strerror(errno));
  }
  *out = p;
  return Status::Ok();
}

constexpr uint32_t kMinPower = std::countr_zero(HashTable::kStripes);

}  // namespace

HashTable::HashTable(int initial_power, size_t max_items, const LocationHasher* hasher)
    : hasher_(hasher) {
  const uint32_t power = std::max<uint32_t>(initial_power, kMinPower);
  max_buckets_ = std::max<size_t>(std::bit_ceil(max_items / 4 + 1), size_t{1} << (power + 1));
  max_overflow_ = max_buckets_;
  initial_buckets_ = size_t{1} << power;
  bucket_limit_.store(max_buckets_, std::memory_order_relaxed);
  overflow_limit_.store(max_overflow_, std::memory_order_relaxed);
  stripes_ = new Stripe[kStripes];
  shape_.store(PackShape(power, 0), std::memory_order_relaxed);
}

void HashTable::SetMemoryLimit(size_t bytes) {
  const size_t fixed = kStripes * sizeof(Stripe);
  const auto buckets = static_cast<size_t>(static_cast<double>(bytes > fixed ? bytes - fixed : 0) /
                                           (sizeof(Bucket) * (1 + kOverflowPerBucket)));
  const size_t bucket_limit = std::min(buckets, max_buckets_);
  bucket_limit_.store(bucket_limit, std::memory_order_relaxed);
  overflow_limit_.store(
      std::min(max_overflow_,
               static_cast<size_t>(static_cast<double>(std::max(bucket_limit, initial_buckets_)) *
                                   kOverflowPerBucket)),
      std::memory_order_relaxed);
}

size_t HashTable::bucket_limit() const {
  return std::max(bucket_limit_.load(std::memory_order_relaxed), initial_buckets_);
}

size_t HashTable::memory_limit() const {
  return (bucket_limit() + overflow_limit_.load(std::memory_order_relaxed)) * sizeof(Bucket) +
         kStripes * sizeof(Stripe);
}

HashTable::~HashTable() {
  if (owns_memory_ && buckets_ != nullptr) munmap(buckets_, max_buckets_ * sizeof(Bucket));
  if (owns_memory_ && overflow_ != nullptr) munmap(overflow_, max_overflow_ * sizeof(Bucket));
  delete[] stripes_;
}

Status HashTable::Init(void* memory, Commit commit) {
  if (memory != nullptr) {
    buckets_ = static_cast<Bucket*>(memory);
    overflow_ = buckets_ + max_buckets_;
    commit_ = std::move(commit);
    if (commit_) {
      SpinLockGuard guard(grow_lock_);
      if (!commit_(0, initial_buckets_ * sizeof(Bucket))) {
        return Status::Error("cannot allocate " +
                             std::to_string(initial_buckets_ * sizeof(Bucket)) +
                             " bytes for the hash table in its file");
      }
      committed_buckets_ = initial_buckets_;
    }
    return Status::Ok();
  }
  owns_memory_ = true;
  void* buckets = nullptr;
  Status status = ReserveZeroed(max_buckets_ * sizeof(Bucket), "the hash table", &buckets);
  if (!status.ok()) return status;
  buckets_ = static_cast<Bucket*>(buckets);
  void* overflow = nullptr;
  status =
      ReserveZeroed(max_overflow_ * sizeof(Bucket), "the hash table's overflow buckets", &overflow);
  if (!status.ok()) return status;
  overflow_ = static_cast<Bucket*>(overflow);
  return Status::Ok();
}

size_t HashTable::Index(uint64_t hash) const {
  // Under the caller's stripe lock the answer for this hash cannot change: only a split of this
  // very bucket would change it, and that split needs the same stripe lock (invariant 2).
  const uint64_t shape = shape_.load(std::memory_order_acquire);
  const uint32_t level = static_cast<uint32_t>(shape >> 32);
  const uint64_t split = static_cast<uint32_t>(shape);
  const uint64_t index = hash & ((uint64_t{1} << level) - 1);
  return index < split ? hash & ((uint64_t{2} << level) - 1) : index;
}

uint32_t HashTable::Depth(uint64_t hash) const {
  const uint64_t shape = shape_.load(std::memory_order_acquire);
  const uint32_t level = static_cast<uint32_t>(shape >> 32);
  const uint64_t split = static_cast<uint32_t>(shape);
  return (hash & ((uint64_t{1} << level) - 1)) < split ? level + 1 : level;
}

bool HashTable::Append(Bucket* bucket, uint64_t bits, std::vector<uint64_t>* spare) {
  for (;; bucket = OverflowBucket(bucket->next)) {
    for (Slot& slot : bucket->slots) {
      if (slot.empty()) {
        slot.bits_ = bits;
        return true;
      }
    }
    if (bucket->next == 0) break;
  }
  uint64_t next = 0;
  if (spare != nullptr && !spare->empty()) {
    next = spare->back();
    spare->pop_back();
  } else {
    next = AllocateOverflow();
  }
  if (next == 0) return false;
  OverflowBucket(next)->slots[0].bits_ = bits;
  bucket->next = next;
  return true;
}

bool HashTable::Insert(uint64_t hash, ItemLocation loc) {
  if (!Append(&buckets_[Index(hash)], Slot::Encode(Slot::TagOf(hash), loc, 0), nullptr)) {
    return false;
  }
  size_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void HashTable::Erase(uint64_t hash, Slot* slot) {
  // Keep the chain packed (invariant 4): move its last live slot into the hole, and free the last
  // overflow bucket if that leaves it empty.
  Bucket* before_last = nullptr;
  Bucket* last = &buckets_[Index(hash)];
  while (last->next != 0 && !OverflowBucket(last->next)->slots[0].empty()) {
    before_last = last;
    last = OverflowBucket(last->next);
  }
  int last_index = kSlotsPerBucket - 1;
  while (last_index > 0 && last->slots[last_index].empty()) --last_index;
  Slot& tail = last->slots[last_index];
  *slot = tail;
  tail.bits_ = 0;
  if (last_index == 0 && before_last != nullptr) {
    const uint64_t index = before_last->next;
    before_last->next = 0;
    FreeOverflow(index);
  }
  size_.fetch_sub(1, std::memory_order_relaxed);
}

uint64_t HashTable::AllocateOverflow() {
  SpinLockGuard guard(overflow_lock_);
  if (overflow_in_use_.load(std::memory_order_relaxed) >=
      overflow_limit_.load(std::memory_order_relaxed)) {
    return 0;  // invariant 5
  }
  uint64_t index = overflow_free_;
  if (index != 0) {
    Bucket* bucket = OverflowBucket(index);
    overflow_free_ = bucket->next;
    bucket->next = 0;
  } else if (overflow_high_ < max_overflow_ && CommitOverflow(overflow_high_ + 1)) {
    index = ++overflow_high_;
  } else {
    return 0;
  }
  overflow_in_use_.fetch_add(1, std::memory_order_relaxed);
  return index;
}

void HashTable::FreeOverflow(uint64_t index) {
  SpinLockGuard guard(overflow_lock_);
  Bucket* bucket = OverflowBucket(index);
  *bucket = Bucket{};
  bucket->next = overflow_free_;
  overflow_free_ = index;
  overflow_in_use_.fetch_sub(1, std::memory_order_relaxed);
}

void HashTable::Grow(int max_splits) {
  if (!grow_lock_.TryLock()) return;
  for (int i = 0; i < max_splits && size() > bucket_count() * kTargetLoad; ++i) {
    if (bucket_count() >= std::min(bucket_limit(), max_buckets_) || !CommitNextBucket()) break;
    SplitOne();
  }
  grow_lock_.Unlock();
}

void HashTable::Reserve(size_t items) {
  SpinLockGuard guard(grow_lock_);
  while (items > bucket_count() * kTargetLoad &&
         bucket_count() < std::min(bucket_limit(), max_buckets_) && CommitNextBucket()) {
    SplitOne();  // of empty buckets: no slot to move
  }
}

namespace {

// Buckets committed at a time: 1 MiB of buckets (a split per 8 inserts reaches it rarely), 64 KiB
// of overflow buckets (committed under the overflow lock, which inserts spin on).
constexpr size_t kCommitBuckets = 16384;
constexpr size_t kCommitOverflow = 1024;

}  // namespace

bool HashTable::CommitNextBucket() {
  const size_t next = bucket_count();  // the partner of the next split
  if (!commit_ || next < committed_buckets_) return true;
  const size_t end = std::min(max_buckets_, committed_buckets_ + kCommitBuckets);
  if (next < end &&
      commit_(committed_buckets_ * sizeof(Bucket), (end - committed_buckets_) * sizeof(Bucket))) {
    committed_buckets_ = end;
    return true;
  }
  bucket_limit_.store(next, std::memory_order_relaxed);
  return false;
}

bool HashTable::CommitOverflow(uint64_t index) {
  if (!commit_ || index <= committed_overflow_) return true;
  const uint64_t end = std::min<uint64_t>(max_overflow_, committed_overflow_ + kCommitOverflow);
  if (index <= end && commit_((max_buckets_ + committed_overflow_) * sizeof(Bucket),
                              (end - committed_overflow_) * sizeof(Bucket))) {
    committed_overflow_ = end;
    return true;
  }
  overflow_limit_.store(overflow_in_use_.load(std::memory_order_relaxed),
                        std::memory_order_relaxed);
  return false;
}

void HashTable::SplitOne() {
  const uint64_t shape = shape_.load(std::memory_order_relaxed);
  const uint32_t level = static_cast<uint32_t>(shape >> 32);
  const uint32_t split = static_cast<uint32_t>(shape);
  const uint64_t low_half = uint64_t{1} << level;
  SpinLockGuard guard(stripes_[split % kStripes].lock);

  // Detach the whole chain, then deal its slots to the bucket and its partner by the next bit of
  // their hash. The partner's memory has never been used, so it is zero. The chain's overflow
  // buckets are reused for the two new chains, which need at most one more bucket than the old
  // one had: the partner itself.
  thread_local std::vector<uint64_t> moving;
  thread_local std::vector<uint64_t> spare;
  moving.clear();
  spare.clear();
  Bucket* bucket = &buckets_[split];
  for (Bucket* b = bucket;; b = OverflowBucket(b->next)) {
    for (Slot& slot : b->slots) {
      if (slot.empty()) break;
      moving.push_back(slot.bits_);
    }
    if (b->next == 0) break;
    spare.push_back(b->next);
  }
  for (uint64_t index : spare) *OverflowBucket(index) = Bucket{};
  *bucket = Bucket{};
  Bucket* partner = &buckets_[split + low_half];
  for (uint64_t bits : moving) {
    Slot slot;
    slot.bits_ = bits;
    const bool upper = (hasher_->HashAt(slot.location()) & low_half) != 0;
    [[maybe_unused]] const bool added = Append(upper ? partner : bucket, bits, &spare);
  }
  for (uint64_t index : spare) FreeOverflow(index);
  const uint64_t next_shape =
      split + 1 == low_half ? PackShape(level + 1, 0) : PackShape(level, split + 1);
  shape_.store(next_shape, std::memory_order_release);
}

size_t HashTable::bucket_count() const {
  const uint64_t shape = shape_.load(std::memory_order_relaxed);
  return (size_t{1} << (shape >> 32)) + static_cast<uint32_t>(shape);
}

size_t HashTable::memory_bytes() const {
  return (bucket_count() + overflow_in_use_.load(std::memory_order_relaxed)) * sizeof(Bucket) +
         kStripes * sizeof(Stripe);
}

int HashTable::power() const { return static_cast<int>(shape_.load() >> 32); }

bool HashTable::expanding() const { return static_cast<uint32_t>(shape_.load()) != 0; }

}  // namespace mnemo::storage
