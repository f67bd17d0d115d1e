#include "server/dispatcher.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <iterator>
#include <string>
#include <utility>

#include "base/clock.h"
#include "base/logging.h"
#include "protocol/decimal.h"
#include "server/replies.h"
#include "server/value_writer.h"
#include "server/version.h"
#include "server/watch_lines.h"

namespace mnemo::server {
namespace {

using protocol::CommandType;
using protocol::ParseStatus;

// memcached reads an exptime (and a flush_all delay) above 30 days as a Unix time.
constexpr uint64_t kMaxRelativeExptime = 60 * 60 * 24 * 30;

// memcached dates its start this much before it really started (process_started, set to
// ITEM_UPDATE_INTERVAL + 2 seconds ago), which decides which absolute flush_all times it ignores.
constexpr int64_t kMemcachedStartBackdate = 62;

// memcached's MAX_NUMBER_OF_SLAB_CLASSES: the class ids stats cachedump accepts.
constexpr uint32_t kDumpClasses = 64;

}  // namespace

Dispatcher::Dispatcher(ServerContext& server, storage::Cache::Context& context, ThreadStats& stats,
                       CopyBudget copy_budget)
    : server_(server),
      cache_(server.cache),
      context_(context),
      stats_(stats),
      meta_(server, context, stats, copy_budget),
      copy_budget_(copy_budget) {}

bool Dispatcher::MayCopy(size_t bytes) const { return copy_budget_.Allows(*out_, bytes); }

WatchedItem Dispatcher::PeekIfWatched(std::string_view key, uint16_t flags) {
  return server::PeekIfWatched(server_.watch_log, cache_, context_, key, flags,
                               values_->trace_fd());
}

void Dispatcher::LogTooLarge(const protocol::Command& cmd) {
  static constexpr std::pair<CommandType, storage::StoreMode> kModes[] = {
      {CommandType::kSet, storage::StoreMode::kSet},
      {CommandType::kAdd, storage::StoreMode::kAdd},
      {CommandType::kReplace, storage::StoreMode::kReplace},
      {CommandType::kAppend, storage::StoreMode::kAppend},
      {CommandType::kPrepend, storage::StoreMode::kPrepend},
      {CommandType::kCas, storage::StoreMode::kCas}};
  const auto* mode = std::find_if(std::begin(kModes), std::end(kModes),
                                  [&](const auto& entry) { return entry.first == cmd.type; });
  if (mode == std::end(kModes)) return;
  // memcached logs the refusal with no size, then a set's look at the old item it unlinks.
  LogItemStore(server_.watch_log, cmd.key, storage::StoreResult::kTooLarge, mode->second,
               StoreTtl(cmd.exptime), values_->trace_fd(), 0);
  if (cmd.type == CommandType::kSet) (void)PeekIfWatched(cmd.key, kWatchFetchers);
}

Dispatcher::Outcome Dispatcher::DispatchMeta(const protocol::MetaParseResult& result,
                                             const protocol::MetaCommand& cmd,
                                             net::OutputQueue& out, ValueWriter& values) {
  if (result.status == protocol::MetaStatus::kClose) return Outcome::kClose;
  switch (meta_.Dispatch(result, cmd, out, values)) {
    case MetaDispatcher::Outcome::kDone:
      return Outcome::kDone;
    case MetaDispatcher::Outcome::kNeedMemory:
      return Outcome::kNeedMemory;
    case MetaDispatcher::Outcome::kNeedFlash:
      return Outcome::kNeedFlash;
  }
  return Outcome::kDone;
}

Dispatcher::Outcome Dispatcher::Dispatch(const protocol::ParseResult& result,
                                         protocol::Command* cmd, net::OutputQueue& out,
                                         ValueWriter& values, ItemDump* dump) {
  queue_ = &out;
  out_ = &out.copied();
  values_ = &values;
  dump_ = dump;
  withheld_.clear();
  if (dump != nullptr && dump->active()) return ContinueDump();
  quiet_ = result.noreply;
  switch (result.status) {
    case ParseStatus::kOk:
      quiet_ = cmd->noreply;
      return Execute(cmd);
    case ParseStatus::kNeedMore:
      return Outcome::kDone;
    case ParseStatus::kClose:
      return Outcome::kClose;
    case ParseStatus::kTooLarge:
      stats_.Add(Stat::kStoreTooLarge);
      server_.prefix_stats.RecordSet(cmd->key);  // memcached counts it before it allocates
      if (server_.watch_log.Watching(kWatchMutations | kWatchFetchers)) [[unlikely]] {
        LogTooLarge(*cmd);
      }
      // As memcached: a failed set must not leave the old value readable.
      if (cmd->type == CommandType::kSet) {
        storage::DeleteRequest request;
        request.key = cmd->key;
        (void)cache_.Delete(context_, request);
      }
      break;
    case ParseStatus::kBadExptime:
      // memcached counts a flush_all before it reads its delay, and refuses it under -F first.
      if (cmd->type == CommandType::kFlushAll) {
        stats_.Add(Stat::kCmdFlush);
        if (!server_.options.flush_enabled) {
          Reply(replies::kFlushAllNotAllowed);
          return Outcome::kDone;
        }
      }
      break;
    case ParseStatus::kError:
    case ParseStatus::kBadFormat:
    case ParseStatus::kBadDelta:
    case ParseStatus::kBadDataChunk:
      break;
  }
  Reply(replies::ForParse(result.status));
  return Outcome::kDone;
}

Dispatcher::Outcome Dispatcher::Execute(protocol::Command* cmd) {
  switch (cmd->type) {
    case CommandType::kGet:
      return Retrieve(cmd, /*with_cas=*/false, /*touch=*/false);
    case CommandType::kGets:
      return Retrieve(cmd, /*with_cas=*/true, /*touch=*/false);
    case CommandType::kGat:
      return Retrieve(cmd, /*with_cas=*/false, /*touch=*/true);
    case CommandType::kGats:
      return Retrieve(cmd, /*with_cas=*/true, /*touch=*/true);
    case CommandType::kSet:
      Store(*cmd, storage::StoreMode::kSet);
      break;
    case CommandType::kAdd:
      Store(*cmd, storage::StoreMode::kAdd);
      break;
    case CommandType::kReplace:
      Store(*cmd, storage::StoreMode::kReplace);
      break;
    case CommandType::kAppend:
      Store(*cmd, storage::StoreMode::kAppend);
      break;
    case CommandType::kPrepend:
      Store(*cmd, storage::StoreMode::kPrepend);
      break;
    case CommandType::kCas:
      Store(*cmd, storage::StoreMode::kCas);
      break;
    case CommandType::kDelete:
      Delete(*cmd);
      break;
    case CommandType::kIncr:
      Arithmetic(*cmd, /*increment=*/true);
      break;
    case CommandType::kDecr:
      Arithmetic(*cmd, /*increment=*/false);
      break;
    case CommandType::kTouch:
      Touch(*cmd);
      break;
    case CommandType::kFlushAll:
      FlushAll(*cmd);
      break;
    case CommandType::kVersion: {
      static const std::string reply =
          std::string(replies::kVersionPrefix) + std::string(kVersion) + "\r\n";
      Reply(reply);
      break;
    }
    case CommandType::kVerbosity:
      g_verbosity.store(static_cast<int>(std::min<uint64_t>(cmd->number, 2)),
                        std::memory_order_relaxed);
      Reply(replies::kOk);
      break;
    case CommandType::kQuit:
      return Outcome::kQuit;
    case CommandType::kStats:
      return Stats(*cmd);
    case CommandType::kCacheMemlimit:
      CacheMemlimit(*cmd);
      break;
    case CommandType::kShutdown:
      return Shutdown(*cmd);
    case CommandType::kSlabs:
      Reply(server_.maintenance.Slabs(cmd->arguments));
      break;
    case CommandType::kLruCrawler:
      return LruCrawler(*cmd);
    case CommandType::kLru:
      Reply(server_.maintenance.Lru(cmd->arguments));
      break;
    case CommandType::kMnPeer:
      // A node with a node list takes it in the session, which becomes a peer's link; here it
      // is a command memcached lacks (and a second mn_peer on a link, a mistake).
      Reply(replies::kError);
      break;
    case CommandType::kRefreshCerts:
      RefreshCerts();
      break;
    case CommandType::kWatch:
      // A connection's session makes it a watcher (Session::BecomeWatcher); a datagram cannot be.
      Reply(server_.options.watch_enabled ? replies::kWatcherFailed : replies::kWatchNotAllowed);
      break;
  }
  return Outcome::kDone;
}

void Dispatcher::RefreshCerts() {
  // memcached's words: its load_server_certificates' message, or its own without a context.
  if (server_.tls == nullptr) {
    Reply("Error TLS not enabled\r\n");
    return;
  }
  const Status status = server_.tls->Reload();
  if (status.ok()) {
    Reply(replies::kOk);
    return;
  }
  Reply(status.message() + "\r\n");
}

Dispatcher::Outcome Dispatcher::Retrieve(protocol::Command* cmd, bool with_cas, bool touch) {
  const LatencyTimer timer(stats_.latency(ThreadStats::Timed::kGet));
  ValueWriter& writer = *values_;
  writer.Begin(queue_, with_cas);
  storage::ReadOptions options;
  options.can_win = false;  // the recache race is the meta protocol's; get and gat take no part
  options.touch = touch;
  options.touch_exptime = cmd->exptime;
  options.may_wait_for_flash = true;
  // A value left waiting for memory by the last call goes first; its key was counted then.
  bool first = true;
  if (writer.pending()) {
    if (!writer.Finish(MayCopy(writer.pending_copy()))) return Outcome::kNeedMemory;
    first = false;
  }
  std::string_view key;
  const bool watched = server_.watch_log.Watching(kWatchFetchers);
  for (;; first = false) {
    if (writer.corrupt()) {
      // The values before it went out whole; this one cannot. The client sees an error instead
      // of END, as when memcached fails mid-retrieval. The keys of a line that goes on (a long
      // line) would be answered after that error, so its connection closes instead.
      out_->Append(replies::kCorruptValue);
      return cmd->more_keys ? Outcome::kClose : Outcome::kDone;
    }
    const protocol::KeyList remaining = cmd->keys;
    if (!cmd->keys.Next(&key)) break;
    if (!first && queue_->size() >= kOutputSoftLimit) {
      cmd->keys = remaining;
      return Outcome::kSuspended;
    }
    if (!first && !MayCopy(0)) {
      cmd->keys = remaining;
      return Outcome::kNeedMemory;
    }
    SizeNotingSink noting(writer);
    const storage::LookupResult result = cache_.Get(
        context_, key, options, watched ? noting : static_cast<storage::ItemSink&>(writer));
    if (result == storage::LookupResult::kWaitForFlash) {
      cmd->keys = remaining;  // this key runs again once its bytes are read (invariant 3)
      return Outcome::kNeedFlash;
    }
    if (watched) [[unlikely]] {
      LogItemGet(server_.watch_log, key, result, noting.value_size, writer.trace_fd());
    }
    server_.prefix_stats.RecordGet(key, result == storage::LookupResult::kHit);
    server_.hot_keys.Record(key);
    const bool finished = writer.Finish(MayCopy(writer.pending_copy()));
    if (writer.corrupt()) continue;
    // memcached counts gat and gats as touches, not as gets.
    stats_.Add(touch ? Stat::kCmdTouch : Stat::kCmdGet);
    switch (result) {
      case storage::LookupResult::kHit:
        stats_.Add(touch ? Stat::kTouchHits : Stat::kGetHits);
        break;
      case storage::LookupResult::kExpired:
        stats_.Add(Stat::kGetExpired);
        stats_.Add(touch ? Stat::kTouchMisses : Stat::kGetMisses);
        break;
      case storage::LookupResult::kFlushed:
        stats_.Add(Stat::kGetFlushed);
        stats_.Add(touch ? Stat::kTouchMisses : Stat::kGetMisses);
        break;
      case storage::LookupResult::kMiss:
      case storage::LookupResult::kWaitForFlash:  // returned above
        stats_.Add(touch ? Stat::kTouchMisses : Stat::kGetMisses);
        break;
    }
    if (!finished) return Outcome::kNeedMemory;
  }
  if (!cmd->more_keys) out_->Append(replies::kEnd);
  return Outcome::kDone;
}

void Dispatcher::Store(const protocol::Command& cmd, storage::StoreMode mode) {
  const LatencyTimer timer(stats_.latency(ThreadStats::Timed::kSet));
  server_.prefix_stats.RecordSet(cmd.key);
  server_.hot_keys.Record(cmd.key);
  storage::WriteRequest request;
  request.mode = mode;
  request.key = cmd.key;
  request.value = cmd.value;
  // append and prepend keep the item's flags and exptime; only cas compares a token.
  if (mode != storage::StoreMode::kAppend && mode != storage::StoreMode::kPrepend) {
    request.flags = cmd.flags;
    request.exptime = cmd.exptime;
  }
  if (mode == storage::StoreMode::kCas) request.cas = cmd.cas_unique;
  // As memcached, a store looks its key up first (an item_get line), then logs its outcome.
  const bool watched = server_.watch_log.Watching(kWatchFetchers | kWatchMutations);
  WatchedItem before;
  if (watched) [[unlikely]] {
    before = PeekIfWatched(cmd.key, kWatchFetchers | kWatchMutations);
  }
  storage::WriteOutcome outcome;
  const storage::StoreResult result = cache_.Store(context_, request, watched ? &outcome : nullptr);
  if (watched) [[unlikely]] {
    // An append's new item keeps the old one's expiry and holds both values.
    const bool joined =
        result == storage::StoreResult::kStored &&
        (mode == storage::StoreMode::kAppend || mode == storage::StoreMode::kPrepend);
    LogItemStore(server_.watch_log, cmd.key, result, mode,
                 joined ? ItemTtl(before.ttl) : StoreTtl(cmd.exptime), values_->trace_fd(),
                 result == storage::StoreResult::kStored ? outcome.value_size : cmd.value.size());
  }
  stats_.Add(Stat::kCmdSet);
  switch (result) {
    case storage::StoreResult::kStored:
      if (mode == storage::StoreMode::kCas) stats_.Add(Stat::kCasHits);
      break;
    case storage::StoreResult::kExists:
      stats_.Add(Stat::kCasBadval);
      break;
    case storage::StoreResult::kNotFound:
      stats_.Add(Stat::kCasMisses);
      break;
    case storage::StoreResult::kTooLarge:
      stats_.Add(Stat::kStoreTooLarge);
      break;
    case storage::StoreResult::kNoMemory:
      stats_.Add(Stat::kStoreNoMemory);
      break;
    case storage::StoreResult::kNotStored:
      break;
  }
  Reply(replies::ForStore(result));
}

void Dispatcher::Delete(const protocol::Command& cmd) {
  server_.prefix_stats.RecordDelete(cmd.key);
  server_.hot_keys.Record(cmd.key);
  storage::DeleteRequest request;
  request.key = cmd.key;
  const bool watched = server_.watch_log.Watching(kWatchFetchers | kWatchDeletions);
  const WatchedItem before =
      watched ? PeekIfWatched(cmd.key, kWatchFetchers | kWatchDeletions) : WatchedItem();
  const storage::DeleteResult result = cache_.Delete(context_, request);
  if (watched && result == storage::DeleteResult::kDeleted) [[unlikely]] {
    LogDeleted(server_.watch_log, cmd.key, "delete", before.value_size);
  }
  stats_.Add(result == storage::DeleteResult::kDeleted ? Stat::kDeleteHits : Stat::kDeleteMisses);
  Reply(replies::ForDelete(result));
}

void Dispatcher::Arithmetic(const protocol::Command& cmd, bool increment) {
  server_.hot_keys.Record(cmd.key);
  storage::ArithRequest request;
  request.key = cmd.key;
  request.increment = increment;
  request.delta = cmd.delta;
  (void)PeekIfWatched(cmd.key, kWatchFetchers);
  storage::ArithOutcome outcome;
  const storage::ArithResult result = cache_.Arithmetic(context_, request, &outcome);
  if (result == storage::ArithResult::kNotFound) {
    stats_.Add(increment ? Stat::kIncrMisses : Stat::kDecrMisses);
  } else if (result == storage::ArithResult::kOk) {
    stats_.Add(increment ? Stat::kIncrHits : Stat::kDecrHits);
    char text[24];
    char* end = std::to_chars(text, text + 20, outcome.value).ptr;
    end = std::copy(replies::kCrlf.begin(), replies::kCrlf.end(), end);
    Reply(std::string_view(text, static_cast<size_t>(end - text)));
    return;
  }
  Reply(replies::ForArithmetic(result));
}

void Dispatcher::Touch(const protocol::Command& cmd) {
  server_.hot_keys.Record(cmd.key);
  (void)PeekIfWatched(cmd.key, kWatchFetchers);
  const storage::TouchResult result = cache_.Touch(context_, cmd.key, cmd.exptime);
  stats_.Add(Stat::kCmdTouch);
  // A touch refused for want of memory found its item: a hit, as memcached would count it.
  stats_.Add(result == storage::TouchResult::kNotFound ? Stat::kTouchMisses : Stat::kTouchHits);
  Reply(replies::ForTouch(result));
}

// memcached 1.6.45 sets oldest_live = realtime(delay) - 1 and counts an item flushed once
// oldest_live <= current_time, so a delay of N seconds takes effect at the start of the second
// N - 1 seconds from now: "flush_all 1" is as immediate as "flush_all 0". A Unix time (above 30
// days) is the delay until then; one in the past flushes now, except that one at or before the
// time memcached dates its start from flushes nothing (realtime() maps it to 1, oldest_live 0).
// oldest_live is a whole second: with a time, what is stored during the second the flush takes
// effect is flushed too; without one (oldest_live = now - 1, and memcached unlinks what this
// second stored at once), exactly what was stored before it.
void Dispatcher::FlushAll(const protocol::Command& cmd) {
  stats_.Add(Stat::kCmdFlush);  // memcached counts a refused flush_all too
  if (!server_.options.flush_enabled) {
    Reply(replies::kFlushAllNotAllowed);
    return;
  }
  int64_t delay = cmd.has_number ? static_cast<int64_t>(cmd.number) : 0;
  if (static_cast<uint64_t>(delay) > kMaxRelativeExptime) {
    if (delay <= ProcessStartWallSeconds() - kMemcachedStartBackdate) {
      Reply(replies::kOk);
      return;
    }
    delay = std::max<int64_t>(delay - WallSeconds(), 0);
  }
  const auto seconds = static_cast<uint32_t>(std::clamp<int64_t>(delay - 1, 0, UINT32_MAX / 2));
  cache_.FlushAll({.delay_seconds = seconds,
                   .whole_second = delay >= 1,
                   .observed = !cache_.ChangesSuppressed(context_)});
  server_.oldest_live.store(MonotonicSeconds() - kFirstSecond + seconds, std::memory_order_relaxed);
  Reply(replies::kOk);
}

void Dispatcher::CacheMemlimit(const protocol::Command& cmd) {
  const uint64_t megabytes = cmd.number;
  if (megabytes < 8) {
    Reply(replies::kMemlimitTooSmall);
  } else if (megabytes > 1000000000) {
    Reply(replies::kMemlimitNotMegabytes);
  } else if (cache_.SetMemoryLimit(static_cast<size_t>(megabytes) << 20)) {
    Reply(replies::kOk);
  } else {
    Reply(replies::kMemlimitFailed);
  }
}

Dispatcher::Outcome Dispatcher::Shutdown(const protocol::Command& cmd) {
  if (!server_.options.enable_shutdown) {
    Reply(replies::kShutdownDisabled);
    return Outcome::kDone;
  }
  // Both stop accepting, finish the round in progress and join every thread; "graceful" (SIGUSR1's
  // stop) then saves the cache for a warm restart if it has a memory file (-e). memcached compares
  // the argument's bytes with the start of "graceful" only, so "shutdown g" is graceful too.
  constexpr std::string_view kGraceful = "graceful";
  const bool graceful =
      cmd.arguments.find(' ') == std::string_view::npos && kGraceful.starts_with(cmd.arguments);
  if (!cmd.arguments.empty() && !graceful) {
    Reply(replies::kBadShutdownMode);
    return Outcome::kDone;
  }
  server_.request_shutdown(graceful && !cmd.arguments.empty());
  return Outcome::kClose;
}

// memcached 1.6.45 matches a sub-command by the bytes the client wrote: "stats r" resets, "stats d
// o" turns detail on. It tries them in this order; items, slabs and sizes must be whole.
Dispatcher::Outcome Dispatcher::Stats(const protocol::Command& cmd) {
  protocol::KeyList words(cmd.arguments);
  std::string_view sub;
  if (!words.Next(&sub)) {
    std::string text;
    AppendGeneralStats(server_.options, server_.Snapshot(), &text);
    Reply(text + std::string(replies::kEnd));
    return Outcome::kDone;
  }
  const auto abbreviates = [&](std::string_view word) { return word.starts_with(sub); };
  std::string text;
  if (abbreviates("reset")) {
    server_.stats.Reset();
    server_.cache.ResetStats();
    server_.prefix_stats.Clear();
    server_.hot_keys.Clear();
    Reply(replies::kReset);
    return Outcome::kDone;
  }
  if (abbreviates("detail")) {
    StatsDetail(&words);
    return Outcome::kDone;
  }
  if (abbreviates("settings")) {
    AppendSettingsStats(server_.options, server_.Snapshot(), &text);
  } else if (abbreviates("cachedump")) {
    return Cachedump(words);
  } else if (abbreviates("conns")) {
    server_.connections.AppendStats(MonotonicSeconds(), &text);
  } else if (abbreviates("extstore")) {
    // memcached built with extstore and not given -o ext_path: no lines.
  } else if (sub == "items") {
    AppendItemsStats(server_.Snapshot(), &text);
  } else if (sub == "slabs") {
    AppendSlabsStats(server_.Snapshot(), &text);
  } else if (sub == "hotkeys") {
    // mnemo's own: the keys read and written most, overall or in the last second (hot_keys.h).
    std::string_view window;
    if (!words.Next(&window)) {
      AppendHotKeysStats(server_.hot_keys.Top(HotKeys::Window::kOverall), &text);
    } else if (window == "second" && !words.Next(&window)) {
      AppendHotKeysStats(server_.hot_keys.Top(HotKeys::Window::kLastSecond), &text);
    } else {
      Reply(replies::kError);
      return Outcome::kDone;
    }
  } else if (sub == "sizes") {
    Reply(replies::kSizesDisabled);
    return Outcome::kDone;
  } else {
    Reply(replies::kError);
    return Outcome::kDone;
  }
  text += replies::kEnd;
  Reply(text);
  return Outcome::kDone;
}

// memcached's checks, in its order: -X, the token count (its ntokens counts "stats" and the
// "cachedump" word), the numbers, the class. mnemo's one class is 1 (item_dump.h).
Dispatcher::Outcome Dispatcher::Cachedump(protocol::KeyList words) {
  if (!server_.options.dump_enabled || dump_ == nullptr) {
    Reply(replies::kCachedumpNotAllowed);
    return Outcome::kDone;
  }
  std::string_view id_word;
  std::string_view limit_word;
  if (!words.Next(&id_word) || !words.Next(&limit_word)) {
    Reply("CLIENT_ERROR bad command line\r\n");
    return Outcome::kDone;
  }
  uint32_t id = 0;
  uint32_t limit = 0;
  if (!protocol::ParseTokenU32(id_word, &id) || !protocol::ParseTokenU32(limit_word, &limit)) {
    Reply(replies::ForParse(ParseStatus::kBadFormat));
    return Outcome::kDone;
  }
  if (id >= kDumpClasses) {
    Reply("CLIENT_ERROR Illegal slab id\r\n");
    return Outcome::kDone;
  }
  dump_->Start(DumpKind::kCachedump, id == 1, limit, nullptr);
  return ContinueDump();
}

Dispatcher::Outcome Dispatcher::LruCrawler(const protocol::Command& cmd) {
  DumpKind kind = DumpKind::kMetadump;
  bool everything = false;
  std::string refusal;
  if (dump_ == nullptr ||
      !server_.maintenance.ParseDump(cmd.arguments, server_.options.dump_enabled, !queue_->empty(),
                                     &kind, &everything, &refusal)) {
    Reply(server_.maintenance.LruCrawler(cmd.arguments));
    return Outcome::kDone;
  }
  if (!refusal.empty()) {
    Reply(refusal);
    return Outcome::kDone;
  }
  dump_->Start(kind, everything, 0, server_.maintenance.dump_flag());
  return ContinueDump();
}

Dispatcher::Outcome Dispatcher::ContinueDump() {
  // While connection memory is short, the output grows only within the connection's allowance,
  // but by a line at least, so that the dump goes on.
  size_t chunk = kDumpChunk;
  if (!MayCopy(chunk)) {
    if (!out_->empty()) return Outcome::kNeedMemory;
    chunk = 1;
  }
  return dump_->Continue(cache_, *out_, chunk) ? Outcome::kDone : Outcome::kSuspended;
}

// "stats detail on|off|dump", each matched by the bytes written ("o" is on), as memcached does.
void Dispatcher::StatsDetail(protocol::KeyList* words) {
  if (!server_.options.dump_enabled) {
    Reply(replies::kDetailNotAllowed);
    return;
  }
  std::string_view mode;
  // Without a third token memcached compares "stats" itself, which names no mode.
  if (!words->Next(&mode)) mode = "stats";
  const auto abbreviates = [&](std::string_view word) { return word.starts_with(mode); };
  if (abbreviates("on")) {
    server_.prefix_stats.set_enabled(true);
    Reply(replies::kOk);
  } else if (abbreviates("off")) {
    server_.prefix_stats.set_enabled(false);
    Reply(replies::kOk);
  } else if (abbreviates("dump")) {
    Reply(server_.prefix_stats.Dump());
  } else {
    Reply(replies::kDetailUsage);
  }
}

}  // namespace mnemo::server
