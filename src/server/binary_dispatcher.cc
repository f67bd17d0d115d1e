#include "server/binary_dispatcher.h"

#include <algorithm>
#include <cstring>
#include <iterator>

#include "server/replies.h"

namespace mnemo::server {
namespace {

using protocol::BinaryError;
using protocol::binary::Opcode;
using protocol::binary::Status;

// An incr or decr with this expiration fails on a missing key instead of creating it.
constexpr uint32_t kNoAutoCreate = 0xffffffff;

// memcached's texts for ENOMEM where it says more than StatusText's.
constexpr std::string_view kOutOfMemoryStoring = "Out of memory allocating item";
constexpr std::string_view kOutOfMemoryArithmetic = "Out of memory incrementing value";

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// The `stats` argument that memcached's process_bin_stat serves for a stat key, as it matches
// them (reset, settings and detail by prefix; items, slabs and sizes whole); false for a key it
// answers "Not found".
bool TextStatsArgument(std::string_view key, std::string_view* argument) {
  // Matched in memcached's order; a detail mode by the prefix of what follows "detail".
  constexpr std::string_view kByPrefix[] = {"reset", "settings"};
  constexpr std::string_view kDetailModes[] = {"detail dump", "detail on", "detail off"};
  constexpr size_t kDetail = 6;  // "detail"
  const auto* prefix = std::ranges::find_if(
      kByPrefix, [key](std::string_view name) { return StartsWith(key, name); });
  if (prefix != std::end(kByPrefix)) {
    *argument = *prefix;
    return true;
  }
  if (StartsWith(key, kDetailModes[0].substr(0, kDetail))) {
    const std::string_view mode = key.substr(kDetail);
    const auto* found = std::ranges::find_if(kDetailModes, [mode](std::string_view name) {
      return StartsWith(mode, name.substr(kDetail));
    });
    if (found == std::end(kDetailModes)) return false;
    *argument = *found;
    return true;
  }
  if (key.empty() || key == "items" || key == "slabs" || key == "sizes") {
    *argument = key;
    return true;
  }
  return false;
}

}  // namespace

BinaryDispatcher::BinaryDispatcher(ServerContext& server, storage::Cache::Context& context,
                                   ThreadStats& stats, Dispatcher& text, net::BufferPool& pool,
                                   CopyBudget copy_budget)
    : cache_(server.cache),
      sasl_credentials_(server.sasl),
      prefix_stats_(server.prefix_stats),
      hot_keys_(server.hot_keys),
      context_(context),
      stats_(stats),
      text_(text),
      pool_(pool),
      copy_budget_(copy_budget) {}

bool BinaryDispatcher::MayCopy(size_t bytes) const { return copy_budget_.Allows(*out_, bytes); }

Dispatcher::Outcome BinaryDispatcher::Dispatch(const protocol::BinaryRequest& request,
                                               const protocol::BinaryCommand& cmd,
                                               net::OutputQueue& out, ValueWriter& values,
                                               SaslExchange* sasl) {
  cmd_ = &cmd;
  queue_ = &out;
  out_ = &out.copied();
  values_ = &values;
  // memcached judges the lengths of the body before it asks who the client is.
  if (request.error == BinaryError::kBadLengths) {
    Fail(Status::kUnknownCommand);
    return Dispatcher::Outcome::kQuit;
  }
  if (request.error == BinaryError::kBodyTooLarge) {
    Fail(Status::kInvalidArguments);
    return Dispatcher::Outcome::kQuit;
  }
  const bool sasl_request = cmd.base == Opcode::kSaslListMechs || cmd.base == Opcode::kSaslAuth ||
                            cmd.base == Opcode::kSaslStep;
  if (sasl != nullptr && !sasl->authenticated() && !sasl_request && cmd.base != Opcode::kVersion) {
    Fail(Status::kAuthError);
    return Dispatcher::Outcome::kQuit;
  }
  switch (request.error) {
    case BinaryError::kNone:
    case BinaryError::kBadLengths:    // answered above
    case BinaryError::kBodyTooLarge:  // answered above
      break;
    case BinaryError::kInvalid:
      Fail(Status::kInvalidArguments);
      return Dispatcher::Outcome::kQuit;
    case BinaryError::kUnknownCommand:
      Fail(Status::kUnknownCommand);
      return Dispatcher::Outcome::kDone;
    case BinaryError::kTooLarge:
      if (sasl_request) break;  // SASL data: answered below
      // memcached counts a store in `stats detail` before it tries to allocate the item.
      if (cmd.base == Opcode::kSet || cmd.base == Opcode::kAdd || cmd.base == Opcode::kReplace ||
          cmd.base == Opcode::kAppend || cmd.base == Opcode::kPrepend) {
        prefix_stats_.RecordSet(cmd.key);
      }
      // As memcached: a failed set must not leave the old value readable.
      if (cmd.base == Opcode::kSet) {
        storage::DeleteRequest remove;
        remove.key = cmd.key;
        (void)cache_.Delete(context_, remove);
      }
      Fail(Status::kTooLarge);
      return Dispatcher::Outcome::kDone;
  }
  switch (cmd.base) {
    case Opcode::kGet:
    case Opcode::kGetQ:
      return Retrieve(/*touch=*/false, /*with_key=*/false, /*with_value=*/true);
    case Opcode::kGetK:
    case Opcode::kGetKQ:
      return Retrieve(/*touch=*/false, /*with_key=*/true, /*with_value=*/true);
    case Opcode::kGat:
    case Opcode::kGatQ:
      return Retrieve(/*touch=*/true, /*with_key=*/false, /*with_value=*/true);
    case Opcode::kGatK:
    case Opcode::kGatKQ:
      return Retrieve(/*touch=*/true, /*with_key=*/true, /*with_value=*/true);
    case Opcode::kTouch:
      return Retrieve(/*touch=*/true, /*with_key=*/false, /*with_value=*/false);
    case Opcode::kSet:
    case Opcode::kSetQ:
    case Opcode::kAdd:
    case Opcode::kAddQ:
    case Opcode::kReplace:
    case Opcode::kReplaceQ:
    case Opcode::kAppend:
    case Opcode::kAppendQ:
    case Opcode::kPrepend:
    case Opcode::kPrependQ:
      Store();
      break;
    case Opcode::kDelete:
    case Opcode::kDeleteQ:
      Delete();
      break;
    case Opcode::kIncrement:
    case Opcode::kIncrementQ:
      Arithmetic(/*increment=*/true);
      break;
    case Opcode::kDecrement:
    case Opcode::kDecrementQ:
      Arithmetic(/*increment=*/false);
      break;
    case Opcode::kFlush:
    case Opcode::kFlushQ:
      Flush();
      break;
    case Opcode::kNoop:
      Succeed();
      break;
    case Opcode::kVersion:
      Version();
      break;
    case Opcode::kStat:
      Stat();
      break;
    case Opcode::kQuit:
    case Opcode::kQuitQ:
      Succeed();
      return Dispatcher::Outcome::kQuit;
    case Opcode::kSaslListMechs:
    case Opcode::kSaslAuth:
    case Opcode::kSaslStep:
      if (sasl == nullptr) {
        // memcached started without -S knows no SASL: these are unknown commands to it.
        Fail(Status::kUnknownCommand);
      } else if (cmd.base == Opcode::kSaslListMechs) {
        SaslListMechanisms();
      } else {
        SaslAuthenticate(*sasl, request.error == BinaryError::kTooLarge);
      }
      break;
  }
  return Dispatcher::Outcome::kDone;
}

void BinaryDispatcher::SaslListMechanisms() {
  Respond(Status::kSuccess, {}, {}, SaslExchange::kMechanisms);
}

void BinaryDispatcher::SaslAuthenticate(SaslExchange& sasl, bool too_large) {
  const protocol::BinaryCommand& cmd = *cmd_;
  if (cmd.key.size() > SaslExchange::kMaxMechanismName) {
    Fail(Status::kInvalidArguments);
    return;
  }
  // memcached reads the data into an item, and cannot take more than one item holds.
  if (too_large) {
    Fail(Status::kOutOfMemory);
    return;
  }
  const SaslExchange::Result result = cmd.base == Opcode::kSaslAuth
                                          ? sasl.Start(cmd.key, cmd.value, *sasl_credentials_)
                                          : sasl.Step(cmd.value, *sasl_credentials_);
  switch (result) {
    case SaslExchange::Result::kAuthenticated:
      stats_.Add(Stat::kAuthCmds);
      Respond(Status::kSuccess, {}, {}, "Authenticated");
      return;
    case SaslExchange::Result::kContinue:
      // PLAIN's challenge is empty; memcached counts no attempt until it ends.
      Respond(Status::kAuthContinue, {}, {}, {});
      return;
    case SaslExchange::Result::kFailed:
      stats_.Add(Stat::kAuthCmds);
      stats_.Add(Stat::kAuthErrors);
      LogAuthFailure("SASL", sasl.last_user());
      Fail(Status::kAuthError);
      return;
  }
}

Dispatcher::Outcome BinaryDispatcher::Retrieve(bool touch, bool with_key, bool with_value) {
  const LatencyTimer timer(stats_.latency(ThreadStats::Timed::kGet));
  const protocol::BinaryCommand& cmd = *cmd_;
  ValueWriter& writer = *values_;
  writer.BeginBinary(queue_, {cmd.opcode, cmd.opaque, with_key, with_value});
  // A value left waiting for memory by the last call: its lookup was counted then.
  if (writer.pending()) {
    return writer.Finish(MayCopy(writer.pending_copy())) ? Dispatcher::Outcome::kDone
                                                         : Dispatcher::Outcome::kNeedMemory;
  }
  storage::ReadOptions options;
  options.can_win = false;  // the recache race is the meta protocol's
  options.touch = touch;
  options.touch_exptime = cmd.exptime;
  options.may_wait_for_flash = true;
  storage::LookupResult result = cache_.Get(context_, cmd.key, options, writer);
  if (result == storage::LookupResult::kWaitForFlash) return Dispatcher::Outcome::kNeedFlash;
  const bool finished = writer.Finish(MayCopy(writer.pending_copy()));
  // A value that cannot be decoded is not sent: memcached answers a value it cannot read (from
  // extstore) as a miss, and so does this.
  if (writer.corrupt()) result = storage::LookupResult::kMiss;
  prefix_stats_.RecordGet(cmd.key, result == storage::LookupResult::kHit);
  hot_keys_.Record(cmd.key);
  // memcached counts touch, gat and gatk as touches, not as gets.
  stats_.Add(touch ? Stat::kCmdTouch : Stat::kCmdGet);
  switch (result) {
    case storage::LookupResult::kHit:
      stats_.Add(touch ? Stat::kTouchHits : Stat::kGetHits);
      return finished ? Dispatcher::Outcome::kDone : Dispatcher::Outcome::kNeedMemory;
    case storage::LookupResult::kExpired:
      stats_.Add(Stat::kGetExpired);
      break;
    case storage::LookupResult::kFlushed:
      stats_.Add(Stat::kGetFlushed);
      break;
    case storage::LookupResult::kMiss:
    case storage::LookupResult::kWaitForFlash:  // returned above
      break;
  }
  stats_.Add(touch ? Stat::kTouchMisses : Stat::kGetMisses);
  if (cmd.quiet) return Dispatcher::Outcome::kDone;
  if (with_key) {
    Respond(Status::kKeyNotFound, {}, cmd.key, {});
  } else {
    Fail(Status::kKeyNotFound);
  }
  return Dispatcher::Outcome::kDone;
}

void BinaryDispatcher::Store() {
  const LatencyTimer timer(stats_.latency(ThreadStats::Timed::kSet));
  const protocol::BinaryCommand& cmd = *cmd_;
  const Opcode base = cmd.base;
  const bool concat = base == Opcode::kAppend || base == Opcode::kPrepend;
  storage::WriteRequest request;
  request.key = cmd.key;
  request.value = cmd.value;
  if (concat) {
    request.mode =
        base == Opcode::kAppend ? storage::StoreMode::kAppend : storage::StoreMode::kPrepend;
    request.cas = cmd.cas;  // append and prepend keep the item's flags and exptime
  } else {
    request.flags = cmd.flags;
    request.exptime = cmd.exptime;
    if (cmd.cas != 0) {  // set, add and replace with a CAS are memcached's cas
      request.mode = storage::StoreMode::kCas;
      request.cas = cmd.cas;
    } else {
      request.mode = base == Opcode::kSet   ? storage::StoreMode::kSet
                     : base == Opcode::kAdd ? storage::StoreMode::kAdd
                                            : storage::StoreMode::kReplace;
    }
  }
  prefix_stats_.RecordSet(cmd.key);  // memcached counts it before it allocates
  hot_keys_.Record(cmd.key);
  storage::WriteOutcome outcome;
  const storage::StoreResult result = cache_.Store(context_, request, &outcome);
  if (result == storage::StoreResult::kNoMemory) {
    // memcached fails to allocate the item before it counts the command.
    Fail(Status::kOutOfMemory, kOutOfMemoryStoring);
    return;
  }
  stats_.Add(Stat::kCmdSet);
  const bool cas = request.mode == storage::StoreMode::kCas;
  switch (result) {
    case storage::StoreResult::kStored:
      if (cas) stats_.Add(Stat::kCasHits);
      Succeed(outcome.cas);
      return;
    case storage::StoreResult::kExists:  // memcached counts a cas, not an append, that fails
      if (cas) stats_.Add(Stat::kCasBadval);
      Fail(Status::kKeyExists);
      return;
    case storage::StoreResult::kNotFound:
      if (cas) stats_.Add(Stat::kCasMisses);
      Fail(Status::kKeyNotFound);
      return;
    case storage::StoreResult::kNotStored:
    case storage::StoreResult::kTooLarge:
    case storage::StoreResult::kNoMemory:
      break;
  }
  // complete_update_bin: what "not stored" means depends on the command.
  if (!cas && base == Opcode::kAdd) {
    Fail(Status::kKeyExists);
  } else if (!cas && base == Opcode::kReplace) {
    Fail(Status::kKeyNotFound);
  } else {
    Fail(Status::kNotStored);
  }
}

void BinaryDispatcher::Delete() {
  prefix_stats_.RecordDelete(cmd_->key);
  hot_keys_.Record(cmd_->key);
  storage::DeleteRequest request;
  request.key = cmd_->key;
  if (cmd_->cas != 0) request.cas = cmd_->cas;
  switch (cache_.Delete(context_, request)) {
    case storage::DeleteResult::kDeleted:
      stats_.Add(Stat::kDeleteHits);
      Succeed();
      return;
    case storage::DeleteResult::kNotFound:
      stats_.Add(Stat::kDeleteMisses);
      Fail(Status::kKeyNotFound);
      return;
    case storage::DeleteResult::kExists:
      Fail(Status::kKeyExists);
      return;
    case storage::DeleteResult::kNoMemory:
      Fail(Status::kOutOfMemory);
      return;
  }
}

void BinaryDispatcher::Arithmetic(bool increment) {
  const protocol::BinaryCommand& cmd = *cmd_;
  storage::ArithRequest request;
  request.key = cmd.key;
  request.increment = increment;
  request.delta = cmd.delta;
  request.cas = cmd.cas;
  hot_keys_.Record(cmd.key);
  if (cmd.exptime != kNoAutoCreate) {
    request.vivify = true;
    request.vivify_exptime = cmd.exptime;
    request.initial = cmd.initial;
  }
  storage::ArithOutcome outcome;
  switch (cache_.Arithmetic(context_, request, &outcome)) {
    case storage::ArithResult::kOk: {
      // memcached creates a missing item with a store of its own, counted as neither.
      if (!outcome.created) stats_.Add(increment ? Stat::kIncrHits : Stat::kDecrHits);
      if (cmd.quiet) return;
      char value[8];
      protocol::binary::Store64(value, outcome.value);
      Respond(Status::kSuccess, {}, {}, std::string_view(value, sizeof(value)), outcome.cas);
      return;
    }
    case storage::ArithResult::kNotFound:
      stats_.Add(increment ? Stat::kIncrMisses : Stat::kDecrMisses);
      Fail(Status::kKeyNotFound);
      return;
    case storage::ArithResult::kNonNumeric:
      Fail(Status::kDeltaBadValue);
      return;
    case storage::ArithResult::kExists:
      Fail(Status::kKeyExists);
      return;
    case storage::ArithResult::kNoMemory:
      Fail(Status::kOutOfMemory, kOutOfMemoryArithmetic);
      return;
  }
}

void BinaryDispatcher::Flush() {
  protocol::Command command;
  command.type = protocol::CommandType::kFlushAll;
  command.number = cmd_->exptime;
  command.has_number = true;
  // The text protocol refuses a flush only when flushing is disabled, where memcached's binary
  // protocol answers an auth error.
  if (RunText(command) == replies::kOk) {
    Succeed();
  } else {
    Fail(Status::kAuthError);
  }
}

void BinaryDispatcher::Version() {
  protocol::Command command;
  command.type = protocol::CommandType::kVersion;
  const std::string reply = RunText(command);
  std::string_view version = reply;
  version.remove_prefix(replies::kVersionPrefix.size());
  version.remove_suffix(replies::kCrlf.size());
  Respond(Status::kSuccess, {}, {}, version);
}

void BinaryDispatcher::Stat() {
  std::string_view argument;
  if (!TextStatsArgument(cmd_->key, &argument)) {
    Fail(Status::kKeyNotFound);
    return;
  }
  protocol::Command command;
  command.type = protocol::CommandType::kStats;
  command.arguments = argument;
  const std::string text = RunText(command);
  if (argument == "detail dump") {
    // memcached sends the whole dump, as the text protocol sends it, as one statistic.
    if (!StartsWith(text, "PREFIX ") && text != replies::kEnd) {
      Fail(Status::kKeyNotFound);
      return;
    }
    Respond(Status::kSuccess, {}, "detailed", text);
  } else if (text == replies::kOk || text == replies::kReset) {
    // reset, detail on and detail off answer the end of statistics alone
  } else if (StartsWith(text, replies::kStat) || text == replies::kEnd) {
    std::string_view lines = text;
    while (StartsWith(lines, replies::kStat)) {
      const size_t end = lines.find(replies::kCrlf);
      const std::string_view line =
          lines.substr(replies::kStat.size(), end - replies::kStat.size());
      const size_t space = line.find(' ');
      const std::string_view name = line.substr(0, space);
      const std::string_view value =
          space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
      Respond(Status::kSuccess, {}, name, value);
      lines.remove_prefix(end + replies::kCrlf.size());
    }
  } else {
    Fail(Status::kKeyNotFound);  // the sub-command is refused (detail while dumping is off)
    return;
  }
  Respond(Status::kSuccess, {}, {}, {});
}

std::string BinaryDispatcher::RunText(protocol::Command command) {
  net::OutputQueue reply(pool_);
  protocol::ParseResult parsed;
  parsed.status = protocol::ParseStatus::kOk;
  (void)text_.Dispatch(parsed, &command, reply, text_values_);
  return std::string(reply.copied().readable());
}

void BinaryDispatcher::Respond(Status status, std::string_view extras, std::string_view key,
                               std::string_view value, uint64_t cas) {
  protocol::binary::ResponseHeader header;
  header.opcode = cmd_->opcode;
  header.key_length = static_cast<uint16_t>(key.size());
  header.extras_length = static_cast<uint8_t>(extras.size());
  header.status = status;
  header.body_length = static_cast<uint32_t>(extras.size() + key.size() + value.size());
  header.opaque = cmd_->opaque;
  header.cas = cas;
  const size_t size = protocol::binary::kHeaderSize + header.body_length;
  char* const start = out_->PrepareAppend(size);
  if (start == nullptr) return;  // out of memory: the connection closes (IoBuffer::failed)
  char* p = protocol::binary::WriteResponseHeader(header, start);
  for (const std::string_view part : {extras, key, value}) {
    if (part.empty()) continue;
    std::memcpy(p, part.data(), part.size());
    p += part.size();
  }
  out_->CommitAppend(size);
}

void BinaryDispatcher::Succeed(uint64_t cas) {
  if (!cmd_->quiet) Respond(Status::kSuccess, {}, {}, {}, cas);
}

void BinaryDispatcher::Fail(Status status, std::string_view text) {
  Respond(status, {}, {}, text.empty() ? protocol::binary::StatusText(status) : text);
}

}  // namespace mnemo::server
