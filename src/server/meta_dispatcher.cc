#include "server/meta_dispatcher.h"

#include <charconv>
#include <cstring>
#include <optional>

#include "base/clock.h"
#include "protocol/base64.h"
#include "server/replies.h"
#include "storage/expiry.h"

namespace mnemo::server {
namespace {

using protocol::MetaCommand;
using protocol::MetaStatus;

// One reply line of the meta protocol, built on the stack: a status code, return flags, "\r\n".
class MetaLine {
 public:
  explicit MetaLine(std::string_view code) { Append(code); }

  void Number(uint64_t n) { size_ = std::to_chars(buf_ + size_, buf_ + kCapacity, n).ptr - buf_; }
  // " <letter><n>"
  void Flag(char letter, uint64_t n) {
    Letter(letter);
    Number(n);
  }
  void SignedFlag(char letter, int64_t n) {
    Letter(letter);
    size_ = std::to_chars(buf_ + size_, buf_ + kCapacity, n).ptr - buf_;
  }
  // " <letter>"
  void Letter(char letter) {
    buf_[size_++] = ' ';
    buf_[size_++] = letter;
  }
  void Opaque(const MetaCommand& cmd) {
    Letter('O');
    Append(cmd.opaque);
  }
  // " k<key>", base64-encoded and followed by " b" if the key came so.
  void Key(std::string_view key, bool binary) {
    Letter('k');
    if (!binary) {
      Append(key);
      return;
    }
    size_ += protocol::Base64Encode(key, buf_ + size_);
    Letter('b');
  }
  void End() { Append(replies::kCrlf); }

  std::string_view view() const { return {buf_, size_}; }

 private:
  void Append(std::string_view text) {
    if (text.empty()) return;  // an empty view may hold a null data(), which memcpy must not get
    std::memcpy(buf_ + size_, text.data(), text.size());
    size_ += text.size();
  }

  // The longest line: "VA " and a size, then each flag once: s t c f l with numbers (21 bytes
  // each at most), h, O and 31 bytes, k and a 250-byte key in base64 (336) and " b", Z X W: under
  // 640 bytes, which a value's head may have (ValueWriter::WriteValue).
  static constexpr size_t kCapacity = ValueWriter::kMaxHead;
  static_assert(kCapacity >= 640);
  char buf_[kCapacity];
  size_t size_ = 0;
};

// Whether `first` comes before `second` in the request. REQUIRES: cmd.Has(first).
bool Before(const MetaCommand& cmd, char first, char second) {
  const std::string_view letters = cmd.letters();
  const size_t at = letters.find(second);
  return at == std::string_view::npos || letters.find(first) < at;
}

// The exptime an item that N created ends with: memcached creates it, then applies N and T in
// request order, so the later one wins.
storage::Exptime CreatedExptime(const MetaCommand& cmd) {
  return cmd.Has('N') && cmd.Has('T') && Before(cmd, 'N', 'T') ? cmd.ttl : cmd.vivify_ttl;
}

std::optional<uint64_t> NewCas(const MetaCommand& cmd) {
  if (!cmd.Has('E')) return std::nullopt;
  return cmd.new_cas;
}

// Seconds an item given `exptime` now has to live; -1 if it never expires.
int64_t TtlFor(storage::Exptime exptime) {
  const uint32_t now = MonotonicSeconds();
  const uint32_t expiry = storage::ExpiryFromExptime(exptime, now, WallSeconds());
  if (expiry == storage::kNeverExpires) return -1;
  return expiry > now ? expiry - now : 0;
}

// The TTL that 't' reports at its place in the request (see the header).
class TtlAtFlag {
 public:
  TtlAtFlag(const MetaCommand& cmd, int64_t before, bool created)
      : cmd_(cmd), ttl_(created ? -1 : before), created_(created) {}

  // Applies T, or N on a created item.
  void Apply(char letter) {
    if (letter == 'T') ttl_ = TtlFor(cmd_.ttl);
    if (letter == 'N' && created_) ttl_ = TtlFor(cmd_.vivify_ttl);
  }
  int64_t ttl() const { return ttl_; }

 private:
  const MetaCommand& cmd_;
  int64_t ttl_;
  bool created_;
};

// The line of a command that found no item to report on (mg's EN, and NF, NS or EX): the code
// and the O and k flags, the key as the request gave it.
void AppendBareLine(std::string_view code, const MetaCommand& cmd, net::IoBuffer& out) {
  MetaLine line(code);
  for (const char letter : cmd.letters()) {
    if (letter == 'O') line.Opaque(cmd);
    if (letter == 'k') line.Key(cmd.Key(), cmd.key_binary);
  }
  line.End();
  out.Append(line.view());
}

// mg's reply to a hit (or to the item N created), written while the cache holds the item; its
// value goes through the connection's ValueWriter, copied now if small, else sent from item
// memory once the lookup returns (ValueWriter::Finish).
class MetaGetWriter final : public storage::ItemSink {
 public:
  MetaGetWriter(const MetaCommand& cmd, net::IoBuffer& out, ValueWriter& values)
      : cmd_(cmd), out_(out), values_(values) {}

  void OnItem(const storage::ItemView& item) override {
    const storage::ItemMeta meta = item.meta();
    // With C, the value is sent only if it changed since the client read that CAS.
    const bool send_value = cmd_.Has('v') && !(cmd_.Has('C') && item.cas() == cmd_.compare_cas);
    const size_t value_size = item.value_size();
    MetaLine line(send_value ? replies::meta::kValue : replies::meta::kHit);
    if (send_value) line.Number(value_size);
    TtlAtFlag ttl(cmd_, meta.ttl_before, meta.created);
    for (const char letter : cmd_.letters()) {
      switch (letter) {
        case 'T':
        case 'N':
          ttl.Apply(letter);
          break;
        case 's':
          line.Flag('s', value_size);
          break;
        case 't':
          line.SignedFlag('t', ttl.ttl());
          break;
        case 'c':
          line.Flag('c', item.cas());
          break;
        case 'f':
          line.Flag('f', item.flags());
          break;
        case 'l':
          line.Flag('l', meta.idle_seconds);
          break;
        case 'h':
          line.Flag('h', item.fetched() ? 1 : 0);
          break;
        case 'O':
          line.Opaque(cmd_);
          break;
        case 'k':
          line.Key(item.key(), meta.key_binary);
          break;
        default:
          break;
      }
    }
    // memcached's order, which keeps W and Z apart: Z for an earlier winner, X, W for this one.
    if (meta.win_sent) line.Letter('Z');
    if (meta.stale) line.Letter('X');
    if (meta.win) line.Letter('W');
    line.End();
    if (!send_value) {
      out_.Append(line.view());
      return;
    }
    values_.WriteValue(item, line.view());
  }

 private:
  const MetaCommand& cmd_;
  net::IoBuffer& out_;
  ValueWriter& values_;
};

// me's line: "ME <key> exp=<ttl> la=<idle> cas=<cas> fetch=<yes|no> cls=1 size=<bytes>".
class MetaDebugWriter final : public storage::ItemSink {
 public:
  explicit MetaDebugWriter(net::IoBuffer& out) : out_(out) {}

  void OnItem(const storage::ItemView& item) override {
    const storage::ItemMeta meta = item.meta();
    std::string line(replies::meta::kDebug);
    if (meta.key_binary) {
      char encoded[protocol::Base64EncodedSize(protocol::kMaxKeyLength)];
      line.append(encoded, protocol::Base64Encode(item.key(), encoded));
    } else {
      line += item.key();
    }
    line += " exp=" + std::to_string(item.ttl_remaining());
    line += " la=" + std::to_string(meta.idle_seconds);
    line += " cas=" + std::to_string(item.cas());
    line += item.fetched() ? " fetch=yes" : " fetch=no";
    // mnemo has no slab classes; `stats slabs` shows the whole pool as class 1.
    line += " cls=1 size=" + std::to_string(meta.stored_bytes);
    line += replies::kCrlf;
    out_.Append(line);
  }

 private:
  net::IoBuffer& out_;
};

}  // namespace

MetaDispatcher::MetaDispatcher(ServerContext& server, storage::Cache::Context& context,
                               ThreadStats& stats, CopyBudget copy_budget)
    : cache_(server.cache),
      hot_keys_(server.hot_keys),
      context_(context),
      stats_(stats),
      copy_budget_(copy_budget),
      watch_log_(server.watch_log) {}

WatchedItem MetaDispatcher::PeekIfWatched(std::string_view key, uint16_t flags) {
  return server::PeekIfWatched(watch_log_, cache_, context_, key, flags, fd_);
}

MetaDispatcher::Outcome MetaDispatcher::Dispatch(const protocol::MetaParseResult& result,
                                                 const MetaCommand& cmd, net::OutputQueue& queue,
                                                 ValueWriter& values) {
  net::IoBuffer& out = queue.copied();
  fd_ = values.trace_fd();
  // A value left waiting for memory by the last call goes first: its command ran then.
  if (values.pending()) return FinishValue(out, values) ? Outcome::kDone : Outcome::kNeedMemory;
  if (result.status != MetaStatus::kOk) {
    if (result.status == MetaStatus::kTooLarge) {
      // As memcached: an ms too large to store removes the value it would have replaced.
      stats_.Add(Stat::kStoreTooLarge);
      storage::DeleteRequest request;
      request.key = cmd.Key();
      (void)cache_.Delete(context_, request);
    }
    out.Append(replies::ForMetaParse(result.status));
    return Outcome::kDone;
  }
  switch (cmd.type) {
    case protocol::MetaCommandType::kGet:
      return Get(cmd, queue, values);
    case protocol::MetaCommandType::kSet:
      Set(cmd, out);
      break;
    case protocol::MetaCommandType::kDelete:
      Delete(cmd, out);
      break;
    case protocol::MetaCommandType::kArithmetic:
      Arithmetic(cmd, out);
      break;
    case protocol::MetaCommandType::kNoop:
      out.Append(replies::meta::kNoop);
      break;
    case protocol::MetaCommandType::kDebug:
      Debug(cmd, out);
      break;
  }
  return Outcome::kDone;
}

bool MetaDispatcher::FinishValue(net::IoBuffer& out, ValueWriter& values) {
  const bool finished = values.Finish(copy_budget_.Allows(out, values.pending_copy()));
  if (values.corrupt()) out.Append(replies::kCorruptValue);
  return finished;
}

MetaDispatcher::Outcome MetaDispatcher::Get(const MetaCommand& cmd, net::OutputQueue& queue,
                                            ValueWriter& values) {
  const LatencyTimer timer(stats_.latency(ThreadStats::Timed::kGet));
  net::IoBuffer& out = queue.copied();
  storage::ReadOptions options;
  options.count_access = !cmd.Has('u');
  options.touch = cmd.Has('T');
  options.touch_exptime = cmd.ttl;
  options.vivify = cmd.Has('N');
  options.vivify_exptime = CreatedExptime(cmd);
  options.recache = cmd.Has('R');
  options.recache_exptime = cmd.recache_ttl;
  options.recache_after_touch = cmd.Has('R') && cmd.Has('T') && Before(cmd, 'T', 'R');
  options.new_cas = NewCas(cmd);
  options.key_binary = cmd.key_binary;
  values.BeginMeta(&queue);
  MetaGetWriter writer(cmd, out, values);
  options.may_wait_for_flash = true;
  const bool watched = watch_log_.Watching(kWatchFetchers);
  SizeNotingSink noting(writer);
  const storage::LookupResult result = cache_.Get(
      context_, cmd.Key(), options, watched ? noting : static_cast<storage::ItemSink&>(writer));
  if (result == storage::LookupResult::kWaitForFlash) return Outcome::kNeedFlash;
  if (watched) [[unlikely]]
    LogItemGet(watch_log_, cmd.Key(), result, noting.value_size, fd_);
  hot_keys_.Record(cmd.Key());
  const bool finished = FinishValue(out, values);
  if (values.corrupt()) return Outcome::kDone;  // answered with an error, counted nowhere
  // memcached counts a hit with T as a touch, and any miss as a get.
  if (result == storage::LookupResult::kHit) {
    stats_.Add(options.touch ? Stat::kCmdTouch : Stat::kCmdGet);
    stats_.Add(options.touch ? Stat::kTouchHits : Stat::kGetHits);
    return finished ? Outcome::kDone : Outcome::kNeedMemory;
  }
  stats_.Add(Stat::kCmdGet);
  stats_.Add(Stat::kGetMisses);
  if (result == storage::LookupResult::kExpired) stats_.Add(Stat::kGetExpired);
  if (result == storage::LookupResult::kFlushed) stats_.Add(Stat::kGetFlushed);
  if (!cmd.Has('q')) AppendBareLine(replies::meta::kMiss, cmd, out);
  return Outcome::kDone;
}

void MetaDispatcher::Set(const MetaCommand& cmd, net::IoBuffer& out) {
  const LatencyTimer timer(stats_.latency(ThreadStats::Timed::kSet));
  storage::WriteRequest request;
  switch (cmd.set_mode) {
    case protocol::MetaSetMode::kSet:
      request.mode = storage::StoreMode::kSet;
      break;
    case protocol::MetaSetMode::kAdd:
      request.mode = storage::StoreMode::kAdd;
      break;
    case protocol::MetaSetMode::kReplace:
      request.mode = storage::StoreMode::kReplace;
      break;
    case protocol::MetaSetMode::kAppend:
      request.mode = storage::StoreMode::kAppend;
      break;
    case protocol::MetaSetMode::kPrepend:
      request.mode = storage::StoreMode::kPrepend;
      break;
  }
  if (cmd.Has('C')) {
    // memcached: C turns set and replace into cas; append and prepend check it; add ignores it.
    if (request.mode == storage::StoreMode::kSet || request.mode == storage::StoreMode::kReplace) {
      request.mode = storage::StoreMode::kCas;
    }
    if (request.mode != storage::StoreMode::kAdd) request.cas = cmd.compare_cas;
  }
  request.key = cmd.Key();
  request.value = cmd.value;
  request.flags = cmd.client_flags;
  request.exptime = cmd.Has('T') ? cmd.ttl : 0;
  request.invalidate = cmd.Has('I');
  request.vivify = cmd.Has('N');
  request.vivify_exptime = cmd.vivify_ttl;
  request.new_cas = NewCas(cmd);
  request.key_binary = cmd.key_binary;
  hot_keys_.Record(request.key);
  // As memcached, ms looks its key up first (an item_get line), then logs its outcome.
  const bool watched = watch_log_.Watching(kWatchFetchers | kWatchMutations);
  const WatchedItem before =
      watched ? PeekIfWatched(request.key, kWatchFetchers | kWatchMutations) : WatchedItem();
  storage::WriteOutcome outcome;
  const storage::StoreResult result = cache_.Store(context_, request, &outcome);
  if (watched) [[unlikely]] {
    // An append's new item keeps the old one's expiry and holds both values.
    const bool joined = result == storage::StoreResult::kStored &&
                        (request.mode == storage::StoreMode::kAppend ||
                         request.mode == storage::StoreMode::kPrepend) &&
                        before.result == storage::LookupResult::kHit;
    LogItemStore(watch_log_, request.key, result, request.mode,
                 joined ? ItemTtl(before.ttl) : StoreTtl(request.exptime), fd_,
                 result == storage::StoreResult::kStored ? outcome.value_size : cmd.value.size());
  }
  stats_.Add(Stat::kCmdSet);
  const bool cas_mode = request.mode == storage::StoreMode::kCas;
  std::string_view code;
  switch (result) {
    case storage::StoreResult::kStored:
      if (cas_mode) stats_.Add(Stat::kCasHits);
      if (cmd.Has('q')) return;
      code = replies::meta::kHit;
      break;
    case storage::StoreResult::kNotStored:
      code = replies::meta::kNotStored;
      break;
    case storage::StoreResult::kExists:
      if (cas_mode) stats_.Add(Stat::kCasBadval);
      code = replies::meta::kExists;
      break;
    case storage::StoreResult::kNotFound:
      if (cas_mode) stats_.Add(Stat::kCasMisses);
      code = replies::meta::kNotFound;
      break;
    case storage::StoreResult::kTooLarge:
      stats_.Add(Stat::kStoreTooLarge);
      out.Append(replies::kTooLarge);
      return;
    case storage::StoreResult::kNoMemory:
      stats_.Add(Stat::kStoreNoMemory);
      out.Append(replies::kStoreNoMemory);
      return;
  }
  const bool stored = result == storage::StoreResult::kStored;
  MetaLine line(code);
  for (const char letter : cmd.letters()) {
    switch (letter) {
      case 'O':
        line.Opaque(cmd);
        break;
      case 'k':
        line.Key(cmd.Key(), cmd.key_binary);
        break;
      case 'c':
        line.Flag('c', stored ? outcome.cas : 0);
        break;
      case 's':
        line.Flag('s', stored ? outcome.value_size : cmd.value.size());
        break;
      default:
        break;
    }
  }
  line.End();
  out.Append(line.view());
}

void MetaDispatcher::Delete(const MetaCommand& cmd, net::IoBuffer& out) {
  storage::DeleteRequest request;
  request.key = cmd.Key();
  if (cmd.Has('C')) request.cas = cmd.compare_cas;
  request.invalidate = cmd.Has('I');
  request.drop_value = cmd.Has('x');
  request.flags = cmd.client_flags;
  request.touch = cmd.Has('T');
  request.exptime = cmd.ttl;
  request.new_cas = NewCas(cmd);
  hot_keys_.Record(request.key);
  const bool watched = watch_log_.Watching(kWatchFetchers | kWatchDeletions);
  const WatchedItem before =
      watched ? PeekIfWatched(request.key, kWatchFetchers | kWatchDeletions) : WatchedItem();
  std::string_view code;
  const storage::DeleteResult result = cache_.Delete(context_, request);
  // memcached logs a removal and an emptying (x), not an invalidation (I).
  if (watched && result == storage::DeleteResult::kDeleted && !request.invalidate) [[unlikely]] {
    LogDeleted(watch_log_, request.key, "md", before.value_size);
  }
  switch (result) {
    case storage::DeleteResult::kDeleted:
      // memcached counts a removal, and an emptying, as a delete hit; an invalidation as neither.
      if (!request.invalidate) stats_.Add(Stat::kDeleteHits);
      if (cmd.Has('q')) return;
      code = replies::meta::kHit;
      break;
    case storage::DeleteResult::kNotFound:
      stats_.Add(Stat::kDeleteMisses);
      code = replies::meta::kNotFound;
      break;
    case storage::DeleteResult::kExists:
      stats_.Add(Stat::kDeleteMisses);
      code = replies::meta::kExists;
      break;
    case storage::DeleteResult::kNoMemory:
      out.Append(replies::kNoMemory);
      return;
  }
  AppendBareLine(code, cmd, out);
}

void MetaDispatcher::Arithmetic(const MetaCommand& cmd, net::IoBuffer& out) {
  storage::ArithRequest request;
  request.key = cmd.Key();
  hot_keys_.Record(request.key);
  request.increment = cmd.arith_mode == protocol::MetaArithMode::kIncrement;
  request.delta = cmd.delta;
  if (cmd.Has('C')) request.cas = cmd.compare_cas;
  request.touch = cmd.Has('T');
  request.touch_exptime = cmd.ttl;
  request.vivify = cmd.Has('N');
  request.vivify_exptime = CreatedExptime(cmd);
  request.initial = cmd.initial;
  request.new_cas = NewCas(cmd);
  request.key_binary = cmd.key_binary;
  (void)PeekIfWatched(request.key, kWatchFetchers);
  storage::ArithOutcome outcome;
  switch (cache_.Arithmetic(context_, request, &outcome)) {
    case storage::ArithResult::kOk:
      break;
    case storage::ArithResult::kNotFound:
      stats_.Add(request.increment ? Stat::kIncrMisses : Stat::kDecrMisses);
      AppendBareLine(replies::meta::kNotFound, cmd, out);
      return;
    case storage::ArithResult::kExists:
      AppendBareLine(replies::meta::kExists, cmd, out);
      return;
    case storage::ArithResult::kNonNumeric:
      out.Append(replies::kNonNumeric);
      return;
    case storage::ArithResult::kNoMemory:
      out.Append(replies::kNoMemory);
      return;
  }
  if (!outcome.created) stats_.Add(request.increment ? Stat::kIncrHits : Stat::kDecrHits);
  // q hides the reply to an item changed and to one created by N alike, as 1.6.45 does (1.6.18
  // hid the first only).
  if (cmd.Has('q')) return;
  char digits[24];
  const size_t length = static_cast<size_t>(
      std::to_chars(digits, digits + sizeof(digits), outcome.value).ptr - digits);
  const bool send_value = cmd.Has('v');
  MetaLine line(send_value ? replies::meta::kValue : replies::meta::kHit);
  if (send_value) line.Number(length);
  TtlAtFlag ttl(cmd, outcome.ttl_before, outcome.created);
  for (const char letter : cmd.letters()) {
    switch (letter) {
      case 'T':
      case 'N':
        ttl.Apply(letter);
        break;
      case 'c':
        line.Flag('c', outcome.cas);
        break;
      case 't':
        line.SignedFlag('t', ttl.ttl());
        break;
      case 'O':
        line.Opaque(cmd);
        break;
      case 'k':
        line.Key(cmd.Key(), cmd.key_binary);
        break;
      default:
        break;
    }
  }
  line.End();
  out.Append(line.view());
  if (send_value) {
    out.Append({digits, length});
    out.Append(replies::kCrlf);
  }
}

void MetaDispatcher::Debug(const MetaCommand& cmd, net::IoBuffer& out) {
  stats_.Add(Stat::kCmdMeta);
  storage::ReadOptions options;
  options.count_access = false;  // a look at the item, not a use of it
  options.can_win = false;
  MetaDebugWriter writer(out);
  if (cache_.Get(context_, cmd.Key(), options, writer) != storage::LookupResult::kHit) {
    out.Append(replies::meta::kMiss);
    out.Append(replies::kCrlf);
  }
}

}  // namespace mnemo::server
