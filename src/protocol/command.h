// Command is one parsed request of memcached's text protocol. Keys, values and arguments are views
// into the connection's read buffer: they stay valid until the parser's `consumed` bytes are
// dropped from it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mnemo::protocol {

inline constexpr size_t kMaxKeyLength = 250;

enum class CommandType : uint8_t {
  kGet,
  kGets,
  kGat,
  kGats,
  kSet,
  kAdd,
  kReplace,
  kAppend,
  kPrepend,
  kCas,
  kDelete,
  kIncr,
  kDecr,
  kTouch,
  kFlushAll,
  kVersion,
  kVerbosity,
  kQuit,
  kStats,
  kCacheMemlimit,
  kShutdown,
  kSlabs,         // slabs reassign|automove: `arguments`
  kLruCrawler,    // lru_crawler ...: `arguments`
  kLru,           // lru tune|mode|temp_ttl: `arguments`
  kMnPeer,        // mn_peer <name> <run id> <applied>: a peer's replication link (`arguments`)
  kRefreshCerts,  // refresh_certs: reload the TLS certificates
  kWatch,         // watch [fetchers|mutations|...]: the connection becomes a watcher (`arguments`)
};

// Iterates the space-separated keys of a retrieval command. The parser has already checked every
// key's length and bytes, so the server may answer key by key.
class KeyList {
 public:
  KeyList() = default;
  explicit KeyList(std::string_view keys) : keys_(keys) {}

  // Sets *key to the next key; false when none is left.
  bool Next(std::string_view* key) {
    size_t start = 0;
    while (start < keys_.size() && keys_[start] == ' ') ++start;
    if (start == keys_.size()) return false;
    size_t end = keys_.find(' ', start);
    if (end == std::string_view::npos) end = keys_.size();
    *key = keys_.substr(start, end - start);
    keys_.remove_prefix(end);
    return true;
  }

 private:
  std::string_view keys_;
};

struct Command {
  CommandType type = CommandType::kGet;
  bool noreply = false;
  std::string_view key;  // storage commands, delete, incr, decr, touch
  KeyList keys;          // get, gets, gat, gats: at least one key, except gat/gats may have none
  // get, gets, gat, gats: the line goes on past these keys (a piece of a long line, see
  // ascii_parser.h), so the answer does not end yet; then `keys` may be empty too.
  bool more_keys = false;
  uint32_t flags = 0;       // storage commands: the client's opaque flags
  int64_t exptime = 0;      // storage commands, touch, gat, gats: 32 bits, as memcached reads it
  uint64_t cas_unique = 0;  // cas
  uint64_t delta = 0;       // incr, decr
  // flush_all: the delay, negative ones read as 0; memcached's exptime rules apply to it (above
  // 30 days it is a Unix time). verbosity: the level. cache_memlimit: megabytes.
  uint64_t number = 0;
  bool has_number = false;  // flush_all was given a delay
  std::string_view value;   // storage commands: the data block, without its "\r\n"
  // stats, shutdown, slabs, lru_crawler, lru (and version, quit, which ignore it): everything
  // after the command word,
  // trimmed of spaces; KeyList splits it into words as memcached does.
  std::string_view arguments;
};

}  // namespace mnemo::protocol
