#include "cluster/replica_placement.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace mnemo::cluster {
namespace {

NodeList Nodes(const std::vector<uint32_t>& weights) {
  NodeList list;
  for (size_t i = 0; i < weights.size(); ++i) {
    const auto port = static_cast<uint16_t>(31001 + i);
    list.nodes.push_back(
        {{"127.0.0.1:" + std::to_string(port), weights[i]}, {"127.0.0.1", port, weights[i]}});
  }
  return list;
}

// The definition, built the slow way: member i is the owner on a ring built afresh from the nodes
// that are not members 0..i-1.
std::vector<uint32_t> SlowReplicasOf(const NodeList& list, size_t replicas,
                                     const std::string& key) {
  std::vector<uint32_t> members;
  while (members.size() < std::min(replicas, list.nodes.size())) {
    std::vector<KetamaServer> rest;
    std::vector<uint32_t> rest_index;
    for (uint32_t i = 0; i < list.nodes.size(); ++i) {
      if (std::find(members.begin(), members.end(), i) != members.end()) continue;
      rest.push_back(list.nodes[i].server);
      rest_index.push_back(i);
    }
    members.push_back(rest_index[KetamaRing(rest).ServerFor(key)]);
  }
  return members;
}

void ExpectAsDefined(const std::vector<uint32_t>& weights, size_t replicas) {
  const NodeList list = Nodes(weights);
  const Result<ReplicaPlacement> placement = ReplicaPlacement::Create(list, replicas);
  ASSERT_TRUE(placement.ok()) << placement.status().message();
  ASSERT_EQ(placement->replicas(), std::min(replicas, weights.size()));
  const KetamaRing ring(list.RingServers());
  for (int k = 0; k < 3000; ++k) {
    const std::string key = "key:" + std::to_string(k);
    uint32_t out[ReplicaPlacement::kMaxReplicas];
    const size_t n = placement->ReplicasOf(key, out);
    const std::vector<uint32_t> got(out, out + n);
    ASSERT_EQ(got, SlowReplicasOf(list, replicas, key)) << key;
    ASSERT_EQ(got[0], ring.ServerFor(key)) << key;
  }
}

TEST(ReplicaPlacementTest, EqualWeightsFollowTheRingsOfEjection) {
  ExpectAsDefined({1, 1, 1, 1}, 2);
  ExpectAsDefined({1, 1, 1, 1}, 3);
  ExpectAsDefined({1, 1, 1, 1, 1, 1, 1}, 4);
}

TEST(ReplicaPlacementTest, UnequalWeightsFollowTheRingsOfEjection) {
  ExpectAsDefined({1, 2, 3}, 2);
  ExpectAsDefined({1, 1, 2, 3, 5}, 3);
  ExpectAsDefined({3, 1, 4, 1, 5, 9}, 4);
}

TEST(ReplicaPlacementTest, KeepsAtMostOneCopyPerNode) {
  ExpectAsDefined({1, 1}, 4);
  ExpectAsDefined({7}, 2);
}

TEST(ReplicaPlacementTest, NodeCountsWhoseSharesRoundDown) {
  // In single precision, 25 nodes of equal weight get 156 points each and 24 get 160: the ring
  // without one node has points the ring of all does not.
  ExpectAsDefined(std::vector<uint32_t>(25, 1), 3);
  ExpectAsDefined(std::vector<uint32_t>(48, 1), 4);
}

TEST(ReplicaPlacementTest, RefusesAReplicaCountOutOfRange) {
  EXPECT_FALSE(ReplicaPlacement::Create(Nodes({1, 1}), 0).ok());
  EXPECT_FALSE(ReplicaPlacement::Create(Nodes({1, 1}), ReplicaPlacement::kMaxReplicas + 1).ok());
}

}  // namespace
}  // namespace mnemo::cluster
