#include "server/options.h"

#include <getopt.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <string_view>

#include "server/option_values.h"
#include "server/settings.h"
#include "server/version.h"

namespace mnemo::server {
namespace {

// memcached's bounds on -I.
constexpr size_t kItemSizeMaxLower = 1024;
constexpr size_t kItemSizeMaxUpper = size_t{1} << 30;
// Checks that hold across flags, in memcached's order and words.
Status Validate(const Options& options) {
  if (options.napi_ids > options.threads) {
    return Status::Error("Number of napi_ids(" + std::to_string(options.napi_ids) +
                         ") cannot be greater than number of threads(" +
                         std::to_string(options.threads) + ")");
  }
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
  // memcached's storage_check_config: each ext_path must hold one of its pages. (memcached
  // divides by ext_page_size unchecked, and dies of it when it is 0.)
  for (const ExtstoreOptions::Path& path : options.ext.paths) {
    if (options.ext.page_size == 0) return Status::Error("ext_page_size cannot be 0");
    if (path.size / options.ext.page_size == 0) {
      return Status::Error("supplied ext_path has zero size, cannot use");
    }
  }
  return Status::Ok();
}

// -S binds every connection to the binary protocol and -Y to ascii, unless -B said otherwise
// (then refused); neither serves UDP. memcached's checks, order and words (with -S and -Y both,
// -Y's binding wins, as in memcached).
Status BindAuthentication(bool protocol_given, Options* options) {
  if (options->sasl) {
    if (!protocol_given) {
      options->binding_protocol = protocol::WireProtocol::kBinary;
    } else if (options->binding_protocol != protocol::WireProtocol::kBinary) {
      return Status::Error("ERROR: You cannot allow the ASCII protocol while using SASL.");
    }
    if (options->udp_port != 0) {
      return Status::Error("ERROR: Cannot enable UDP while using binary SASL authentication.");
    }
  }
  if (!options->auth_file.empty()) {
    if (!protocol_given) {
      options->binding_protocol = protocol::WireProtocol::kAscii;
    } else if (options->binding_protocol != protocol::WireProtocol::kAscii) {
      return Status::Error(
          "ERROR: You cannot allow the BINARY protocol while using ascii authentication tokens.");
    }
    if (options->udp_port != 0) {
      return Status::Error("Cannot use UDP with ascii authentication enabled (-U 0 to disable)");
    }
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
      if (!ParseInt(arg, &options->udp_port) || options->udp_port < 0 ||
          options->udp_port > 65535) {
        return Invalid("-U", arg);
      }
      return Status::Ok();
    case 's':
      options->socket_path = std::string(arg);
      return Status::Ok();
    case 'a': {
      // Octal, as chmod takes it. memcached keeps the number as given (stats settings shows it)
      // and applies its low nine bits.
      const char* end = arg.data() + arg.size();
      const auto [last, ec] = std::from_chars(arg.data(), end, options->unix_mask, 8);
      if (arg.empty() || arg.front() == '-' || ec != std::errc() || last != end) {
        return Invalid("-a", arg);
      }
      return Status::Ok();
    }
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
    case 'k':
      options->lock_memory = true;
      return Status::Ok();
    case 'r':
      options->core_dumps = true;
      return Status::Ok();
    case 'F':
      options->flush_enabled = false;
      return Status::Ok();
    case 'X':
      options->dump_enabled = false;
      return Status::Ok();
    case 'W':
      options->watch_enabled = false;
      return Status::Ok();
    case 'D':
      if (arg.empty()) return Status::Error("No delimiter specified");
      options->prefix_delimiter = arg.front();
      options->detail_enabled = true;
      return Status::Ok();
    case 'N':
      if (!ParseInt(arg, &options->napi_ids)) return Invalid("-N", arg);
      if (options->napi_ids <= 0) {
        return Status::Error("Maximum number of NAPI IDs must be greater than 0");
      }
      return Status::Ok();
    case 'L':
      NoteIgnored("-L", "large memory pages are not supported");
      return Status::Ok();
    case 'e':
      options->memory_file = std::string(arg);
      return Status::Ok();
    case 'Z':
      options->ssl_enabled = true;
      return Status::Ok();
    case 'S':
      options->sasl = true;
      return Status::Ok();
    case 'Y':
      options->auth_file = std::string(arg);
      return Status::Ok();
    case 'B':
      if (arg == "auto") {
        options->binding_protocol.reset();
      } else if (arg == "ascii") {
        options->binding_protocol = protocol::WireProtocol::kAscii;
      } else if (arg == "binary") {
        options->binding_protocol = protocol::WireProtocol::kBinary;
      } else {
        return Status::Error("Invalid value for binding protocol: " + std::string(arg) +
                             "\n -- should be one of auto, binary, or ascii");
      }
      return Status::Ok();
    case 'o':
      return ParseSuboptions(arg, options);
    case 'h':
      *action = CommandLineAction::kPrintHelp;
      return Status::Ok();
    case 'V':
      *action = CommandLineAction::kPrintVersion;
      return Status::Ok();
    case 'i':
      *action = CommandLineAction::kPrintLicense;
      return Status::Ok();
    default:
      return Status::Error("unhandled option");
  }
}

// memcached 1.6.45's flags, every one.
constexpr char kShortOptions[] = "+:p:s:a:l:U:m:Mc:b:t:R:I:f:n:Cvu:dP:AB:o:hViZkrD:LSFXWY:e:N:";

}  // namespace

void NoteIgnored(std::string_view what, std::string_view why) {
  std::fprintf(stderr, "%.*s: %.*s; ignored\n", static_cast<int>(what.size()), what.data(),
               static_cast<int>(why.size()), why.data());
}

size_t Options::ConnectionMemoryLimit() const {
  // Half of -m keeps the whole process within 1.5 x -m plus a fixed overhead (docs/robustness.md);
  // the floor leaves a small cache room for a few large values in flight.
  return read_buf_mem_limit.value_or(std::max(kDefaultConnectionMemory, memory_limit / 2));
}

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
  cache.memory_file = memory_file;
  return cache;
}

Status ParseCommandLine(int argc, char* const argv[], Options* options, CommandLineAction* action) {
  static constexpr option kLongOptions[] = {
      {"port", required_argument, nullptr, 'p'},
      {"unix-socket", required_argument, nullptr, 's'},
      {"unix-mask", required_argument, nullptr, 'a'},
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
      {"license", no_argument, nullptr, 'i'},
      {"enable-ssl", no_argument, nullptr, 'Z'},
      {"lock-memory", no_argument, nullptr, 'k'},
      {"enable-coredumps", no_argument, nullptr, 'r'},
      {"enable-largepages", no_argument, nullptr, 'L'},
      {"enable-sasl", no_argument, nullptr, 'S'},
      {"disable-flush-all", no_argument, nullptr, 'F'},
      {"disable-dumping", no_argument, nullptr, 'X'},
      {"disable-watch", no_argument, nullptr, 'W'},
      {"auth-file", required_argument, nullptr, 'Y'},
      {"memory-file", required_argument, nullptr, 'e'},
      {"napi-ids", required_argument, nullptr, 'N'},
      {nullptr, 0, nullptr, 0},
  };
  *action = CommandLineAction::kRun;
  optind = 0;  // GNU getopt: 0 restarts scanning from scratch
  opterr = 0;  // errors are reported through the Status
  int flag = 0;
  bool tcp_port_given = false;
  bool protocol_given = false;  // -B, auto included
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
    if (flag == 'p') tcp_port_given = true;
    if (flag == 'B') protocol_given = true;
    if (*action != CommandLineAction::kRun) return Status::Ok();
  }
  if (optind < argc) {
    return Status::Error(std::string("unexpected argument \"") + argv[optind] + "\"");
  }
  Status auth = BindAuthentication(protocol_given, options);
  if (!auth.ok()) return auth;
  // memcached listens for TCP on the UDP port when -U is given and -p is not.
  if (options->udp_port != 0 && !tcp_port_given)
    options->port = static_cast<uint16_t>(options->udp_port);
  // memcached halves its slab chunks for items over a slab page, unless slab_chunk_max was given.
  if (options->item_size_max > MemcachedTuning::kSlabPage && !options->tuning.slab_chunk_max_set) {
    options->tuning.slab_chunk_max = MemcachedTuning::kSlabPage / 2;
  }
  Status status = Validate(*options);
  if (status.ok() && options->napi_ids != 0) {
    NoteIgnored("-N",
                "NAPI ID thread selection does not apply: connections go to threads round "
                "robin");
  }
  return status;
}

std::string VersionLine() {
  return "mnemod " + std::string(kMnemoVersion) + " (memcached " + std::string(kVersion) + ")";
}

std::string UsageText() {
  std::string text = VersionLine() + "\n";
  text +=
      "-p, --port=<num>          TCP port to listen on (default: 11211)\n"
      "-U, --udp-port=<num>      UDP port to listen on (default: 0, off)\n"
      "-s, --unix-socket=<file>  UNIX socket to listen on (disables network support)\n"
      "-a, --unix-mask=<mask>    access mask for UNIX socket, in octal (default: 700)\n"
      "-l, --listen=<addr>       interface to listen on (default: all addresses);\n"
      "                          a comma-separated list, each <addr>[:<port>]; with -Z, a\n"
      "                          notls:, btls: or mtls: prefix makes it plain, TLS without\n"
      "                          client certificates, or TLS requiring one\n"
      "-b, --listen-backlog=<num> TCP listen backlog (default: 1024)\n"
      "-d, --daemon              run as a daemon\n"
      "-r, --enable-coredumps    maximize core file limit\n"
      "-u, --user=<user>         assume identity of <username> (only when run as root)\n"
      "-P, --pidfile=<file>      save PID in <file>\n"
      "-m, --memory-limit=<num>  item memory in megabytes (default: 64)\n"
      "-M, --disable-evictions   return error on memory exhausted instead of evicting\n"
      "-c, --conn-limit=<num>    max simultaneous connections (default: 1024)\n"
      "-k, --lock-memory         lock down all paged memory\n"
      "-v, --verbose             verbose (print errors/warnings while in event loop)\n"
      "-vv                       very verbose (also print client commands/responses)\n"
      "-vvv                      the same as -vv\n"
      "-h, --help                print this help and exit\n"
      "-i, --license             print the license and exit\n"
      "-V, --version             print version and exit\n"
      "-t, --threads=<num>       number of threads to use (default: 4)\n"
      "-R, --max-reqs-per-event  requests per connection before yielding to others (default: 20)\n"
      "-C, --disable-cas         disable use of CAS\n"
      "-B, --protocol=<name>     protocol - one of ascii, binary, or auto (default: auto)\n"
      "-I, --max-item-size=<num> largest item, with a k or m suffix (default: 1m,\n"
      "                          min: 1k, max: 1g and half of -m)\n"
      "-f, --slab-growth-factor=<num>  accepted for compatibility; no slab classes here\n"
      "-n, --slab-min-size=<bytes>     accepted for compatibility; no slab classes here\n"
      "-L, --enable-largepages   accepted for compatibility; not supported, ignored\n"
      "-D <char>                 delimiter between key prefixes and IDs for per-prefix stats\n"
      "                          (stats detail); giving it turns their collection on\n"
      "-A, --enable-shutdown     enable the shutdown command\n"
      "-F, --disable-flush-all   disable flush_all command\n"
      "-X, --disable-dumping     disable stats cachedump, stats detail, and lru_crawler metadump\n"
      "-W, --disable-watch       disable watch commands (live logging)\n"
      "-N, --napi-ids=<num>      accepted for compatibility; threads are chosen round robin\n"
      "-Y, --auth-file=<file>    ascii authentication: each connection sends\n"
      "                          \"set <any key> 0 0 <len>\\r\\n<user> <password>\\r\\n\" first;\n"
      "                          <file> holds up to 8 user:password lines (SIGHUP reloads)\n"
      "-e, --memory-file=<file>  item memory in this file: a restartable cache (stop with\n"
      "                          SIGUSR1)\n"
      "-S, --enable-sasl         turn on SASL authentication (binary protocol, PLAIN;\n"
      "                          user:password lines in the file $MEMCACHED_SASL_PWDB names)\n"
      "-Z, --enable-ssl          enable TLS/SSL on every TCP port (-o ssl_* below)\n"
      "-o, --extended            comma-separated list of extended options:\n";
  text += SuboptionsUsage();
  text +=
      "   - memcached's slab_*, lru_*, hash_algorithm, modern, no_modern and similar tuning\n"
      "     options are accepted and shown in stats settings; they change nothing here.\n";
  return text;
}

}  // namespace mnemo::server
