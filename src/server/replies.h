// Every reply mnemod writes on the text protocol, byte for byte as memcached writes it. The wire
// text lives here and nowhere else; each switch covers every result with no default, so the
// compiler rejects a new result that has no reply.
//
// Thread safety: constants and pure functions.
#pragma once

#include <string_view>

#include "protocol/meta_parser.h"
#include "protocol/text_parser.h"
#include "storage/cache.h"

namespace mnemo::server::replies {

inline constexpr std::string_view kEnd = "END\r\n";
inline constexpr std::string_view kValue = "VALUE ";
inline constexpr std::string_view kCrlf = "\r\n";
inline constexpr std::string_view kOk = "OK\r\n";
inline constexpr std::string_view kError = "ERROR\r\n";
inline constexpr std::string_view kReset = "RESET\r\n";
inline constexpr std::string_view kStat = "STAT ";
inline constexpr std::string_view kVersionPrefix = "VERSION ";
inline constexpr std::string_view kTouched = "TOUCHED\r\n";
inline constexpr std::string_view kNotFound = "NOT_FOUND\r\n";
inline constexpr std::string_view kCorruptValue = "SERVER_ERROR corrupt value in cache\r\n";
inline constexpr std::string_view kTooLarge = "SERVER_ERROR object too large for cache\r\n";
inline constexpr std::string_view kNoMemory =
    "SERVER_ERROR out of memory\r\n";  // incr, decr, ma, md
inline constexpr std::string_view kTooManyConnections = "ERROR Too many open connections\r\n";
inline constexpr std::string_view kShutdownDisabled = "SERVER_ERROR: shutdown not enabled\r\n";
inline constexpr std::string_view kFlushAllNotAllowed = "CLIENT_ERROR flush_all not allowed\r\n";
inline constexpr std::string_view kBadShutdownMode = "CLIENT_ERROR invalid shutdown mode\r\n";
inline constexpr std::string_view kMemlimitTooSmall =
    "MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n";
inline constexpr std::string_view kMemlimitNotMegabytes =
    "MEMLIMIT_ADJUST_FAILED input value is megabytes not bytes\r\n";
inline constexpr std::string_view kMemlimitFailed =
    "MEMLIMIT_ADJUST_FAILED out of bounds or unable to adjust\r\n";
inline constexpr std::string_view kSizesDisabled = "STAT sizes_status disabled\r\nEND\r\n";
inline constexpr std::string_view kDetailNotAllowed = "CLIENT_ERROR stats detail not allowed\r\n";
inline constexpr std::string_view kDetailUsage = "CLIENT_ERROR usage: stats detail on|off|dump\r\n";
inline constexpr std::string_view kCachedumpNotAllowed =
    "CLIENT_ERROR stats cachedump not allowed\r\n";
// -o replication=sync: a live replica did not acknowledge the write within repl_timeout_ms.
inline constexpr std::string_view kReplicationTimedOut = "SERVER_ERROR replication timed out\r\n";
inline constexpr std::string_view kStoreNoMemory = "SERVER_ERROR out of memory storing object\r\n";
// watch: refused under -W, after other replies in the same batch, or by the log (watch_log.h).
inline constexpr std::string_view kWatchNotAllowed = "CLIENT_ERROR watch commands not allowed\r\n";
inline constexpr std::string_view kWatchPipelined =
    "ERROR cannot pipeline other commands before watch\r\n";
inline constexpr std::string_view kWatcherTooMany =
    "WATCHER_TOO_MANY log watcher limit reached\r\n";
inline constexpr std::string_view kWatcherFailed = "WATCHER_FAILED failed to add log watcher\r\n";
inline constexpr std::string_view kNonNumeric =
    "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";

// The meta protocol's status codes; the return flags follow them on the same line.
namespace meta {
inline constexpr std::string_view kHit = "HD";        // done (stored, deleted, ...)
inline constexpr std::string_view kValue = "VA ";     // a value follows: "VA <size>"
inline constexpr std::string_view kMiss = "EN";       // mg, me: no such item
inline constexpr std::string_view kNotFound = "NF";   // ms, md, ma
inline constexpr std::string_view kNotStored = "NS";  // ms
inline constexpr std::string_view kExists = "EX";     // a CAS that does not match
inline constexpr std::string_view kNoop = "MN\r\n";
inline constexpr std::string_view kDebug = "ME ";
}  // namespace meta

// The reply to a command the parser refused; empty for the statuses that have none (a complete
// command, more input needed, or a connection to close silently).
inline std::string_view ForParse(protocol::ParseStatus status) {
  using protocol::ParseStatus;
  switch (status) {
    case ParseStatus::kOk:
    case ParseStatus::kNeedMore:
    case ParseStatus::kClose:
      return {};
    case ParseStatus::kError:
      return kError;
    case ParseStatus::kBadFormat:
      return "CLIENT_ERROR bad command line format\r\n";
    case ParseStatus::kBadExptime:
      return "CLIENT_ERROR invalid exptime argument\r\n";
    case ParseStatus::kBadDelta:
      return "CLIENT_ERROR invalid numeric delta argument\r\n";
    case ParseStatus::kBadDataChunk:
      return "CLIENT_ERROR bad data chunk\r\n";
    case ParseStatus::kTooLarge:
      return kTooLarge;
  }
  return {};
}

// The reply to a meta command the parser refused; empty for the statuses that have none.
inline std::string_view ForMetaParse(protocol::MetaStatus status) {
  using protocol::MetaStatus;
  switch (status) {
    case MetaStatus::kOk:
    case MetaStatus::kNeedMore:
    case MetaStatus::kClose:
      return {};
    case MetaStatus::kError:
      return kError;
    case MetaStatus::kBadFormat:
      return "CLIENT_ERROR bad command line format\r\n";
    case MetaStatus::kTooManyFlags:
      return "CLIENT_ERROR options flags are too long\r\n";
    case MetaStatus::kInvalidFlag:
      return "CLIENT_ERROR invalid flag\r\n";
    case MetaStatus::kDuplicateFlag:
      return "CLIENT_ERROR duplicate flag\r\n";
    case MetaStatus::kInvalidOrDuplicateFlag:
      return "CLIENT_ERROR invalid or duplicate flag\r\n";
    case MetaStatus::kBadToken:
      return "CLIENT_ERROR bad token in command line format\r\n";
    case MetaStatus::kBadKeyEncoding:
      return "CLIENT_ERROR error decoding key\r\n";
    case MetaStatus::kBadInitial:
      return "CLIENT_ERROR invalid numeric initial value\r\n";
    case MetaStatus::kBadDelta:
      return "CLIENT_ERROR invalid numeric delta value\r\n";
    case MetaStatus::kBadSetMode:
      return "CLIENT_ERROR invalid mode for ms M token\r\n";
    case MetaStatus::kBadArithMode:
      return "CLIENT_ERROR invalid mode for ma M token\r\n";
    case MetaStatus::kOpaqueTooLong:
      return "CLIENT_ERROR opaque token too long\r\n";
    case MetaStatus::kTooLarge:
      return kTooLarge;
    case MetaStatus::kBadDataChunk:
      return "CLIENT_ERROR bad data chunk\r\n";
  }
  return {};
}

inline std::string_view ForStore(storage::StoreResult result) {
  using storage::StoreResult;
  switch (result) {
    case StoreResult::kStored:
      return "STORED\r\n";
    case StoreResult::kNotStored:
      return "NOT_STORED\r\n";
    case StoreResult::kExists:
      return "EXISTS\r\n";
    case StoreResult::kNotFound:
      return kNotFound;
    case StoreResult::kTooLarge:
      return kTooLarge;
    case StoreResult::kNoMemory:
      return kStoreNoMemory;
  }
  return {};
}

inline std::string_view ForDelete(storage::DeleteResult result) {
  using storage::DeleteResult;
  switch (result) {
    case DeleteResult::kDeleted:
      return "DELETED\r\n";
    case DeleteResult::kNotFound:
      return kNotFound;
    case DeleteResult::kExists:
      return "EXISTS\r\n";
    case DeleteResult::kNoMemory:
      return kNoMemory;
  }
  return {};
}

inline std::string_view ForTouch(storage::TouchResult result) {
  using storage::TouchResult;
  switch (result) {
    case TouchResult::kTouched:
      return kTouched;
    case TouchResult::kNotFound:
      return kNotFound;
    case TouchResult::kNoMemory:
      return kStoreNoMemory;
  }
  return {};
}

// incr/decr: the reply when there is no number to send; empty on kOk (the reply is the number).
inline std::string_view ForArithmetic(storage::ArithResult result) {
  using storage::ArithResult;
  switch (result) {
    case ArithResult::kOk:
      return {};
    case ArithResult::kNotFound:
      return kNotFound;
    case ArithResult::kNonNumeric:
      return kNonNumeric;
    case ArithResult::kExists:
      return "EXISTS\r\n";
    case ArithResult::kNoMemory:
      return kNoMemory;
  }
  return {};
}

}  // namespace mnemo::server::replies
