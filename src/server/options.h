// Options are mnemod's settings, read from memcached's command-line flags with memcached's meanings
// and defaults, so that an existing memcached command line starts mnemod unchanged. Settings that
// tune memcached's slab allocator and LRU have no counterpart here; they are accepted, kept and
// shown in `stats settings` so that scripts and dashboards that set or read them keep working.
//
// Thread safety: an Options is filled once at startup and read-only afterwards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "net/tls_context.h"
#include "protocol/negotiation.h"
#include "storage/cache.h"

namespace mnemo::server {

// memcached's slab and LRU tuning (-o slab_*, lru_*, hash_algorithm, modern, ...), with its
// defaults. None of it changes what mnemod does.
struct MemcachedTuning {
  // memcached's slab page: the slab_chunk_max that no_modern and no_chunked_items set, and the
  // item size above which memcached halves its default.
  static constexpr int kSlabPage = 1 << 20;

  bool maxconns_fast = true;
  bool slab_reassign = true;
  int slab_automove = 1;
  double slab_automove_ratio = 0.8;
  int slab_automove_window = 30;
  int slab_chunk_max = 512 << 10;
  bool slab_chunk_max_set = false;  // given with -o slab_chunk_max=, which no_modern then keeps
  bool lru_crawler = true;
  int lru_crawler_sleep = 100;
  uint32_t lru_crawler_tocrawl = 0;
  int tail_repair_time = 0;
  std::string hash_algorithm = "murmur3";
  bool lru_maintainer_thread = true;
  bool lru_segmented = true;
  int hot_lru_pct = 20;
  int warm_lru_pct = 40;
  double hot_max_factor = 0.2;
  double warm_max_factor = 2.0;
  bool temp_lru = false;
  uint32_t temporary_ttl = 61;
  uint32_t watcher_logbuf_size = 256 << 10;
  uint32_t worker_logbuf_size = 64 << 10;
  bool operator==(const MemcachedTuning&) const = default;
};

// memcached's external storage options (-o ext_*), with its defaults and in its units. ext_path
// opens the flash devices (Server::OpenFlash); the rest is kept and shown in `stats settings`, and
// changes nothing yet.
struct ExtstoreOptions {
  struct Path {
    std::string path;
    uint64_t size = 0;  // bytes, as memcached computes them (64-bit wrap-around included)
    bool operator==(const Path&) const = default;
  };
  std::vector<Path> paths;         // ext_path, in the order given
  uint32_t page_size = 64 << 20;   // ext_page_size, given in megabytes
  uint32_t wbuf_size = 4 << 20;    // ext_wbuf_size, given in megabytes
  uint32_t threads = 1;            // ext_threads
  uint32_t io_depth = 1;           // ext_io_depth
  uint32_t item_size = 512;        // ext_item_size
  uint32_t item_age = UINT32_MAX;  // ext_item_age: no age limit
  uint32_t low_ttl = 0;            // ext_low_ttl
  uint32_t recache_rate = 2000;    // ext_recache_rate
  uint32_t compact_under = 0;      // ext_compact_under; 0: derived from ext_path, see settings
  uint32_t drop_under = 0;         // ext_drop_under; likewise
  uint32_t max_sleep = 1000000;    // ext_max_sleep, microseconds
  double max_frag = 0.8;           // ext_max_frag
  bool drop_unread = false;        // ext_drop_unread
  double slab_automove_freeratio = 0.01;
  bool operator==(const ExtstoreOptions&) const = default;
};

struct Options {
  // Network.
  uint16_t port = 11211;            // -p
  std::vector<std::string> listen;  // -l, one entry per address; empty: every interface
  int udp_port = 0;                 // -U; 0: off, as in memcached 1.6
  std::string socket_path;          // -s: a unix domain socket instead of TCP and UDP
  uint16_t metrics_port = 0;        // -o metrics_port: the Prometheus endpoint; 0: none
  std::string metrics_addr;         // -o metrics_addr; empty: -l's first, else every interface
  uint32_t hot_keys_sample = 100;   // -o hot_keys_sample: 1 request in N feeds `stats hotkeys`
  int unix_mask = 0700;             // -a: the socket file's permission bits
  int max_connections = 1024;       // -c
  int backlog = 1024;               // -b
  int threads = 4;                  // -t
  int reqs_per_event = 20;          // -R: requests per connection per wake-up before yielding
  int napi_ids = 0;                 // -N; accepted, no effect: threads are chosen round robin
  // -B: the protocol every connection speaks; unset (auto, the default): each chooses from its
  // first byte.
  std::optional<protocol::WireProtocol> binding_protocol;
  // Memory and items.
  size_t memory_limit = size_t{64} << 20;  // -m, given in megabytes
  size_t item_size_max = size_t{1} << 20;  // -I
  double growth_factor = 1.25;             // -f; no slab classes here, shown in stats settings
  int chunk_size = 48;                     // -n; likewise
  bool evict = true;                       // -M turns eviction off
  bool use_cas = true;                     // -C turns CAS off
  std::string memory_file;                 // -e: item memory in this file, restartable
  // Process.
  int verbosity = 0;             // -v, -vv
  std::string user;              // -u
  bool daemonize = false;        // -d
  std::string pid_file;          // -P
  bool enable_shutdown = false;  // -A
  bool lock_memory = false;      // -k: mlockall
  bool core_dumps = false;       // -r: raise the core file limit as far as it goes
  // Commands that flags turn off.
  bool flush_enabled = true;  // -F: flush_all
  bool dump_enabled = true;   // -X: stats cachedump, stats detail, lru_crawler metadump
  bool watch_enabled = true;  // -W: watch
  // -D: the delimiter between a key's prefix and the rest, for `stats detail`; giving it turns
  // detail collection on from the start.
  char prefix_delimiter = ':';
  bool detail_enabled = false;
  // -o key[=value],...: server/settings.h declares each, its default aside.
  size_t segment_size = size_t{1} << 20;
  storage::EvictionPolicy eviction = storage::EvictionPolicy::kMerge;
  // Server-side compression: the engine's defaults (storage/cache.h).
  storage::Compression compression = storage::CacheOptions().compression;
  size_t compress_min = storage::CacheOptions().compress_min;
  double compress_ratio = storage::CacheOptions().compress_ratio;
  int hash_power = 0;    // 0: the engine's default
  int idle_timeout = 0;  // seconds; 0: never
  // Connection memory (net/memory_budget.h), memcached's read_buf_mem_limit, in bytes; 0: no
  // limit; unset: kDefaultConnectionMemory or half of -m, whichever is more.
  std::optional<size_t> read_buf_mem_limit;
  // Seconds a connection may stay stuck (no byte read or sent) while it waits for connection
  // memory, holds more than its allowance of it with the budget exhausted, or pins item memory
  // with unsent replies; then it is closed.
  int conn_stuck_timeout = 10;
  // Replication (replication/replication.h): the node list and this node's entry in it (empty:
  // the entry whose port is -p), the copies kept of each key, and each peer stream's bounds.
  std::string cluster_file;
  std::string cluster_self;
  int replicas = 1;
  int repl_backlog_mb = 64;
  int repl_lag_max_ms = 5000;
  // TLS: -Z, and memcached's -o ssl_* (which may be given without -Z, and then do nothing).
  bool ssl_enabled = false;
  net::TlsConfig tls;
  // -S: SASL over the binary protocol (PLAIN, checked against the file $MEMCACHED_SASL_PWDB
  // names); -Y: memcached's ascii authentication, its user:password file.
  bool sasl = false;
  std::string auth_file;
  // -o replication=sync: a client write is answered once the live members of its replica set
  // acknowledged it, or SERVER_ERROR after repl_timeout_ms.
  bool repl_sync = false;
  int repl_timeout_ms = 1000;
  // Rejoin: the lease the peers' echoes give (a node that finds it lapsed is returning), and how
  // long a returning node waits for its peers before it serves anyway.
  int repl_lease_ms = 200;
  int repl_resync_max_ms = 2000;
  // Moves (docs/design/partitioning.md): the node list before this node joined, the items a
  // move's walk visits per second, and how long a move waits for its peers at most.
  std::string cluster_previous;
  int move_rate_keys = 50000;
  int move_max_ms = 120000;
  MemcachedTuning tuning;
  ExtstoreOptions ext;

  static constexpr size_t kDefaultConnectionMemory = size_t{32} << 20;

  // The limit on connection memory that these settings imply; 0: none.
  size_t ConnectionMemoryLimit() const;

  bool operator==(const Options&) const = default;

  // The storage engine's options that these settings imply.
  storage::CacheOptions ToCacheOptions() const;
};

enum class CommandLineAction : uint8_t { kRun, kPrintHelp, kPrintVersion, kPrintLicense };

// Fills *options from argv (argv[0] is the program name). On error, the status says what is wrong
// in memcached's words where memcached has words for it; mnemod then exits with EX_USAGE. A flag
// of memcached's that mnemod accepts without its effect (not supported yet, or meaningless here)
// is said so in one line on stderr (NoteIgnored).
// Not reentrant: it uses getopt_long.
Status ParseCommandLine(int argc, char* const argv[], Options* options, CommandLineAction* action);

// The line that -V prints and -h starts with: mnemo's release and the memcached release whose
// interface it implements, "mnemod 0.1.0 (memcached 1.6.45)".
std::string VersionLine();

// Says on stderr, in one line, that `what` was accepted without effect and why.
void NoteIgnored(std::string_view what, std::string_view why);

// The text that -h prints.
std::string UsageText();

}  // namespace mnemo::server
