#include "server/prefix_stats.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

namespace mnemo::server {
namespace {

// memcached's PREFIX_HASH_SIZE.
constexpr uint32_t kBuckets = 256;

uint32_t RotateLeft(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

}  // namespace

uint32_t MemcachedMurmur3(std::string_view bytes) {
  constexpr uint32_t kC1 = 0xcc9e2d51;
  constexpr uint32_t kC2 = 0x1b873593;
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t blocks = bytes.size() / 4;
  uint32_t h1 = 0;
  for (size_t i = 0; i < blocks; ++i) {
    uint32_t k1 = 0;
    std::memcpy(&k1, data + i * 4, 4);  // little-endian, as on the x86 memcached was built for
    k1 *= kC1;
    k1 = RotateLeft(k1, 15);
    k1 *= kC2;
    h1 ^= k1;
    h1 = RotateLeft(h1, 13);
    h1 = h1 * 5 + 0xe6546b64;
  }
  const unsigned char* tail = data + blocks * 4;
  uint32_t k1 = 0;
  switch (bytes.size() & 3) {
    case 3:
      k1 ^= uint32_t{tail[2]} << 16;
      [[fallthrough]];
    case 2:
      k1 ^= uint32_t{tail[1]} << 8;
      [[fallthrough]];
    case 1:
      k1 ^= tail[0];
      k1 *= kC1;
      k1 = RotateLeft(k1, 15);
      k1 *= kC2;
      h1 ^= k1;
      break;
    default:
      break;
  }
  h1 ^= static_cast<uint32_t>(bytes.size());
  h1 ^= h1 >> 16;
  h1 *= 0x85ebca6b;
  h1 ^= h1 >> 13;
  h1 *= 0xc2b2ae35;
  h1 ^= h1 >> 16;
  return h1;
}

PrefixStats::Counts* PrefixStats::Find(std::string_view key) {
  const size_t end = key.find(delimiter_);
  if (end == std::string_view::npos) return nullptr;
  const std::string_view prefix = key.substr(0, end);
  // Heterogeneous lookup would avoid this copy; a prefix is short and counting is opt-in.
  const auto found = prefixes_.find(std::string(prefix));
  if (found != prefixes_.end()) return &found->second;
  if (prefixes_.size() >= kMaxPrefixes) return nullptr;
  Counts& counts = prefixes_[std::string(prefix)];
  counts.order = next_order_++;
  return &counts;
}

void PrefixStats::RecordGet(std::string_view key, bool hit) {
  if (!enabled()) return;
  MutexLock lock(mu_);
  if (Counts* counts = Find(key)) {
    ++counts->gets;
    if (hit) ++counts->hits;
  }
}

void PrefixStats::RecordSet(std::string_view key) {
  if (!enabled()) return;
  MutexLock lock(mu_);
  if (Counts* counts = Find(key)) ++counts->sets;
}

void PrefixStats::RecordDelete(std::string_view key) {
  if (!enabled()) return;
  MutexLock lock(mu_);
  if (Counts* counts = Find(key)) ++counts->deletes;
}

std::string PrefixStats::Dump() const {
  struct Line {
    uint32_t bucket;
    uint64_t order;
    std::string text;
  };
  std::vector<Line> lines;
  {
    MutexLock lock(mu_);
    lines.reserve(prefixes_.size());
    for (const auto& [prefix, counts] : prefixes_) {
      char numbers[128];
      std::snprintf(numbers, sizeof(numbers), " get %llu hit %llu set %llu del %llu\r\n",
                    static_cast<unsigned long long>(counts.gets),
                    static_cast<unsigned long long>(counts.hits),
                    static_cast<unsigned long long>(counts.sets),
                    static_cast<unsigned long long>(counts.deletes));
      lines.push_back(
          {MemcachedMurmur3(prefix) % kBuckets, counts.order, "PREFIX " + prefix + numbers});
    }
  }
  // memcached walks its buckets in order, each a list with the newest prefix first.
  std::sort(lines.begin(), lines.end(), [](const Line& a, const Line& b) {
    return a.bucket != b.bucket ? a.bucket < b.bucket : a.order > b.order;
  });
  std::string out;
  for (const Line& line : lines) out += line.text;
  out += "END\r\n";
  return out;
}

void PrefixStats::Clear() {
  MutexLock lock(mu_);
  prefixes_.clear();
}

}  // namespace mnemo::server
