// Options is mnemo-bench's command line: what load to offer (servers, connections, pipeline,
// request mix, keys, values, protocol, rate) and, in compare mode, which server commands to run
// side by side. ParseOptions turns argv into Options, or a Status that says which argument is
// wrong and why; it never exits and never prints, so that it can be tested.
//
// Invariants of a parsed Options (checked by ParseOptions):
//  (1) threads, connections and pipeline are at least 1; set_ratio + get_ratio >= 1.
//  (2) Exactly one end condition: requests > 0 (duration_s is then 0) or duration_s > 0.
//  (3) 1 <= value_min <= value_max; key_space >= 1; every key (prefix plus id) is a valid
//      memcached key: at most 250 bytes, no spaces or control characters.
//  (4) In compare mode, at least two server commands, each with "{port}" in it, and no --server.
// Thread safety: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "cluster/server_address.h"
#include "key_distribution.h"

namespace mnemo::bench {

enum class Protocol : uint8_t {
  kText,  // get / set
  kMeta,  // mg <key> v / ms <key> <size>
};

// The load one run offers, shared by the normal and the compare mode.
struct LoadOptions {
  std::vector<cluster::ServerAddress>
      servers;  // empty only in compare mode, which fills it per run
  uint32_t threads = 2;
  uint32_t connections = 25;  // per thread
  uint32_t pipeline = 1;      // requests in flight per connection
  double duration_s = 10;
  uint64_t requests = 0;  // when set, the run ends after this many requests instead
  uint32_t set_ratio = 1;
  uint32_t get_ratio = 10;
  uint64_t key_space = 100000;
  KeyPattern key_pattern = KeyPattern::kUniform;
  double zipf_exponent = 0.99;
  std::string key_prefix = "key:";
  uint32_t value_min = 32;
  uint32_t value_max = 32;
  Protocol protocol = Protocol::kText;
  double rate =
      0;  // requests per second over all connections; 0: each connection as fast as it can
  bool preload = false;
  uint64_t seed = 1;
};

// A server that compare mode starts itself: `command` runs under /bin/sh, with "{port}" replaced
// by a free loopback port.
struct ServerCommand {
  std::string name;
  std::string command;
};

struct Options {
  enum class Mode : uint8_t { kRun, kCompare, kHelp };
  Mode mode = Mode::kRun;
  LoadOptions load;
  bool json = false;
  uint32_t rounds = 5;                         // compare mode
  std::vector<ServerCommand> server_commands;  // compare mode
};

// Parses argv (argv[0] is the program). "mnemo-bench compare ..." selects compare mode.
Status ParseOptions(int argc, char** argv, Options* out);

// The text --help prints.
std::string_view HelpText();

}  // namespace mnemo::bench
