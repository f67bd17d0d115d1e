#include "storage/flash_recall.h"

#include "storage/item_cursor.h"

namespace mnemo::storage {

void FlashRecall::Resolve(ThreadContext& ctx, uint64_t hash, std::string_view key) {
  FlashTier& flash = *core_.flash;
  char* const record = ctx.flash_record.Get(flash.segment_size());
  for (const FlashCandidates::Candidate& candidate : ctx.flash) {
    switch (flash.Read(candidate.loc, candidate.generation, record)) {
      case FlashTier::ReadResult::kChanged:
        break;  // the next round looks the key up again
      case FlashTier::ReadResult::kCorrupt:
        ctx.Add(CacheCounter::miss_from_extstore, 1);
        // Its size is unknown: the segment's live bytes and `bytes` keep what it counted.
        Drop(ctx, hash, candidate, 0);
        break;
      case FlashTier::ReadResult::kOk: {
        ItemHeader header;
        ItemHeader::Decode(record, &header);
        if (ItemKey(record, header) != key) {
          ctx.Add(CacheCounter::miss_from_extstore, 1);
          ctx.flash.NoteAnotherKey(candidate.loc);
          break;
        }
        // A flushed item does not come back: in a new RAM segment it would look as new as it.
        if (core_.Flushed(candidate.loc)) {
          Drop(ctx, hash, candidate, header.item_size());
          break;
        }
        // An expired one does: the operation then finds it expired and answers and counts as for
        // any item in RAM.
        BringBack(ctx, hash, candidate, record, key);
        break;
      }
    }
  }
  ctx.flash_record.Trim();
}

void FlashRecall::BringBack(ThreadContext& ctx, uint64_t hash,
                            const FlashCandidates::Candidate& candidate, const char* record,
                            std::string_view key) {
  ItemHeader header;
  const size_t header_size = ItemHeader::Decode(record, &header);
  const size_t size = header.item_size();
  const uint32_t now = core_.Now();
  Placement place;
  // Reserving may evict to flash and reuse the candidate's flash segment: then the slot is gone
  // and the check below links nothing.
  if (!writer_.Reserve(ctx, size, header.expiry, now, &place)) return;
  header.chained = place.chained;
  ItemCursor cursor = writer_.WriteHeader(place, header, key);
  cursor.Write(record + header_size + header.key_size, header.value_size);
  bool linked = false;
  {
    SpinLockGuard guard(core_.table.StripeFor(hash));
    Slot* slot = core_.table.FindLocation(hash, candidate.loc);
    if (slot != nullptr && core_.flash->generation(candidate.loc) == candidate.generation) {
      slot->MoveTo(place.loc);
      core_.LiveSub(candidate.loc.segment, size);
      core_.LiveAdd(place.loc.segment, size);
      linked = true;
    }
  }
  writer_.Finish(place, linked);
  if (linked) ctx.Add(CacheCounter::get_extstore, 1);
}

void FlashRecall::Drop(ThreadContext& ctx, uint64_t hash,
                       const FlashCandidates::Candidate& candidate, size_t size) {
  SpinLockGuard guard(core_.table.StripeFor(hash));
  Slot* slot = core_.table.FindLocation(hash, candidate.loc);
  if (slot == nullptr || core_.flash->generation(candidate.loc) != candidate.generation) return;
  core_.table.Erase(hash, slot);
  core_.LiveSub(candidate.loc.segment, size);
  ctx.Add(CacheCounter::curr_items, -1);
  ctx.Add(CacheCounter::bytes, -static_cast<int64_t>(size));
}

}  // namespace mnemo::storage
