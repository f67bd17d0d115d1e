#include "storage/item_walk.h"

#include <vector>

#include "base/clock.h"
#include "storage/expiry.h"
#include "storage/flash_tier.h"
#include "storage/item.h"

namespace mnemo::storage {
namespace {

// A step stops after this many buckets per item asked for, so that a step over an empty stretch
// of the table is short too.
constexpr size_t kBucketsPerItem = 4;

uint64_t ReverseBits(uint64_t x) {
  x = (x >> 1 & 0x5555555555555555) | (x & 0x5555555555555555) << 1;
  x = (x >> 2 & 0x3333333333333333) | (x & 0x3333333333333333) << 2;
  x = (x >> 4 & 0x0f0f0f0f0f0f0f0f) | (x & 0x0f0f0f0f0f0f0f0f) << 4;
  return __builtin_bswap64(x);
}

}  // namespace

void ItemWalk::Step(WalkCursor* cursor, size_t max_items, WalkBatch* batch) const {
  batch->Clear();
  const uint32_t now = core_.Now();
  // Monotonic seconds to Unix times, as memcached adds process_started to its relative times.
  const int64_t wall_base = ProcessStartWallSeconds() - kFirstSecond;
  const size_t max_buckets = max_items * kBucketsPerItem + 1;
  // A bucket's items on flash: their headers and keys are read outside the stripe lock.
  struct FlashSlot {
    ItemLocation loc;
    uint32_t generation;
    bool fetched;
  };
  std::vector<FlashSlot> on_flash;
  char head[FlashTier::kFirstRead];
  for (size_t buckets = 0;
       !cursor->done && batch->items().size() < max_items && buckets < max_buckets; ++buckets) {
    const uint64_t hash = ReverseBits(cursor->position);
    uint32_t depth = 0;
    on_flash.clear();
    {
      SpinLockGuard guard(core_.table.StripeFor(hash));
      depth = core_.table.VisitBucket(hash, [&](const Slot& slot) {
        const ItemLocation loc = slot.location();
        if (core_.OnFlash(loc.segment)) {
          // Read after the lock is dropped, as of the generation the slot points into.
          on_flash.push_back({loc, core_.flash->generation(loc), slot.counter() > 0});
          return;
        }
        const char* item = core_.ItemAt(loc);
        ItemHeader header;
        const size_t header_size = ItemHeader::Decode(item, &header);
        if (core_.Invalid(loc, header, now)) return;
        WalkedItem out;
        out.expires_at = header.expiry == kNeverExpires ? 0 : wall_base + header.expiry;
        out.last_access =
            wall_base + core_.pool.Info(loc.segment).last_access.load(std::memory_order_relaxed);
        out.cas = core_.CasOf(loc, header);
        out.flags = header.flags;
        out.value_size = header.original_size();
        out.stored_bytes = static_cast<uint32_t>(header.item_size());
        out.fetched = slot.counter() > 0;
        out.key_binary = header.key_binary;
        batch->Add(out, {item + header_size, header.key_size});
      });
    }
    for (const FlashSlot& slot : on_flash) {
      if (!core_.flash->ReadHead(slot.loc, slot.generation, head)) continue;
      ItemHeader header;
      const size_t header_size = ItemHeader::Decode(head, &header);
      if (header_size + header.key_size > FlashTier::kFirstRead ||
          core_.Invalid(slot.loc, header, now)) {
        continue;
      }
      WalkedItem out;
      out.expires_at = header.expiry == kNeverExpires ? 0 : wall_base + header.expiry;
      out.last_access = wall_base + core_.flash->written_at(slot.loc);
      out.cas = core_.CasOf(slot.loc, header);
      out.flags = header.flags;
      out.value_size = header.original_size();
      out.stored_bytes = static_cast<uint32_t>(header.item_size());
      out.fetched = slot.fetched;
      out.key_binary = header.key_binary;
      batch->Add(out, {head + header_size, header.key_size});
    }
    // The bucket's range ends where the bit above its depth's bits carries (in reversed order,
    // the bit 64 - depth); past the last range the walk is done.
    const uint64_t step = uint64_t{1} << (64 - depth);
    const uint64_t start = cursor->position & ~(step - 1);
    cursor->position = start + step;
    cursor->done = cursor->position == 0;
  }
}

}  // namespace mnemo::storage
