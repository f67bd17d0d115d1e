// CacheStats: the storage engine's statistics, each declared once in one of two lists below, from
// which the struct, the per-thread counter index and the descriptions in docs/stats.md are all
// derived. Names follow memcached's stats where memcached has the statistic.
//
//  - MNEMO_CACHE_COUNTERS: counted by each thread that uses the cache, in its own counter array,
//    and summed over threads when Stats() is called. CacheCounter indexes that array, in list
//    order, so a thread's counters are `std::array<..., kNumCacheCounters>` and a sum fills
//    CacheStats field by field through kCacheCounterFields. A thread adds `divisor` units for
//    each unit shown (1000 for the times: threads add nanoseconds, stats shows microseconds).
//    Gauges may be negative in one thread (an item stored by one thread and evicted by another)
//    and only their sum is meaningful; a sum below 0 mid-update reads as 0.
//  - MNEMO_CACHE_STATE: read from the engine's structures (the pool, the hash table, the
//    options) when Stats() is called; not counted.
//
// Entries are X(field, name in `stats`, MetricKind, divisor, description) in the first list and
// X(field, name in `stats`, MetricKind, description) in the second.
// Adding a statistic is one line here, the code that counts it, and (if `stats` shows it) its
// place in the `stats` output (server/stats.h), which a unit test demands.
//
// Thread safety: CacheStats is a value; the tables are constant.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "base/metric.h"

#define MNEMO_CACHE_COUNTERS(X)                                                                   \
  X(curr_items, "curr_items", kGauge, 1, "Items held now; expired ones count until reclaimed")    \
  X(bytes, "bytes", kGauge, 1, "Bytes of live items: header, key and value as stored")            \
  X(total_items, "total_items", kCounter, 1, "Successful stores since start")                     \
  X(evictions, "evictions", kCounter, 1, "Live, unexpired items dropped to make room")            \
  X(evicted_unfetched, "evicted_unfetched", kCounter, 1, "Evicted items that were never read")    \
  X(reclaimed, "reclaimed", kCounter, 1, "Expired items whose memory was reused")                 \
  X(expired_unfetched, "expired_unfetched", kCounter, 1,                                          \
    "Expired items reclaimed that were never read")                                               \
  X(segment_merges, "segment_merges", kCounter, 1,                                                \
    "Merges of segments by merge eviction (-o eviction=merge)")                                   \
  X(segment_evictions, "segment_evictions", kCounter, 1,                                          \
    "Segments emptied by eviction, merge or FIFO")                                                \
  X(segments_expired, "segments_expired", kCounter, 1,                                            \
    "Segments freed because all their items expired")                                             \
  X(items_copied_forward, "items_copied_forward", kCounter, 1,                                    \
    "Items read since written that a merge kept, copied into the merged segment")                 \
  X(compress_items, "compress_items", kCounter, 1, "Values stored compressed")                    \
  X(compress_rejected, "compress_rejected", kCounter, 1,                                          \
    "Values compressed that did not save enough (-o compress_ratio), stored as they came")        \
  X(compress_bytes_in, "compress_bytes_in", kCounter, 1,                                          \
    "Original bytes of the values stored compressed")                                             \
  X(compress_bytes_out, "compress_bytes_out", kCounter, 1,                                        \
    "Stored bytes of the values stored compressed")                                               \
  X(compress_time_us, "compress_time_us", kCounter, 1000,                                         \
    "Microseconds spent compressing, rejected attempts included")                                 \
  X(decompress_items, "decompress_items", kCounter, 1, "Compressed values decompressed by reads") \
  X(decompress_errors, "decompress_errors", kCounter, 1,                                          \
    "Corrupt compressed values found by a read (the read failed)")                                \
  X(decompress_time_us, "decompress_time_us", kCounter, 1000, "Microseconds spent decompressing") \
  X(value_holds, "value_holds", kCounter, 1,                                                      \
    "Values read through a hold on their segment instead of copied under the lock")               \
  X(get_extstore, "get_extstore", kCounter, 1,                                                    \
    "Items a command found on flash (-o ext_path): served from it, or brought back to RAM")       \
  X(miss_from_extstore, "miss_from_extstore", kCounter, 1,                                        \
    "Items read from flash for a command that held another key, had expired or were corrupt")

#define MNEMO_CACHE_STATE(X)                                                                      \
  X(limit_maxbytes, "limit_maxbytes", kGauge,                                                     \
    "Bytes of item memory allowed: -m, or cache_memlimit since")                                  \
  X(segment_size, "segment_size", kGauge,                                                         \
    "Bytes of one memory segment (-o segment_size, smaller when -m holds too few)")               \
  X(segments_total, "segments_total", kGauge, "Segments item memory may hold: -m / segment_size") \
  X(segments_in_use, "segments_in_use", kGauge, "Segments holding items, open or sealed")         \
  X(segments_free, "segments_free", kGauge, "Segments taken from the OS and ready for reuse")     \
  X(segments_draining, "segments_draining", kGauge,                                               \
    "Segments freed while readers still hold them, reused once they let go")                      \
  X(hash_table_bytes, "hash_bytes", kGauge, "Bytes of the hash table (outside -m)")               \
  X(hash_bytes_limit, "hash_bytes_limit", kGauge,                                                 \
    "Bytes the hash table may use: -m / 2 plus an eighth of -o ext_path's size, or its starting " \
    "size if more; it evicts to stay within")                                                     \
  X(hash_power_level, "hash_power_level", kGauge, "log2 of the hash table's bucket count")        \
  X(hash_is_expanding, "hash_is_expanding", kGauge, "1 while the hash table grows, else 0")       \
  X(oldest_item_age, "age", kGauge,                                                               \
    "Seconds since the oldest segment holding a live item was opened (stats items)")              \
  X(badcrc_from_extstore, "badcrc_from_extstore", kCounter,                                       \
    "Records read from flash whose checksum or layout did not hold (a miss)")                     \
  X(extstore_limit_maxbytes, "extstore_limit_maxbytes", kGauge,                                   \
    "Bytes of flash the tier uses: -o ext_path's size, in whole segments")                        \
  X(extstore_pages_total, "extstore_pages_total", kGauge, "Flash segments of the tier")           \
  X(extstore_pages_used, "extstore_pages_used", kGauge, "Flash segments holding an item")         \
  X(extstore_objects_used, "extstore_objects_used", kGauge, "Items on flash")                     \
  X(extstore_bytes_used, "extstore_bytes_used", kGauge, "Bytes of the items on flash")            \
  X(extstore_objects_written, "extstore_objects_written", kCounter,                               \
    "Items eviction wrote to flash instead of dropping them")                                     \
  X(extstore_bytes_written, "extstore_bytes_written", kCounter,                                   \
    "Bytes written to the flash devices: segment headers, records, padding to whole pages")       \
  X(extstore_item_bytes_written, "extstore_item_bytes_written", kCounter,                         \
    "Bytes of the items written to flash (extstore_bytes_written / this: write amplification)")   \
  X(extstore_objects_read, "extstore_objects_read", kCounter, "Records read back from flash")     \
  X(extstore_bytes_read, "extstore_bytes_read", kCounter, "Bytes of records read from flash")     \
  X(extstore_page_reclaims, "extstore_page_reclaims", kCounter,                                   \
    "Flash segments reused, first in first out")                                                  \
  X(extstore_page_evictions, "extstore_page_evictions", kCounter,                                 \
    "Flash segments reused while they still held items")                                          \
  X(extstore_objects_evicted, "extstore_objects_evicted", kCounter,                               \
    "Items dropped from flash when their segment was reused")                                     \
  X(extstore_bytes_evicted, "extstore_bytes_evicted", kCounter,                                   \
    "Bytes of the items dropped from flash")                                                      \
  X(extstore_io_errors, "extstore_io_errors", kCounter,                                           \
    "Reads and writes of the flash file that failed; a failed write turns the tier off")          \
  X(extstore_enabled, "extstore_enabled", kGauge,                                                 \
    "1 while the flash tier takes items; 0 after a write error turned it off")

namespace mnemo::storage {

struct CacheStats {
#define MNEMO_CACHE_COUNTER_FIELD(field, name, kind, divisor, description) uint64_t field = 0;
#define MNEMO_CACHE_STATE_FIELD(field, name, kind, description) uint64_t field = 0;
  MNEMO_CACHE_COUNTERS(MNEMO_CACHE_COUNTER_FIELD)
  MNEMO_CACHE_STATE(MNEMO_CACHE_STATE_FIELD)
#undef MNEMO_CACHE_COUNTER_FIELD
#undef MNEMO_CACHE_STATE_FIELD
};

// The index of a thread's counter array.
enum class CacheCounter : uint8_t {
#define MNEMO_CACHE_COUNTER_ENUM(field, name, kind, divisor, description) field,
  MNEMO_CACHE_COUNTERS(MNEMO_CACHE_COUNTER_ENUM)
#undef MNEMO_CACHE_COUNTER_ENUM
};

// Each expands to a term of a sum, which parentheses would break.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define MNEMO_CACHE_COUNTER_COUNT(field, name, kind, divisor, description) +1
#define MNEMO_CACHE_STATE_COUNT(field, name, kind, description) +1
// NOLINTEND(bugprone-macro-parentheses)
inline constexpr size_t kNumCacheCounters = 0 MNEMO_CACHE_COUNTERS(MNEMO_CACHE_COUNTER_COUNT);
inline constexpr size_t kNumCacheState = 0 MNEMO_CACHE_STATE(MNEMO_CACHE_STATE_COUNT);
#undef MNEMO_CACHE_COUNTER_COUNT
#undef MNEMO_CACHE_STATE_COUNT

struct CacheMetricInfo {
  MetricInfo metric;
  uint64_t CacheStats::*field;
  uint32_t divisor;  // units a thread adds per unit shown; 1 for state
};

#define MNEMO_CACHE_COUNTER_INFO(field, name, kind, divisor, description) \
  CacheMetricInfo{{name, MetricKind::kind, description}, &CacheStats::field, divisor},
#define MNEMO_CACHE_STATE_INFO(field, name, kind, description) \
  CacheMetricInfo{{name, MetricKind::kind, description}, &CacheStats::field, 1},
// In CacheCounter order.
inline constexpr std::array<CacheMetricInfo, kNumCacheCounters> kCacheCounters = {
    MNEMO_CACHE_COUNTERS(MNEMO_CACHE_COUNTER_INFO)};
inline constexpr std::array<CacheMetricInfo, kNumCacheState> kCacheState = {
    MNEMO_CACHE_STATE(MNEMO_CACHE_STATE_INFO)};
#undef MNEMO_CACHE_COUNTER_INFO
#undef MNEMO_CACHE_STATE_INFO

}  // namespace mnemo::storage
