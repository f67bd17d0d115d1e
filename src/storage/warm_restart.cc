#include "storage/warm_restart.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/hash.h"
#include "base/logging.h"
#include "storage/crash_recovery.h"
#include "storage/expiry.h"
#include "storage/flash_tier.h"
#include "storage/item.h"

namespace mnemo::storage {
namespace {

// Items a restoring thread links at a time; it looks at the clock for the progress line after
// each chunk.
constexpr size_t kChunk = 1 << 12;

// Runs task(0) ... task(count - 1) on every core (at most kMaxThreads), each task once.
template <typename Task>
void RunParallel(size_t count, Task&& task) {
  constexpr size_t kMaxThreads = 8;
  const size_t threads =
      std::min<size_t>({std::max(1u, std::thread::hardware_concurrency()), kMaxThreads, count});
  std::atomic<size_t> next{0};
  const auto work = [&] {
    for (size_t i = next.fetch_add(1); i < count; i = next.fetch_add(1)) task(i);
  };
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < threads; ++t) helpers.emplace_back(work);
  work();
  for (std::thread& helper : helpers) helper.join();
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// A segment's checksum (RestartMeta::Segment::checksum) with the item at `item` folded in: the
// XXH3 of its header and key, seeded with the checksum of the items before it.
uint64_t FoldItem(uint64_t checksum, const char* item, const ItemSpan& span) {
  return XXH3_64bits_withSeed(item, span.header_size + span.key_size, checksum);
}

// The checksum of a saved segment, by the walk Check makes. REQUIRES: the segment is intact.
uint64_t SegmentChecksum(const char* data, const RestartMeta::Segment& s) {
  uint64_t checksum = 0;
  if (s.kind == RestartMeta::Kind::kChained) return checksum;
  size_t offset = 0;
  do {
    const ItemSpan span = ItemSpanAt(data + offset);
    checksum = FoldItem(checksum, data + offset, span);
    offset += span.item_size();
  } while (s.kind == RestartMeta::Kind::kItems && offset < s.write_offset);
  return checksum;
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

  // Items on flash are saved by the flash tier (Save), which reads them back.
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
    s.checksum = SegmentChecksum(pool.Data(id), s);
    meta.segments.push_back(s);
  }
  return meta;
}

Status WarmRestart::Save() {
  const auto start = std::chrono::steady_clock::now();
  RestartMeta meta = Collect();
  // The memory and the flash first: metadata that exists describes bytes that are in the files.
  if (core_.flash != nullptr) {
    const Status flash = core_.flash->Save(meta.saved_now, &meta);
    if (!flash.ok()) {
      MNEMO_LOG(0, "[restart] the items on flash are not saved: %s\n", flash.message().c_str());
      DropFlash(&meta);
    }
  }
  Status status = core_.pool.Sync();
  if (status.ok()) status = WriteMetaFile(MetaPathFor(core_.options.memory_file), meta);
  if (!status.ok()) return status;
  core_.durable->MarkStopped();
  const std::string on_flash =
      core_.flash == nullptr ? std::string()
                             : " and " + std::to_string(meta.flash_items.size()) + " items in " +
                                   std::to_string(meta.flash_segments.size()) + " flash segments";
  MNEMO_LOG(0, "[restart] saved %zu items in %zu segments%s in %.3f s\n", meta.items.size(),
            meta.segments.size(), on_flash.c_str(), SecondsSince(start));
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

Status WarmRestart::Check(const RestartMeta& meta, std::vector<WalkedItem>* walked) const {
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
  // The items of each segment: meta.items[first[i], first[i + 1]).
  std::vector<size_t> first(meta.segments.size() + 1, meta.items.size());
  for (size_t i = meta.items.size(); i-- > 0;) {
    const RestartMeta::Item& item = meta.items[i];
    const int64_t at = index[item.segment];
    if (at < 0 || meta.segments[at].kind == RestartMeta::Kind::kChained) {
      return fail(item.segment, "an item in a segment that was not saved");
    }
    if (i > 0 &&
        (meta.items[i - 1].segment > item.segment ||
         (meta.items[i - 1].segment == item.segment && meta.items[i - 1].offset >= item.offset))) {
      return fail(item.segment, "items out of order");
    }
    first[at] = i;
  }
  for (size_t i = meta.segments.size(); i-- > 0;) first[i] = std::min(first[i], first[i + 1]);

  walked->assign(meta.items.size(), WalkedItem{});
  // Each segment's items, on every core: a restore reads every item's header and key.
  std::vector<uint32_t> head_size(meta.segments.size(), 0);  // a chain head's item size
  std::vector<std::string> failures(meta.segments.size());
  RunParallel(meta.segments.size(), [&](size_t i) {
    const RestartMeta::Segment& s = meta.segments[i];
    const char* data = pool.Data(s.id);
    if (s.kind == RestartMeta::Kind::kChained) return;
    // Its items, by a walk from its first one: each saved location must be an item's start, and
    // their headers and keys must be the ones saved.
    size_t next_item = first[i];
    size_t offset = 0;
    uint64_t checksum = 0;
    do {
      // The walk must not read past the segment's end (nor the mapping's), header included.
      char head[kItemMaxHeader] = {};
      const size_t room = segment_size - offset;
      std::memcpy(head, data + offset, std::min(room, sizeof(head)));
      const ItemSpan span = ItemSpanAt(head);
      const bool chained = (item_internal::LoadInfo(head) & kItemChained) != 0;
      if (span.key_size == 0 || span.header_size + span.key_size > room) {
        failures[i] = "bad item header";
        return;
      }
      checksum = FoldItem(checksum, data + offset, span);
      const bool at_item = next_item < first[i + 1] && meta.items[next_item].offset == offset;
      if (at_item) {
        ItemHeader header;
        ItemHeader::Decode(head, &header);
        (*walked)[next_item] = {HashKey({data + offset + span.header_size, span.key_size}),
                                header.expiry, static_cast<uint32_t>(span.item_size())};
      }
      if (s.kind == RestartMeta::Kind::kChainHead) {
        if (!chained || !at_item || first[i + 1] != next_item + 1 ||
            span.item_size() <= segment_size) {
          failures[i] = "not the head of a large item";
        }
        head_size[i] = static_cast<uint32_t>(span.item_size());
        if (checksum != s.checksum) failures[i] = "checksum mismatch";
        return;
      }
      if (chained || span.item_size() > s.write_offset - offset) {
        failures[i] = "item past the write offset";
        return;
      }
      if (at_item) ++next_item;
      offset += span.item_size();
    } while (offset < s.write_offset);
    if (checksum != s.checksum) {
      failures[i] = "checksum mismatch";
    } else if (next_item != first[i + 1]) {
      failures[i] = "an item is not where the walk finds items";
    }
  });
  for (size_t i = 0; i < meta.segments.size(); ++i) {
    if (!failures[i].empty()) return fail(meta.segments[i].id, failures[i]);
  }

  // Each large item's chain: every segment saved, as a continuation, once.
  std::vector<bool> chained_seen(meta.segments.size(), false);
  for (size_t i = 0; i < meta.segments.size(); ++i) {
    const RestartMeta::Segment& s = meta.segments[i];
    if (s.kind != RestartMeta::Kind::kChainHead) continue;
    uint32_t next = s.chain_next;
    for (size_t count = (head_size[i] + segment_size - 1) / segment_size; count > 1; --count) {
      if (next >= pool.max_segments() || index[next] < 0 ||
          meta.segments[index[next]].kind != RestartMeta::Kind::kChained ||
          chained_seen[index[next]]) {
        return fail(s.id, "broken chain");
      }
      chained_seen[index[next]] = true;
      next = meta.segments[index[next]].chain_next;
    }
    if (next != kNoSegment) return fail(s.id, "chain too long");
  }
  for (size_t i = 0; i < meta.segments.size(); ++i) {
    if (meta.segments[i].kind == RestartMeta::Kind::kChained && !chained_seen[i]) {
      return fail(meta.segments[i].id, "a continuation of no large item");
    }
  }
  return Status::Ok();
}

std::string WarmRestart::CheckFlash(const RestartMeta& meta) const {
  if (meta.flash_devices.empty()) return {};
  if (core_.flash == nullptr) return "no ext_path";
  std::string why = core_.flash->Incompatible(meta);
  if (!why.empty()) return Mismatch("ext_path", why);
  // Each item within the records of a saved segment, in order. Its bytes are verified by the
  // read that serves it (flash_tier.h): a record that changed is a miss, never wrong data.
  std::vector<uint32_t> end(meta.flash_segment_count, 0);
  for (const RestartMeta::FlashSegment& s : meta.flash_segments) end[s.index] = s.end;
  const uint32_t first_id = core_.flash->first_id();
  for (size_t i = 0; i < meta.flash_items.size(); ++i) {
    const RestartMeta::FlashItem& item = meta.flash_items[i];
    const uint32_t index = item.segment - first_id;
    if (item.offset < FlashTier::kHeaderSize ||
        uint64_t{item.offset} + item.size + FlashTier::kRecordTrailer > end[index]) {
      return "an item outside the records of flash segment " + std::to_string(index);
    }
    if (i > 0 && (meta.flash_items[i - 1].segment > item.segment ||
                  (meta.flash_items[i - 1].segment == item.segment &&
                   meta.flash_items[i - 1].offset >= item.offset))) {
      return "items on flash out of order";
    }
  }
  return {};
}

void WarmRestart::DropFlash(RestartMeta* meta) {
  meta->flash_devices.clear();
  meta->flash_segments.clear();
  meta->flash_items.clear();
}

bool WarmRestart::Fits(const RestartMeta& meta, const char* described) const {
  const std::string why = Incompatible(meta);
  if (!why.empty()) {
    MNEMO_LOG(0,
              "[restart] restart incompatible due to setting for %s, starting with a clean cache\n",
              why.c_str());
    return false;
  }
  const auto expected = static_cast<int64_t>(size_t{meta.max_segments} * meta.segment_size);
  if (core_.pool.file_size_at_open() != expected) {
    MNEMO_LOG(0,
              "[restart] memory file %s was %lld bytes, not the %lld %s, starting with a clean "
              "cache\n",
              core_.options.memory_file.c_str(),
              static_cast<long long>(core_.pool.file_size_at_open()),
              static_cast<long long>(expected), described);
    return false;
  }
  return true;
}

size_t WarmRestart::Restore(ThreadContext& ctx) {
  const Clock::time_point start = Clock::now();
  const std::string& file = core_.options.memory_file;
  const std::string meta_path = MetaPathFor(file);
  RestartMeta meta;
  std::string why;
  // What a crashed process left is used only without metadata: with it, the process stopped
  // gracefully (and died, if at all, after writing it).
  std::optional<CrashState> crashed = std::move(core_.crashed);
  core_.crashed.reset();
  switch (ReadMetaFile(meta_path, &meta, &why)) {
    case MetaRead::kMissing:
      if (crashed.has_value()) {
        MNEMO_LOG(0, "[restart] no metadata save file, recovering what a crash left\n");
        return CrashRecovery(core_).Recover(*crashed, ctx);
      }
      MNEMO_LOG(0, "[restart] no metadata save file, starting with a clean cache\n");
      return 0;
    case MetaRead::kCorrupt:
      MNEMO_LOG(0, "[restart] corrupt metadata file %s (%s), starting with a clean cache\n",
                meta_path.c_str(), why.c_str());
      return 0;
    case MetaRead::kOk:
      break;
  }
  if (!Fits(meta, "saved")) return 0;
  std::vector<WalkedItem> walked;
  const Status status = Check(meta, &walked);
  if (!status.ok()) {
    MNEMO_LOG(0,
              "[restart] memory file %s does not match its metadata (%s), starting with a clean "
              "cache\n",
              file.c_str(), status.message().c_str());
    return 0;
  }
  why = CheckFlash(meta);
  if (!why.empty()) {
    MNEMO_LOG(0, "[restart] dropping the %zu items on flash due to %s\n", meta.flash_items.size(),
              why.c_str());
    DropFlash(&meta);
  }
  const double checked = SecondsSince(start);
  return Apply(meta, walked, start, checked, ctx);
}

size_t WarmRestart::Apply(const RestartMeta& meta, const std::vector<WalkedItem>& walked,
                          Clock::time_point start, double checked, ThreadContext& ctx) {
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
  // The table split for every item before they come, so that linking them splits none (which
  // would read their keys again), nor contends for the growth lock.
  core_.table.Reserve(meta.items.size() + meta.flash_items.size());

  const auto key_at = [this](ItemLocation at) {
    const char* item = core_.ItemAt(at);
    ItemHeader header;
    ItemHeader::Decode(item, &header);
    return ItemKey(item, header);
  };
  // The items, on every core, a chunk at a time: the table takes concurrent inserts (stripe locks).
  // Counted here, into `ctx` at the end, which only this thread may add to.
  const uint32_t now = core_.Now();
  std::atomic<size_t> linked{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<size_t> done{0};
  std::atomic<int64_t> last_line{0};  // milliseconds since start of the last progress line
  std::atomic<bool> full{false};
  const size_t chunks = (meta.items.size() + kChunk - 1) / kChunk;
  RunParallel(chunks, [&](size_t chunk) {
    const size_t end = std::min(meta.items.size(), (chunk + 1) * kChunk);
    size_t chunk_linked = 0;
    uint64_t chunk_bytes = 0;
    for (size_t i = chunk * kChunk; i < end && !full.load(std::memory_order_relaxed); ++i) {
      const RestartMeta::Item& saved = meta.items[i];
      const WalkedItem& item = walked[i];
      const ItemLocation loc{saved.segment, saved.offset};
      // Expired or flushed while it was down (or, the clock clamped, since the save).
      if (IsExpired(item.expiry, now) || core_.Flushed(loc)) continue;
      if (core_.table.full()) {
        full.store(true, std::memory_order_relaxed);
        break;
      }
      const uint64_t hash = item.hash;
      {
        SpinLockGuard guard(core_.table.StripeFor(hash));
        // Never twice: a key has one slot (the save listed slots, so this is a safeguard). The
        // keys are read only for slots whose tag matches.
        const bool present = core_.table.Find(hash, [&](ItemLocation at) {
          return key_at(at) == key_at(loc);
        }) != nullptr;
        if (present || !core_.table.Insert(hash, loc)) continue;
        if (saved.counter > 0) {
          Slot* slot = core_.table.FindLocation(hash, loc);
          for (uint8_t c = 0; c < saved.counter; ++c) slot->CountAccess();
        }
      }
      const size_t size = item.size;
      core_.LiveAdd(loc.segment, size);
      ++chunk_linked;
      chunk_bytes += size;
    }
    linked.fetch_add(chunk_linked, std::memory_order_relaxed);
    bytes.fetch_add(chunk_bytes, std::memory_order_relaxed);
    const size_t so_far =
        done.fetch_add(end - chunk * kChunk, std::memory_order_relaxed) + end - chunk * kChunk;
    const auto ms = static_cast<int64_t>(SecondsSince(start) * 1000);
    int64_t last = last_line.load(std::memory_order_relaxed);
    if (ms - last >= 1000 && last_line.compare_exchange_strong(last, ms)) {
      MNEMO_LOG(0, "[restart] restoring: %zu of %zu items\n", so_far, meta.items.size());
    }
  });
  const size_t linked_ram = linked.load();

  // The items on flash, once their segments' descriptors are back: linked with their saved hashes
  // (reading flash for them would cost a read each), after the RAM items, since a lookup in
  // the Find above would read the key of any item it met.
  if (!meta.flash_devices.empty()) core_.flash->Restore(meta);
  const size_t flash_chunks = (meta.flash_items.size() + kChunk - 1) / kChunk;
  RunParallel(flash_chunks, [&](size_t chunk) {
    const size_t end = std::min(meta.flash_items.size(), (chunk + 1) * kChunk);
    size_t chunk_linked = 0;
    uint64_t chunk_bytes = 0;
    for (size_t i = chunk * kChunk; i < end && !full.load(std::memory_order_relaxed); ++i) {
      const RestartMeta::FlashItem& saved = meta.flash_items[i];
      const ItemLocation loc{saved.segment, saved.offset};
      if (IsExpired(saved.expiry, now) || core_.Flushed(loc)) continue;
      if (core_.table.full()) {
        full.store(true, std::memory_order_relaxed);
        break;
      }
      {
        SpinLockGuard guard(core_.table.StripeFor(saved.hash));
        if (!core_.table.Insert(saved.hash, loc)) continue;
        if (saved.counter > 0) {
          Slot* slot = core_.table.FindLocation(saved.hash, loc);
          for (uint8_t c = 0; c < saved.counter; ++c) slot->CountAccess();
        }
      }
      core_.LiveAdd(loc.segment, saved.size);
      ++chunk_linked;
      chunk_bytes += saved.size;
    }
    linked.fetch_add(chunk_linked, std::memory_order_relaxed);
    bytes.fetch_add(chunk_bytes, std::memory_order_relaxed);
  });
  ctx.Add(CacheCounter::curr_items, static_cast<int64_t>(linked.load()));
  ctx.Add(CacheCounter::bytes, static_cast<int64_t>(bytes.load()));

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
  const std::string on_flash =
      meta.flash_devices.empty() ? std::string()
                                 : " and " + std::to_string(linked.load() - linked_ram) + " of " +
                                       std::to_string(meta.flash_items.size()) + " items on flash";
  MNEMO_LOG(0, "[restart] restored %zu of %zu items%s in %.3f s (%.3f s of checks)\n", linked_ram,
            meta.items.size(), on_flash.c_str(), SecondsSince(start), checked);
  return linked.load();
}

}  // namespace mnemo::storage
