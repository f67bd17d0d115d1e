#include "server/options.h"

#include <getopt.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "server/version.h"

namespace mnemo::server {
namespace {

// memcached's bounds on -I.
constexpr size_t kItemSizeMaxLower = 1024;
constexpr size_t kItemSizeMaxUpper = size_t{1} << 30;
// The storage engine addresses an item inside a segment with 24 bits.
constexpr size_t kSegmentSizeMin = size_t{64} << 10;
constexpr size_t kSegmentSizeMax = size_t{16} << 20;

template <typename Int>
bool ParseInt(std::string_view text, Int* value) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

bool ParseDouble(std::string_view text, double* value) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *value);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size();
}

// A byte count with an optional k, m or g suffix (powers of 1024), as -I takes it.
bool ParseSize(std::string_view text, size_t* bytes) {
  int shift = 0;
  if (!text.empty()) {
    switch (text.back()) {
      case 'k':
      case 'K':
        shift = 10;
        break;
      case 'm':
      case 'M':
        shift = 20;
        break;
      case 'g':
      case 'G':
        shift = 30;
        break;
      default:
        break;
    }
    if (shift != 0) text.remove_suffix(1);
  }
  uint64_t number = 0;
  if (!ParseInt(text, &number) || number > (uint64_t{1} << (63 - shift))) return false;
  *bytes = static_cast<size_t>(number << shift);
  return true;
}

Status Invalid(std::string_view flag, std::string_view value) {
  return Status::Error("invalid value for " + std::string(flag) + ": \"" + std::string(value) +
                       "\"");
}

// One -o suboption: its name, whether it needs a value, and what it does with it.
struct Suboption {
  std::string_view name;
  bool needs_value;
  Status (*apply)(std::string_view value, Options* options);
};

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

Status Flag(bool* field, bool value) {
  *field = value;
  return Status::Ok();
}

const std::vector<Suboption>& Suboptions() {
  static const std::vector<Suboption> suboptions = {
      // mnemo's own.
      {"segment_size", true,
       [](std::string_view v, Options* o) {
         size_t bytes = 0;
         if (!ParseSize(v, &bytes) || bytes < kSegmentSizeMin || bytes > kSegmentSizeMax) {
           return Status::Error("segment_size must be between 64k and 16m, not \"" +
                                std::string(v) + "\"");
         }
         o->segment_size = bytes;
         return Status::Ok();
       }},
      {"eviction", true,
       [](std::string_view v, Options* o) {
         if (v == "merge") {
           o->eviction = storage::EvictionPolicy::kMerge;
         } else if (v == "fifo") {
           o->eviction = storage::EvictionPolicy::kFifo;
         } else {
           return Status::Error("Unknown eviction option (merge, fifo): \"" + std::string(v) +
                                "\"");
         }
         return Status::Ok();
       }},
      {"compression", true,
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
       }},
      {"compress_min", true,
       [](std::string_view v, Options* o) {
         if (!ParseSize(v, &o->compress_min)) return Invalid("compress_min", v);
         return Status::Ok();
       }},
      {"compress_ratio", true,
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
       }},
      // memcached's, with effect.
      {"hashpower", true,
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
       }},
      {"idle_timeout", true,
       [](std::string_view v, Options* o) {
         return SetInt("idle_timeout", v, 0, 1 << 30, &o->idle_timeout);
       }},
      // memcached's slab and LRU tuning: kept for stats settings, no effect.
      {"maxconns_fast", false,
       [](std::string_view, Options* o) { return Flag(&o->tuning.maxconns_fast, true); }},
      {"no_maxconns_fast", false,
       [](std::string_view, Options* o) { return Flag(&o->tuning.maxconns_fast, false); }},
      {"no_hashexpand", false, [](std::string_view, Options*) { return Status::Ok(); }},
      {"slab_reassign", false,
       [](std::string_view, Options* o) { return Flag(&o->tuning.slab_reassign, true); }},
      {"no_slab_reassign", false,
       [](std::string_view, Options* o) { return Flag(&o->tuning.slab_reassign, false); }},
      {"slab_automove", false,
       [](std::string_view v, Options* o) {
         if (v.empty()) {
           o->tuning.slab_automove = 1;
           return Status::Ok();
         }
         return SetInt("slab_automove", v, 0, 2, &o->tuning.slab_automove);
       }},
      {"no_slab_automove", false,
       [](std::string_view, Options* o) {
         o->tuning.slab_automove = 0;
         return Status::Ok();
       }},
      {"slab_automove_ratio", true,
       [](std::string_view v, Options* o) {
         return SetDouble("slab_automove_ratio", v, 0, 1, &o->tuning.slab_automove_ratio);
       }},
      {"slab_automove_window", true,
       [](std::string_view v, Options* o) {
         return SetInt("slab_automove_window", v, 3, 1800, &o->tuning.slab_automove_window);
       }},
      {"slab_chunk_max", true,
       [](std::string_view v, Options* o) {
         return SetScaled("slab_chunk_max", v, 1, 1024, 10, &o->tuning.slab_chunk_max);
       }},
      {"slab_sizes", true, [](std::string_view, Options*) { return Status::Ok(); }},
      {"no_chunked_items", false, [](std::string_view, Options*) { return Status::Ok(); }},
      {"tail_repair_time", true,
       [](std::string_view v, Options* o) {
         return SetInt("tail_repair_time", v, 10, 1 << 30, &o->tuning.tail_repair_time);
       }},
      {"hash_algorithm", true,
       [](std::string_view v, Options* o) {
         if (v != "jenkins" && v != "murmur3" && v != "xxh3") {
           return Status::Error("Unknown hash_algorithm option (jenkins, murmur3, xxh3)");
         }
         o->tuning.hash_algorithm = std::string(v);
         return Status::Ok();
       }},
      {"lru_crawler", false,
       [](std::string_view, Options* o) { return Flag(&o->tuning.lru_crawler, true); }},
      {"no_lru_crawler", false,
       [](std::string_view, Options* o) { return Flag(&o->tuning.lru_crawler, false); }},
      {"lru_crawler_sleep", true,
       [](std::string_view v, Options* o) {
         return SetInt("lru_crawler_sleep", v, 0, 1000000, &o->tuning.lru_crawler_sleep);
       }},
      {"lru_crawler_tocrawl", true,
       [](std::string_view v, Options* o) {
         return SetInt<uint32_t>("lru_crawler_tocrawl", v, 0, UINT32_MAX,
                                 &o->tuning.lru_crawler_tocrawl);
       }},
      {"lru_maintainer", false,
       [](std::string_view, Options* o) {
         o->tuning.lru_maintainer_thread = o->tuning.lru_segmented = true;
         return Status::Ok();
       }},
      {"no_lru_maintainer", false,
       [](std::string_view, Options* o) {
         o->tuning.lru_maintainer_thread = o->tuning.lru_segmented = false;
         return Status::Ok();
       }},
      {"hot_lru_pct", true,
       [](std::string_view v, Options* o) {
         return SetInt("hot_lru_pct", v, 1, 79, &o->tuning.hot_lru_pct);
       }},
      {"warm_lru_pct", true,
       [](std::string_view v, Options* o) {
         return SetInt("warm_lru_pct", v, 1, 79, &o->tuning.warm_lru_pct);
       }},
      {"hot_max_factor", true,
       [](std::string_view v, Options* o) {
         return SetDouble("hot_max_factor", v, 0, 1e9, &o->tuning.hot_max_factor);
       }},
      {"warm_max_factor", true,
       [](std::string_view v, Options* o) {
         return SetDouble("warm_max_factor", v, 0, 1e9, &o->tuning.warm_max_factor);
       }},
      {"temporary_ttl", true,
       [](std::string_view v, Options* o) {
         o->tuning.temp_lru = true;
         return SetInt<uint32_t>("temporary_ttl", v, 0, UINT32_MAX, &o->tuning.temporary_ttl);
       }},
      {"watcher_logbuf_size", true,
       [](std::string_view v, Options* o) {
         return SetScaled<uint32_t>("watcher_logbuf_size", v, 0, UINT32_MAX >> 10, 10,
                                    &o->tuning.watcher_logbuf_size);
       }},
      {"worker_logbuf_size", true,
       [](std::string_view v, Options* o) {
         return SetScaled<uint32_t>("worker_logbuf_size", v, 0, UINT32_MAX >> 10, 10,
                                    &o->tuning.worker_logbuf_size);
       }},
      {"read_buf_mem_limit", true,
       [](std::string_view v, Options* o) {
         return SetScaled<uint32_t>("read_buf_mem_limit", v, 0, UINT32_MAX >> 20, 20,
                                    &o->tuning.read_buf_mem_limit);
       }},
      {"modern", false, [](std::string_view, Options*) { return Status::Ok(); }},
      {"no_modern", false,
       [](std::string_view, Options* o) {
         // What memcached's no_modern switches back to.
         o->tuning.slab_reassign = false;
         o->tuning.slab_automove = 0;
         o->tuning.maxconns_fast = false;
         o->tuning.lru_segmented = false;
         o->tuning.lru_maintainer_thread = false;
         o->tuning.lru_crawler = false;
         o->tuning.hash_algorithm = "jenkins";
         return Status::Ok();
       }},
  };
  return suboptions;
}

// -o key[=value],key[=value],...
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
    const Suboption* found = nullptr;
    for (const Suboption& suboption : Suboptions()) {
      if (suboption.name == name) found = &suboption;
    }
    if (found == nullptr) {
      return Status::Error("Illegal suboption \"" + std::string(item) + "\"");
    }
    if (found->needs_value && value.empty()) {
      return Status::Error("Missing argument for " + std::string(name));
    }
    Status status = found->apply(value, options);
    if (!status.ok()) return status;
  }
  return Status::Ok();
}

// Checks that hold across flags, in memcached's order and words.
Status Validate(const Options& options) {
  if (options.item_size_max < kItemSizeMaxLower) {
    return Status::Error("Item max size cannot be less than 1024 bytes.");
  }
  if (options.item_size_max > options.memory_limit / 2) {
    return Status::Error("Cannot set item size limit higher than 1/2 of memory max.");
  }
  if (options.item_size_max > kItemSizeMaxUpper) {
    return Status::Error("Cannot set item size limit higher than a gigabyte.");
  }
  if (options.tuning.hot_lru_pct + options.tuning.warm_lru_pct > 80) {
    return Status::Error("hot_lru_pct + warm_lru_pct cannot be more than 80% combined");
  }
  if (options.segment_size > options.memory_limit) {
    return Status::Error("segment_size cannot be larger than the memory limit (-m)");
  }
  return Status::Ok();
}

Status ApplyFlag(int flag, std::string_view arg, Options* options, CommandLineAction* action) {
  switch (flag) {
    case 'p': {
      int port = 0;
      if (!ParseInt(arg, &port)) return Invalid("-p", arg);
      if (port <= 0 || port > 65535) {
        return Status::Error("ERROR: Invalid port number " + std::string(arg) + ".");
      }
      options->port = static_cast<uint16_t>(port);
      return Status::Ok();
    }
    case 'l':
      // memcached takes a comma-separated list, and -l more than once.
      while (!arg.empty()) {
        const size_t comma = arg.find(',');
        if (comma != 0) options->listen.emplace_back(arg.substr(0, comma));
        arg = comma == std::string_view::npos ? std::string_view() : arg.substr(comma + 1);
      }
      return Status::Ok();
    case 'U':
      if (!ParseInt(arg, &options->udp_port)) return Invalid("-U", arg);
      if (options->udp_port != 0) {
        return Status::Error("UDP is not supported (it is an amplification vector); use -U 0");
      }
      return Status::Ok();
    case 'm': {
      uint64_t megabytes = 0;
      if (!ParseInt(arg, &megabytes) || megabytes > (uint64_t{1} << 40)) {
        return Invalid("-m", arg);
      }
      options->memory_limit = static_cast<size_t>(megabytes << 20);
      return Status::Ok();
    }
    case 'M':
      options->evict = false;
      return Status::Ok();
    case 'c':
      if (!ParseInt(arg, &options->max_connections)) return Invalid("-c", arg);
      if (options->max_connections <= 0) {
        return Status::Error("Maximum connections must be greater than 0");
      }
      return Status::Ok();
    case 'b':
      if (!ParseInt(arg, &options->backlog) || options->backlog <= 0) return Invalid("-b", arg);
      return Status::Ok();
    case 't':
      if (!ParseInt(arg, &options->threads)) return Invalid("-t", arg);
      if (options->threads <= 0) return Status::Error("Number of threads must be greater than 0");
      if (options->threads > 64) {
        std::fprintf(stderr,
                     "WARNING: Setting a high number of worker threads is not recommended.\n"
                     " Set this value to the number of cores in your machine or less.\n");
      }
      return Status::Ok();
    case 'R':
      if (!ParseInt(arg, &options->reqs_per_event)) return Invalid("-R", arg);
      if (options->reqs_per_event <= 0) {
        return Status::Error("Number of requests per event must be greater than 0");
      }
      return Status::Ok();
    case 'I':
      if (!ParseSize(arg, &options->item_size_max)) return Invalid("-I", arg);
      return Status::Ok();
    case 'f':
      if (!ParseDouble(arg, &options->growth_factor)) return Invalid("-f", arg);
      if (options->growth_factor <= 1.0) return Status::Error("Factor must be greater than 1");
      return Status::Ok();
    case 'n':
      if (!ParseInt(arg, &options->chunk_size)) return Invalid("-n", arg);
      if (options->chunk_size <= 0) return Status::Error("Chunk size must be greater than 0");
      return Status::Ok();
    case 'C':
      options->use_cas = false;
      return Status::Ok();
    case 'v':
      ++options->verbosity;
      return Status::Ok();
    case 'u':
      options->user = std::string(arg);
      return Status::Ok();
    case 'd':
      options->daemonize = true;
      return Status::Ok();
    case 'P':
      options->pid_file = std::string(arg);
      return Status::Ok();
    case 'A':
      options->enable_shutdown = true;
      return Status::Ok();
    case 'B':
      if (arg == "ascii" || arg == "auto") return Status::Ok();  // auto: ascii is all there is
      if (arg == "binary") {
        return Status::Error("The binary protocol is not supported; use -B ascii");
      }
      return Status::Error("Invalid value for binding protocol: " + std::string(arg) +
                           "\n -- should be one of auto, binary, or ascii");
    case 'o':
      return ParseSuboptions(arg, options);
    case 'h':
      *action = CommandLineAction::kPrintHelp;
      return Status::Ok();
    case 'V':
      *action = CommandLineAction::kPrintVersion;
      return Status::Ok();
    default:
      return Status::Error("unhandled option");
  }
}

constexpr char kShortOptions[] = "+:p:l:U:m:Mc:b:t:R:I:f:n:Cvu:dP:AB:o:hV";

}  // namespace

storage::CacheOptions Options::ToCacheOptions() const {
  storage::CacheOptions cache;
  cache.memory_limit = memory_limit;
  cache.segment_size = segment_size;
  cache.item_size_max = item_size_max;
  cache.evict = evict;
  cache.use_cas = use_cas;
  cache.eviction = eviction;
  cache.compression = compression;
  cache.compress_min = compress_min;
  cache.compress_ratio = compress_ratio;
  if (hash_power != 0) cache.hash_power_initial = hash_power;
  return cache;
}

Status ParseCommandLine(int argc, char* const argv[], Options* options, CommandLineAction* action) {
  static constexpr option kLongOptions[] = {
      {"port", required_argument, nullptr, 'p'},
      {"listen", required_argument, nullptr, 'l'},
      {"udp-port", required_argument, nullptr, 'U'},
      {"memory-limit", required_argument, nullptr, 'm'},
      {"disable-evictions", no_argument, nullptr, 'M'},
      {"conn-limit", required_argument, nullptr, 'c'},
      {"listen-backlog", required_argument, nullptr, 'b'},
      {"threads", required_argument, nullptr, 't'},
      {"max-reqs-per-event", required_argument, nullptr, 'R'},
      {"max-item-size", required_argument, nullptr, 'I'},
      {"slab-growth-factor", required_argument, nullptr, 'f'},
      {"slab-min-size", required_argument, nullptr, 'n'},
      {"disable-cas", no_argument, nullptr, 'C'},
      {"verbose", optional_argument, nullptr, 'v'},
      {"user", required_argument, nullptr, 'u'},
      {"daemon", no_argument, nullptr, 'd'},
      {"pidfile", required_argument, nullptr, 'P'},
      {"enable-shutdown", no_argument, nullptr, 'A'},
      {"protocol", required_argument, nullptr, 'B'},
      {"extended", required_argument, nullptr, 'o'},
      {"help", no_argument, nullptr, 'h'},
      {"version", no_argument, nullptr, 'V'},
      {nullptr, 0, nullptr, 0},
  };
  *action = CommandLineAction::kRun;
  optind = 0;  // GNU getopt: 0 restarts scanning from scratch
  opterr = 0;  // errors are reported through the Status
  int flag = 0;
  while ((flag = getopt_long(argc, argv, kShortOptions, kLongOptions, nullptr)) != -1) {
    if (flag == '?') {
      if (optopt != 0)
        return Status::Error(std::string("invalid option -- '") + static_cast<char>(optopt) + "'");
      return Status::Error(std::string("invalid option ") + argv[optind - 1]);
    }
    if (flag == ':') {
      return Status::Error(std::string("option requires an argument: ") + argv[optind - 1]);
    }
    std::string_view arg = optarg != nullptr ? optarg : "";
    while (!arg.empty() && arg.front() == ' ') arg.remove_prefix(1);  // as memcached does
    Status status = ApplyFlag(flag, arg, options, action);
    if (!status.ok()) return status;
    if (*action != CommandLineAction::kRun) return Status::Ok();
  }
  if (optind < argc) {
    return Status::Error(std::string("unexpected argument \"") + argv[optind] + "\"");
  }
  return Validate(*options);
}

std::string UsageText() {
  std::string text = "mnemod " + std::string(kVersion) + "\n";
  text +=
      "-p, --port=<num>          TCP port to listen on (default: 11211)\n"
      "-U, --udp-port=<num>      UDP port; only 0 (off) is supported\n"
      "-l, --listen=<addr>       interface to listen on (default: all addresses);\n"
      "                          a comma-separated list, each <addr>[:<port>]\n"
      "-b, --listen-backlog=<num> TCP listen backlog (default: 1024)\n"
      "-d, --daemon              run as a daemon\n"
      "-u, --user=<user>         assume identity of <username> (only when run as root)\n"
      "-P, --pidfile=<file>      save PID in <file>\n"
      "-m, --memory-limit=<num>  item memory in megabytes (default: 64)\n"
      "-M, --disable-evictions   return error on memory exhausted instead of evicting\n"
      "-c, --conn-limit=<num>    max simultaneous connections (default: 1024)\n"
      "-v, --verbose             verbose (print errors/warnings while in event loop)\n"
      "-vv                       very verbose (also print client commands/responses)\n"
      "-h, --help                print this help and exit\n"
      "-V, --version             print version and exit\n"
      "-t, --threads=<num>       number of threads to use (default: 4)\n"
      "-R, --max-reqs-per-event  reads per connection before yielding to others (default: 20)\n"
      "-C, --disable-cas         disable use of CAS\n"
      "-B, --protocol=<name>     protocol: ascii, or auto (which means ascii)\n"
      "-I, --max-item-size=<num> largest item, with a k or m suffix (default: 1m,\n"
      "                          min: 1k, max: 1g and half of -m)\n"
      "-f, --slab-growth-factor=<num>  accepted for compatibility; no slab classes here\n"
      "-n, --slab-min-size=<bytes>     accepted for compatibility; no slab classes here\n"
      "-A, --enable-shutdown     enable the shutdown command\n"
      "-o, --extended            comma-separated list of extended options:\n"
      "   - segment_size:        bytes of one memory segment, k or m suffix (default: 1m)\n"
      "   - eviction:            merge (keep what was read; default) or fifo\n"
      "   - compression:         snappy (compress values on the server; default) or off\n"
      "   - compress_min:        bytes from which a value is compressed, k or m suffix\n"
      "                          (default: 256)\n"
      "   - compress_ratio:      store compressed only if at most this fraction of the\n"
      "                          value's length (default: 0.875)\n"
      "   - hashpower:           log2 of the initial hash table size\n"
      "   - idle_timeout:        seconds before an idle client is disconnected (default: 0)\n"
      "   - memcached's slab_*, lru_*, hash_algorithm, modern, no_modern and similar tuning\n"
      "     options are accepted and shown in stats settings; they change nothing here.\n";
  return text;
}

}  // namespace mnemo::server
