#include "storage/item_store.h"

#include "storage/expiry.h"

namespace mnemo::storage {
namespace {

StoreResult CheckMode(StoreMode mode, bool present, uint64_t item_cas, uint64_t cas, bool use_cas) {
  switch (mode) {
    case StoreMode::kSet:
    case StoreMode::kAppend:
    case StoreMode::kPrepend:
      return StoreResult::kStored;
    case StoreMode::kAdd:
      return present ? StoreResult::kNotStored : StoreResult::kStored;
    case StoreMode::kReplace:
      return present ? StoreResult::kStored : StoreResult::kNotStored;
    case StoreMode::kCas:
      if (!present) return StoreResult::kNotFound;
      // With -C an item has no CAS to match, so memcached answers EXISTS to every cas; and a
      // token of 0 matches nothing, not even an item given CAS 0 by meta E.
      return use_cas && cas != 0 && item_cas == cas ? StoreResult::kStored : StoreResult::kExists;
  }
  return StoreResult::kNotStored;
}

}  // namespace

StoreResult ItemStore::StoreVersion(ThreadContext& ctx, StoreMode mode, std::string_view key,
                                    uint64_t hash, uint32_t now, ItemHeader header,
                                    std::string_view value, uint64_t cas, WriteOutcome* outcome,
                                    const CreatedReader* reader, KeptVersion* kept) {
  if (IsExpired(header.expiry, now) || core_.FlushedSecond(now)) {
    const StoreResult result = StoreInvisible(ctx, mode, key, hash, cas, now);
    if (result == StoreResult::kStored) {
      // Nothing is linked, but memcached's reply still shows the CAS the item got.
      Report(outcome, header.has_cas ? header.cas : core_.UnusedCas(),
             static_cast<uint32_t>(value.size()));
    }
    return result;
  }
  Placement place;
  if (kept != nullptr && kept->held) {
    place = kept->place;
    header = kept->header;
    kept->held = false;
  } else {
    header.key_size = static_cast<uint8_t>(key.size());
    const std::string_view stored = codec_.Encode(ctx, value, &header);
    header.value_size = static_cast<uint32_t>(stored.size());
    if (!writer_.Reserve(ctx, header.item_size(), header.expiry, now, &place)) {
      return StoreResult::kNoMemory;
    }
    header.chained = place.chained;
    ItemCursor cursor = writer_.WriteHeader(place, header, key);
    cursor.Write(stored.data(), stored.size());
  }
  const size_t size = header.item_size();

  StoreResult result = StoreResult::kNoMemory;
  bool linked = false;
  for (int attempt = 0; !linked && attempt < kLinkAttempts; ++attempt) {
    if (attempt > 0 && !reclaim_.EvictForIndex(ctx)) break;
    SpinLockGuard guard(core_.table.StripeFor(hash));
    Found found;
    const FindResult find = index_.FindValidLocked(ctx, hash, key, now, &found);
    if (find == FindResult::kPending) {  // the cache reads flash and stores again
      if (kept == nullptr) break;
      *kept = {place, header, true};
      return result;
    }
    const bool present = find == FindResult::kFound;
    // Only cas compares the CAS: the other modes never derive it.
    const uint64_t item_cas =
        present && mode == StoreMode::kCas ? core_.CasOf(found.loc, found.header) : 0;
    result = CheckMode(mode, present, item_cas, cas, core_.options.use_cas);
    if (result == StoreResult::kStored) {
      linked = index_.LinkLocked(ctx, hash, present ? &found : nullptr, place.loc, size);
      if (linked) {
        Report(outcome, core_.CasOf(place.loc, header), header.original_size());
        const Found version{nullptr, place.loc,
                            core_.pool.Data(place.loc.segment) + place.loc.offset, header,
                            header.size()};
        index_.ObserveStoreLocked(ctx, version, now);
        if (reader != nullptr) {
          Found created;
          (void)index_.FindLocked(ctx, hash, key, &created);  // found: just linked
          // memcached counts the creator's read, as any read but u.
          if (reader->options.count_access) created.slot->CountAccess();
          index_.Serve(ctx, created, now, reader->state, reader->sink);
        }
      } else {
        result = StoreResult::kNoMemory;  // the hash table is full: evict and try again
        continue;
      }
    }
    break;
  }
  writer_.Finish(place, linked);
  if (linked) {
    ctx.Add(CacheCounter::total_items, 1);
    core_.table.Grow();
  }
  return result;
}

StoreResult ItemStore::StoreInvisible(ThreadContext& ctx, StoreMode mode, std::string_view key,
                                      uint64_t hash, uint64_t cas, uint32_t now) {
  // memcached stores the item and it is invisible at once: the mode's checks decide the answer,
  // and a success only removes the old version.
  SpinLockGuard guard(core_.table.StripeFor(hash));
  Found found;
  const FindResult find = index_.FindValidLocked(ctx, hash, key, now, &found);
  if (find == FindResult::kPending) return StoreResult::kNoMemory;  // the cache reads flash first
  const bool present = find == FindResult::kFound;
  const uint64_t item_cas =
      present && mode == StoreMode::kCas ? core_.CasOf(found.loc, found.header) : 0;
  const StoreResult result = CheckMode(mode, present, item_cas, cas, core_.options.use_cas);
  if (result == StoreResult::kStored) {
    if (present) index_.UnlinkLocked(ctx, hash, found);
    // Whether or not it had a version here, the key has none now.
    index_.ObserveRemoveLocked(ctx, key);
    ctx.Add(CacheCounter::total_items, 1);
  }
  return result;
}

StoreResult ItemStore::RefuseTooLarge(ThreadContext& ctx, StoreMode mode, std::string_view key,
                                      uint64_t hash) {
  // As memcached: a set that cannot be stored must not leave the old value readable.
  if (mode == StoreMode::kSet) {
    SpinLockGuard guard(core_.table.StripeFor(hash));
    Found found;
    if (index_.FindLocked(ctx, hash, key, &found) == FindResult::kFound) {
      index_.UnlinkLocked(ctx, hash, found);
      index_.ObserveRemoveLocked(ctx, key);
    }
  }
  return StoreResult::kTooLarge;
}

void ItemStore::Release(KeptVersion& kept) {
  if (!kept.held) return;
  writer_.Finish(kept.place, false);
  kept.held = false;
}

}  // namespace mnemo::storage
