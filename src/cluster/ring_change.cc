#include "cluster/ring_change.h"

#include <algorithm>
#include <utility>

namespace mnemo::cluster {

RingChange::RingChange(const NodeList& before, ReplicaPlacement before_placement,
                       const NodeList& after, ReplicaPlacement after_placement)
    : before_(std::move(before_placement)), after_(std::move(after_placement)) {
  for (const ClusterNode& node : after.nodes) {
    uint32_t found = kNone;
    for (uint32_t i = 0; i < before.nodes.size(); ++i) {
      if (before.nodes[i].server.name == node.server.name) found = i;
    }
    before_of_after_.push_back(found);
  }
}

size_t RingChange::Gainers(std::string_view key, uint32_t* out) const {
  uint32_t old_members[ReplicaPlacement::kMaxReplicas];
  uint32_t new_members[ReplicaPlacement::kMaxReplicas];
  const size_t old_count = before_.ReplicasOf(key, old_members);
  const size_t new_count = after_.ReplicasOf(key, new_members);
  size_t gainers = 0;
  for (size_t i = 0; i < new_count; ++i) {
    const uint32_t was = before_of_after_[new_members[i]];
    if (was == kNone ||
        std::find(old_members, old_members + old_count, was) == old_members + old_count) {
      out[gainers++] = new_members[i];
    }
  }
  return gainers;
}

uint32_t RingChange::PreviousOwner(std::string_view key) const {
  uint32_t members[ReplicaPlacement::kMaxReplicas];
  (void)before_.ReplicasOf(key, members);
  return members[0];
}

bool RingChange::Holds(std::string_view key, uint32_t index) const {
  uint32_t members[ReplicaPlacement::kMaxReplicas];
  const size_t count = after_.ReplicasOf(key, members);
  return std::find(members, members + count, index) != members + count;
}

bool RingChange::HeldBefore(std::string_view key, uint32_t index) const {
  uint32_t members[ReplicaPlacement::kMaxReplicas];
  const size_t count = before_.ReplicasOf(key, members);
  return std::find(members, members + count, index) != members + count;
}

}  // namespace mnemo::cluster
