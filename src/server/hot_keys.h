// HotKeys finds the keys read and written most: a sample of the requests, 1 in `sample_rate` on
// average, goes into Space-Saving sketches (space_saving.h), one set per thread that records, and
// a report merges them (Top). Two windows: everything since the start (or `stats reset`), and
// the last whole second.
//
// Recording costs a thread-local countdown on the request path; only a sampled request takes its
// thread's lock (uncontended but for a report reading that thread's sketches). The countdown is
// drawn at random between 1 and 2 * sample_rate - 1, so that a client cycling through keys in step
// with the rate is not always sampled on the same key; a rate of 1 counts every request.
//
// Counts in a report are estimates of requests: sampled counts times the rate, each sketch's
// overestimate included (space_saving.h). Merging adds a key's counts over the threads.
//
// Memory: per recording thread, three sketches of kTracked keys; keys are at most 250 bytes.
// Thread safety: Record from any thread; Top and Clear from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/mutex.h"
#include "base/thread_annotations.h"
#include "server/space_saving.h"

namespace mnemo::server {

class HotKeys {
 public:
  static constexpr size_t kReported = 20;  // keys in a report
  static constexpr size_t kTracked = 128;  // slots of each sketch: several times kReported

  enum class Window : uint8_t {
    kOverall,     // since the start, or the last Clear()
    kLastSecond,  // the last whole second of the monotonic clock
  };

  struct Entry {
    std::string key;
    uint64_t count;  // estimated requests
  };

  // 0: off, Record does nothing.
  explicit HotKeys(uint32_t sample_rate);
  ~HotKeys();
  HotKeys(const HotKeys&) = delete;
  HotKeys& operator=(const HotKeys&) = delete;

  uint32_t sample_rate() const { return sample_rate_; }

  // A read or write of `key`.
  void Record(std::string_view key) {
    if (sample_rate_ == 0 || (--t_countdown > 0 && t_owner == id_)) return;
    RecordSample(key);
  }

  // At most kReported keys of `window`, the most requested first (ties by key).
  std::vector<Entry> Top(Window window) const EXCLUDES(mu_);
  // `stats reset`: forgets everything counted so far.
  void Clear() EXCLUDES(mu_);

 private:
  struct Shard;

  void RecordSample(std::string_view key) EXCLUDES(mu_);
  // The calling thread's shard, made on its first sample.
  Shard& ThreadShard() EXCLUDES(mu_);

  // Requests until the calling thread's next sample, and the id of the HotKeys it counts for
  // (there are several in a process only in tests): a thread's first request to another one is
  // sampled, and starts its countdown.
  static inline constinit thread_local int32_t t_countdown = 1;
  static inline constinit thread_local uint64_t t_owner = 0;

  const uint32_t sample_rate_;
  const uint64_t id_;  // tells this instance from one since freed at the same address
  mutable Mutex mu_;
  std::vector<std::unique_ptr<Shard>> shards_ GUARDED_BY(mu_);
};

// A key as a report shows it: bytes that would break a "STAT key count" line or a Prometheus
// label (space, control bytes, bytes above 0x7e) and '%' itself as %XX, the rest as they are.
// Keys of the text protocol, which holds no spaces or control bytes, show unchanged.
std::string ReportedKey(std::string_view key);

// `stats hotkeys`' lines: "STAT <ReportedKey> <count>\r\n" per entry, in its order.
void AppendHotKeysStats(const std::vector<HotKeys::Entry>& top, std::string* out);

}  // namespace mnemo::server
