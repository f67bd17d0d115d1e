#include "storage/flash_tier.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>

#include "base/clock.h"
#include "base/crc32c.h"
#include "base/hash.h"
#include "base/logging.h"
#include "storage/cache_core.h"

namespace mnemo::storage {
namespace {

void StoreLe32(char* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>(v >> (8 * i));
}
uint32_t LoadLe32(const char* in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(in[i])} << (8 * i);
  return v;
}

std::span<const uint8_t> AsBytes(const char* data, size_t size) {
  return {reinterpret_cast<const uint8_t*>(data), size};
}
std::span<uint8_t> AsBytes(char* data, size_t size) {
  return {reinterpret_cast<uint8_t*>(data), size};
}
char* Bytes(flash::AlignedBuffer& buffer) { return reinterpret_cast<char*>(buffer.data()); }

}  // namespace

struct FlashTier::Segment {
  std::atomic<uint32_t> generation{0};
  std::atomic<uint32_t> live_items{0};
  std::atomic<uint64_t> live_bytes{0};
  std::atomic<uint32_t> flush_gen{0};
  // Header and records written; final once the buffer has moved on.
  std::atomic<uint32_t> end{0};
  std::atomic<uint32_t> written_at{0};  // MonotonicSeconds() when the buffer took it
};

FlashTier::FlashTier(CacheCore& core, const flash::FlashSpace& space)
    : core_(core),
      space_(space),
      segment_size_(core.pool.segment_size()),
      first_id_(core.pool.max_segments()),
      segment_count_(static_cast<uint32_t>(
          std::min<uint64_t>(space.segment_count(), uint64_t{kMaxSegments} - first_id_))),
      buffer_(segment_size_) {}

FlashTier::~FlashTier() = default;

Status FlashTier::Init() {
  if (space_.segment_size() != segment_size_) {
    return Status::Error("ext_path: flash segments of " + std::to_string(space_.segment_size()) +
                         " bytes, but the cache's are " + std::to_string(segment_size_));
  }
  if (segment_count_ < 2) return Status::Error("ext_path: fewer than 2 flash segments");
  segments_ = std::make_unique<Segment[]>(segment_count_);
  reuse_buffer_ = flash::AlignedBuffer(segment_size_);
  MutexLock lock(buffer_mu_);
  if (!buffer_.valid() || reuse_buffer_.data() == nullptr) {
    return Status::Error("ext_path: no memory for the write buffers");
  }
  enabled_.store(true, std::memory_order_relaxed);
  return Status::Ok();
}

bool FlashTier::MakeRoom(size_t item_size, uint32_t flush_gen, ReclaimCounters* counters) {
  if (!enabled_.load(std::memory_order_relaxed)) return false;
  const size_t record = item_size + kRecordTrailer;
  if (kHeaderSize + record > segment_size_) return false;
  bool open = false;
  {
    MutexLock lock(buffer_mu_);
    open = buffer_open_;
    // A flush_all since the buffer's segment was opened ends it (invariant 4).
    if (open && buffer_flush_gen_ == flush_gen && buffer_.used() + record <= segment_size_) {
      return true;
    }
  }
  if (open) {
    const Status written = WriteBuffer();
    if (!written.ok()) {
      enabled_.store(false, std::memory_order_relaxed);
      MNEMO_LOG(0, "%s; the flash tier is off: evicted items are dropped\n",
                written.message().c_str());
      return false;
    }
  }
  const uint32_t index = next_segment_;
  next_segment_ = (next_segment_ + 1) % segment_count_;
  Reuse(index, counters);
  Segment& segment = segments_[index];
  segment.flush_gen.store(flush_gen, std::memory_order_relaxed);
  segment.written_at.store(MonotonicSeconds(), std::memory_order_relaxed);
  MutexLock lock(buffer_mu_);
  buffer_.Reset(index);
  buffer_open_ = true;
  buffer_flush_gen_ = flush_gen;
  segment.end.store(kHeaderSize, std::memory_order_release);
  ++sequence_;
  return true;
}

ItemLocation FlashTier::Append(const ItemHeader& header, const char* body) {
  char encoded[kItemMaxHeader];
  const size_t header_size = header.Encode(encoded);
  const size_t body_size = header.item_size() - header_size;
  char trailer[kRecordTrailer];
  StoreLe32(trailer, Crc32c(body, body_size, Crc32c(encoded, header_size)));
  MutexLock lock(buffer_mu_);
  // MakeRoom made room (invariant 1): the append fits.
  const uint32_t offset = *buffer_.Append(
      {AsBytes(encoded, header_size), AsBytes(body, body_size), AsBytes(trailer, kRecordTrailer)});
  segments_[buffer_.segment()].end.store(static_cast<uint32_t>(buffer_.used()),
                                         std::memory_order_release);
  objects_written_.fetch_add(1, std::memory_order_relaxed);
  item_bytes_written_.fetch_add(header.item_size(), std::memory_order_relaxed);
  return {first_id_ + buffer_.segment(), offset};
}

Status FlashTier::WriteBuffer() {
  std::span<const uint8_t> bytes;
  uint32_t index = 0;
  {
    MutexLock lock(buffer_mu_);
    bytes = buffer_.Seal(sequence_);
    index = buffer_.segment();
  }
  // Without the lock, so that reads of other segments go on while the device writes. Readers of
  // this one still read the buffer, which nothing changes until the next Reset (invariant 1).
  const flash::FlashSpace::Place place = space_.Locate(index);
  Status status = place.device->Write(place.offset, bytes);
  if (status.ok()) {
    bytes_written_.fetch_add(bytes.size(), std::memory_order_relaxed);
  } else {
    // The segment's records are lost, and the device may hold an older use of it, whose records
    // would read as valid: a new generation with no records makes every read of it a miss, and
    // the lookup that meets a slot pointing there drops it.
    io_errors_.fetch_add(1, std::memory_order_relaxed);
    Segment& segment = segments_[index];
    segment.end.store(0, std::memory_order_relaxed);
    segment.generation.fetch_add(1, std::memory_order_acq_rel);
  }
  MutexLock lock(buffer_mu_);
  buffer_open_ = false;
  return status;
}

void FlashTier::Reuse(uint32_t index, ReclaimCounters* counters) {
  Segment& segment = segments_[index];
  const uint32_t end = segment.end.load(std::memory_order_acquire);
  if (end != 0) segment_reuses_.fetch_add(1, std::memory_order_relaxed);
  if (segment.live_items.load(std::memory_order_acquire) != 0) {
    segment_evictions_.fetch_add(1, std::memory_order_relaxed);
    char* const data = Bytes(reuse_buffer_);
    const flash::FlashSpace::Place place = space_.Locate(index);
    const size_t length = std::min<size_t>(segment_size_, flash::AlignUp(end));
    if (!place.device->Read(place.offset, reuse_buffer_.span().first(length)).ok()) {
      CountReadError();
    } else {
      for (uint32_t offset = kHeaderSize; offset + kItemMinHeader + kRecordTrailer <= end;) {
        const char* item = data + offset;
        const ItemSpan span = ItemSpanAt(item);
        const size_t size = span.item_size();
        if (offset + size + kRecordTrailer > end || Crc32c(item, size) != LoadLe32(item + size)) {
          // The rest cannot be walked; slots left pointing here are dropped by the lookups that
          // meet them (invariant 2).
          CountCorrupt();
          break;
        }
        const uint64_t hash = HashKey({item + span.header_size, span.key_size});
        const ItemLocation loc{first_id_ + index, offset};
        {
          SpinLockGuard guard(core_.table.StripeFor(hash));
          Slot* slot = core_.table.FindLocation(hash, loc);
          if (slot != nullptr) {
            core_.table.Erase(hash, slot);
            LiveSub(loc.segment, size);
            ++counters->items_unlinked;
            counters->bytes_unlinked += size;
            objects_evicted_.fetch_add(1, std::memory_order_relaxed);
            bytes_evicted_.fetch_add(size, std::memory_order_relaxed);
          }
        }
        offset += static_cast<uint32_t>(size + kRecordTrailer);
      }
    }
  }
  segment.live_items.store(0, std::memory_order_relaxed);
  segment.live_bytes.store(0, std::memory_order_relaxed);
  segment.end.store(0, std::memory_order_relaxed);
  segment.generation.fetch_add(1, std::memory_order_acq_rel);
}

uint32_t FlashTier::generation(ItemLocation loc) const {
  return segments_[loc.segment - first_id_].generation.load(std::memory_order_acquire);
}

FlashTier::ByteRead FlashTier::ReadBytes(uint32_t index, size_t offset, size_t size, char* out,
                                         ThreadContext::FlashWaits* waits) {
  {
    MutexLock lock(buffer_mu_);
    if (buffer_open_ && buffer_.segment() == index) {
      return buffer_.Read(static_cast<uint32_t>(offset), AsBytes(out, size)) ? ByteRead::kRead
                                                                             : ByteRead::kFailed;
    }
  }
  return ReadDevice(index, offset, size, out, waits);
}

FlashTier::ByteRead FlashTier::ReadDevice(uint32_t index, size_t offset, size_t size, char* out,
                                          ThreadContext::FlashWaits* waits) const {
  const flash::FlashSpace::Place place = space_.Locate(index);
  const flash::FlashDevice& device = *place.device;
  const uint64_t at = place.offset + offset;
  size_t done = 0;
  if (waits != nullptr && waits->allowed) {
    switch (device.TryReadCached(at, AsBytes(out, size), &done)) {
      case flash::FlashDevice::TryRead::kDone:
        return ByteRead::kRead;
      case flash::FlashDevice::TryRead::kFailed:
        return ByteRead::kFailed;
      case flash::FlashDevice::TryRead::kWouldBlock:
        break;
    }
    const FlashWait wait{device.cached_fd(), at + done, static_cast<uint32_t>(size - done)};
    // After a wait, only bytes past the ones waited for, on the same device, wait again: the
    // offsets waited for in a row grow, so the read that waited ends (Cache::SetFlashWaitServed).
    const std::optional<FlashWait>& served = waits->served;
    if (!served.has_value() ||
        (served->fd == wait.fd && wait.offset >= served->offset + served->length)) {
      waits->pending = wait;
      return ByteRead::kWait;
    }
  }
  return device.ReadCached(at + done, AsBytes(out + done, size - done)).ok() ? ByteRead::kRead
                                                                             : ByteRead::kFailed;
}

FlashTier::ReadResult FlashTier::Read(ItemLocation loc, uint32_t generation,
                                      ThreadContext::Scratch& scratch, FlashReadSize& read_size,
                                      char** record, ThreadContext::FlashWaits* waits) {
  const uint32_t index = loc.segment - first_id_;
  const Segment& segment = segments_[index];
  const auto changed = [&] {
    return segment.generation.load(std::memory_order_acquire) != generation;
  };
  const uint32_t end = segment.end.load(std::memory_order_acquire);
  const size_t offset = loc.offset;
  if (offset < kHeaderSize || offset + kItemMinHeader + kRecordTrailer > end) {
    return changed() ? ReadResult::kChanged : ReadResult::kCorrupt;
  }
  // The first piece holds the header, which says how long the record is, and most often the rest.
  // It is read into the scratch buffer, which a longer record then outgrows.
  static_assert(FlashReadSize::kMax <= kFirstRead);
  const size_t first = std::min(read_size.next(), end - offset);
  char* out = scratch.Get(kFirstRead);
  // A read that waits has done nothing; one of a reused segment needs no wait.
  const auto wait = [&] {
    if (!changed()) return ReadResult::kWait;
    waits->pending.reset();
    return ReadResult::kChanged;
  };
  ByteRead read = ReadBytes(index, offset, first, out, waits);
  if (read == ByteRead::kWait) return wait();
  bool ok = read == ByteRead::kRead;
  const size_t size = ItemSpanAt(out).item_size();
  const size_t total = size + kRecordTrailer;
  const bool fits = total <= end - offset;
  if (ok && fits && total > first) {
    if (total > kFirstRead) {
      char first_piece[kFirstRead];
      std::memcpy(first_piece, out, first);
      out = scratch.Get(total);
      std::memcpy(out, first_piece, first);
    }
    read = ReadBytes(index, offset + first, total - first, out + first, waits);
    if (read == ByteRead::kWait) return wait();
    ok = read == ByteRead::kRead;
  }
  if (changed()) return ReadResult::kChanged;
  if (!ok) CountReadError();
  const uint8_t info = static_cast<uint8_t>(out[0]);
  if (!ok || !fits || (info & kItemChained) != 0 || Crc32c(out, size) != LoadLe32(out + size)) {
    if (ok) CountCorrupt();
    return ReadResult::kCorrupt;
  }
  objects_read_.fetch_add(1, std::memory_order_relaxed);
  bytes_read_.fetch_add(total, std::memory_order_relaxed);
  read_size.Saw(total);
  *record = out;
  return ReadResult::kOk;
}

bool FlashTier::ReadHead(ItemLocation loc, uint32_t generation, char* head) {
  const uint32_t index = loc.segment - first_id_;
  const Segment& segment = segments_[index];
  const uint32_t end = segment.end.load(std::memory_order_acquire);
  const bool ok = loc.offset + kItemMinHeader <= end &&
                  ReadBytes(index, loc.offset, std::min<size_t>(kFirstRead, end - loc.offset), head,
                            nullptr) == ByteRead::kRead;
  return ok && segment.generation.load(std::memory_order_acquire) == generation;
}

uint32_t FlashTier::written_at(ItemLocation loc) const {
  return segments_[loc.segment - first_id_].written_at.load(std::memory_order_relaxed);
}

uint64_t FlashTier::HashAt(ItemLocation loc) {
  const uint32_t index = loc.segment - first_id_;
  const uint32_t end = segments_[index].end.load(std::memory_order_acquire);
  char first[kFirstRead];
  if (loc.offset + kItemMinHeader > end) return 0;
  if (ReadBytes(index, loc.offset, std::min<size_t>(kFirstRead, end - loc.offset), first,
                nullptr) != ByteRead::kRead) {
    CountReadError();
    return 0;
  }
  const ItemSpan span = ItemSpanAt(first);
  if (span.header_size + span.key_size > kFirstRead) return 0;
  return HashKey({first + span.header_size, span.key_size});
}

void FlashTier::CountCorrupt() {
  if (badcrc_.fetch_add(1, std::memory_order_relaxed) == 0) {
    MNEMO_LOG(0,
              "ext_path: a record read back from flash is corrupt (checksum or layout); "
              "such records are misses, counted in badcrc_from_extstore\n");
  }
}

void FlashTier::CountReadError() {
  if (io_errors_.fetch_add(1, std::memory_order_relaxed) == 0) {
    MNEMO_LOG(0,
              "ext_path: a read of a flash device failed; such reads are misses, counted in "
              "extstore_io_errors\n");
  }
}

void FlashTier::LiveAdd(uint32_t segment, size_t size) {
  Segment& s = segments_[segment - first_id_];
  s.live_items.fetch_add(1, std::memory_order_relaxed);
  s.live_bytes.fetch_add(size, std::memory_order_relaxed);
}

void FlashTier::LiveSub(uint32_t segment, size_t size) {
  Segment& s = segments_[segment - first_id_];
  s.live_bytes.fetch_sub(size, std::memory_order_relaxed);
  s.live_items.fetch_sub(1, std::memory_order_release);
}

bool FlashTier::Flushed(uint32_t segment, uint32_t flush_gen) const {
  return segments_[segment - first_id_].flush_gen.load(std::memory_order_relaxed) < flush_gen;
}

FlashStats FlashTier::Stats() const {
  FlashStats stats;
  stats.limit_bytes = uint64_t{segment_count_} * segment_size_;
  stats.segments_total = segment_count_;
  for (uint32_t i = 0; segments_ != nullptr && i < segment_count_; ++i) {
    const uint32_t items = segments_[i].live_items.load(std::memory_order_relaxed);
    if (items == 0) continue;
    ++stats.segments_used;
    stats.objects_used += items;
    stats.bytes_used += segments_[i].live_bytes.load(std::memory_order_relaxed);
  }
  stats.objects_written = objects_written_.load(std::memory_order_relaxed);
  stats.bytes_written = bytes_written_.load(std::memory_order_relaxed);
  stats.item_bytes_written = item_bytes_written_.load(std::memory_order_relaxed);
  stats.objects_read = objects_read_.load(std::memory_order_relaxed);
  stats.bytes_read = bytes_read_.load(std::memory_order_relaxed);
  stats.segment_reuses = segment_reuses_.load(std::memory_order_relaxed);
  stats.segment_evictions = segment_evictions_.load(std::memory_order_relaxed);
  stats.objects_evicted = objects_evicted_.load(std::memory_order_relaxed);
  stats.bytes_evicted = bytes_evicted_.load(std::memory_order_relaxed);
  stats.badcrc = badcrc_.load(std::memory_order_relaxed);
  stats.io_errors = io_errors_.load(std::memory_order_relaxed);
  stats.enabled = enabled_.load(std::memory_order_relaxed);
  return stats;
}

}  // namespace mnemo::storage
