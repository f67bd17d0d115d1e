// ReplicaPlacement says which nodes hold copies of a key: its replica set, the owner first. The
// set is where ketama sends the key as its holders fail, so that when a proxy or a client ejects
// a dead owner the key's reads land on a node that already has it: the second member is the
// owner on the ring of all nodes but the first (the ring nutcracker rebuilds when it ejects the
// owner, shares recomputed), the third the owner on the ring without the first two, and so on.
//
// A ring without some nodes gives each other node KetamaPoints(weight, the weights left, the
// nodes left) points, the first ones its name yields (digests 0, 1, ...), so every such ring is a
// subset of one ring holding, for each node, the most points any of them gives it. That ring is
// all this keeps; a member is found by walking it clockwise past the points of earlier members
// and past the points the node does not have on the ring without them.
//
// Invariants:
//  (1) ReplicasOf returns replicas() distinct indexes, the first of them the key's owner on the
//      ring of all nodes.
//  (2) Member i is KetamaRing(all nodes but members 0..i-1).ServerFor(key), exactly.
// Thread safety: immutable after construction; ReplicasOf may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "cluster/node_list.h"

namespace mnemo::cluster {

class ReplicaPlacement {
 public:
  // The most copies of a key a cluster may keep.
  static constexpr size_t kMaxReplicas = 4;

  // An error if replicas is 0 or above kMaxReplicas.
  static Result<ReplicaPlacement> Create(const NodeList& list, size_t replicas);

  // Copies kept of each key: the `replicas` asked for, at most the number of nodes.
  size_t replicas() const { return replicas_; }

  // Writes the key's replica set, owner first, to `out` (room for replicas() entries) and
  // returns its size, replicas().
  size_t ReplicasOf(std::string_view key, uint32_t* out) const;

 private:
  struct Point {
    uint32_t value;
    uint32_t node;
    uint32_t digest;  // the point came from MD5("<name>-<digest>")
  };

  ReplicaPlacement(const NodeList& list, size_t replicas);

  size_t replicas_;
  uint64_t total_weight_ = 0;
  std::vector<uint32_t> weights_;  // by node
  std::vector<Point> points_;      // sorted by value, equal values by node (KetamaRing's order)
};

}  // namespace mnemo::cluster
