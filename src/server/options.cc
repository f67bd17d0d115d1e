#include "server/options.h"

#include <getopt.h>

#include <algorithm>
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
    default:
      return Status::Error("unhandled option");
  }
}

constexpr char kShortOptions[] = "+:p:l:U:m:Mc:b:t:R:I:f:n:Cvu:dP:AB:o:hV";

}  // namespace

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
      "-B, --protocol=<name>     protocol - one of ascii, binary, or auto (default: auto)\n"
      "-I, --max-item-size=<num> largest item, with a k or m suffix (default: 1m,\n"
      "                          min: 1k, max: 1g and half of -m)\n"
      "-f, --slab-growth-factor=<num>  accepted for compatibility; no slab classes here\n"
      "-n, --slab-min-size=<bytes>     accepted for compatibility; no slab classes here\n"
      "-A, --enable-shutdown     enable the shutdown command\n"
      "-o, --extended            comma-separated list of extended options:\n";
  text += SuboptionsUsage();
  text +=
      "   - memcached's slab_*, lru_*, hash_algorithm, modern, no_modern and similar tuning\n"
      "     options are accepted and shown in stats settings; they change nothing here.\n";
  return text;
}

}  // namespace mnemo::server
