#include "server/space_saving.h"

#include <algorithm>

namespace mnemo::server {

SpaceSaving::SpaceSaving(size_t capacity) : capacity_(capacity) {
  slots_.reserve(capacity);
  index_.reserve(capacity);
}

void SpaceSaving::Add(std::string_view key, uint64_t weight) {
  total_ += weight;
  if (auto it = index_.find(key); it != index_.end()) {
    slots_[it->second].count += weight;
    return;
  }
  if (slots_.size() < capacity_) {
    slots_.push_back({std::string(key), weight, 0});
    index_.emplace(slots_.back().key, slots_.size() - 1);
    return;
  }
  // The least counted slot goes to the new key. A scan: the sketch is small, and its owner adds
  // only a sample of the requests (hot_keys.h).
  const auto least = std::min_element(
      slots_.begin(), slots_.end(), [](const Slot& a, const Slot& b) { return a.count < b.count; });
  const auto slot = static_cast<size_t>(least - slots_.begin());
  index_.erase(least->key);
  least->key.assign(key);
  least->error = least->count;
  least->count += weight;
  index_.emplace(least->key, slot);
}

void SpaceSaving::Clear() {
  index_.clear();
  slots_.clear();
  slots_.reserve(capacity_);  // a moved-from sketch has lost its buffer
  total_ = 0;
}

}  // namespace mnemo::server
