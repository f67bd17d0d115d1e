// Settings: every line of `stats settings` and every -o option, each declared once in one table,
// in the order memcached 1.6 prints `stats settings` (mnemo's own lines last). Parsing -o, the
// `stats settings` output, the -o part of -h and docs/stats.md are all derived from it.
//
// A row is a line of `stats settings`, the -o option that sets it, or both. A line with no option
// shows a command-line flag (maxconns: -c), the server's state (oldest), or a constant memcached
// shows (umask); an option with no line of its own (no_maxconns_fast, no_modern) sits after the
// line it changes, or at the end.
//
// Thread safety: the table is constant.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "base/status.h"
#include "server/options.h"

namespace mnemo::server {

// What `stats settings` shows besides Options: the state of the running server.
struct RuntimeSettings {
  uint64_t maxbytes = uint64_t{64} << 20;     // the engine's limit: -m, or cache_memlimit since
  uint32_t oldest = 0;                        // seconds since start at which flush_all took effect
  uint64_t segment_size = uint64_t{1} << 20;  // the engine's, which -m may have made smaller
  int verbosity = 0;                          // -v, or the verbosity command since
  bool detail_enabled = false;                // -D, or `stats detail on|off` since
};

struct Setting {
  // Its line in `stats settings`, and how the value reads there; empty and null for an option
  // with no line of its own.
  std::string_view name;
  std::string (*show)(const Options& options, const RuntimeSettings& runtime);
  // The -o option that sets it, and how: `parse` is given the text after '=' (empty if none).
  // Empty and null if no -o option sets it.
  std::string_view option;
  bool needs_value;
  Status (*parse)(std::string_view value, Options* options);
  // The default as -o takes it, for -h and the docs; parsing it changes nothing (a test checks).
  // Empty where -h states none.
  std::string_view default_value;
  std::string_view help;  // one line: what it is
  bool in_usage;          // listed by -h; memcached's tuning, which changes nothing here, is not
};

std::span<const Setting> Settings();

// `stats settings`
void AppendSettings(const Options& options, const RuntimeSettings& runtime, std::string* out);

// -o key[=value],key[=value],...
Status ParseSuboptions(std::string_view list, Options* options);

// The -o options that -h lists, one per line (more where the help wraps).
std::string SuboptionsUsage();

}  // namespace mnemo::server
