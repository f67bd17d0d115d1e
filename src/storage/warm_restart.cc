#include "storage/warm_restart.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/crc32c.h"
#include "base/hash.h"
#include "base/logging.h"
#include "storage/item.h"

namespace mnemo::storage {
namespace {

using Clock = std::chrono::steady_clock;

// Items linked between two looks at the clock for the progress line.
constexpr size_t kProgressStride = 1 << 16;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The bytes of a segment its checksum covers.
size_t CheckedBytes(const RestartMeta::Segment& s, size_t segment_size) {
  return s.kind == RestartMeta::Kind::kChained ? segment_size : s.write_offset;
}

std::string Mismatch(const char* name, const std::string& old_value) {
  return std::string("[") + name + "] [old value: " + old_value + "]";
}

}  // namespace

RestartMeta WarmRestart::Collect() const {
  const SegmentPool& pool = core_.pool;
  RestartMeta meta;
  meta.memory_limit = core_.options.memory_limit;
  meta.segment_size = pool.segment_size();
  meta.max_segments = pool.max_segments();
  meta.use_cas = core_.options.use_cas;
  meta.item_size_max = core_.options.item_size_max;
  meta.time_base = ProcessStartWallSeconds();
  meta.saved_now = MonotonicSeconds();
  const CacheCore::SavedClocks clocks = core_.SaveClocks();
  meta.next_epoch = clocks.next_epoch;
  meta.flush_gen = clocks.flush_gen;
  meta.flush_at = clocks.flush_at;
  meta.flushed_second = clocks.flushed_second;

  // Items on flash are not saved: the flash tier starts empty.
  core_.table.ForEachSlot([&](const Slot& slot) {
    const ItemLocation loc = slot.location();
    if (core_.OnFlash(loc.segment)) return;
    ItemHeader header;
    ItemHeader::Decode(core_.ItemAt(loc), &header);
    if (core_.Invalid(loc, header, meta.saved_now)) return;
    meta.items.push_back({loc.segment, loc.offset, static_cast<uint8_t>(slot.counter())});
  });
  std::sort(meta.items.begin(), meta.items.end(), [](const auto& a, const auto& b) {
    return a.segment != b.segment ? a.segment < b.segment : a.offset < b.offset;
  });

  std::vector<RestartMeta::Kind> kinds(pool.max_segments(), RestartMeta::Kind::kItems);
  std::vector<bool> saved(pool.max_segments(), false);
  for (const RestartMeta::Item& item : meta.items) {
    if (saved[item.segment]) continue;
    saved[item.segment] = true;
    const SegmentInfo& info = pool.Info(item.segment);
    if (!info.chain_head) continue;
    kinds[item.segment] = RestartMeta::Kind::kChainHead;
    for (uint32_t next = info.chain_next; next != kNoSegment; next = pool.Info(next).chain_next) {
      saved[next] = true;
      kinds[next] = RestartMeta::Kind::kChained;
    }
  }
  for (uint32_t id = 0; id < pool.max_segments(); ++id) {
    if (!saved[id]) continue;
    const SegmentInfo& info = pool.Info(id);
    RestartMeta::Segment s;
    s.id = id;
    s.write_offset = info.write_offset.load(std::memory_order_relaxed);
    s.max_expiry = info.max_expiry.load(std::memory_order_relaxed);
    s.flush_gen = info.flush_gen.load(std::memory_order_relaxed);
    s.epoch = info.epoch;
    s.create_time = info.create_time.load(std::memory_order_relaxed);
    s.last_access = info.last_access.load(std::memory_order_relaxed);
    s.ttl_bucket = info.ttl_bucket;
    s.kind = kinds[id];
    s.chain_next = info.chain_next;
    s.crc = Crc32c(pool.Data(id), CheckedBytes(s, pool.segment_size()));
    meta.segments.push_back(s);
  }
  return meta;
}

Status WarmRestart::Save() {
  const Clock::time_point start = Clock::now();
  const RestartMeta meta = Collect();
  // The memory first: metadata that exists describes bytes that are in the file.
  Status status = core_.pool.Sync();
  if (status.ok()) status = WriteMetaFile(MetaPathFor(core_.options.memory_file), meta);
  if (!status.ok()) return status;
  MNEMO_LOG(0, "[restart] saved %zu items in %zu segments in %.3f s\n", meta.items.size(),
            meta.segments.size(), SecondsSince(start));
  return Status::Ok();
}

std::string WarmRestart::Incompatible(const RestartMeta& meta) const {
  const SegmentPool& pool = core_.pool;
  if (meta.memory_limit != core_.options.memory_limit) {
    return Mismatch("maxbytes", std::to_string(meta.memory_limit));
  }
  if (meta.segment_size != pool.segment_size()) {
    return Mismatch("segment_size", std::to_string(meta.segment_size));
  }
  if (meta.max_segments != pool.max_segments()) {
    return Mismatch("segments", std::to_string(meta.max_segments));
  }
  if (meta.item_layout != kItemLayoutVersion) {
    return Mismatch("item_layout", std::to_string(meta.item_layout));
  }
  if (meta.use_cas != core_.options.use_cas) {
    return Mismatch("use_cas", meta.use_cas ? "true" : "false");
  }
  if (meta.item_size_max != core_.options.item_size_max) {
    return Mismatch("item_size_max", std::to_string(meta.item_size_max));
  }
  return {};
}

Status WarmRestart::Check(const RestartMeta& meta) const {
  const SegmentPool& pool = core_.pool;
  const size_t segment_size = pool.segment_size();
  const auto fail = [](uint32_t id, const std::string& why) {
    return Status::Error("segment " + std::to_string(id) + ": " + why);
  };
  // Where each saved segment is in meta.segments; -1 if it is not.
  std::vector<int64_t> index(pool.max_segments(), -1);
  for (size_t i = 0; i < meta.segments.size(); ++i) {
    index[meta.segments[i].id] = static_cast<int64_t>(i);
  }
  std::vector<bool> chained_seen(meta.segments.size(), false);
  size_t next_item = 0;
  for (const RestartMeta::Segment& s : meta.segments) {
    const char* data = pool.Data(s.id);
    if (Crc32c(data, CheckedBytes(s, segment_size)) != s.crc)
      return fail(s.id, "checksum mismatch");
    if (s.kind == RestartMeta::Kind::kChained) continue;
    // Its items, by a walk from its first one: each saved location must be an item's start.
    size_t offset = 0;
    const size_t end = s.kind == RestartMeta::Kind::kChainHead ? 1 : s.write_offset;
    while (offset < end) {
      // The walk must not read past the segment's end (nor the mapping's), header included.
      char head[kItemMaxHeader] = {};
      const size_t room = segment_size - offset;
      std::memcpy(head, data + offset, std::min(room, sizeof(head)));
      const ItemSpan span = ItemSpanAt(head);
      const bool chained = (item_internal::LoadInfo(head) & kItemChained) != 0;
      if (span.key_size == 0 || span.header_size > room) return fail(s.id, "bad item header");
      const bool at_item = next_item < meta.items.size() && meta.items[next_item].segment == s.id &&
                           meta.items[next_item].offset == offset;
      if (s.kind == RestartMeta::Kind::kChainHead) {
        if (!chained || !at_item || span.item_size() <= segment_size) {
          return fail(s.id, "not the head of a large item");
        }
        // Its chain: every segment saved, as a continuation, once.
        size_t count = (span.item_size() + segment_size - 1) / segment_size;
        uint32_t next = s.chain_next;
        for (; count > 1; --count) {
          if (next >= pool.max_segments() || index[next] < 0 ||
              meta.segments[index[next]].kind != RestartMeta::Kind::kChained ||
              chained_seen[index[next]]) {
            return fail(s.id, "broken chain");
          }
          chained_seen[index[next]] = true;
          next = meta.segments[index[next]].chain_next;
        }
        if (next != kNoSegment) return fail(s.id, "chain too long");
        ++next_item;
        break;
      }
      if (chained || span.item_size() > s.write_offset - offset) {
        return fail(s.id, "item past the write offset");
      }
      if (at_item) ++next_item;
      offset += span.item_size();
    }
    if (next_item < meta.items.size() && meta.items[next_item].segment == s.id) {
      return fail(s.id, "an item is not where the walk finds items");
    }
  }
  if (next_item != meta.items.size()) {
    return fail(meta.items[next_item].segment, "an item in a segment that was not saved");
  }
  for (size_t i = 0; i < meta.segments.size(); ++i) {
    if (meta.segments[i].kind == RestartMeta::Kind::kChained && !chained_seen[i]) {
      return fail(meta.segments[i].id, "a continuation of no large item");
    }
  }
  return Status::Ok();
}

size_t WarmRestart::Restore(ThreadContext& ctx) {
  const std::string& file = core_.options.memory_file;
  const std::string meta_path = MetaPathFor(file);
  RestartMeta meta;
  std::string why;
  switch (ReadMetaFile(meta_path, &meta, &why)) {
    case MetaRead::kMissing:
      MNEMO_LOG(0, "[restart] no metadata save file, starting with a clean cache\n");
      return 0;
    case MetaRead::kCorrupt:
      MNEMO_LOG(0, "[restart] corrupt metadata file %s (%s), starting with a clean cache\n",
                meta_path.c_str(), why.c_str());
      return 0;
    case MetaRead::kOk:
      break;
  }
  why = Incompatible(meta);
  if (!why.empty()) {
    MNEMO_LOG(0,
              "[restart] restart incompatible due to setting for %s, starting with a clean cache\n",
              why.c_str());
    return 0;
  }
  const auto expected = static_cast<int64_t>(size_t{meta.max_segments} * meta.segment_size);
  if (core_.pool.file_size_at_open() != expected) {
    MNEMO_LOG(0,
              "[restart] memory file %s was %lld bytes, not the %lld saved, starting with a clean "
              "cache\n",
              file.c_str(), static_cast<long long>(core_.pool.file_size_at_open()),
              static_cast<long long>(expected));
    return 0;
  }
  const Status status = Check(meta);
  if (!status.ok()) {
    MNEMO_LOG(0,
              "[restart] memory file %s does not match its metadata (%s), starting with a clean "
              "cache\n",
              file.c_str(), status.message().c_str());
    return 0;
  }
  return Apply(meta, ctx);
}

size_t WarmRestart::Apply(const RestartMeta& meta, ThreadContext& ctx) {
  const Clock::time_point start = Clock::now();
  SegmentPool& pool = core_.pool;
  if (ResumeClock(meta.time_base, meta.saved_now)) {
    MNEMO_LOG(0,
              "[restart] the wall clock is earlier than when the cache was saved: counting no "
              "time as passed while it was down\n");
  }
  core_.RestoreClocks({meta.next_epoch, meta.flush_gen, meta.flush_at, meta.flushed_second});

  std::vector<uint32_t> ids;
  ids.reserve(meta.segments.size());
  for (const RestartMeta::Segment& s : meta.segments) {
    SegmentInfo& info = pool.Info(s.id);
    info.write_offset.store(s.write_offset, std::memory_order_relaxed);
    info.live_items.store(0, std::memory_order_relaxed);
    info.live_bytes.store(0, std::memory_order_relaxed);
    info.max_expiry.store(s.max_expiry, std::memory_order_relaxed);
    info.flush_gen.store(s.flush_gen, std::memory_order_relaxed);
    info.epoch = s.epoch;
    info.create_time.store(s.create_time, std::memory_order_relaxed);
    info.last_access.store(s.last_access, std::memory_order_relaxed);
    info.ttl_bucket = s.ttl_bucket;
    info.chain_head = s.kind == RestartMeta::Kind::kChainHead;
    info.chain_next = s.kind == RestartMeta::Kind::kItems ? kNoSegment : s.chain_next;
    info.prev = kNoSegment;
    info.next = kNoSegment;
    info.state.store(
        s.kind == RestartMeta::Kind::kChained ? SegmentState::kChained : SegmentState::kOpen,
        std::memory_order_release);
    ids.push_back(s.id);
  }
  pool.RestoreInUse(ids);

  const uint32_t now = core_.Now();
  size_t linked = 0;
  Clock::time_point last_line = start;
  for (size_t i = 0; i < meta.items.size(); ++i) {
    const RestartMeta::Item& saved = meta.items[i];
    if (i % kProgressStride == kProgressStride - 1 &&
        Clock::now() - last_line >= std::chrono::seconds(1)) {
      last_line = Clock::now();
      MNEMO_LOG(0, "[restart] restoring: %zu of %zu items\n", i, meta.items.size());
    }
    const ItemLocation loc{saved.segment, saved.offset};
    const char* item = core_.ItemAt(loc);
    ItemHeader header;
    ItemHeader::Decode(item, &header);
    // Expired or flushed while it was down (or the clock's clamp aside, since the save).
    if (core_.Invalid(loc, header, now)) continue;
    if (core_.table.full()) break;
    const std::string_view key = ItemKey(item, header);
    const uint64_t hash = HashKey(key);
    {
      SpinLockGuard guard(core_.table.StripeFor(hash));
      const bool present = core_.table.Find(hash, [&](ItemLocation at) {
        const char* other = core_.ItemAt(at);
        ItemHeader other_header;
        ItemHeader::Decode(other, &other_header);
        return ItemKey(other, other_header) == key;
      }) != nullptr;
      if (present || !core_.table.Insert(hash, loc)) continue;
      Slot* slot = core_.table.FindLocation(hash, loc);
      for (uint8_t c = 0; c < saved.counter; ++c) slot->CountAccess();
    }
    const size_t size = header.item_size();
    core_.LiveAdd(loc.segment, size);
    ctx.Add(CacheCounter::curr_items, 1);
    ctx.Add(CacheCounter::bytes, static_cast<int64_t>(size));
    ++linked;
    core_.table.Grow();
  }

  // Sealed in the order they were opened, so that eviction meets the oldest first.
  std::vector<const RestartMeta::Segment*> order;
  for (const RestartMeta::Segment& s : meta.segments) {
    if (s.kind != RestartMeta::Kind::kChained) order.push_back(&s);
  }
  std::sort(order.begin(), order.end(),
            [](const auto* a, const auto* b) { return a->epoch < b->epoch; });
  for (const RestartMeta::Segment* s : order) {
    if (pool.Info(s->id).live_items.load(std::memory_order_relaxed) == 0) {
      pool.Free(s->id);  // and its chain
    } else {
      core_.buckets.Append(s->id);
    }
  }
  MNEMO_LOG(0, "[restart] restored %zu of %zu items in %.3f s\n", linked, meta.items.size(),
            SecondsSince(start));
  return linked;
}

}  // namespace mnemo::storage
