#include "storage/cache_stats.h"

#include <gtest/gtest.h>

#include <set>
#include <string_view>

namespace mnemo::storage {
namespace {

TEST(CacheStatsTest, ACounterIndexesItsOwnField) {
  CacheStats stats;
  stats.*kCacheCounters[static_cast<size_t>(CacheCounter::bytes)].field = 7;
  stats.*kCacheCounters[static_cast<size_t>(CacheCounter::decompress_time_us)].field = 9;
  EXPECT_EQ(stats.bytes, 7u);
  EXPECT_EQ(stats.decompress_time_us, 9u);
  EXPECT_EQ(kCacheCounters[static_cast<size_t>(CacheCounter::curr_items)].metric.name,
            "curr_items");
}

TEST(CacheStatsTest, EveryFieldIsDeclaredOnceWithADescription) {
  static_assert(sizeof(CacheStats) == (kNumCacheCounters + kNumCacheState) * sizeof(uint64_t));
  std::set<std::string_view> names;
  CacheStats hits;  // each field, once per declaration naming it
  auto check = [&](const CacheMetricInfo& info) {
    EXPECT_TRUE(names.insert(info.metric.name).second) << info.metric.name;
    ++(hits.*info.field);
    EXPECT_FALSE(info.metric.description.empty()) << info.metric.name;
    EXPECT_EQ(info.metric.description.find('\n'), std::string_view::npos) << info.metric.name;
  };
  for (const CacheMetricInfo& info : kCacheCounters) check(info);
  for (const CacheMetricInfo& info : kCacheState) check(info);
  for (const CacheMetricInfo& info : kCacheCounters) EXPECT_EQ(hits.*info.field, 1u);
  for (const CacheMetricInfo& info : kCacheState) EXPECT_EQ(hits.*info.field, 1u);
}

TEST(CacheStatsTest, ThreadsCountTimesInNanosecondsAndEverythingElseInItsOwnUnit) {
  for (const CacheMetricInfo& info : kCacheCounters) {
    const bool time = info.metric.name.ends_with("_time_us");
    EXPECT_EQ(info.divisor, time ? 1000u : 1u) << info.metric.name;
  }
}

TEST(CacheStatsTest, LevelsAreGaugesAndEventsCounters) {
  // stats reset leaves gauges alone: curr_items and bytes count what is stored, not what happened.
  EXPECT_EQ(kCacheCounters[static_cast<size_t>(CacheCounter::curr_items)].metric.kind,
            MetricKind::kGauge);
  EXPECT_EQ(kCacheCounters[static_cast<size_t>(CacheCounter::bytes)].metric.kind,
            MetricKind::kGauge);
  EXPECT_EQ(kCacheCounters[static_cast<size_t>(CacheCounter::evictions)].metric.kind,
            MetricKind::kCounter);
}

}  // namespace
}  // namespace mnemo::storage
