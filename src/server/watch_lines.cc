#include "server/watch_lines.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <charconv>
#include <string>

#include "base/clock.h"
#include "server/uri_encode.h"

namespace mnemo::server {
namespace {

// memcached reads an exptime above 30 days as a Unix time.
constexpr int64_t kMaxRelativeExptime = 60 * 60 * 24 * 30;
// memcached dates its start this much before it really started (ITEM_UPDATE_INTERVAL + 2).
constexpr int64_t kMemcachedStartBackdate = 62;

// The calling thread's line, reused from line to line.
std::string& Line() {
  thread_local std::string line;
  line.clear();
  return line;
}

void AppendNumber(std::string* out, int64_t value) {
  char digits[24];
  const auto result = std::to_chars(digits, digits + sizeof(digits), value);
  out->append(digits, result.ptr);
}

void AppendKey(std::string* out, std::string_view key) {
  *out += " key=";
  AppendUriEncoded(out, key);
}

// memcached prints a value's size less its "\r\n", and 0 for none.
void AppendSize(std::string* out, size_t value_size) {
  *out += " size=";
  AppendNumber(out, static_cast<int64_t>(value_size));
  *out += '\n';
}

std::string_view StatusName(storage::LookupResult result) {
  switch (result) {
    case storage::LookupResult::kHit:
      return "found";
    case storage::LookupResult::kExpired:
      return "expired";
    case storage::LookupResult::kFlushed:
      return "flushed";
    case storage::LookupResult::kMiss:
    case storage::LookupResult::kWaitForFlash:
      return "not_found";
  }
  return "not_found";
}

std::string_view StatusName(storage::StoreResult result) {
  switch (result) {
    case storage::StoreResult::kStored:
      return "stored";
    case storage::StoreResult::kNotStored:
      return "not_stored";
    case storage::StoreResult::kExists:
      return "exists";
    case storage::StoreResult::kNotFound:
      return "not_found";
    case storage::StoreResult::kTooLarge:
      return "too_large";
    case storage::StoreResult::kNoMemory:
      return "no_memory";
  }
  return "not_stored";
}

std::string_view CommandName(storage::StoreMode mode) {
  switch (mode) {
    case storage::StoreMode::kSet:
      return "set";
    case storage::StoreMode::kAdd:
      return "add";
    case storage::StoreMode::kReplace:
      return "replace";
    case storage::StoreMode::kAppend:
      return "append";
    case storage::StoreMode::kPrepend:
      return "prepend";
    case storage::StoreMode::kCas:
      return "cas";
  }
  return "na";
}

// The peer's address as memcached prints it: "rip=IP rport=PORT transport=T".
void AppendPeer(std::string* out, int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    address.ss_family = AF_UNSPEC;
  }
  char ip[INET6_ADDRSTRLEN] = "";
  unsigned port = 0;
  std::string_view transport = "tcp";
  switch (address.ss_family) {
    case AF_INET: {
      const auto& in = reinterpret_cast<const sockaddr_in&>(address);
      inet_ntop(AF_INET, &in.sin_addr, ip, sizeof(ip));
      port = ntohs(in.sin_port);
      break;
    }
    case AF_INET6: {
      const auto& in6 = reinterpret_cast<const sockaddr_in6&>(address);
      inet_ntop(AF_INET6, &in6.sin6_addr, ip, sizeof(ip));
      port = ntohs(in6.sin6_port);
      break;
    }
    default:
      // A unix socket (or one already reset): memcached prints "unix" and no port.
      std::string_view("unix").copy(ip, 4);
      transport = "local";
      break;
  }
  *out += "rip=";
  *out += ip;
  *out += " rport=";
  AppendNumber(out, port);
  *out += " transport=";
  *out += transport;
}

class SizeSink final : public storage::ItemSink {
 public:
  void OnItem(const storage::ItemView& item) override {
    value_size = item.value_size();
    ttl = item.ttl_remaining();
  }
  size_t value_size = 0;
  int64_t ttl = -1;
};

}  // namespace

WatchedItem PeekForWatch(storage::Cache& cache, storage::Cache::Context& context,
                         std::string_view key) {
  storage::ReadOptions options;
  options.count_access = false;
  options.can_win = false;
  SizeSink sink;
  WatchedItem item;
  item.result = cache.Get(context, key, options, sink);
  if (item.result == storage::LookupResult::kHit) {
    item.value_size = sink.value_size;
    item.ttl = sink.ttl;
  }
  return item;
}

WatchedItem PeekIfWatched(WatchLog& log, storage::Cache& cache, storage::Cache::Context& context,
                          std::string_view key, uint16_t flags, int fd) {
  if (!log.Watching(flags)) [[likely]] {
    return {};
  }
  const WatchedItem item = PeekForWatch(cache, context, key);
  LogItemGet(log, key, item, fd);
  return item;
}

void LogItemGet(WatchLog& log, std::string_view key, storage::LookupResult result,
                size_t value_size, int fd) {
  if (!log.Watching(kWatchFetchers)) return;
  const bool found = result == storage::LookupResult::kHit;
  std::string& line = Line();
  line += "type=item_get";
  AppendKey(&line, key);
  line += " status=";
  line += StatusName(result);
  line += found ? " clsid=1 cfd=" : " clsid=0 cfd=";
  AppendNumber(&line, fd);
  AppendSize(&line, found ? value_size : 0);
  log.Log(kWatchFetchers, line);
}

void LogItemStore(WatchLog& log, std::string_view key, storage::StoreResult result,
                  storage::StoreMode mode, uint32_t ttl, int fd, size_t value_size) {
  if (!log.Watching(kWatchMutations)) return;
  std::string& line = Line();
  line += "type=item_store";
  AppendKey(&line, key);
  line += " status=";
  line += StatusName(result);
  line += " cmd=";
  line += CommandName(mode);
  line += " ttl=";
  AppendNumber(&line, ttl);
  line += " clsid=1 cfd=";
  AppendNumber(&line, fd);
  AppendSize(&line, value_size);
  log.Log(kWatchMutations, line);
}

uint32_t StoreTtl(storage::Exptime exptime) {
  if (exptime == 0) return 0;
  // memcached's clocks: seconds since its (backdated) start, and realtime()'s reading of exptime.
  const int64_t started = ProcessStartWallSeconds() - kMemcachedStartBackdate;
  const int64_t now = WallSeconds() - started;
  int64_t expires = exptime + now;
  if (exptime < 0) {
    expires = 1;
  } else if (exptime > kMaxRelativeExptime) {
    expires = exptime <= started ? 1 : exptime - started;
  }
  return static_cast<uint32_t>(expires - now);
}

void LogDeleted(WatchLog& log, std::string_view key, std::string_view command, size_t value_size) {
  if (!log.Watching(kWatchDeletions)) return;
  std::string& line = Line();
  line += "type=deleted";
  AppendKey(&line, key);
  line += " cmd=";
  line += command;
  line += " clsid=1";
  AppendSize(&line, value_size);
  log.Log(kWatchDeletions, line);
}

void LogConnNew(WatchLog& log, int fd) {
  if (!log.Watching(kWatchConnEvents)) return;
  std::string& line = Line();
  line += "type=conn_new ";
  AppendPeer(&line, fd);
  line += " cfd=";
  AppendNumber(&line, fd);
  line += '\n';
  log.Log(kWatchConnEvents, line);
}

void LogConnClose(WatchLog& log, int fd, CloseReason reason) {
  if (!log.Watching(kWatchConnEvents)) return;
  static constexpr std::string_view kReasons[] = {"error", "normal", "idle_timeout", "shutdown"};
  std::string& line = Line();
  line += "type=conn_close ";
  AppendPeer(&line, fd);
  line += " reason=";
  line += kReasons[static_cast<size_t>(reason)];
  line += " cfd=";
  AppendNumber(&line, fd);
  line += '\n';
  log.Log(kWatchConnEvents, line);
}

void EvictionWatch::OnEvict(const storage::EvictedItem& item) {
  if (!log_.Watching(kWatchEvictions)) [[likely]]
    return;
  std::string& line = Line();
  line += "type=eviction";
  AppendKey(&line, item.key);
  line += item.fetched ? " fetch=yes ttl=" : " fetch=no ttl=";
  AppendNumber(&line, item.ttl);
  line += " la=";
  AppendNumber(&line, item.idle_seconds);
  line += " clsid=1";
  AppendSize(&line, item.value_size);
  log_.Log(kWatchEvictions, line);
}

}  // namespace mnemo::server
