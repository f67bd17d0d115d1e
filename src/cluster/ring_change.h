// RingChange compares two readings of the node list, the ring before a change and the ring after
// (a node joined, left, or was reweighted), key by key: which nodes hold a key's copies under the
// new ring that did not under the old one (they must be sent the key: a move), and who held it
// before (where a node that gained the key finds it meanwhile). Nodes are matched by their ketama
// name, so a node keeps its identity when others are added before it in the list.
//
// Invariants:
//  (1) Gainers(key) lists, in replica-set order, exactly the members of the key's replica set
//      under `after` whose name is not a member's name under `before`.
//  (2) A node in `after` holds the key (Holds) iff it is a member of the replica set under
//      `after`; HeldBefore likewise under `before`.
// Thread safety: immutable after construction; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "cluster/node_list.h"
#include "cluster/replica_placement.h"

namespace mnemo::cluster {

class RingChange {
 public:
  // An index that names no node.
  static constexpr uint32_t kNone = UINT32_MAX;

  // REQUIRES: each placement was made from its list.
  RingChange(const NodeList& before, ReplicaPlacement before_placement, const NodeList& after,
             ReplicaPlacement after_placement);

  // Writes to `out` (room for ReplicaPlacement::kMaxReplicas) the indexes in `after` of the
  // members of the key's new replica set that were not members of its old one; returns how many.
  size_t Gainers(std::string_view key, uint32_t* out) const;
  // The key's owner under the old ring, as an index in `before`.
  uint32_t PreviousOwner(std::string_view key) const;
  // Whether node `index` of `after` is a member of the key's new replica set.
  bool Holds(std::string_view key, uint32_t index) const;
  // Whether node `index` of `before` was a member of the key's old replica set.
  bool HeldBefore(std::string_view key, uint32_t index) const;
  // The index in `before` of node `index` of `after`; kNone for a node that joined.
  uint32_t BeforeIndex(uint32_t index) const { return before_of_after_[index]; }

 private:
  ReplicaPlacement before_;
  ReplicaPlacement after_;
  std::vector<uint32_t> before_of_after_;  // by index in `after`
};

}  // namespace mnemo::cluster
