#include "storage/crash_recovery.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/hash.h"
#include "base/logging.h"
#include "storage/hash_table.h"
#include "storage/item.h"
#include "storage/warm_restart.h"

namespace mnemo::storage {
namespace {

// A slot of the dead process's table.
struct Candidate {
  uint32_t segment = 0;
  uint32_t offset = 0;
  uint32_t counter = 0;
  uint32_t tag = 0;
};

bool HoldsItems(uint8_t state) {
  const auto s = static_cast<SegmentState>(state);
  return s == SegmentState::kOpen || s == SegmentState::kSealed || s == SegmentState::kReclaiming;
}

// The span of the item at `offset` of a segment of `segment_size` bytes at `data`, read without
// reading past the segment: a header cut off by its end (garbage past the item being written)
// reads as a zero-length key, which no item has.
ItemSpan SpanAt(const char* data, size_t offset, size_t segment_size, bool* chained) {
  // Zero beyond the header's most, so that a varint of garbage stops inside the buffer.
  char head[2 * kItemMaxHeader] = {};
  const size_t room = segment_size - offset;
  std::memcpy(head, data + offset, std::min(room, kItemMaxHeader));
  ItemSpan span = ItemSpanAt(head);
  *chained = (item_internal::LoadInfo(head) & kItemChained) != 0;
  if (span.header_size + span.key_size > room) span.key_size = 0;
  return span;
}

// What a restore needs of the item at `item`: its key's hash (which the slot's tag must match),
// expiry and size.
WarmRestart::WalkedItem Walk(const char* item) {
  ItemHeader header;
  ItemHeader::Decode(item, &header);
  return {HashKey(ItemKey(item, header)), header.expiry, static_cast<uint32_t>(header.item_size())};
}

RestartMeta::Segment Describe(uint32_t id, const CrashState::Segment& s, RestartMeta::Kind kind) {
  RestartMeta::Segment out;
  out.id = id;
  out.write_offset = s.write_offset;
  out.max_expiry = s.max_expiry;
  out.flush_gen = s.flush_gen;
  out.epoch = s.epoch;
  out.create_time = s.create_time;
  out.last_access = s.last_access;
  out.ttl_bucket = s.ttl_bucket;
  out.kind = kind;
  out.chain_next = s.chain_next;
  return out;
}

}  // namespace

Status CrashRecovery::Collect(const CrashState& crashed, RestartMeta* meta,
                              std::vector<WarmRestart::WalkedItem>* walked) const {
  const SegmentPool& pool = core_.pool;
  const uint32_t max_segments = pool.max_segments();
  const size_t segment_size = pool.segment_size();
  if (crashed.segments.size() != max_segments) {
    return Status::Error("its layout is not this cache's");
  }
  *meta = crashed.meta;
  meta->segments.clear();
  meta->items.clear();
  walked->clear();

  std::vector<Candidate> candidates;
  candidates.reserve(crashed.slots.size());
  for (const uint64_t bits : crashed.slots) {
    const Slot slot = Slot::FromBits(bits);
    const ItemLocation loc = slot.location();
    // Items on flash are dropped: the tier starts empty.
    if (loc.segment >= max_segments || !HoldsItems(crashed.segments[loc.segment].state)) continue;
    candidates.push_back({loc.segment, loc.offset, slot.counter(), slot.tag()});
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return a.segment != b.segment ? a.segment < b.segment : a.offset < b.offset;
  });

  // The clock resumes from the last second the dead process is known to have seen; the epochs
  // above every segment's, which a crash between taking an epoch and storing it cannot break.
  meta->saved_now = kFirstSecond;
  for (const CrashState::Segment& s : crashed.segments) {
    meta->saved_now = std::max({meta->saved_now, s.last_access, s.create_time});
    meta->next_epoch = std::max(meta->next_epoch, s.epoch + 1);
  }

  std::vector<bool> chained(max_segments, false);  // claimed by a large item's chain
  for (size_t first = 0; first < candidates.size();) {
    const uint32_t id = candidates[first].segment;
    size_t end = first;
    while (end < candidates.size() && candidates[end].segment == id) ++end;
    const CrashState::Segment& s = crashed.segments[id];
    const char* data = pool.Data(id);
    const size_t items_before = meta->items.size();
    if (s.chain_head) {
      // One item, at 0, whose value continues in a chain of whole segments.
      bool is_chained = false;
      const ItemSpan span = SpanAt(data, 0, segment_size, &is_chained);
      const Candidate& c = candidates[first];
      std::vector<uint32_t> chain;
      const bool is_head =
          c.offset == 0 && is_chained && span.key_size != 0 && span.item_size() > segment_size;
      const WarmRestart::WalkedItem head = is_head ? Walk(data) : WarmRestart::WalkedItem{};
      bool whole = is_head && Slot::TagOf(head.hash) == c.tag;
      uint32_t next = s.chain_next;
      for (size_t count = (span.item_size() + segment_size - 1) / segment_size; whole && count > 1;
           --count) {
        whole = next < max_segments && !chained[next] &&
                static_cast<SegmentState>(crashed.segments[next].state) == SegmentState::kChained;
        if (whole) {
          chain.push_back(next);
          next = crashed.segments[next].chain_next;
        }
      }
      if (whole && next == kNoSegment) {
        meta->segments.push_back(Describe(id, s, RestartMeta::Kind::kChainHead));
        meta->items.push_back({id, 0, static_cast<uint8_t>(c.counter)});
        walked->push_back(head);
        for (const uint32_t link : chain) {
          chained[link] = true;
          meta->segments.push_back(
              Describe(link, crashed.segments[link], RestartMeta::Kind::kChained));
        }
      }
    } else {
      // A walk from the first item to the write offset; it stops at the first header that does
      // not parse, or runs past the offset: the item being written when the process died.
      const size_t write_offset = std::min<size_t>(s.write_offset, segment_size);
      size_t next = first;
      for (size_t offset = 0; offset < write_offset && next < end;) {
        bool is_chained = false;
        const ItemSpan span = SpanAt(data, offset, segment_size, &is_chained);
        if (span.key_size == 0 || is_chained || span.item_size() > write_offset - offset) break;
        while (next < end && candidates[next].offset < offset) ++next;  // not an item's start
        // Once per location: an erase that moved a chain's last slot into a hole and died before
        // clearing it left the same word twice.
        if (next < end && candidates[next].offset == offset) {
          const WarmRestart::WalkedItem item = Walk(data + offset);
          if (Slot::TagOf(item.hash) == candidates[next].tag) {
            meta->items.push_back({id, static_cast<uint32_t>(offset),
                                   static_cast<uint8_t>(candidates[next].counter)});
            walked->push_back(item);
          }
          while (next < end && candidates[next].offset == offset) ++next;
        }
        offset += span.item_size();
      }
      if (meta->items.size() != items_before) {
        meta->segments.push_back(Describe(id, s, RestartMeta::Kind::kItems));
      }
    }
    first = end;
  }
  std::sort(meta->segments.begin(), meta->segments.end(),
            [](const auto& a, const auto& b) { return a.id < b.id; });
  return Status::Ok();
}

size_t CrashRecovery::Recover(const CrashState& crashed, ThreadContext& ctx) {
  const auto start = std::chrono::steady_clock::now();
  WarmRestart restart(core_);
  if (!restart.Fits(crashed.meta, "its index describes")) return 0;
  RestartMeta meta;
  std::vector<WarmRestart::WalkedItem> walked;
  const Status status = Collect(crashed, &meta, &walked);
  if (!status.ok()) {
    MNEMO_LOG(0, "[restart] durable index %s cannot be used (%s), starting with a clean cache\n",
              core_.durable->path().c_str(), status.message().c_str());
    return 0;
  }
  MNEMO_LOG(0, "[restart] recovering after a crash: %zu of %zu slots point at items\n",
            meta.items.size(), crashed.slots.size());
  const double checked =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return restart.Apply(meta, walked, start, checked, ctx);
}

}  // namespace mnemo::storage
