#include "cluster/ketama.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "cluster/md5.h"

namespace mnemo::cluster {
namespace {

constexpr uint32_t kPointsPerDigest = 4;

// Word `index` (0..3) of an MD5 digest, little endian.
uint32_t DigestWord(const Md5Digest& digest, int index) {
  const uint8_t* b = digest.data() + index * 4;
  return uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
}

}  // namespace

// libmemcached and twemproxy compute a server's share in single precision; doing the same in
// double would round differently for some weights (1/6 * 40 * 3 is 20.0000006f, which floors to
// 20) and move whole groups of points.
uint32_t KetamaPoints(uint32_t weight, uint64_t total_weight, size_t servers) {
  const float share = static_cast<float>(weight) / static_cast<float>(total_weight);
  float groups = share * static_cast<float>(kKetamaPointsPerServer);
  groups = groups / static_cast<float>(kPointsPerDigest);
  groups = groups * static_cast<float>(servers);
  const double nudged = static_cast<double>(groups) + 0.0000000001;
  return static_cast<uint32_t>(std::floor(static_cast<float>(nudged))) * kPointsPerDigest;
}

namespace {

std::vector<KetamaServer> NamedServers(const std::vector<ServerAddress>& servers) {
  std::vector<KetamaServer> named;
  named.reserve(servers.size());
  for (const ServerAddress& s : servers) named.push_back({KetamaName(s), s.weight});
  return named;
}

}  // namespace

std::string KetamaName(const ServerAddress& server) {
  if (server.port == kDefaultMemcachedPort) return server.host;
  return server.host + ":" + std::to_string(server.port);
}

Status ParseKetamaServer(std::string_view text, KetamaServer* out) {
  // nutcracker splits the name off at the last space.
  const size_t space = text.rfind(' ');
  const std::string_view address_text = text.substr(0, space);
  ServerAddress address;
  Status status = ParseServerAddress(address_text, &address);
  if (!status.ok()) return status;
  KetamaServer server{KetamaName(address), address.weight};
  if (space != std::string_view::npos) {
    server.name = std::string(text.substr(space + 1));
    if (server.name.empty()) {
      return Status::Error("server '" + std::string(text) + "': empty name after the space");
    }
  }
  *out = std::move(server);
  return Status::Ok();
}

KetamaRing::KetamaRing(const std::vector<KetamaServer>& servers) {
  uint64_t total_weight = 0;
  for (const KetamaServer& s : servers) total_weight += s.weight;
  for (size_t i = 0; i < servers.size(); ++i) {
    const std::string prefix = servers[i].name + "-";
    const uint32_t digests =
        KetamaPoints(servers[i].weight, total_weight, servers.size()) / kPointsPerDigest;
    for (uint32_t d = 0; d < digests; ++d) {
      const Md5Digest digest = Md5(prefix + std::to_string(d));
      for (int w = 0; w < static_cast<int>(kPointsPerDigest); ++w) {
        points_.push_back({DigestWord(digest, w), static_cast<uint32_t>(i)});
      }
    }
  }
  std::sort(points_.begin(), points_.end(), [](const Point& a, const Point& b) {
    return a.value != b.value ? a.value < b.value : a.server < b.server;
  });
}

KetamaRing::KetamaRing(const std::vector<ServerAddress>& servers)
    : KetamaRing(NamedServers(servers)) {}

uint32_t KetamaRing::KeyHash(std::string_view key) { return DigestWord(Md5(key), 0); }

size_t KetamaRing::PointsOf(size_t index) const {
  return static_cast<size_t>(std::count_if(points_.begin(), points_.end(),
                                           [index](const Point& p) { return p.server == index; }));
}

}  // namespace mnemo::cluster
