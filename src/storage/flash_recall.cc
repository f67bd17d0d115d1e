#include "storage/flash_recall.h"

#include "storage/expiry.h"
#include "storage/item_cursor.h"

namespace mnemo::storage {

std::optional<LookupResult> FlashRecall::Resolve(ThreadContext& ctx, uint64_t hash,
                                                 std::string_view key, Reader* reader) {
  FlashTier& flash = *core_.flash;
  std::optional<LookupResult> served;
  ThreadContext::FlashWaits* const waits =
      reader != nullptr && reader->options.may_wait_for_flash ? &ctx.flash_waits : nullptr;
  for (const FlashCandidates::Candidate& candidate : ctx.flash) {
    char* record = nullptr;
    switch (flash.Read(candidate.loc, candidate.generation, ctx.flash_record, ctx.flash_read_size,
                       &record, waits)) {
      case FlashTier::ReadResult::kChanged:
        break;  // the next round looks the key up again
      case FlashTier::ReadResult::kWait:
        // Nothing seen so far has changed the read's answer (candidates of other keys are noted,
        // corrupt ones dropped, the key's item served or moved only once read): it gives up.
        ctx.flash_record.Trim();
        return std::nullopt;
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
        if (ctx.flash.takes_items_on_flash()) {
          ctx.flash.Confirm(candidate, header);
          ctx.Add(CacheCounter::get_extstore, 1);
          break;
        }
        // A flushed item does not come back: in a new RAM segment it would look as new as it.
        if (core_.Flushed(candidate.loc)) {
          Drop(ctx, hash, candidate, header.item_size());
          break;
        }
        // An expired one does, unless a read can answer for it: the operation then finds it
        // expired and answers and counts as for any item in RAM.
        const bool serve = reader != nullptr && ServableFromRecord(*reader, header);
        if (serve && IsExpired(header.expiry, core_.Now())) {
          Drop(ctx, hash, candidate, header.item_size());
          served = LookupResult::kExpired;
          break;
        }
        switch (serve ? Serve(ctx, hash, candidate, record, *reader) : Served::kRecache) {
          case Served::kGone:
            break;
          case Served::kServed:
            served = LookupResult::kHit;
            break;
          case Served::kRecache:
            if (Copy(ctx, hash, candidate, record, key, serve ? reader : nullptr) && serve) {
              served = LookupResult::kHit;
            }
            break;
        }
        break;
      }
    }
    if (served) break;
  }
  ctx.flash_record.Trim();
  return served;
}

bool FlashRecall::ServableFromRecord(const Reader& reader, const ItemHeader& header) const {
  const ReadOptions& options = reader.options;
  if (options.touch || options.vivify) return false;
  return !(options.can_win && Wins(header, options.recache, header.expiry, reader.recache_expiry));
}

FlashRecall::Served FlashRecall::Serve(ThreadContext& ctx, uint64_t hash,
                                       const FlashCandidates::Candidate& candidate, char* record,
                                       const Reader& reader) {
  Found found;
  found.header_size = ItemHeader::Decode(record, &found.header);
  found.loc = candidate.loc;
  found.item = record;
  const ReadOptions& options = reader.options;
  {
    SpinLockGuard guard(core_.table.StripeFor(hash));
    found.slot = core_.table.FindLocation(hash, candidate.loc);
    if (found.slot == nullptr || core_.flash->generation(candidate.loc) != candidate.generation) {
      return Served::kGone;
    }
    if (options.count_access && found.slot->counter() + 1 >= kRecacheReads) {
      return Served::kRecache;
    }
    ReadState state;
    state.expiry = found.header.expiry;
    state.fetched = found.slot->counter() > 0;
    state.win_sent = found.header.win_sent;
    state.last_access = core_.flash->written_at(candidate.loc);
    if (options.count_access) found.slot->CountAccess();
    index_.Serve(ctx, found, core_.Now(), state, reader.sink);
  }
  ctx.Add(CacheCounter::get_extstore, 1);
  return Served::kServed;
}

bool FlashRecall::Copy(ThreadContext& ctx, uint64_t hash,
                       const FlashCandidates::Candidate& candidate, const char* record,
                       std::string_view key, const Reader* reader) {
  Found copy;
  copy.header_size = ItemHeader::Decode(record, &copy.header);
  const size_t size = copy.header.item_size();
  const uint32_t now = core_.Now();
  Placement place;
  // Reserving may evict to flash and reuse the candidate's flash segment: then the slot is gone
  // and the check below finds nothing.
  if (!writer_.Reserve(ctx, size, copy.header.expiry, now, &place)) return false;
  copy.header.chained = place.chained;
  ItemCursor cursor = writer_.WriteHeader(place, copy.header, key);
  cursor.Write(record + copy.header_size + copy.header.key_size, copy.header.value_size);
  copy.loc = place.loc;
  copy.item = core_.pool.Data(place.loc.segment) + place.loc.offset;
  bool there = false;
  {
    SpinLockGuard guard(core_.table.StripeFor(hash));
    Slot* slot = core_.table.FindLocation(hash, candidate.loc);
    there = slot != nullptr && core_.flash->generation(candidate.loc) == candidate.generation;
    if (there) {
      ReadState state;
      if (reader != nullptr) {
        state.expiry = copy.header.expiry;
        state.fetched = slot->counter() > 0;
        state.win_sent = copy.header.win_sent;
        state.last_access = core_.flash->written_at(candidate.loc);
        if (reader->options.count_access) slot->CountAccess();
      }
      slot->MoveTo(place.loc);
      core_.LiveSub(candidate.loc.segment, size);
      core_.LiveAdd(place.loc.segment, size);
      if (reader != nullptr) index_.Serve(ctx, copy, now, state, reader->sink);
    }
  }
  writer_.Finish(place, there);
  if (there) ctx.Add(CacheCounter::get_extstore, 1);
  return there;
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
