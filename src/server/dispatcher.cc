#include "server/dispatcher.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string>

#include "base/clock.h"
#include "base/logging.h"
#include "server/replies.h"
#include "server/version.h"

namespace mnemo::server {
namespace {

using protocol::CommandType;
using protocol::ParseStatus;

// memcached reads an exptime (and a flush_all delay) above 30 days as a Unix time.
constexpr uint64_t kMaxRelativeExptime = 60 * 60 * 24 * 30;

// Writes a retrieval's "VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n" straight into the
// output, copying the value once from item memory.
class ValueWriter final : public storage::ItemSink {
 public:
  ValueWriter(net::IoBuffer& out, bool with_cas) : out_(out), with_cas_(with_cas) {}

  void OnItem(const storage::ItemView& item) override {
    const std::string_view key = item.key();
    const size_t value_size = item.value_size();
    // "VALUE " key " " flags(10) " " bytes(20) " " cas(20) "\r\n"
    const size_t header_max = replies::kValue.size() + key.size() + 3 * 21 + 2;
    char* const start = out_.PrepareAppend(header_max + value_size + replies::kCrlf.size());
    if (start == nullptr) return;  // out of memory: the connection closes (IoBuffer::failed)
    char* p = start;
    p = Put(p, replies::kValue);
    p = Put(p, key);
    *p++ = ' ';
    p = std::to_chars(p, p + 10, item.flags()).ptr;
    *p++ = ' ';
    p = std::to_chars(p, p + 20, value_size).ptr;
    if (with_cas_) {
      *p++ = ' ';
      p = std::to_chars(p, p + 20, item.cas()).ptr;
    }
    p = Put(p, replies::kCrlf);
    if (!item.CopyValue(p)) {
      corrupt_ = true;  // nothing committed: no garbage reaches the client
      return;
    }
    p = Put(p + value_size, replies::kCrlf);
    out_.CommitAppend(static_cast<size_t>(p - start));
  }

  bool corrupt() const { return corrupt_; }

 private:
  static char* Put(char* p, std::string_view text) {
    std::memcpy(p, text.data(), text.size());
    return p + text.size();
  }

  net::IoBuffer& out_;
  const bool with_cas_;
  bool corrupt_ = false;
};

// First word of `arguments` (already trimmed by the parser).
std::string_view FirstWord(std::string_view arguments) {
  return arguments.substr(0, arguments.find(' '));
}

}  // namespace

Dispatcher::Dispatcher(ServerContext& server, storage::Cache::Context& context, ThreadStats& stats)
    : server_(server),
      cache_(server.cache),
      context_(context),
      stats_(stats),
      meta_(server, context, stats) {}

Dispatcher::Outcome Dispatcher::DispatchMeta(const protocol::MetaParseResult& result,
                                             const protocol::MetaCommand& cmd, net::IoBuffer& out) {
  if (result.status == protocol::MetaStatus::kClose) return Outcome::kClose;
  meta_.Dispatch(result, cmd, out);
  return Outcome::kDone;
}

Dispatcher::Outcome Dispatcher::Dispatch(const protocol::ParseResult& result,
                                         protocol::Command* cmd, net::IoBuffer& out) {
  out_ = &out;
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
      // As memcached: a failed set must not leave the old value readable.
      if (cmd->type == CommandType::kSet) (void)cache_.Delete(context_, cmd->key);
      break;
    case ParseStatus::kError:
    case ParseStatus::kBadFormat:
    case ParseStatus::kBadDelete:
    case ParseStatus::kBadExptime:
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
      Stats(*cmd);
      break;
    case CommandType::kCacheMemlimit:
      CacheMemlimit(*cmd);
      break;
    case CommandType::kShutdown:
      return Shutdown(*cmd);
  }
  return Outcome::kDone;
}

Dispatcher::Outcome Dispatcher::Retrieve(protocol::Command* cmd, bool with_cas, bool touch) {
  ValueWriter writer(*out_, with_cas);
  std::string_view key;
  for (bool first = true;; first = false) {
    const protocol::KeyList remaining = cmd->keys;
    if (!cmd->keys.Next(&key)) break;
    if (!first && out_->size() >= kOutputSoftLimit) {
      cmd->keys = remaining;
      return Outcome::kSuspended;
    }
    const storage::LookupResult result =
        touch ? cache_.GetAndTouch(context_, key, cmd->exptime, writer)
              : cache_.Get(context_, key, writer);
    if (writer.corrupt()) {
      // The values before it went out whole; this one cannot. The client sees an error instead
      // of END, as when memcached fails mid-retrieval.
      out_->Append(replies::kCorruptValue);
      return Outcome::kDone;
    }
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
        stats_.Add(touch ? Stat::kTouchMisses : Stat::kGetMisses);
        break;
    }
  }
  out_->Append(replies::kEnd);
  return Outcome::kDone;
}

void Dispatcher::Store(const protocol::Command& cmd, storage::StoreMode mode) {
  const storage::StoreResult result = cache_.Store(context_, mode, cmd.key, cmd.flags, cmd.exptime,
                                                   cmd.value, cmd.cas_unique, nullptr);
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
  const storage::DeleteResult result = cache_.Delete(context_, cmd.key);
  stats_.Add(result == storage::DeleteResult::kDeleted ? Stat::kDeleteHits : Stat::kDeleteMisses);
  Reply(replies::ForDelete(result));
}

void Dispatcher::Arithmetic(const protocol::Command& cmd, bool increment) {
  uint64_t value = 0;
  uint64_t new_cas = 0;
  const storage::ArithResult result =
      cache_.Arithmetic(context_, cmd.key, increment, cmd.delta, &value, &new_cas);
  if (result == storage::ArithResult::kNotFound) {
    stats_.Add(increment ? Stat::kIncrMisses : Stat::kDecrMisses);
  } else if (result == storage::ArithResult::kOk) {
    stats_.Add(increment ? Stat::kIncrHits : Stat::kDecrHits);
    char text[24];
    char* end = std::to_chars(text, text + 20, value).ptr;
    end = std::copy(replies::kCrlf.begin(), replies::kCrlf.end(), end);
    Reply(std::string_view(text, static_cast<size_t>(end - text)));
    return;
  }
  Reply(replies::ForArithmetic(result));
}

void Dispatcher::Touch(const protocol::Command& cmd) {
  const storage::TouchResult result = cache_.Touch(context_, cmd.key, cmd.exptime);
  stats_.Add(Stat::kCmdTouch);
  // A touch refused for want of memory found its item: a hit, as memcached would count it.
  stats_.Add(result == storage::TouchResult::kNotFound ? Stat::kTouchMisses : Stat::kTouchHits);
  Reply(replies::ForTouch(result));
}

void Dispatcher::FlushAll(const protocol::Command& cmd) {
  uint64_t delay = cmd.has_number ? cmd.number : 0;
  if (delay > kMaxRelativeExptime) {
    // A Unix time; one in the past flushes now.
    const int64_t now = WallSeconds();
    delay = static_cast<int64_t>(delay) > now ? delay - static_cast<uint64_t>(now) : 0;
  }
  const uint32_t seconds = static_cast<uint32_t>(std::min<uint64_t>(delay, UINT32_MAX / 2));
  cache_.FlushAll(seconds);
  server_.oldest_live.store(MonotonicSeconds() - kFirstSecond + seconds, std::memory_order_relaxed);
  stats_.Add(Stat::kCmdFlush);
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
  // "graceful" waits for nothing more here than a plain shutdown does: both stop accepting,
  // finish the round in progress and join every thread.
  if (!cmd.arguments.empty() && cmd.arguments != "graceful") {
    Reply(replies::kBadShutdownMode);
    return Outcome::kDone;
  }
  server_.request_shutdown();
  return Outcome::kClose;
}

void Dispatcher::Stats(const protocol::Command& cmd) {
  const std::string_view sub = FirstWord(cmd.arguments);
  if (sub == "reset") {
    server_.stats.Reset();
    server_.cache.ResetStats();
    Reply(replies::kReset);
    return;
  }
  if (sub == "sizes") {
    Reply(replies::kSizesDisabled);
    return;
  }
  // memcached's answers when dumping is disabled, as `stats settings` reports it here.
  if (sub == "detail") {
    Reply(replies::kDetailNotAllowed);
    return;
  }
  if (sub == "cachedump") {
    Reply(replies::kCachedumpNotAllowed);
    return;
  }
  std::string text;
  if (sub.empty()) {
    AppendGeneralStats(server_.options, server_.Snapshot(), &text);
  } else if (sub == "settings") {
    AppendSettingsStats(server_.options, server_.Snapshot(), &text);
  } else if (sub == "items") {
    AppendItemsStats(server_.Snapshot(), &text);
  } else if (sub == "slabs") {
    AppendSlabsStats(server_.Snapshot(), &text);
  } else if (sub == "conns") {
    server_.connections.AppendStats(MonotonicSeconds(), &text);
  } else {
    Reply(replies::kError);
    return;
  }
  text += replies::kEnd;
  Reply(text);
}

}  // namespace mnemo::server
