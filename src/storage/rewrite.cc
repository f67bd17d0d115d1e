#include "storage/rewrite.h"

#include <cstring>

#include "base/clock.h"
#include "storage/arithmetic.h"
#include "storage/expiry.h"

namespace mnemo::storage {

// The new version a rewrite writes: `header` (key and value sizes are filled in by RewriteItem),
// then the key, then prefix, the old value (if keep_value), suffix and `pad` spaces. The header
// starts as the old version's, with its state bits, but with no CAS of its own: the new version
// gets a fresh CAS unless the plan says otherwise.
struct Rewriter::Rewrite {
  ItemHeader header;
  std::string_view prefix;
  bool keep_value = true;
  std::string_view suffix;
  size_t pad = 0;
  // The new version is the same item changed where memcached changes it in place (touch,
  // invalidation, incr): the slot keeps its access counter.
  bool keep_counter = false;
  // The rewrite is a read (touch, gat, mg T), which counts as an access unless meta u.
  bool counts_as_read = false;
  bool win = false;  // for the sink: whether the reader won
  // The new version differs from the old in its expiry only (touch, gat, mg T): observed as a
  // touch, not a store (change_observer.h).
  bool touch = false;
};

enum class Rewriter::RewriteStep : uint8_t {
  kRewrite,       // write the new version described by the Rewrite
  kRefuse,        // leave the item as it is and report kRefused
  kDone,          // the plan changed the item in place
  kDoneThenDrop,  // as kDone, then unlink the item (touched with an exptime in the past)
  kDrop,          // unlink the item and report kDone (rewritten with an exptime in the past)
};

StoreResult Rewriter::StoreInvalidating(ThreadContext& ctx, const WriteRequest& request,
                                        uint64_t hash, uint32_t now, WriteOutcome* outcome) {
  const uint32_t expiry = ExpiryFromExptime(request.exptime, now, WallSeconds());
  uint64_t cas = 0;
  const RewriteOutcome result = RewriteItem(
      ctx, request.key, hash, now,
      [&](Found& old, Rewrite* rewrite) {
        const uint64_t current = core_.CasOf(old.loc, old.header);
        if (!core_.options.use_cas || request.cas == 0 ||
            (request.cas != current && !core_.Older(request.cas, current))) {
          return RewriteStep::kRefuse;
        }
        ItemHeader& header = rewrite->header;
        header.flags = request.flags;
        header.key_binary = request.key_binary;
        core_.SetCas(&header, request.new_cas);
        rewrite->prefix = request.value;
        rewrite->keep_value = false;
        if (request.cas == current) {
          // A match stores as ms with C does: a fresh item.
          header.expiry = expiry;
          header.stale = false;
          header.win_sent = false;
          return IsExpired(expiry, now) ? RewriteStep::kDrop : RewriteStep::kRewrite;
        }
        // An older token: the value is stored, but stays stale with the old expiry and winner.
        header.stale = true;
        return RewriteStep::kRewrite;
      },
      nullptr, &cas);
  switch (result) {
    case RewriteOutcome::kDone:
      ctx.Add(CacheCounter::total_items, 1);
      Report(outcome, cas, static_cast<uint32_t>(request.value.size()));
      return StoreResult::kStored;
    case RewriteOutcome::kRefused:
      return StoreResult::kExists;
    case RewriteOutcome::kCorrupt:
    case RewriteOutcome::kNoMemory:
      return StoreResult::kNoMemory;
    case RewriteOutcome::kMiss:
    case RewriteOutcome::kExpired:
    case RewriteOutcome::kFlushed:
      return StoreResult::kNotFound;
  }
  return StoreResult::kNotFound;
}

// A read-modify-write without holding a lock across the allocation (invariant 3): look at the
// current version under the stripe lock and let `plan` describe the new one; write it outside the
// lock; lock again and swap it in only if the key still has the version that was looked at (its
// location, unique per version, so a reused location cannot fool the check) in the same state
// (invariant 6). Otherwise the new bytes are dead and the loop starts over with the newer version.
template <typename Plan>
RewriteOutcome Rewriter::RewriteItem(ThreadContext& ctx, std::string_view key, uint64_t hash,
                                     uint32_t now, Plan&& plan, ItemSink* sink, uint64_t* new_cas) {
  SpinLock& stripe = core_.table.StripeFor(hash);
  for (;;) {
    Rewrite rewrite;
    ReadState read;
    uint64_t version = 0;
    uint8_t state = 0;
    uint32_t old_value_size = 0;
    {
      SpinLockGuard guard(stripe);
      Found found;
      // Absent, or perhaps on flash: the cache reads flash then and runs the rewrite again.
      if (index_.FindLocked(ctx, hash, key, &found) != FindResult::kFound) {
        return RewriteOutcome::kMiss;
      }
      switch (index_.DropIfInvalid(ctx, hash, found, now)) {
        case LookupResult::kHit:
          break;
        case LookupResult::kMiss:
        case LookupResult::kWaitForFlash:  // a lookup in RAM does not wait
          return RewriteOutcome::kMiss;
        case LookupResult::kExpired:
          return RewriteOutcome::kExpired;
        case LookupResult::kFlushed:
          return RewriteOutcome::kFlushed;
      }
      rewrite.header = found.header;
      rewrite.header.compressed = false;
      core_.SetCas(&rewrite.header, std::nullopt);
      read.expiry = found.header.expiry;
      read.last_access =
          core_.pool.Info(found.loc.segment).last_access.load(std::memory_order_relaxed);
      read.fetched = found.slot->counter() > 0;
      read.win_sent = found.header.win_sent;
      version = core_.VersionOf(found.loc);
      state = StateBits(found.header);
      old_value_size = found.header.value_size;
      const RewriteStep step = plan(found, &rewrite);
      read.win = rewrite.win;
      switch (step) {
        case RewriteStep::kRewrite:
          break;
        case RewriteStep::kRefuse:
          return RewriteOutcome::kRefused;
        case RewriteStep::kDrop:
          index_.UnlinkLocked(ctx, hash, found);
          index_.ObserveRemoveLocked(ctx, key);
          if (new_cas != nullptr) {
            *new_cas = rewrite.header.has_cas ? rewrite.header.cas : core_.UnusedCas();
          }
          return RewriteOutcome::kDone;
        case RewriteStep::kDone:
        case RewriteStep::kDoneThenDrop:
          if (rewrite.counts_as_read) {
            found.slot->CountAccess();
            NoteAccessAt(core_.pool.Info(found.loc.segment), now);
          }
          if (sink != nullptr) index_.Serve(ctx, found, now, read, *sink);
          if (new_cas != nullptr) *new_cas = core_.CasOf(found.loc, found.header);
          if (step == RewriteStep::kDoneThenDrop) {
            index_.UnlinkLocked(ctx, hash, found);
            index_.ObserveRemoveLocked(ctx, key);
          } else {
            index_.ObserveTouchLocked(ctx, found, now);
          }
          return RewriteOutcome::kDone;
      }
      // A compressed value that the rewrite keeps as it is (touch, md I) moves as its block; one
      // that changes is rebuilt whole, here, and compressed again outside the lock.
      if (rewrite.keep_value) {
        const size_t added = rewrite.prefix.size() + rewrite.suffix.size() + rewrite.pad;
        const size_t total = found.header.original_size() + added;
        if (found.header.compressed && added == 0) {
          rewrite.header.compressed = true;  // with the raw size the header was copied with
        } else if (found.header.compressed || (added != 0 && codec_.Compressible(total))) {
          if (!Rebuild(ctx, found, &rewrite)) return RewriteOutcome::kCorrupt;
        }
      }
    }

    ItemHeader& header = rewrite.header;
    header.key_size = static_cast<uint8_t>(key.size());
    if (!rewrite.keep_value && rewrite.suffix.empty() && rewrite.pad == 0) {
      rewrite.prefix = codec_.Encode(ctx, rewrite.prefix, &header);
    }
    const size_t value_size = rewrite.prefix.size() + (rewrite.keep_value ? old_value_size : 0) +
                              rewrite.suffix.size() + rewrite.pad;
    header.value_size = static_cast<uint32_t>(value_size);
    const size_t size = header.item_size();
    Placement place;
    if (!writer_.Reserve(ctx, size, header.expiry, now, &place)) return RewriteOutcome::kNoMemory;
    ItemCursor cursor = writer_.WriteHeader(place, header, key);
    cursor.Write(rewrite.prefix.data(), rewrite.prefix.size());
    ItemCursor old_value_at = cursor;
    if (rewrite.keep_value) cursor.Skip(old_value_size);
    cursor.Write(rewrite.suffix.data(), rewrite.suffix.size());
    cursor.Fill(' ', rewrite.pad);
    ctx.rebuilt.Trim();

    bool linked = false;
    {
      SpinLockGuard guard(stripe);
      Found found;
      if (index_.FindLocked(ctx, hash, key, &found) == FindResult::kFound &&
          core_.VersionOf(found.loc) == version && StateBits(found.header) == state &&
          !core_.Invalid(found.loc, found.header, now)) {
        if (rewrite.keep_value) {
          ItemCursor from(core_.pool, found.loc);
          from.Skip(found.header_size + found.header.key_size);
          old_value_at.CopyFrom(from, old_value_size);
        }
        linked = index_.LinkLocked(ctx, hash, &found, place.loc, size, rewrite.keep_counter);
        if (new_cas != nullptr) *new_cas = core_.CasOf(place.loc, header);
        const Found written{nullptr, place.loc,
                            core_.pool.Data(place.loc.segment) + place.loc.offset, header,
                            header.size()};
        if (linked && rewrite.touch && !header.stale) {
          index_.ObserveTouchLocked(ctx, written, now);
        } else if (linked) {
          index_.ObserveStoreLocked(ctx, written, now);
        }
        if (rewrite.counts_as_read || sink != nullptr) {
          Found moved;
          (void)index_.FindLocked(ctx, hash, key, &moved);  // found: just linked
          if (rewrite.counts_as_read) {
            moved.slot->CountAccess();
            NoteAccessAt(core_.pool.Info(moved.loc.segment), now);
          }
          if (sink != nullptr) index_.Serve(ctx, moved, now, read, *sink);
        }
      }
    }
    writer_.Finish(place, linked);
    if (linked) return RewriteOutcome::kDone;
  }
}

bool Rewriter::Rebuild(ThreadContext& ctx, const Found& old, Rewrite* rewrite) const {
  const size_t raw = old.header.original_size();
  const size_t total = rewrite->prefix.size() + raw + rewrite->suffix.size() + rewrite->pad;
  char* out = ctx.rebuilt.Get(total);
  // An empty view may have a null data(), which memcpy must not be given even for 0 bytes.
  if (!rewrite->prefix.empty()) std::memcpy(out, rewrite->prefix.data(), rewrite->prefix.size());
  if (!index_.ReadValue(ctx, old, out + rewrite->prefix.size())) return false;
  char* after = out + rewrite->prefix.size() + raw;
  if (!rewrite->suffix.empty()) std::memcpy(after, rewrite->suffix.data(), rewrite->suffix.size());
  std::memset(after + rewrite->suffix.size(), ' ', rewrite->pad);
  rewrite->prefix = {out, total};
  rewrite->keep_value = false;
  rewrite->suffix = {};
  rewrite->pad = 0;
  return true;
}

StoreResult Rewriter::Concatenate(ThreadContext& ctx, const WriteRequest& request, uint64_t hash,
                                  uint32_t now, WriteOutcome* outcome) {
  const std::string_view value = request.value;
  for (;;) {
    StoreResult refused = StoreResult::kNotStored;
    uint32_t value_size = 0;
    uint64_t cas = 0;
    const RewriteOutcome result = RewriteItem(
        ctx, request.key, hash, now,
        [&](Found& old, Rewrite* rewrite) {
          if (request.cas != 0 && core_.CasOf(old.loc, old.header) != request.cas) {
            refused = StoreResult::kExists;
            return RewriteStep::kRefuse;
          }
          if (old.header.original_size() + value.size() > core_.options.item_size_max) {
            refused = StoreResult::kNotStored;
            return RewriteStep::kRefuse;
          }
          (request.mode == StoreMode::kAppend ? rewrite->suffix : rewrite->prefix) = value;
          value_size = static_cast<uint32_t>(old.header.original_size() + value.size());
          // The result is a new item, as memcached makes one: neither stale nor won.
          ItemHeader& header = rewrite->header;
          header.stale = false;
          header.win_sent = false;
          header.key_binary = request.key_binary;
          core_.SetCas(&header, request.new_cas);
          return RewriteStep::kRewrite;
        },
        nullptr, &cas);
    switch (result) {
      case RewriteOutcome::kDone:
        ctx.Add(CacheCounter::total_items, 1);
        Report(outcome, cas, value_size);
        return StoreResult::kStored;
      case RewriteOutcome::kCorrupt:
      case RewriteOutcome::kNoMemory:
        return StoreResult::kNoMemory;
      case RewriteOutcome::kRefused:
        return refused;
      case RewriteOutcome::kMiss:
      case RewriteOutcome::kExpired:
      case RewriteOutcome::kFlushed:
        break;
    }
    if (!request.vivify) return StoreResult::kNotStored;
    ItemHeader header;
    header.flags = request.flags;
    header.expiry = ExpiryFromExptime(request.vivify_exptime, now, WallSeconds());
    header.key_binary = request.key_binary;
    core_.SetCas(&header, request.new_cas);
    const StoreResult created = store_.StoreVersion(ctx, StoreMode::kAdd, request.key, hash, now,
                                                    header, value, 0, outcome);
    // kNotStored: another client created the key meanwhile; append to theirs.
    if (created != StoreResult::kNotStored) return created;
  }
}

ArithResult Rewriter::Arithmetic(ThreadContext& ctx, const ArithRequest& request, uint64_t hash,
                                 uint32_t now, ArithOutcome* outcome) {
  const std::string_view key = request.key;
  const uint32_t touch_expiry =
      request.touch ? ExpiryFromExptime(request.touch_exptime, now, WallSeconds()) : 0;
  char digits[kMaxCounterDigits];
  for (;;) {
    ArithResult refused = ArithResult::kNonNumeric;
    uint64_t value = 0;
    uint64_t cas = 0;
    uint32_t expiry_before = kNeverExpires;
    const RewriteOutcome result = RewriteItem(
        ctx, key, hash, now,
        [&](Found& old, Rewrite* rewrite) {
          // A chained item is far too long to be a number (memcached refuses chunked items too).
          // memcached looks at the size before the CAS, and at the digits after it.
          if (old.header.value_size == 0 || old.header.chained) return RewriteStep::kRefuse;
          if (request.cas != 0 && core_.CasOf(old.loc, old.header) != request.cas) {
            refused = ArithResult::kExists;
            return RewriteStep::kRefuse;
          }
          std::string_view text(old.item + old.header_size + old.header.key_size,
                                old.header.value_size);
          if (old.header.compressed) {
            // Only a number padded with whitespace compresses; it counts as it would raw.
            char* raw = ctx.rebuilt.Get(old.header.raw_size);
            if (!index_.ReadValue(ctx, old, raw)) {
              refused = ArithResult::kNoMemory;
              return RewriteStep::kRefuse;
            }
            text = {raw, old.header.raw_size};
          }
          if (!ParseCounter(text, &value)) return RewriteStep::kRefuse;
          value = ApplyDelta(value, request.increment, request.delta);
          const size_t length = FormatCounter(value, 0, digits);
          rewrite->prefix = {digits, length};
          rewrite->keep_value = false;
          const uint32_t old_size = old.header.original_size();
          rewrite->pad = old_size > length ? old_size - length : 0;
          expiry_before = old.header.expiry;
          if (request.touch) rewrite->header.expiry = touch_expiry;
          // memcached changes a number in place, keeping whether it was read.
          rewrite->keep_counter = true;
          core_.SetCas(&rewrite->header, request.new_cas);
          return RewriteStep::kRewrite;
        },
        nullptr, &cas);
    switch (result) {
      case RewriteOutcome::kDone:
        outcome->value = value;
        outcome->cas = cas;
        outcome->ttl_before = TtlOf(expiry_before, now);
        outcome->created = false;
        return ArithResult::kOk;
      case RewriteOutcome::kRefused:
        return refused;
      case RewriteOutcome::kCorrupt:
      case RewriteOutcome::kNoMemory:
        return ArithResult::kNoMemory;
      case RewriteOutcome::kMiss:
      case RewriteOutcome::kExpired:
      case RewriteOutcome::kFlushed:
        break;
    }
    if (!request.vivify) return ArithResult::kNotFound;
    ItemHeader header;
    header.expiry = ExpiryFromExptime(request.vivify_exptime, now, WallSeconds());
    header.key_binary = request.key_binary;
    core_.SetCas(&header, request.new_cas);
    const size_t length = FormatCounter(request.initial, 0, digits);
    WriteOutcome stored;
    const StoreResult created = store_.StoreVersion(ctx, StoreMode::kAdd, key, hash, now, header,
                                                    {digits, length}, 0, &stored);
    cas = stored.cas;
    switch (created) {
      case StoreResult::kStored:
        outcome->value = request.initial;
        outcome->cas = cas;
        outcome->ttl_before = -1;
        outcome->created = true;
        return ArithResult::kOk;
      case StoreResult::kNotStored:
        continue;  // another client created the key meanwhile: apply the delta to theirs
      case StoreResult::kExists:
      case StoreResult::kNotFound:
      case StoreResult::kTooLarge:
      case StoreResult::kNoMemory:
        return ArithResult::kNoMemory;
    }
  }
}

RewriteOutcome Rewriter::TouchVersion(ThreadContext& ctx, std::string_view key, uint64_t hash,
                                      uint32_t now, const ReadOptions& options, uint32_t expiry,
                                      uint32_t recache_expiry, ItemSink* sink) {
  return RewriteItem(
      ctx, key, hash, now,
      [&](Found& old, Rewrite* rewrite) {
        rewrite->counts_as_read = options.count_access;
        rewrite->touch = true;
        rewrite->win =
            options.can_win &&
            Wins(old.header, options.recache,
                 options.recache_after_touch ? expiry : old.header.expiry, recache_expiry);
        const auto in_place = [&](RewriteStep step) {
          if (rewrite->win) {
            old.header.win_sent = true;
            RewriteState(old.item, StateBits(old.header));
          }
          return step;
        };
        // The expiry bytes can change in place when the item has them and keeps them: readers
        // read them under the stripe lock held here. The item stays in its segment's TTL bucket,
        // whose max expiry is raised so that the segment does not expire before it.
        if (old.header.expiry != kNeverExpires && expiry != kNeverExpires) {
          RewriteExpiry(old.item, old.header, expiry);
          RaiseMaxExpiry(core_.pool.Info(old.loc.segment), expiry);
          old.header.expiry = expiry;
          return in_place(IsExpired(expiry, now) ? RewriteStep::kDoneThenDrop : RewriteStep::kDone);
        }
        if (old.header.expiry == expiry) return in_place(RewriteStep::kDone);
        if (IsExpired(expiry, now)) return in_place(RewriteStep::kDoneThenDrop);
        // The header changes size: the item moves, keeping its CAS (as memcached's touch does),
        // its state and its access counter. Carrying the CAS is safe by invariant 4.
        rewrite->header.expiry = expiry;
        core_.SetCas(&rewrite->header, core_.CasOf(old.loc, old.header));
        rewrite->header.win_sent = old.header.win_sent || rewrite->win;
        rewrite->keep_counter = true;
        return RewriteStep::kRewrite;
      },
      sink, nullptr);
}

DeleteResult Rewriter::Delete(ThreadContext& ctx, const DeleteRequest& request, uint64_t hash,
                              uint32_t now) {
  const std::string_view key = request.key;
  const uint32_t expiry =
      request.touch ? ExpiryFromExptime(request.exptime, now, WallSeconds()) : kNeverExpires;
  const RewriteOutcome outcome = RewriteItem(
      ctx, key, hash, now,
      [&](Found& old, Rewrite* rewrite) {
        const uint64_t current = core_.CasOf(old.loc, old.header);
        if (request.cas && current != *request.cas) return RewriteStep::kRefuse;
        ItemHeader& header = rewrite->header;
        if (request.drop_value) {
          // memcached stores an empty item in its place: new flags and exptime, same CAS.
          rewrite->keep_value = false;
          header.flags = request.flags;
          header.expiry = expiry;
          header.stale = false;
          header.win_sent = false;
          core_.SetCas(&header, request.new_cas.value_or(current));
        }
        if (request.invalidate) {
          header.stale = true;
          header.win_sent = false;  // so that the next reader wins
          if (request.touch) header.expiry = expiry;
          core_.SetCas(&header, request.new_cas);
          // The same item marked, as memcached marks it in place: it stays read if it was.
          rewrite->keep_counter = !request.drop_value;
        }
        return IsExpired(header.expiry, now) ? RewriteStep::kDrop : RewriteStep::kRewrite;
      },
      nullptr, nullptr);
  switch (outcome) {
    case RewriteOutcome::kDone:
      return DeleteResult::kDeleted;
    case RewriteOutcome::kRefused:
      return DeleteResult::kExists;
    case RewriteOutcome::kCorrupt:
    case RewriteOutcome::kNoMemory:
      return DeleteResult::kNoMemory;
    case RewriteOutcome::kMiss:
    case RewriteOutcome::kExpired:
    case RewriteOutcome::kFlushed:
      return DeleteResult::kNotFound;
  }
  return DeleteResult::kNotFound;
}
}  // namespace mnemo::storage
