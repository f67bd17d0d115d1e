// What a statistic is, as the tables that declare statistics (server/stats.h,
// storage/cache_stats.h) describe each one: the name `stats` shows, whether it counts events or
// reports a level, and one line saying what it means. docs/stats.md is rendered from these.
//
// Thread safety: constant data only.
#pragma once

#include <cstdint>
#include <string_view>

namespace mnemo {

enum class MetricKind : uint8_t {
  kCounter,  // a count of events that only grows; `stats reset` restarts those mnemod counts
  kGauge,    // a level at the time it is read; `stats reset` leaves it alone
};

constexpr std::string_view MetricKindName(MetricKind kind) {
  return kind == MetricKind::kCounter ? "counter" : "gauge";
}

struct MetricInfo {
  std::string_view name;  // as `stats` shows it: memcached's name where memcached has the stat
  MetricKind kind;
  std::string_view description;  // one line
};

}  // namespace mnemo
