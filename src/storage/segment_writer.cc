#include "storage/segment_writer.h"

#include "storage/expiry.h"

namespace mnemo::storage {

bool SegmentWriter::Reserve(ThreadContext& ctx, size_t size, uint32_t expiry, uint32_t now,
                            Placement* place) {
  SegmentPool& pool = core_.pool;
  const size_t segment_size = pool.segment_size();
  const uint16_t bucket = TtlBuckets::BucketFor(expiry, now);
  const uint32_t expiry_max = expiry == kNeverExpires ? kNeverExpiresMax : expiry;
  if (size > segment_size) {
    // A large item: a chain of whole segments, the head first. One more than the chain must stay
    // for the others' open segments, or storing it would empty the cache and still fail.
    const size_t count = (size + segment_size - 1) / segment_size;
    if (count + 1 > pool.limit()) return false;
    const uint32_t head = reclaim_.Acquire(ctx, SegmentState::kOpen);
    if (head == kNoSegment) return false;
    core_.OpenSegment(head, bucket, now);
    SegmentInfo& info = pool.Info(head);
    info.chain_head = true;
    info.write_offset.store(static_cast<uint32_t>(segment_size), std::memory_order_relaxed);
    RaiseMaxExpiry(info, expiry_max);
    uint32_t tail = head;
    for (size_t i = 1; i < count; ++i) {
      const uint32_t next = reclaim_.Acquire(ctx, SegmentState::kChained);
      if (next == kNoSegment) {
        pool.Free(head);
        return false;
      }
      pool.Info(tail).chain_next = next;
      tail = next;
    }
    place->loc = {head, 0};
    place->chained = true;
    return true;
  }
  uint32_t displaced = kNoSegment;
  ThreadContext::OpenSegment& entry = ctx.EntryFor(bucket, &displaced);
  if (displaced != kNoSegment) Seal(displaced);
  if (entry.segment != kNoSegment) {
    const SegmentInfo& info = pool.Info(entry.segment);
    // A segment opened before a flush holds only invalid items; a new one starts valid.
    if (info.flush_gen.load(std::memory_order_relaxed) != core_.flush_gen() ||
        info.write_offset.load(std::memory_order_relaxed) + size > segment_size) {
      Seal(entry.segment);
      entry.segment = kNoSegment;
    }
  }
  if (entry.segment == kNoSegment) {
    const uint32_t id = reclaim_.Acquire(ctx, SegmentState::kOpen);
    if (id == kNoSegment) return false;
    core_.OpenSegment(id, bucket, now);
    entry.segment = id;
  }
  SegmentInfo& info = pool.Info(entry.segment);
  const uint32_t offset = info.write_offset.load(std::memory_order_relaxed);
  info.write_offset.store(static_cast<uint32_t>(offset + size), std::memory_order_relaxed);
  RaiseMaxExpiry(info, expiry_max);
  NoteAccessAt(info, now);
  place->loc = {entry.segment, offset};
  place->chained = false;
  return true;
}

void SegmentWriter::Finish(const Placement& place, bool linked) {
  if (!place.chained) return;
  if (linked) {
    Seal(place.loc.segment);
  } else {
    core_.pool.Free(place.loc.segment);
  }
}

ItemCursor SegmentWriter::WriteHeader(const Placement& place, ItemHeader header,
                                      std::string_view key) {
  header.chained = place.chained;
  char bytes[kItemMaxHeader];
  const size_t size = header.Encode(bytes);
  ItemCursor cursor(core_.pool, place.loc);
  cursor.Write(bytes, size);
  cursor.Write(key.data(), key.size());
  return cursor;
}

void SegmentWriter::Seal(uint32_t id) {
  // Only the owner links items into a segment it has open, so no item of it can become live
  // again: with none live now, nothing can reach it, and it is free at once.
  SegmentInfo& info = core_.pool.Info(id);
  if (info.live_items.load(std::memory_order_acquire) == 0) {
    core_.pool.Free(id);
    return;
  }
  core_.buckets.Append(id);
  // Its last item may have been unlinked while it was still open (see CacheCore::LiveSub).
  if (info.live_items.load(std::memory_order_seq_cst) == 0) core_.NoteDead(id);
}

void SegmentWriter::SealOpenSegments(ThreadContext& ctx) {
  for (auto& entry : ctx.open()) {
    if (entry.segment != kNoSegment) Seal(entry.segment);
    entry.segment = kNoSegment;
  }
}

void SegmentWriter::SealDeadOpenSegments(ThreadContext& ctx, uint32_t now) {
  // Only segments that hold nothing valid: sealing one with a live item would waste its free
  // space, a segment per tick for a worker that writes less often than that.
  for (auto& entry : ctx.open()) {
    if (entry.segment == kNoSegment) continue;
    const SegmentInfo& info = core_.pool.Info(entry.segment);
    const uint32_t max_expiry = info.max_expiry.load(std::memory_order_relaxed);
    const bool expired = max_expiry != kNeverExpiresMax && max_expiry <= now;
    if (expired || info.flush_gen.load(std::memory_order_relaxed) != core_.flush_gen() ||
        info.live_items.load(std::memory_order_acquire) == 0) {
      Seal(entry.segment);
      entry.segment = kNoSegment;
    }
  }
}

}  // namespace mnemo::storage
