#include "server/hot_keys.h"

#include <algorithm>
#include <atomic>
#include <unordered_map>
#include <utility>

#include "base/clock.h"

namespace mnemo::server {

struct HotKeys::Shard {
  Mutex mu;
  SpaceSaving overall GUARDED_BY(mu){kTracked};
  SpaceSaving current GUARDED_BY(mu){kTracked};   // the second current_second
  SpaceSaving previous GUARDED_BY(mu){kTracked};  // the second previous_second
  uint32_t current_second GUARDED_BY(mu) = 0;
  uint32_t previous_second GUARDED_BY(mu) = 0;  // 0: previous holds nothing
};

namespace {

std::atomic<uint64_t> next_id{1};

// The calling thread's shard of the HotKeys whose id is HotKeys::t_owner, and its random state.
struct ThreadSampler {
  void* shard = nullptr;
  uint64_t random = 0;
};
thread_local ThreadSampler t_sampler;

// xorshift64: the sampling needs no more than to be out of step with any client's pattern.
uint64_t NextRandom(uint64_t* state) {
  if (*state == 0) *state = reinterpret_cast<uintptr_t>(state) * 0x9E3779B97F4A7C15ULL | 1;
  *state ^= *state << 13;
  *state ^= *state >> 7;
  *state ^= *state << 17;
  return *state;
}

}  // namespace

HotKeys::HotKeys(uint32_t sample_rate)
    : sample_rate_(sample_rate), id_(next_id.fetch_add(1, std::memory_order_relaxed)) {}

HotKeys::~HotKeys() = default;

HotKeys::Shard& HotKeys::ThreadShard() {
  if (t_owner != id_) {
    MutexLock lock(mu_);
    shards_.push_back(std::make_unique<Shard>());
    t_owner = id_;
    t_sampler.shard = shards_.back().get();
  }
  return *static_cast<Shard*>(t_sampler.shard);
}

void HotKeys::RecordSample(std::string_view key) {
  Shard& shard = ThreadShard();
  const uint64_t span = 2 * uint64_t{sample_rate_} - 1;
  t_countdown = static_cast<int32_t>(1 + NextRandom(&t_sampler.random) % span);
  const uint32_t second = MonotonicSeconds();
  MutexLock lock(shard.mu);
  if (second != shard.current_second) {
    if (second == shard.current_second + 1) {
      std::swap(shard.previous, shard.current);
      shard.previous_second = shard.current_second;
    } else {
      shard.previous.Clear();
      shard.previous_second = 0;
    }
    shard.current.Clear();
    shard.current_second = second;
  }
  shard.overall.Add(key);
  shard.current.Add(key);
}

std::vector<HotKeys::Entry> HotKeys::Top(Window window) const {
  const uint32_t last_second = MonotonicSeconds() - 1;
  std::unordered_map<std::string, uint64_t> merged;
  {
    MutexLock lock(mu_);
    for (const std::unique_ptr<Shard>& shard : shards_) {
      MutexLock shard_lock(shard->mu);
      const SpaceSaving* sketch = &shard->overall;
      if (window == Window::kLastSecond) {
        sketch = shard->current_second == last_second    ? &shard->current
                 : shard->previous_second == last_second ? &shard->previous
                                                         : nullptr;
      }
      if (sketch == nullptr) continue;
      for (const SpaceSaving::Slot& slot : sketch->slots()) merged[slot.key] += slot.count;
    }
  }
  std::vector<Entry> top;
  top.reserve(merged.size());
  for (auto& [key, count] : merged) top.push_back({key, count * sample_rate_});
  const auto more = [](const Entry& a, const Entry& b) {
    return a.count != b.count ? a.count > b.count : a.key < b.key;
  };
  const size_t shown = std::min(top.size(), kReported);
  std::partial_sort(top.begin(), top.begin() + static_cast<ptrdiff_t>(shown), top.end(), more);
  top.resize(shown);
  return top;
}

void HotKeys::Clear() {
  MutexLock lock(mu_);
  for (const std::unique_ptr<Shard>& shard : shards_) {
    MutexLock shard_lock(shard->mu);
    shard->overall.Clear();
    shard->current.Clear();
    shard->previous.Clear();
    shard->current_second = 0;
    shard->previous_second = 0;
  }
}

std::string ReportedKey(std::string_view key) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string shown;
  shown.reserve(key.size());
  for (const char c : key) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= ' ' || byte >= 0x7f || byte == '%') {
      shown += '%';
      shown += kHex[byte >> 4];
      shown += kHex[byte & 0xf];
    } else {
      shown += c;
    }
  }
  return shown;
}

void AppendHotKeysStats(const std::vector<HotKeys::Entry>& top, std::string* out) {
  for (const HotKeys::Entry& entry : top) {
    *out += "STAT ";
    *out += ReportedKey(entry.key);
    *out += ' ';
    *out += std::to_string(entry.count);
    *out += "\r\n";
  }
}

}  // namespace mnemo::server
