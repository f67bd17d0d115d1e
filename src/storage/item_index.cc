#include "storage/item_index.h"

#include <cstring>

#include "base/clock.h"
#include "storage/change_observer.h"
#include "storage/expiry.h"
#include "storage/flash_tier.h"
#include "storage/value_hold.h"

namespace mnemo::storage {

uint8_t StateBits(const ItemHeader& header) {
  return static_cast<uint8_t>((header.stale ? kItemStale : 0) |
                              (header.win_sent ? kItemWinSent : 0));
}

bool Wins(const ItemHeader& header, bool recache, uint32_t expiry, uint32_t recache_expiry) {
  if (header.win_sent) return false;
  if (header.stale) return true;
  return recache && expiry != kNeverExpires && expiry < recache_expiry;
}

// What a sink sees of a found item, valid during OnItem only; Hold() keeps the value beyond it.
class ItemIndex::View final : public ItemView {
 public:
  View(const ItemIndex& index, ThreadContext& ctx, const Found& found, uint32_t now,
       const ReadState& state)
      : index_(index), ctx_(ctx), found_(found), now_(now), state_(state) {}

  std::string_view key() const override {
    return {found_.item + found_.header_size, found_.header.key_size};
  }
  uint32_t flags() const override { return found_.header.flags; }
  uint64_t cas() const override { return index_.core_.CasOf(found_.loc, found_.header); }
  size_t value_size() const override { return found_.header.original_size(); }
  bool CopyValue(char* out) const override { return index_.ReadValue(ctx_, found_, out); }
  ValueHold Hold() const override {
    if (index_.core_.OnFlash(found_.loc.segment)) return {};  // a record read from flash
    SegmentPool& pool = index_.core_.pool;
    pool.Hold(found_.loc.segment);
    ctx_.Add(CacheCounter::value_holds, 1);
    const ItemLocation value_at{
        found_.loc.segment,
        static_cast<uint32_t>(found_.loc.offset + found_.header_size + found_.header.key_size)};
    return ValueHold(&pool, &index_.codec_, &ctx_, found_.loc.segment, value_at, found_.header);
  }
  int64_t ttl_remaining() const override { return TtlOf(found_.header.expiry, now_); }
  bool fetched() const override { return state_.fetched; }
  ItemMeta meta() const override {
    ItemMeta meta;
    meta.ttl_before = TtlOf(state_.expiry, now_);
    meta.idle_seconds = now_ > state_.last_access ? now_ - state_.last_access : 0;
    meta.stored_bytes = found_.header.item_size();
    meta.stale = found_.header.stale;
    meta.win_sent = state_.win_sent;
    meta.win = state_.win;
    meta.created = state_.created;
    meta.key_binary = found_.header.key_binary;
    return meta;
  }

 private:
  const ItemIndex& index_;
  ThreadContext& ctx_;  // the reader's: its scratch and counters
  const Found& found_;
  uint32_t now_;
  const ReadState& state_;
};

FindResult ItemIndex::FindLocked(ThreadContext& ctx, uint64_t hash, std::string_view key,
                                 Found* found) {
  const ItemHeader* on_flash = nullptr;
  found->slot = core_.table.Find(hash, [&](ItemLocation loc) {
    if (core_.OnFlash(loc.segment)) [[unlikely]] {
      if (ctx.flash.HoldsAnotherKey(loc)) return false;
      const uint32_t generation = core_.flash->generation(loc);
      if (ctx.flash.takes_items_on_flash()) {
        on_flash = ctx.flash.Confirmed(loc, generation);
        if (on_flash != nullptr) return true;
      }
      ctx.flash.Want(loc, generation);
      return false;
    }
    const char* item = core_.ItemAt(loc);
    if (static_cast<uint8_t>(item[1]) != key.size()) return false;
    return std::memcmp(item + ItemSpanAt(item).header_size, key.data(), key.size()) == 0;
  });
  if (found->slot == nullptr)
    return ctx.flash.pending() ? FindResult::kPending : FindResult::kAbsent;
  // A key has one slot (invariant 1): candidates met before it hold other keys.
  ctx.flash.NextRound();
  found->loc = found->slot->location();
  if (on_flash != nullptr) {
    found->item = nullptr;
    found->header = *on_flash;
    found->header_size = on_flash->size();
    return FindResult::kFound;
  }
  found->item = core_.pool.Data(found->loc.segment) + found->loc.offset;
  found->header_size = ItemHeader::Decode(found->item, &found->header);
  return FindResult::kFound;
}

void ItemIndex::UnlinkLocked(ThreadContext& ctx, uint64_t hash, const Found& found) {
  const size_t size = found.header.item_size();
  core_.table.Erase(hash, found.slot);
  core_.LiveSub(found.loc.segment, size);
  ctx.Add(CacheCounter::curr_items, -1);
  ctx.Add(CacheCounter::bytes, -static_cast<int64_t>(size));
}

LookupResult ItemIndex::DropIfInvalid(ThreadContext& ctx, uint64_t hash, const Found& found,
                                      uint32_t now) {
  LookupResult result = LookupResult::kHit;
  if (core_.Flushed(found.loc)) {
    result = LookupResult::kFlushed;
  } else if (IsExpired(found.header.expiry, now)) {
    result = LookupResult::kExpired;
  }
  if (result != LookupResult::kHit) UnlinkLocked(ctx, hash, found);
  return result;
}

FindResult ItemIndex::FindValidLocked(ThreadContext& ctx, uint64_t hash, std::string_view key,
                                      uint32_t now, Found* found) {
  const FindResult result = FindLocked(ctx, hash, key, found);
  if (result != FindResult::kFound) return result;
  return DropIfInvalid(ctx, hash, *found, now) == LookupResult::kHit ? FindResult::kFound
                                                                     : FindResult::kAbsent;
}

bool ItemIndex::LinkLocked(ThreadContext& ctx, uint64_t hash, const Found* old, ItemLocation loc,
                           size_t size, bool keep_counter) {
  if (old != nullptr) {
    const size_t old_size = old->header.item_size();
    if (keep_counter) {
      old->slot->MoveTo(loc);
    } else {
      old->slot->Relocate(loc);
    }
    // Only once no slot points at the old version: its segment may be freed and reused as soon
    // as its live count is 0, and a crash must not find the slot pointing into it then
    // (crash_recovery.h).
    core_.LiveSub(old->loc.segment, old_size);
    ctx.Add(CacheCounter::bytes, static_cast<int64_t>(size) - static_cast<int64_t>(old_size));
  } else {
    if (!core_.table.Insert(hash, loc)) return false;
    ctx.Add(CacheCounter::curr_items, 1);
    ctx.Add(CacheCounter::bytes, static_cast<int64_t>(size));
  }
  core_.LiveAdd(loc.segment, size);
  return true;
}

void ItemIndex::ServeLocked(ThreadContext& ctx, Found& found, uint32_t now,
                            const ReadOptions& options, uint32_t recache_expiry, ItemSink& sink) {
  ReadState state;
  state.expiry = found.header.expiry;
  state.fetched = found.slot->counter() > 0;
  state.win_sent = found.header.win_sent;
  state.win =
      options.can_win && Wins(found.header, options.recache, found.header.expiry, recache_expiry);
  if (state.win) {
    found.header.win_sent = true;
    RewriteState(found.item, StateBits(found.header));
  }
  SegmentInfo& info = core_.pool.Info(found.loc.segment);
  if (options.count_access) {
    found.slot->CountAccess();
    state.last_access = NoteAccessAt(info, now);
  } else {
    state.last_access = info.last_access.load(std::memory_order_relaxed);
  }
  Serve(ctx, found, now, state, sink);
}

void ItemIndex::Serve(ThreadContext& ctx, const Found& found, uint32_t now, const ReadState& state,
                      ItemSink& sink) {
  sink.OnItem(View(*this, ctx, found, now, state));
}

namespace {

// The Unix time an expiry of the cache's clock falls at; 0 if never.
int64_t ExpiresAt(uint32_t expiry, uint32_t now) {
  const int64_t ttl = TtlOf(expiry, now);
  return ttl < 0 ? 0 : WallSeconds() + ttl;
}

}  // namespace

void ItemIndex::ObserveStoreLocked(ThreadContext& ctx, const Found& version, uint32_t now) {
  ChangeObserver* observer = core_.options.change_observer;
  if (observer == nullptr || ctx.changes_suppressed) return;
  const std::string_view key(version.item + version.header_size, version.header.key_size);
  if (version.header.stale) {
    ObserveRemoveLocked(ctx, key);
    return;
  }
  const ReadState state;
  const View view(*this, ctx, version, now, state);
  Change change;
  change.kind = ChangeKind::kStore;
  change.key = key;
  change.key_binary = version.header.key_binary;
  change.item = &view;
  change.expires_at = ExpiresAt(version.header.expiry, now);
  observer->OnChange(change);
}

void ItemIndex::ObserveRemoveLocked(ThreadContext& ctx, std::string_view key) {
  ChangeObserver* observer = core_.options.change_observer;
  if (observer == nullptr || ctx.changes_suppressed) return;
  Change change;
  change.kind = ChangeKind::kRemove;
  change.key = key;
  observer->OnChange(change);
}

void ItemIndex::ObserveTouchLocked(ThreadContext& ctx, const Found& version, uint32_t now) {
  ChangeObserver* observer = core_.options.change_observer;
  if (observer == nullptr || ctx.changes_suppressed) return;
  Change change;
  change.kind = ChangeKind::kTouch;
  change.key = std::string_view(version.item + version.header_size, version.header.key_size);
  change.key_binary = version.header.key_binary;
  change.expires_at = ExpiresAt(version.header.expiry, now);
  observer->OnChange(change);
}

bool ItemIndex::ReadValue(ThreadContext& ctx, const Found& found, char* out) const {
  if (core_.OnFlash(found.loc.segment)) {
    return codec_.DecodeBytes(ctx, found.item + found.header_size + found.header.key_size,
                              found.header, out);
  }
  const ItemLocation value_at{
      found.loc.segment,
      static_cast<uint32_t>(found.loc.offset + found.header_size + found.header.key_size)};
  return codec_.Decode(ctx, value_at, found.header, out);
}

}  // namespace mnemo::storage
