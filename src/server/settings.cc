#include "server/settings.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <string>
#include <type_traits>
#include <vector>

#include "cluster/replica_placement.h"
#include "net/tls_context.h"
#include "protocol/negotiation.h"
#include "server/option_values.h"

namespace mnemo::server {
namespace {

// The storage engine addresses an item inside a segment with 24 bits.
constexpr size_t kSegmentSizeMin = size_t{64} << 10;
constexpr size_t kSegmentSizeMax = size_t{16} << 20;

// How values read in `stats settings`, as memcached prints them.
template <typename Int>
std::string Number(Int value) {
  static_assert(std::is_integral_v<Int> && !std::is_same_v<Int, bool>);
  return std::to_string(value);
}
std::string YesNo(bool value) { return value ? "yes" : "no"; }
std::string Fixed2(double value) {  // memcached's "%.2f" for ratios and factors
  char text[64];
  std::snprintf(text, sizeof(text), "%.2f", value);
  return text;
}
std::string Fixed3(double value) {  // memcached's "%.3f" for slab_automove_freeratio
  char text[64];
  std::snprintf(text, sizeof(text), "%.3f", value);
  return text;
}
std::string JoinListen(const Options& options) {
  if (options.listen.empty()) return "NULL";
  std::string joined;
  for (const std::string& entry : options.listen) {
    if (!joined.empty()) joined += ',';
    joined += entry;
  }
  return joined;
}

template <typename Int>
Status SetInt(std::string_view name, std::string_view value, Int min, Int max, Int* field) {
  Int parsed{};
  if (!ParseInt(value, &parsed) || parsed < min || parsed > max) {
    return Status::Error(std::string(name) + " must be between " + std::to_string(min) + " and " +
                         std::to_string(max) + ", not \"" + std::string(value) + "\"");
  }
  *field = parsed;
  return Status::Ok();
}

Status SetDouble(std::string_view name, std::string_view value, double min, double max,
                 double* field) {
  double parsed = 0;
  if (!ParseDouble(value, &parsed) || parsed <= min || parsed > max) {
    return Status::Error(std::string(name) + " is out of range: \"" + std::string(value) + "\"");
  }
  *field = parsed;
  return Status::Ok();
}

// A count in units of 2^shift bytes (memcached takes log buffer sizes in kilobytes, and so on).
template <typename Int>
Status SetScaled(std::string_view name, std::string_view value, Int min_units, Int max_units,
                 int shift, Int* field) {
  Int units = 0;
  Status status = SetInt<Int>(name, value, min_units, max_units, &units);
  if (status.ok()) *field = static_cast<Int>(units << shift);
  return status;
}

// memcached's safe_strtoul, which reads its ext_* numbers: strtoul's syntax (leading spaces, a
// sign), trailing spaces allowed, a negative number refused unless it is so large in magnitude that
// it wraps to a small positive one, and the result cut to 32 bits.
bool MemcachedStrtoul(std::string_view value, uint32_t* out) {
  const std::string text(value);
  char* end = nullptr;
  errno = 0;
  const unsigned long number = std::strtoul(text.c_str(), &end, 10);  // NOLINT(google-runtime-int)
  if (errno == ERANGE || end == text.c_str()) return false;
  if (*end != '\0' && std::isspace(static_cast<unsigned char>(*end)) == 0) return false;
  if (static_cast<long>(number) < 0 &&  // NOLINT(google-runtime-int)
      text.find('-') < static_cast<size_t>(end - text.c_str())) {
    return false;
  }
  *out = static_cast<uint32_t>(number);
  return true;
}

// memcached's safe_strtod: strtod's syntax, trailing spaces allowed, no range check.
bool MemcachedStrtod(std::string_view value, double* out) {
  const std::string text(value);
  char* end = nullptr;
  errno = 0;
  const double number = std::strtod(text.c_str(), &end);
  if (errno == ERANGE || end == text.c_str()) return false;
  if (*end != '\0' && std::isspace(static_cast<unsigned char>(*end)) == 0) return false;
  *out = number;
  return true;
}

// An ext_* option the flash tier does not use yet: parsed and kept, with one line that says so.
void NoteExtIgnored(std::string_view name) {
  NoteIgnored("-o " + std::string(name),
              "the flash tier does not use it yet (stats settings shows it)");
}

// An ext_* number, in memcached's words when it is bad; multiplied by `unit` in 32 bits, wrapping
// as memcached's does (ext_page_size and ext_wbuf_size are given in megabytes).
Status SetExtNumber(std::string_view name, std::string_view value, uint32_t unit, uint32_t* field) {
  uint32_t number = 0;
  if (!MemcachedStrtoul(value, &number)) {
    return Status::Error("could not parse argument to " + std::string(name));
  }
  *field = number * unit;
  NoteExtIgnored(name);
  return Status::Ok();
}

Status SetExtFraction(std::string_view name, std::string_view value, double* field) {
  if (!MemcachedStrtod(value, field)) {
    return Status::Error("could not parse argument to " + std::string(name));
  }
  NoteExtIgnored(name);
  return Status::Ok();
}

// ext_path=PATH:SIZE[:BUCKET], read as memcached's storage_conf_parse reads it: the value is cut
// at colons (empty pieces skipped, as strtok does), SIZE is a number (atoi's: leading digits, 0 if
// none) followed by one of m, g, t, p, and BUCKET, if given, one of memcached's page buckets.
Status AddExtPath(std::string_view value, Options* options) {
  constexpr std::string_view kFailed = "failed to parse ext_path argument";
  std::vector<std::string> pieces;
  for (size_t start = 0; start <= value.size();) {
    const size_t colon = std::min(value.find(':', start), value.size());
    if (colon > start) pieces.emplace_back(value.substr(start, colon - start));
    start = colon + 1;
  }
  if (pieces.empty()) return Status::Error(std::string(kFailed));
  if (pieces.size() < 2) {
    return Status::Error(
        "must supply size to ext_path, ie: ext_path=/f/e:64m (M|G|T|P supported)\n" +
        std::string(kFailed));
  }
  std::string& size = pieces[1];
  uint64_t multiplier = 0;
  switch (std::tolower(static_cast<unsigned char>(size.back()))) {
    case 'm':
      multiplier = uint64_t{1} << 20;
      break;
    case 'g':
      multiplier = uint64_t{1} << 30;
      break;
    case 't':
      multiplier = uint64_t{1} << 40;
      break;
    case 'p':
      multiplier = uint64_t{1} << 50;
      break;
    default:
      return Status::Error(
          "must supply size to ext_path, ie: ext_path=/f/e:64m (m|g|t|p supported)\n" +
          std::string(kFailed));
  }
  size.pop_back();
  if (pieces.size() > 2) {
    static constexpr std::string_view kBuckets[] = {"compact", "lowttl",      "chunked",
                                                    "default", "coldcompact", "old"};
    if (std::find(std::begin(kBuckets), std::end(kBuckets), pieces[2]) == std::end(kBuckets)) {
      return Status::Error("Unknown extstore bucket: " + pieces[2] + "\n" + std::string(kFailed));
    }
    NoteIgnored("-o ext_path's bucket " + pieces[2],
                "memcached's page buckets do not apply: flash segments are one FIFO");
  }
  const int number = std::atoi(size.c_str());  // NOLINT(cert-err34-c): memcached's reading
  options->ext.paths.push_back({pieces[0], multiplier * static_cast<uint64_t>(number)});
  return Status::Ok();
}

// memcached's storage_init: with an ext_path, an ext_compact_under of 0 becomes 1% of the pages of
// the last ext_path given (at least 1), and ext_drop_under the same, whatever it was.
uint32_t ExtUnder(const ExtstoreOptions& ext, uint32_t value) {
  if (ext.paths.empty() || ext.compact_under != 0 || ext.page_size == 0) return value;
  const uint64_t pages = ext.paths.back().size / ext.page_size;
  return std::max<uint32_t>(static_cast<uint32_t>(static_cast<double>(pages) * 0.01), 1);
}

Status Flag(bool* field, bool value) {
  *field = value;
  return Status::Ok();
}

Status Ignore(std::string_view, Options*) { return Status::Ok(); }

Status SetText(std::string_view value, std::string* field) {
  *field = std::string(value);
  return Status::Ok();
}
// memcached prints an unset path as "%s" of NULL, or as the word NULL.
std::string NullIfEmpty(const std::string& value, std::string_view null) {
  return value.empty() ? std::string(null) : value;
}
// memcached takes any ssl_wbuf_size, 0 (which sends nothing, ever) and sizes that wrap around
// 32 bits included; mnemod refuses those.
constexpr uint32_t kTlsWbufMaxKilobytes = UINT32_MAX >> 10;

using O = const Options&;
using R = const RuntimeSettings&;

// A line of `stats settings` that no -o option sets.
constexpr Setting Line(std::string_view name, std::string (*show)(O, R), std::string_view help) {
  return {name, show, {}, false, nullptr, {}, help, false};
}

const Setting kSettings[] = {
    Line(
        "maxbytes", [](O, R r) { return Number(r.maxbytes); },
        "Bytes of item memory: -m, or cache_memlimit since"),
    Line(
        "maxconns", [](O o, R) { return Number(o.max_connections); },
        "Connections allowed at once (-c)"),
    Line(
        "tcpport", [](O o, R) { return Number(o.port); }, "TCP port (-p)"),
    Line(
        "udpport", [](O o, R) { return Number(o.udp_port); }, "UDP port (-U); 0: off"),
    Line(
        "inter", [](O o, R) { return JoinListen(o); },
        "Addresses listened on (-l); NULL for every interface"),
    Line(
        "verbosity", [](O, R r) { return Number(r.verbosity); },
        "Verbosity: -v, or the verbosity command since"),
    Line(
        "oldest", [](O, R r) { return Number(r.oldest); },
        "Seconds after start at which flush_all last took effect"),
    Line(
        "evictions", [](O o, R) { return std::string(o.evict ? "on" : "off"); },
        "on, or off with -M: a full cache refuses stores instead of evicting"),
    Line(
        "domain_socket",
        [](O o, R) { return o.socket_path.empty() ? std::string("NULL") : o.socket_path; },
        "The unix domain socket listened on instead of TCP (-s); NULL for none"),
    Line(
        "umask",
        [](O o, R) {
          char octal[16];
          std::snprintf(octal, sizeof(octal), "%o", static_cast<unsigned>(o.unix_mask));
          return std::string(octal);
        },
        "Permission bits of the unix socket's file, in octal (-a)"),
    Line(
        "shutdown_command", [](O o, R) { return YesNo(o.enable_shutdown); },
        "Whether the shutdown command is enabled (-A)"),
    Line(
        "growth_factor", [](O o, R) { return Fixed2(o.growth_factor); },
        "-f, accepted for compatibility: no slab classes here"),
    Line(
        "chunk_size", [](O o, R) { return Number(o.chunk_size); },
        "-n, accepted for compatibility: no slab classes here"),
    Line(
        "num_threads", [](O o, R) { return Number(o.threads); }, "Worker threads (-t)"),
    Line(
        "num_threads_per_udp", [](O o, R) { return Number(o.threads); },
        "Worker threads (-t), as memcached shows it"),
    Line(
        "stat_key_prefix", [](O o, R) { return std::string(1, o.prefix_delimiter); },
        "Delimiter between a key's prefix and the rest, for `stats detail` (-D)"),
    Line(
        "detail_enabled", [](O, R r) { return YesNo(r.detail_enabled); },
        "Whether `stats detail` is collecting per-prefix stats: -D, or `stats detail on|off`"),
    Line(
        "reqs_per_event", [](O o, R) { return Number(o.reqs_per_event); },
        "Requests per connection per wake-up before yielding (-R)"),
    Line(
        "cas_enabled", [](O o, R) { return YesNo(o.use_cas); },
        "Whether items have CAS values: no with -C"),
    Line(
        "tcp_backlog", [](O o, R) { return Number(o.backlog); }, "TCP listen backlog (-b)"),
    Line(
        "binding_protocol",
        [](O o, R) {
          if (!o.binding_protocol.has_value()) return std::string("auto-negotiate");
          return std::string(protocol::WireProtocolName(*o.binding_protocol));
        },
        "The protocol connections speak (-B): auto-negotiate (from each one's first byte), "
        "ascii (text and meta) or binary"),
    Line(
        "auth_enabled_sasl", [](O o, R) { return YesNo(o.sasl); }, "SASL authentication (-S)"),
    Line(
        "auth_enabled_ascii",
        [](O o, R) { return o.auth_file.empty() ? std::string("no") : o.auth_file; },
        "The ascii authentication file (-Y), or no"),
    Line(
        "item_size_max", [](O o, R) { return Number(o.item_size_max); },
        "Largest item in bytes (-I)"),
    {"maxconns_fast",
     [](O o, R) { return YesNo(o.tuning.maxconns_fast); },
     "maxconns_fast",
     false,
     [](std::string_view, Options* o) { return Flag(&o->tuning.maxconns_fast, true); },
     {},
     "memcached's: close connections over -c at once (mnemod always does)",
     false},
    {{},
     nullptr,
     "no_maxconns_fast",
     false,
     [](std::string_view, Options* o) { return Flag(&o->tuning.maxconns_fast, false); },
     {},
     "memcached's: sets maxconns_fast to no",
     false},
    {"hashpower_init",
     [](O o, R) { return Number(o.hash_power); },
     "hashpower",
     true,
     [](std::string_view v, Options* o) {
       int power = 0;
       if (!ParseInt(v, &power)) return Invalid("hashpower", v);
       if (power < 12) {
         return Status::Error("Initial hashtable multiplier of " + std::to_string(power) +
                              " is too low");
       }
       if (power > 32) {
         return Status::Error("Initial hashtable multiplier of " + std::to_string(power) +
                              " is too high");
       }
       o->hash_power = power;
       return Status::Ok();
     },
     {},
     "log2 of the initial hash table size",
     true},
    {{},
     nullptr,
     "no_hashexpand",
     false,
     Ignore,
     {},
     "memcached's: accepted; the hash table grows as it needs",
     false},
    {"slab_reassign",
     [](O o, R) { return YesNo(o.tuning.slab_reassign); },
     "slab_reassign",
     false,
     [](std::string_view, Options* o) { return Flag(&o->tuning.slab_reassign, true); },
     {},
     "memcached's slab tuning: kept, no effect",
     false},
    {{},
     nullptr,
     "no_slab_reassign",
     false,
     [](std::string_view, Options* o) { return Flag(&o->tuning.slab_reassign, false); },
     {},
     "memcached's: sets slab_reassign to no",
     false},
    {"slab_automove",
     [](O o, R) { return Number(o.tuning.slab_automove); },
     "slab_automove",
     false,
     [](std::string_view v, Options* o) {
       if (v.empty()) {
         o->tuning.slab_automove = 1;
         return Status::Ok();
       }
       return SetInt("slab_automove", v, 0, 2, &o->tuning.slab_automove);
     },
     {},
     "memcached's slab tuning (0 to 2; 1 without a value): kept, no effect",
     false},
    {{},
     nullptr,
     "no_slab_automove",
     false,
     [](std::string_view, Options* o) {
       o->tuning.slab_automove = 0;
       return Status::Ok();
     },
     {},
     "memcached's: sets slab_automove to 0",
     false},
    {"slab_automove_ratio",
     [](O o, R) { return Fixed2(o.tuning.slab_automove_ratio); },
     "slab_automove_ratio",
     true,
     [](std::string_view v, Options* o) {
       return SetDouble("slab_automove_ratio", v, 0, 1, &o->tuning.slab_automove_ratio);
     },
     {},
     "memcached's slab tuning: kept, no effect",
     false},
    {"slab_automove_window",
     [](O o, R) { return Number(o.tuning.slab_automove_window); },
     "slab_automove_window",
     true,
     [](std::string_view v, Options* o) {
       return SetInt("slab_automove_window", v, 3, 1800, &o->tuning.slab_automove_window);
     },
     {},
     "memcached's slab tuning: kept, no effect",
     false},
    {"slab_chunk_max",
     [](O o, R) { return Number(o.tuning.slab_chunk_max); },
     "slab_chunk_max",
     false,
     [](std::string_view v, Options* o) {
       // memcached's limits and words. Its checks of slab_chunk_max against -I and the slab page
       // are not made: they guard memcached's slab chunking (docs/memcached-differences.md).
       if (v.empty()) return Status::Error("Missing slab_chunk_max argument");
       int kilobytes = 0;
       if (!ParseInt(v, &kilobytes)) {
         return Status::Error("could not parse argument to slab_chunk_max");
       }
       if (kilobytes <= 0) return Status::Error("slab_chunk_max must be >= 0");
       if (kilobytes > 1024) return Status::Error("slab_chunk_max must be specified in kilobytes.");
       o->tuning.slab_chunk_max = kilobytes << 10;
       o->tuning.slab_chunk_max_set = true;
       return Status::Ok();
     },
     {},
     "memcached's slab tuning, in kilobytes (1 to 1024): kept, no effect",
     false},
    {{},
     nullptr,
     "slab_sizes",
     true,
     Ignore,
     {},
     "memcached's slab tuning: accepted, no effect",
     false},
    {{},
     nullptr,
     "no_chunked_items",
     false,
     [](std::string_view, Options* o) {
       o->tuning.slab_chunk_max = MemcachedTuning::kSlabPage;
       return Status::Ok();
     },
     {},
     "memcached's: sets slab_chunk_max to its slab page size, 1m",
     false},
    {"lru_crawler",
     [](O o, R) { return YesNo(o.tuning.lru_crawler); },
     "lru_crawler",
     false,
     [](std::string_view, Options* o) { return Flag(&o->tuning.lru_crawler, true); },
     {},
     "memcached's LRU tuning: kept, no effect",
     false},
    {{},
     nullptr,
     "no_lru_crawler",
     false,
     [](std::string_view, Options* o) { return Flag(&o->tuning.lru_crawler, false); },
     {},
     "memcached's: sets lru_crawler to no",
     false},
    {"lru_crawler_sleep",
     [](O o, R) { return Number(o.tuning.lru_crawler_sleep); },
     "lru_crawler_sleep",
     true,
     [](std::string_view v, Options* o) {
       return SetInt("lru_crawler_sleep", v, 0, 1000000, &o->tuning.lru_crawler_sleep);
     },
     {},
     "memcached's LRU tuning: kept, no effect",
     false},
    {"lru_crawler_tocrawl",
     [](O o, R) { return Number(o.tuning.lru_crawler_tocrawl); },
     "lru_crawler_tocrawl",
     true,
     [](std::string_view v, Options* o) {
       return SetInt<uint32_t>("lru_crawler_tocrawl", v, 0, UINT32_MAX,
                               &o->tuning.lru_crawler_tocrawl);
     },
     {},
     "memcached's LRU tuning: kept, no effect",
     false},
    {"tail_repair_time",
     [](O o, R) { return Number(o.tuning.tail_repair_time); },
     "tail_repair_time",
     true,
     [](std::string_view v, Options* o) {
       return SetInt("tail_repair_time", v, 10, 1 << 30, &o->tuning.tail_repair_time);
     },
     {},
     "memcached's LRU tuning: kept, no effect",
     false},
    Line(
        "flush_enabled", [](O o, R) { return YesNo(o.flush_enabled); },
        "Whether flush_all is allowed: no with -F"),
    Line(
        "dump_enabled", [](O o, R) { return YesNo(o.dump_enabled); },
        "Whether stats cachedump, stats detail and lru_crawler metadump are allowed: no with -X"),
    {"hash_algorithm",
     [](O o, R) { return o.tuning.hash_algorithm; },
     "hash_algorithm",
     true,
     [](std::string_view v, Options* o) {
       if (v != "jenkins" && v != "murmur3" && v != "xxh3") {
         return Status::Error("Unknown hash_algorithm option (jenkins, murmur3, xxh3)");
       }
       o->tuning.hash_algorithm = std::string(v);
       return Status::Ok();
     },
     {},
     "memcached's hash function (jenkins, murmur3, xxh3): kept, no effect",
     false},
    {"lru_maintainer_thread",
     [](O o, R) { return YesNo(o.tuning.lru_maintainer_thread); },
     "lru_maintainer",
     false,
     [](std::string_view, Options* o) {
       o->tuning.lru_maintainer_thread = o->tuning.lru_segmented = true;
       return Status::Ok();
     },
     {},
     "memcached's LRU tuning (also sets lru_segmented): kept, no effect",
     false},
    {{},
     nullptr,
     "no_lru_maintainer",
     false,
     [](std::string_view, Options* o) {
       o->tuning.lru_maintainer_thread = o->tuning.lru_segmented = false;
       return Status::Ok();
     },
     {},
     "memcached's: sets lru_maintainer_thread and lru_segmented to no",
     false},
    Line(
        "lru_segmented", [](O o, R) { return YesNo(o.tuning.lru_segmented); },
        "memcached's LRU tuning, set by lru_maintainer: kept, no effect"),
    {"hot_lru_pct",
     [](O o, R) { return Number(o.tuning.hot_lru_pct); },
     "hot_lru_pct",
     true,
     [](std::string_view v, Options* o) {
       return SetInt("hot_lru_pct", v, 1, 79, &o->tuning.hot_lru_pct);
     },
     {},
     "memcached's LRU tuning: kept, no effect",
     false},
    {"warm_lru_pct",
     [](O o, R) { return Number(o.tuning.warm_lru_pct); },
     "warm_lru_pct",
     true,
     [](std::string_view v, Options* o) {
       return SetInt("warm_lru_pct", v, 1, 79, &o->tuning.warm_lru_pct);
     },
     {},
     "memcached's LRU tuning: kept, no effect",
     false},
    {"hot_max_factor",
     [](O o, R) { return Fixed2(o.tuning.hot_max_factor); },
     "hot_max_factor",
     true,
     [](std::string_view v, Options* o) {
       return SetDouble("hot_max_factor", v, 0, 1e9, &o->tuning.hot_max_factor);
     },
     {},
     "memcached's LRU tuning: kept, no effect",
     false},
    {"warm_max_factor",
     [](O o, R) { return Fixed2(o.tuning.warm_max_factor); },
     "warm_max_factor",
     true,
     [](std::string_view v, Options* o) {
       return SetDouble("warm_max_factor", v, 0, 1e9, &o->tuning.warm_max_factor);
     },
     {},
     "memcached's LRU tuning: kept, no effect",
     false},
    Line(
        "temp_lru", [](O o, R) { return YesNo(o.tuning.temp_lru); },
        "memcached's LRU tuning, set by temporary_ttl: kept, no effect"),
    {"temporary_ttl",
     [](O o, R) { return Number(o.tuning.temporary_ttl); },
     "temporary_ttl",
     true,
     [](std::string_view v, Options* o) {
       o->tuning.temp_lru = true;
       return SetInt<uint32_t>("temporary_ttl", v, 0, UINT32_MAX, &o->tuning.temporary_ttl);
     },
     {},
     "memcached's LRU tuning (also sets temp_lru): kept, no effect",
     false},
    {"idle_timeout", [](O o, R) { return Number(o.idle_timeout); }, "idle_timeout", true,
     [](std::string_view v, Options* o) {
       return SetInt("idle_timeout", v, 0, 1 << 30, &o->idle_timeout);
     },
     "0", "seconds before an idle client is disconnected", true},
    {"watcher_logbuf_size",
     [](O o, R) { return Number(o.tuning.watcher_logbuf_size); },
     "watcher_logbuf_size",
     true,
     [](std::string_view v, Options* o) {
       return SetScaled<uint32_t>("watcher_logbuf_size", v, 0, UINT32_MAX >> 10, 10,
                                  &o->tuning.watcher_logbuf_size);
     },
     {},
     "in kilobytes: each `watch` connection's output; a watcher whose output is full loses lines",
     false},
    {"worker_logbuf_size",
     [](O o, R) { return Number(o.tuning.worker_logbuf_size); },
     "worker_logbuf_size",
     true,
     [](std::string_view v, Options* o) {
       return SetScaled<uint32_t>("worker_logbuf_size", v, 0, UINT32_MAX >> 10, 10,
                                  &o->tuning.worker_logbuf_size);
     },
     {},
     "in kilobytes: each thread's buffer of `watch` log lines; a full one drops lines",
     false},
    {"read_buf_mem_limit",
     [](O o, R) { return Number(o.ConnectionMemoryLimit()); },
     "read_buf_mem_limit",
     true,
     [](std::string_view v, Options* o) {
       size_t limit = 0;
       Status status = SetScaled<size_t>("read_buf_mem_limit", v, 0, UINT32_MAX, 20, &limit);
       if (status.ok()) o->read_buf_mem_limit = limit;
       return status;
     },
     {},
     "megabytes of connection buffers (read buffers, pending replies, partial values) for all "
     "connections together; 0 means unlimited (default: half of -m, at least 32)",
     true},
    {"track_sizes",
     [](O, R) { return YesNo(false); },
     "track_sizes",
     false,
     [](std::string_view, Options*) {
       NoteIgnored("-o track_sizes", "mnemod keeps no histogram of item sizes for stats sizes");
       return Status::Ok();
     },
     {},
     "Always no: no `stats sizes` histogram; the option is accepted with a warning",
     false},
    Line(
        "inline_ascii_response", [](O, R) { return YesNo(false); },
        "Always no, as in memcached 1.5 and later"),
    {{}, nullptr, "inline_ascii_resp", false, Ignore, {}, "memcached's: a no-op there too", false},
    {{},
     nullptr,
     "no_inline_ascii_resp",
     false,
     Ignore,
     {},
     "memcached's: a no-op there too",
     false},
    // memcached's external storage (extstore), in its order.
    {"ext_item_size",
     [](O o, R) { return Number(o.ext.item_size); },
     "ext_item_size",
     true,
     [](std::string_view v, Options* o) {
       return SetExtNumber("ext_item_size", v, 1, &o->ext.item_size);
     },
     {},
     "memcached's extstore: kept, no effect yet",
     false},
    {"ext_item_age",
     [](O o, R) { return Number(o.ext.item_age); },
     "ext_item_age",
     true,
     [](std::string_view v, Options* o) {
       return SetExtNumber("ext_item_age", v, 1, &o->ext.item_age);
     },
     {},
     "memcached's extstore: kept, no effect yet",
     false},
    {"ext_low_ttl",
     [](O o, R) { return Number(o.ext.low_ttl); },
     "ext_low_ttl",
     true,
     [](std::string_view v, Options* o) {
       return SetExtNumber("ext_low_ttl", v, 1, &o->ext.low_ttl);
     },
     {},
     "memcached's extstore: kept, no effect yet",
     false},
    {"ext_recache_rate",
     [](O o, R) { return Number(o.ext.recache_rate); },
     "ext_recache_rate",
     true,
     [](std::string_view v, Options* o) {
       return SetExtNumber("ext_recache_rate", v, 1, &o->ext.recache_rate);
     },
     {},
     "memcached's extstore: kept, no effect yet",
     false},
    {"ext_wbuf_size",
     [](O o, R) { return Number(o.ext.wbuf_size); },
     "ext_wbuf_size",
     true,
     [](std::string_view v, Options* o) {
       return SetExtNumber("ext_wbuf_size", v, 1 << 20, &o->ext.wbuf_size);
     },
     {},
     "memcached's extstore, in megabytes: kept, no effect yet (the flash tier's write buffers are "
     "segment_size)",
     false},
    {"ext_compact_under",
     [](O o, R) { return Number(ExtUnder(o.ext, o.ext.compact_under)); },
     "ext_compact_under",
     true,
     [](std::string_view v, Options* o) {
       return SetExtNumber("ext_compact_under", v, 1, &o->ext.compact_under);
     },
     {},
     "memcached's extstore: kept, no effect yet",
     false},
    {"ext_drop_under",
     [](O o, R) { return Number(ExtUnder(o.ext, o.ext.drop_under)); },
     "ext_drop_under",
     true,
     [](std::string_view v, Options* o) {
       return SetExtNumber("ext_drop_under", v, 1, &o->ext.drop_under);
     },
     {},
     "memcached's extstore: kept, no effect yet",
     false},
    {"ext_max_sleep",
     [](O o, R) { return Number(o.ext.max_sleep); },
     "ext_max_sleep",
     true,
     [](std::string_view v, Options* o) {
       return SetExtNumber("ext_max_sleep", v, 1, &o->ext.max_sleep);
     },
     {},
     "memcached's extstore, in microseconds: kept, no effect yet",
     false},
    {"ext_max_frag",
     [](O o, R) { return Fixed2(o.ext.max_frag); },
     "ext_max_frag",
     true,
     [](std::string_view v, Options* o) {
       return SetExtFraction("ext_max_frag", v, &o->ext.max_frag);
     },
     {},
     "memcached's extstore: kept, no effect yet",
     false},
    {"slab_automove_freeratio",
     [](O o, R) { return Fixed3(o.ext.slab_automove_freeratio); },
     "slab_automove_freeratio",
     true,
     [](std::string_view v, Options* o) {
       return SetExtFraction("slab_automove_freeratio", v, &o->ext.slab_automove_freeratio);
     },
     {},
     "memcached's extstore: kept, no effect yet",
     false},
    {"ext_drop_unread",
     [](O o, R) { return YesNo(o.ext.drop_unread); },
     "ext_drop_unread",
     false,
     [](std::string_view, Options* o) {
       NoteExtIgnored("ext_drop_unread");
       return Flag(&o->ext.drop_unread, true);
     },
     {},
     "memcached's extstore: kept, no effect yet",
     false},
    {{},
     nullptr,
     "ext_path",
     true,
     AddExtPath,
     {},
     "a flash device: PATH:SIZE, SIZE in m, g, t or p; a file (created, emptied and sized at "
     "start; with `-e`, a file of SIZE bytes is kept for a warm restart) or a block device; "
     "repeat for more. RAM evicts items to it (the flash tier)",
     true},
    {{},
     nullptr,
     "ext_page_size",
     true,
     [](std::string_view v, Options* o) {
       return SetExtNumber("ext_page_size", v, 1 << 20, &o->ext.page_size);
     },
     {},
     "memcached's extstore, in megabytes: kept, no effect (flash segments are segment_size)",
     false},
    {{},
     nullptr,
     "ext_threads",
     true,
     [](std::string_view v, Options* o) {
       return SetExtNumber("ext_threads", v, 1, &o->ext.threads);
     },
     {},
     "memcached's extstore: kept, no effect yet",
     false},
    {{},
     nullptr,
     "ext_io_depth",
     true,
     [](std::string_view v, Options* o) {
       return SetExtNumber("ext_io_depth", v, 1, &o->ext.io_depth);
     },
     {},
     "memcached's extstore: kept, no effect yet",
     false},
    // memcached's TLS (-Z), in its order. The files are read at start (net/tls_context.h).
    Line(
        "ssl_enabled", [](O o, R) { return YesNo(o.ssl_enabled); },
        "-Z: every TCP listener speaks TLS"),
    {"ssl_chain_cert", [](O o, R) { return NullIfEmpty(o.tls.chain_cert, "(null)"); },
     "ssl_chain_cert", true,
     [](std::string_view v, Options* o) { return SetText(v, &o->tls.chain_cert); }, {},
     "certificate chain file in PEM format", true},
    {"ssl_key", [](O o, R) { return NullIfEmpty(o.tls.key, "(null)"); }, "ssl_key", true,
     [](std::string_view v, Options* o) { return SetText(v, &o->tls.key); }, {},
     "private key, if not part of the ssl_chain_cert", true},
    {"ssl_verify_mode", [](O o, R) { return Number(o.tls.verify_mode); }, "ssl_verify_mode", true,
     [](std::string_view v, Options* o) {
       int mode = 0;
       if (!ParseInt(v, &mode)) return Status::Error("could not parse argument to ssl_verify_mode");
       if (!o->tls.SetVerifyMode(mode)) {
         return Status::Error("Invalid ssl_verify_mode. Use help to see valid options.");
       }
       return Status::Ok();
     },
     "0",
     "peer certificate verification mode: 0 (none), 1 (request), 2 (require) or 3 (once)",
     true},
    {"ssl_keyformat", [](O o, R) { return Number(o.tls.keyformat); }, "ssl_keyformat", true,
     [](std::string_view v, Options* o) {
       if (!ParseInt(v, &o->tls.keyformat)) {
         return Status::Error("could not parse argument to ssl_keyformat");
       }
       return Status::Ok();
     },
     "1", "private key format: OpenSSL's SSL_FILETYPE_PEM (1) or SSL_FILETYPE_ASN1 (2)", true},
    {"ssl_ciphers", [](O o, R) { return NullIfEmpty(o.tls.ciphers, "NULL"); }, "ssl_ciphers",
     true, [](std::string_view v, Options* o) { return SetText(v, &o->tls.ciphers); }, {},
     "cipher list to use (TLS 1.2 and below)", true},
    {"ssl_ca_cert", [](O o, R) { return NullIfEmpty(o.tls.ca_cert, "NULL"); }, "ssl_ca_cert", true,
     [](std::string_view v, Options* o) { return SetText(v, &o->tls.ca_cert); }, {},
     "PEM file of the CAs whose client certificates are accepted", true},
    {"ssl_wbuf_size", [](O o, R) { return Number(o.tls.wbuf_size); }, "ssl_wbuf_size", true,
     [](std::string_view v, Options* o) {
       uint32_t kilobytes = 0;
       if (!MemcachedStrtoul(v, &kilobytes)) {
         return Status::Error("could not parse argument to ssl_wbuf_size");
       }
       if (kilobytes == 0 || kilobytes > kTlsWbufMaxKilobytes) {
         return Status::Error("ssl_wbuf_size must be between 1 and " +
                              std::to_string(kTlsWbufMaxKilobytes) + " (kilobytes)");
       }
       o->tls.wbuf_size = kilobytes << 10;
       return Status::Ok();
     },
     "16", "kilobytes of a worker's TLS write buffer: the most one TLS write sends", true},
    {"ssl_session_cache", [](O o, R) { return YesNo(o.tls.session_cache); }, "ssl_session_cache",
     false, [](std::string_view, Options* o) { return Flag(&o->tls.session_cache, true); }, {},
     "server-side TLS session cache, for session resumption", true},
    {"ssl_kernel_tls", [](O o, R) { return YesNo(o.tls.kernel_tls); }, "ssl_kernel_tls", false,
     [](std::string_view, Options* o) { return Flag(&o->tls.kernel_tls, true); }, {},
     "kernel TLS offload, where OpenSSL and the kernel support it", true},
    {"ssl_min_version", [](O o, R) { return std::string(net::TlsVersionName(o.tls.min_version)); },
     "ssl_min_version", true,
     [](std::string_view v, Options* o) {
       int version = 0;
       if (!ParseInt(v, &version)) return Status::Error("could not parse argument to ssl_min_version");
       if (!o->tls.SetMinVersion(version)) {
         return Status::Error("Invalid ssl_min_version. Use help to see valid options.");
       }
       return Status::Ok();
     },
     "2", "minimum TLS version: 0 (1.0), 1 (1.1), 2 (1.2) or 3 (1.3)", true},
    Line(
        "num_napi_ids", [](O o, R) { return Number(o.napi_ids); },
        "-N, accepted for compatibility: connections go to threads round robin"),
    Line(
        "memory_file",
        [](O o, R) { return o.memory_file.empty() ? std::string("(null)") : o.memory_file; },
        "-e: the file item memory is mapped from; (null) without one, as memcached prints it"),
    // mnemo's own.
    {"segment_size", [](O, R r) { return Number(r.segment_size); }, "segment_size", true,
     [](std::string_view v, Options* o) {
       size_t bytes = 0;
       if (!ParseSize(v, &bytes) || bytes < kSegmentSizeMin || bytes > kSegmentSizeMax) {
         return Status::Error("segment_size must be between 64k and 16m, not \"" + std::string(v) +
                              "\"");
       }
       o->segment_size = bytes;
       return Status::Ok();
     },
     "1m", "bytes of one memory segment, k or m suffix", true},
    {"eviction_policy",
     [](O o, R) {
       return std::string(o.eviction == storage::EvictionPolicy::kMerge ? "merge" : "fifo");
     },
     "eviction", true,
     [](std::string_view v, Options* o) {
       if (v == "merge") {
         o->eviction = storage::EvictionPolicy::kMerge;
       } else if (v == "fifo") {
         o->eviction = storage::EvictionPolicy::kFifo;
       } else {
         return Status::Error("Unknown eviction option (merge, fifo): \"" + std::string(v) + "\"");
       }
       return Status::Ok();
     },
     "merge", "merge (keep what was read) or fifo", true},
    {"compression",
     [](O o, R) {
       return std::string(o.compression == storage::Compression::kSnappy ? "snappy" : "off");
     },
     "compression", true,
     [](std::string_view v, Options* o) {
       if (v == "snappy") {
         o->compression = storage::Compression::kSnappy;
       } else if (v == "off") {
         o->compression = storage::Compression::kOff;
       } else {
         return Status::Error("Unknown compression option (snappy, off): \"" + std::string(v) +
                              "\"");
       }
       return Status::Ok();
     },
     "snappy", "snappy (compress on the server) or off", true},
    {"conn_stuck_timeout", [](O o, R) { return Number(o.conn_stuck_timeout); },
     "conn_stuck_timeout", true,
     [](std::string_view v, Options* o) {
       return SetInt("conn_stuck_timeout", v, 1, 1 << 30, &o->conn_stuck_timeout);
     },
     "10",
     "seconds before a client stuck holding connection memory (not reading replies, not "
     "finishing a value) is disconnected",
     true},
    {"compress_min", [](O o, R) { return Number(o.compress_min); }, "compress_min", true,
     [](std::string_view v, Options* o) {
       if (!ParseSize(v, &o->compress_min)) return Invalid("compress_min", v);
       return Status::Ok();
     },
     "256", "bytes from which a value is compressed, k or m suffix", true},
    {"compress_ratio", [](O o, R) { return Fixed2(o.compress_ratio); }, "compress_ratio", true,
     [](std::string_view v, Options* o) {
       const std::string text(v);
       char* end = nullptr;
       const double ratio = std::strtod(text.c_str(), &end);
       if (text.empty() || *end != '\0' || !(ratio > 0.0 && ratio <= 1.0)) {
         return Status::Error("compress_ratio must be a fraction above 0 and at most 1, not \"" +
                              text + "\"");
       }
       o->compress_ratio = ratio;
       return Status::Ok();
     },
     "0.875", "store compressed only if at most this fraction of the value's length", true},
    {"cluster_file",
     [](O o, R) { return o.cluster_file.empty() ? std::string("(null)") : o.cluster_file; },
     "cluster_file", true,
     [](std::string_view v, Options* o) {
       o->cluster_file = std::string(v);
       return Status::Ok();
     },
     {},
     "the cluster's node list, the same file on every node: nutcracker's configuration or "
     "host:port[:weight] [name] lines; SIGHUP reads it again",
     true},
    {"cluster_self",
     [](O o, R) { return o.cluster_self.empty() ? std::string("(null)") : o.cluster_self; },
     "cluster_self", true,
     [](std::string_view v, Options* o) {
       o->cluster_self = std::string(v);
       return Status::Ok();
     },
     {},
     "which entry of cluster_file this node is, by name or host:port; unset, the entry whose "
     "port is -p",
     true},
    {"replicas", [](O o, R) { return Number(o.replicas); }, "replicas", true,
     [](std::string_view v, Options* o) {
       return SetInt("replicas", v, 1, static_cast<int>(cluster::ReplicaPlacement::kMaxReplicas),
                     &o->replicas);
     },
     "1",
     "copies kept of each key, the owner's included: above 1, each write is sent on to the next "
     "nodes of the key's ketama ring (needs cluster_file)",
     true},
    {"repl_backlog_mb", [](O o, R) { return Number(o.repl_backlog_mb); }, "repl_backlog_mb", true,
     [](std::string_view v, Options* o) {
       return SetInt("repl_backlog_mb", v, 1, 1 << 20, &o->repl_backlog_mb);
     },
     "64",
     "megabytes of replication records kept per peer until it acknowledges them; past it, the "
     "peer is dropped from its stream",
     true},
    {"repl_lag_max_ms", [](O o, R) { return Number(o.repl_lag_max_ms); }, "repl_lag_max_ms", true,
     [](std::string_view v, Options* o) {
       return SetInt("repl_lag_max_ms", v, 1, 1 << 30, &o->repl_lag_max_ms);
     },
     "5000",
     "the lag bound of replication: a peer that has not acknowledged a record this many "
     "milliseconds old is dropped from its stream",
     true},
    {"replication", [](O o, R) { return std::string(o.repl_sync ? "sync" : "async"); },
     "replication", true,
     [](std::string_view v, Options* o) {
       if (v != "async" && v != "sync") return Status::Error("replication must be async or sync");
       o->repl_sync = v == "sync";
       return Status::Ok();
     },
     "async",
     "async: a write is answered once applied here; sync: once every live member of its "
     "replica set acknowledged it too (or SERVER_ERROR replication timed out)",
     true},
    {"repl_timeout_ms", [](O o, R) { return Number(o.repl_timeout_ms); }, "repl_timeout_ms", true,
     [](std::string_view v, Options* o) {
       return SetInt("repl_timeout_ms", v, 1, 1 << 30, &o->repl_timeout_ms);
     },
     "1000",
     "with replication=sync, how long a write waits for its replicas before it is answered "
     "SERVER_ERROR replication timed out (the local write stays)",
     true},
    {"repl_lease_ms", [](O o, R) { return Number(o.repl_lease_ms); }, "repl_lease_ms", true,
     [](std::string_view v, Options* o) {
       return SetInt("repl_lease_ms", v, 4, 1 << 30, &o->repl_lease_ms);
     },
     "200",
     "a node pings its peers every quarter of this; one that finds no echo vouching for the "
     "last this many milliseconds (a stall, a partition) serves no client until it caught up; "
     "keep it below the proxy's ejection time",
     true},
    {"repl_resync_max_ms", [](O o, R) { return Number(o.repl_resync_max_ms); },
     "repl_resync_max_ms", true,
     [](std::string_view v, Options* o) {
       return SetInt("repl_resync_max_ms", v, 1, 1 << 30, &o->repl_resync_max_ms);
     },
     "2000",
     "how long a returning node (started, or its lease lapsed) waits to catch up with its peers "
     "before it serves clients anyway",
     true},
    {"cluster_previous",
     [](O o, R) { return o.cluster_previous.empty() ? std::string("(null)") : o.cluster_previous; },
     "cluster_previous", true,
     [](std::string_view v, Options* o) {
       o->cluster_previous = std::string(v);
       return Status::Ok();
     },
     {},
     "a joining node: the node list before it joined; its previous holders move its keys to it, "
     "and it fetches a key it lacks from the key's previous owner meanwhile",
     true},
    {"move_rate_keys", [](O o, R) { return Number(o.move_rate_keys); }, "move_rate_keys", true,
     [](std::string_view v, Options* o) {
       return SetInt("move_rate_keys", v, 1, 1 << 30, &o->move_rate_keys);
     },
     "50000",
     "items per second a move (a change of the node list) walks, sending each to its key's new "
     "holders",
     true},
    {"move_max_ms", [](O o, R) { return Number(o.move_max_ms); }, "move_max_ms", true,
     [](std::string_view v, Options* o) {
       return SetInt("move_max_ms", v, 1, 1 << 30, &o->move_max_ms);
     },
     "120000",
     "how long a move waits for peers gone silent (no copy or marker since the last; no "
     "acknowledgement since the walk ended) before it ends anyway",
     true},
    {"metrics_port", [](O o, R) { return Number(o.metrics_port); }, "metrics_port", true,
     [](std::string_view v, Options* o) {
       return SetInt<uint16_t>("metrics_port", v, 0, 65535, &o->metrics_port);
     },
     "0", "TCP port of the Prometheus endpoint, GET /metrics over HTTP; 0: none", true},
    {"metrics_addr", [](O o, R) { return o.metrics_addr.empty() ? std::string("NULL") : o.metrics_addr; },
     "metrics_addr", true,
     [](std::string_view v, Options* o) {
       o->metrics_addr = std::string(v);
       return Status::Ok();
     },
     {}, "address of the Prometheus endpoint; default: -l's first, else every interface", true},
    {"hot_keys_sample", [](O o, R) { return Number(o.hot_keys_sample); }, "hot_keys_sample", true,
     [](std::string_view v, Options* o) {
       return SetInt<uint32_t>("hot_keys_sample", v, 0, 1000000, &o->hot_keys_sample);
     },
     "100",
     "1 read or write in this many, on average, feeds the hot-key report (stats hotkeys); 0: off",
     true},
    // memcached's, without effect here.
    {{},
     nullptr,
     "drop_privileges",
     false,
     [](std::string_view, Options*) {
       NoteIgnored("-o drop_privileges", "mnemod has no system call sandbox");
       return Status::Ok();
     },
     {},
     "memcached's system call sandbox: accepted with a warning",
     false},
    {{},
     nullptr,
     "no_drop_privileges",
     false,
     Ignore,
     {},
     "memcached's: turns its sandbox off; mnemod has none",
     false},
    {{},
     nullptr,
     "resp_obj_mem_limit",
     false,
     [](std::string_view, Options*) {
       std::fprintf(stderr,
                    "DEPRECATED: resp_obj_mem_limit no longer used. See read_buf_mem_limit,\n");
       return Status::Ok();
     },
     {},
     "memcached's, deprecated there: says so, as memcached does",
     false},
    {{},
     nullptr,
     "sock_cookie_id",
     false,
     [](std::string_view, Options*) {
       NoteIgnored("-o sock_cookie_id", "marking listening sockets is not supported yet");
       return Status::Ok();
     },
     {},
     "memcached's SO_MARK on listening sockets: accepted with a warning",
     false},
    // memcached's presets.
    {{},
     nullptr,
     "modern",
     false,
     Ignore,
     {},
     "memcached's: accepted; its settings are the defaults",
     false},
    {{},
     nullptr,
     "no_modern",
     false,
     [](std::string_view, Options* o) {
       // What memcached's no_modern switches back to.
       if (!o->tuning.slab_chunk_max_set) o->tuning.slab_chunk_max = MemcachedTuning::kSlabPage;
       o->tuning.slab_reassign = false;
       o->tuning.slab_automove = 0;
       o->tuning.maxconns_fast = false;
       o->tuning.lru_segmented = false;
       o->tuning.lru_maintainer_thread = false;
       o->tuning.lru_crawler = false;
       o->tuning.hash_algorithm = "jenkins";
       return Status::Ok();
     },
     {},
     "memcached's: slab_reassign, slab_automove, maxconns_fast, lru_* off; hash_algorithm "
     "jenkins",
     false},
};

// Where -h starts the help of an option, and the width it wraps at.
constexpr size_t kUsageIndent = 26;
constexpr size_t kUsageWidth = 84;

}  // namespace

std::span<const Setting> Settings() { return kSettings; }

void AppendSettings(const Options& options, const RuntimeSettings& runtime, std::string* out) {
  for (const Setting& setting : kSettings) {
    if (setting.show == nullptr) continue;
    *out += "STAT ";
    *out += setting.name;
    *out += ' ';
    *out += setting.show(options, runtime);
    *out += "\r\n";
  }
}

Status ParseSuboptions(std::string_view list, Options* options) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    const std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (item.empty()) continue;
    const size_t equals = item.find('=');
    const std::string_view name = item.substr(0, equals);
    const std::string_view value =
        equals == std::string_view::npos ? std::string_view() : item.substr(equals + 1);
    const Setting* found = nullptr;
    for (const Setting& setting : kSettings) {
      if (setting.parse != nullptr && setting.option == name) found = &setting;
    }
    if (found == nullptr) {
      return Status::Error("Illegal suboption \"" + std::string(item) + "\"");
    }
    if (found->needs_value && value.empty()) {
      // memcached's extstore options say it their own way.
      if (name == "ext_path") {
        return Status::Error("missing argument to ext_path, ie: ext_path=/d/file:5G");
      }
      if (name.starts_with("ext_") || name.starts_with("ssl_") ||
          name == "slab_automove_freeratio") {
        return Status::Error("Missing " + std::string(name) + " argument");
      }
      return Status::Error("Missing argument for " + std::string(name));
    }
    Status status = found->parse(value, options);
    if (!status.ok()) return status;
  }
  return Status::Ok();
}

std::string SuboptionsUsage() {
  std::string text;
  for (const Setting& setting : kSettings) {
    if (!setting.in_usage) continue;
    std::string line = "   - " + std::string(setting.option) + ":";
    line.resize(kUsageIndent, ' ');
    std::string help(setting.help);
    if (!setting.default_value.empty()) {
      help += " (default: " + std::string(setting.default_value) + ")";
    }
    // Greedy wrap at word boundaries; continuation lines start at kUsageIndent.
    size_t column = kUsageIndent;
    bool first_word = true;
    size_t start = 0;
    while (start < help.size()) {
      size_t end = help.find(' ', start);
      if (end == std::string::npos) end = help.size();
      const std::string_view word(help.data() + start, end - start);
      if (!first_word && column + 1 + word.size() > kUsageWidth) {
        text += line + "\n";
        line.assign(kUsageIndent, ' ');
        column = kUsageIndent;
        first_word = true;
      }
      if (!first_word) {
        line += ' ';
        ++column;
      }
      line += word;
      column += word.size();
      first_word = false;
      start = end + 1;
    }
    text += line + "\n";
  }
  return text;
}

}  // namespace mnemo::server
