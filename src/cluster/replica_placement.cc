#include "cluster/replica_placement.h"

#include <algorithm>
#include <functional>
#include <string>

#include "cluster/ketama.h"
#include "cluster/md5.h"

namespace mnemo::cluster {
namespace {

constexpr uint32_t kPointsPerDigest = 4;

uint32_t DigestWord(const Md5Digest& digest, uint32_t index) {
  const uint8_t* b = digest.data() + index * 4;
  return uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
}

}  // namespace

Result<ReplicaPlacement> ReplicaPlacement::Create(const NodeList& list, size_t replicas) {
  if (replicas == 0 || replicas > kMaxReplicas) {
    return Status::Error("replicas must be from 1 to " + std::to_string(kMaxReplicas));
  }
  return ReplicaPlacement(list, replicas);
}

ReplicaPlacement::ReplicaPlacement(const NodeList& list, size_t replicas)
    : replicas_(std::min(replicas, list.nodes.size())) {
  const size_t n = list.nodes.size();
  for (const ClusterNode& node : list.nodes) {
    weights_.push_back(node.server.weight);
    total_weight_ += node.server.weight;
  }
  for (uint32_t i = 0; i < n; ++i) {
    // A node has the most points on a ring without `gone` others when those are the heaviest
    // others: its share is then largest for that number of nodes.
    std::vector<uint32_t> others;
    for (uint32_t j = 0; j < n; ++j) {
      if (j != i) others.push_back(weights_[j]);
    }
    std::sort(others.begin(), others.end(), std::greater<>());
    uint32_t most = 0;
    uint64_t gone_weight = 0;
    for (size_t gone = 0; gone < replicas_; ++gone) {
      most = std::max(most, KetamaPoints(weights_[i], total_weight_ - gone_weight, n - gone));
      if (gone < others.size()) gone_weight += others[gone];
    }
    const std::string prefix = list.nodes[i].server.name + "-";
    for (uint32_t d = 0; d < most / kPointsPerDigest; ++d) {
      const Md5Digest digest = Md5(prefix + std::to_string(d));
      for (uint32_t w = 0; w < kPointsPerDigest; ++w)
        points_.push_back({DigestWord(digest, w), i, d});
    }
  }
  std::sort(points_.begin(), points_.end(), [](const Point& a, const Point& b) {
    return a.value != b.value ? a.value < b.value : a.node < b.node;
  });
}

size_t ReplicaPlacement::ReplicasOf(std::string_view key, uint32_t* out) const {
  const uint32_t hash = KetamaRing::KeyHash(key);
  const auto first = std::lower_bound(points_.begin(), points_.end(), hash,
                                      [](const Point& p, uint32_t h) { return p.value < h; });
  uint64_t gone_weight = 0;  // of the members found so far, out[0..member)
  for (size_t member = 0; member < replicas_; ++member) {
    const size_t nodes_left = weights_.size() - member;
    const uint64_t weight_left = total_weight_ - gone_weight;
    auto p = first;
    for (size_t step = 0; step < points_.size(); ++step, ++p) {
      if (p == points_.end()) p = points_.begin();
      if (std::find(out, out + member, p->node) != out + member) continue;
      if (p->digest >=
          KetamaPoints(weights_[p->node], weight_left, nodes_left) / kPointsPerDigest) {
        continue;  // a point this node has only on rings with fewer nodes or a larger share
      }
      break;
    }
    out[member] = p->node;
    gone_weight += weights_[p->node];
  }
  return replicas_;
}

}  // namespace mnemo::cluster
