#include "options.h"

#include <getopt.h>

#include <charconv>
#include <cmath>
#include <string>

#include "protocol/command.h"

namespace mnemo::bench {
namespace {

constexpr std::string_view kHelp = R"(mnemo-bench: a load generator for memcached-protocol servers.

Usage:
  mnemo-bench [options]                     offer load to running servers
  mnemo-bench compare --server-cmd NAME=CMD --server-cmd NAME=CMD [options]
                                            start each server, load it, stop it; alternate them

Servers:
  --server HOST[:PORT[:WEIGHT]]  a server to load (repeatable; default 127.0.0.1:11211). With
                           several, each key goes where libmemcached's weighted ketama puts it
                           (MD5, 160 points per server scaled by weight), as pylibmc with
                           {"ketama_weighted": True} does.

Load:
  --threads N              threads, each with its own epoll loop (default 2)
  --connections N          connections per thread, to every server (default 25)
  --pipeline N             requests in flight per connection (default 1)
  --duration SECONDS       how long to run (default 10)
  --requests N             run for N requests in all instead of a duration
  --ratio SETS:GETS        the request mix (default 1:10)
  --rate OPS               a fixed request rate over all connections (open loop): requests are
                           due at fixed intervals whether or not replies came back, and latency is
                           measured from when a request was due, so a stalled server is charged
                           for the whole wait (no coordinated omission). Default: closed loop,
                           each connection sends as soon as it has room in its pipeline.

Keys and values:
  --key-space N            keys are PREFIX0 .. PREFIX(N-1) (default 100000)
  --key-pattern P          sequential, uniform or zipf (default uniform)
  --zipf-exponent S        zipf: P(k-th hottest key) ~ 1/k^S (default 0.99); key 0 is the hottest
  --key-prefix TEXT        (default "key:")
  --value-size N|MIN-MAX   value bytes, fixed or uniform in a range (default 32)
  --preload                first write every key once (not counted in the results)
  --seed N                 seed of the key, mix and value-size streams (default 1)

Protocol and output:
  --protocol text|meta     text get/set, or meta mg (with v) / ms (default text)
  --json                   print the results as JSON on stdout instead of a table
  --help                   this text

  A progress line (requests/s, hit ratio, p99 of the last second) goes to stderr every second.
  Results: throughput, gets and sets, hits and misses, errors, latency percentiles (p50 p90 p99
  p99.9 max, from a log-linear histogram: within 0.8% of the exact value) and the CPU time
  mnemo-bench itself spent per request.

Compare mode:
  --server-cmd NAME=CMD    a server to start (at least two): CMD runs under /bin/sh with {port}
                           replaced by a free port, e.g.
                           'memcached=/usr/bin/memcached -l 127.0.0.1 -U 0 -t 2 -p {port} -u root'
  --rounds N               rounds (default 5); each round starts every server in turn (A B A B ..),
                           preloads it, runs the load, reads its CPU time (utime + stime from
                           /proc/PID/stat) and stops it
  Prints each server's median and min-max of throughput, p50, p99 and server CPU microseconds
  per request, and their ratios to the first server.
)";

enum OptionId : int {
  kServer = 256,
  kThreads,
  kConnections,
  kPipeline,
  kDuration,
  kRequests,
  kRatio,
  kRate,
  kKeySpace,
  kKeyPattern,
  kZipfExponent,
  kKeyPrefix,
  kValueSize,
  kPreload,
  kSeed,
  kProtocol,
  kJson,
  kHelpOption,
  kServerCmd,
  kRounds,
};

const option kLongOptions[] = {
    {"server", required_argument, nullptr, kServer},
    {"threads", required_argument, nullptr, kThreads},
    {"connections", required_argument, nullptr, kConnections},
    {"pipeline", required_argument, nullptr, kPipeline},
    {"duration", required_argument, nullptr, kDuration},
    {"requests", required_argument, nullptr, kRequests},
    {"ratio", required_argument, nullptr, kRatio},
    {"rate", required_argument, nullptr, kRate},
    {"key-space", required_argument, nullptr, kKeySpace},
    {"key-pattern", required_argument, nullptr, kKeyPattern},
    {"zipf-exponent", required_argument, nullptr, kZipfExponent},
    {"key-prefix", required_argument, nullptr, kKeyPrefix},
    {"value-size", required_argument, nullptr, kValueSize},
    {"preload", no_argument, nullptr, kPreload},
    {"seed", required_argument, nullptr, kSeed},
    {"protocol", required_argument, nullptr, kProtocol},
    {"json", no_argument, nullptr, kJson},
    {"help", no_argument, nullptr, kHelpOption},
    {"server-cmd", required_argument, nullptr, kServerCmd},
    {"rounds", required_argument, nullptr, kRounds},
    {nullptr, 0, nullptr, 0},
};

// The largest value mnemo-bench writes: memcached's own ceiling for -I.
constexpr uint64_t kMaxValueSize = uint64_t{1} << 30;

Status Invalid(std::string_view option, std::string_view value, std::string_view why) {
  return Status::Error("--" + std::string(option) + " " + std::string(value) + ": " +
                       std::string(why));
}

bool ParseUint(std::string_view text, uint64_t min, uint64_t max, uint64_t* out) {
  uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) return false;
  if (value < min || value > max) return false;
  *out = value;
  return true;
}

bool ParsePositiveDouble(std::string_view text, double* out) {
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) return false;
  if (!(value > 0) || !std::isfinite(value)) return false;
  *out = value;
  return true;
}

template <typename T>
Status ParseCount(std::string_view option, std::string_view text, uint64_t min, uint64_t max,
                  T* out) {
  uint64_t value = 0;
  if (!ParseUint(text, min, max, &value)) {
    return Invalid(
        option, text,
        "expected an integer from " + std::to_string(min) + " to " + std::to_string(max));
  }
  *out = static_cast<T>(value);
  return Status::Ok();
}

Status ParseRatio(std::string_view text, LoadOptions* load) {
  const size_t colon = text.find(':');
  uint64_t sets = 0, gets = 0;
  if (colon == std::string_view::npos || !ParseUint(text.substr(0, colon), 0, 1000000, &sets) ||
      !ParseUint(text.substr(colon + 1), 0, 1000000, &gets) || sets + gets == 0) {
    return Invalid("ratio", text, "expected SETS:GETS, e.g. 1:10, not both 0");
  }
  load->set_ratio = static_cast<uint32_t>(sets);
  load->get_ratio = static_cast<uint32_t>(gets);
  return Status::Ok();
}

Status ParseValueSize(std::string_view text, LoadOptions* load) {
  const size_t dash = text.find('-');
  const std::string_view low = text.substr(0, dash);
  const std::string_view high = dash == std::string_view::npos ? low : text.substr(dash + 1);
  uint64_t min = 0, max = 0;
  if (!ParseUint(low, 1, kMaxValueSize, &min) || !ParseUint(high, min, kMaxValueSize, &max)) {
    return Invalid("value-size", text, "expected N or MIN-MAX, 1 <= MIN <= MAX <= 2^30");
  }
  load->value_min = static_cast<uint32_t>(min);
  load->value_max = static_cast<uint32_t>(max);
  return Status::Ok();
}

Status ParseServerCommand(std::string_view text, std::vector<ServerCommand>* out) {
  const size_t eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == text.size()) {
    return Invalid("server-cmd", text, "expected NAME=COMMAND");
  }
  ServerCommand cmd{std::string(text.substr(0, eq)), std::string(text.substr(eq + 1))};
  if (cmd.command.find("{port}") == std::string::npos) {
    return Invalid("server-cmd", text, "the command must contain {port}");
  }
  out->push_back(std::move(cmd));
  return Status::Ok();
}

Status ParseOne(int id, std::string_view arg, Options* out, bool* duration_given) {
  LoadOptions& load = out->load;
  switch (id) {
    case kServer: {
      cluster::ServerAddress address;
      Status status = cluster::ParseServerAddress(arg, &address);
      if (status.ok()) load.servers.push_back(std::move(address));
      return status;
    }
    case kThreads:
      return ParseCount("threads", arg, 1, 1024, &load.threads);
    case kConnections:
      return ParseCount("connections", arg, 1, 100000, &load.connections);
    case kPipeline:
      return ParseCount("pipeline", arg, 1, 100000, &load.pipeline);
    case kDuration:
      *duration_given = true;
      if (!ParsePositiveDouble(arg, &load.duration_s)) {
        return Invalid("duration", arg, "expected a positive number of seconds");
      }
      return Status::Ok();
    case kRequests:
      return ParseCount("requests", arg, 1, UINT64_MAX, &load.requests);
    case kRatio:
      return ParseRatio(arg, &load);
    case kRate:
      if (!ParsePositiveDouble(arg, &load.rate)) {
        return Invalid("rate", arg, "expected a positive number of requests per second");
      }
      return Status::Ok();
    case kKeySpace:
      return ParseCount("key-space", arg, 1, UINT64_MAX, &load.key_space);
    case kKeyPattern:
      if (arg == "sequential") {
        load.key_pattern = KeyPattern::kSequential;
      } else if (arg == "uniform") {
        load.key_pattern = KeyPattern::kUniform;
      } else if (arg == "zipf") {
        load.key_pattern = KeyPattern::kZipf;
      } else {
        return Invalid("key-pattern", arg, "expected sequential, uniform or zipf");
      }
      return Status::Ok();
    case kZipfExponent:
      if (!ParsePositiveDouble(arg, &load.zipf_exponent)) {
        return Invalid("zipf-exponent", arg, "expected a positive number");
      }
      return Status::Ok();
    case kKeyPrefix:
      load.key_prefix = std::string(arg);
      return Status::Ok();
    case kValueSize:
      return ParseValueSize(arg, &load);
    case kPreload:
      load.preload = true;
      return Status::Ok();
    case kSeed:
      return ParseCount("seed", arg, 0, UINT64_MAX, &load.seed);
    case kProtocol:
      if (arg == "text") {
        load.protocol = Protocol::kText;
      } else if (arg == "meta") {
        load.protocol = Protocol::kMeta;
      } else {
        return Invalid("protocol", arg, "expected text or meta");
      }
      return Status::Ok();
    case kJson:
      out->json = true;
      return Status::Ok();
    case kHelpOption:
      out->mode = Options::Mode::kHelp;
      return Status::Ok();
    case kServerCmd:
      if (out->mode != Options::Mode::kCompare) {
        return Status::Error("--server-cmd belongs to compare mode: mnemo-bench compare ...");
      }
      return ParseServerCommand(arg, &out->server_commands);
    case kRounds:
      if (out->mode != Options::Mode::kCompare) {
        return Status::Error("--rounds belongs to compare mode: mnemo-bench compare ...");
      }
      return ParseCount("rounds", arg, 1, 1000, &out->rounds);
    default:
      return Status::Error("unknown option");
  }
}

Status Validate(bool duration_given, Options* out) {
  LoadOptions& load = out->load;
  if (load.requests > 0) {
    if (duration_given) return Status::Error("give --duration or --requests, not both");
    load.duration_s = 0;
  }
  for (char c : load.key_prefix) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return Status::Error("--key-prefix: keys may not contain spaces or control characters");
    }
  }
  const size_t longest_key = load.key_prefix.size() + std::to_string(load.key_space - 1).size();
  if (longest_key > protocol::kMaxKeyLength) {
    return Status::Error("--key-prefix and --key-space make keys of " +
                         std::to_string(longest_key) + " bytes; memcached allows " +
                         std::to_string(protocol::kMaxKeyLength));
  }
  if (out->mode == Options::Mode::kCompare) {
    if (!load.servers.empty()) {
      return Status::Error("compare mode starts its own servers: use --server-cmd, not --server");
    }
    if (out->server_commands.size() < 2) {
      return Status::Error("compare mode needs at least two --server-cmd NAME=COMMAND");
    }
  } else if (load.servers.empty()) {
    load.servers.push_back(cluster::ServerAddress{"127.0.0.1", cluster::kDefaultMemcachedPort, 1});
  }
  return Status::Ok();
}

}  // namespace

Status ParseOptions(int argc, char** argv, Options* out) {
  *out = Options();
  int first = 1;
  if (argc > 1 && std::string_view(argv[1]) == "compare") {
    out->mode = Options::Mode::kCompare;
    first = 2;
  }
  // getopt_long keeps its position in globals: start afresh (optind 0 makes glibc reinitialise)
  // and report errors ourselves instead of letting it print.
  optind = 0;
  opterr = 0;
  bool duration_given = false;
  const int sub_argc = argc - first + 1;
  char** sub_argv = argv + first - 1;
  while (true) {
    const int id = getopt_long(sub_argc, sub_argv, ":", kLongOptions, nullptr);
    if (id == -1) break;
    if (id == '?') {
      return Status::Error(std::string("unknown option ") + sub_argv[optind - 1] + " (see --help)");
    }
    if (id == ':') {
      return Status::Error(std::string(sub_argv[optind - 1]) + " needs a value");
    }
    Status status = ParseOne(id, optarg == nullptr ? "" : optarg, out, &duration_given);
    if (!status.ok()) return status;
    if (out->mode == Options::Mode::kHelp) return Status::Ok();
  }
  if (optind < sub_argc) {
    return Status::Error(std::string("unexpected argument ") + sub_argv[optind] + " (see --help)");
  }
  return Validate(duration_given, out);
}

std::string_view HelpText() { return kHelp; }

}  // namespace mnemo::bench
