// mnemo-ring: says which server of a ketama ring owns each key, as libmemcached's weighted
// ketama and nutcracker (distribution: ketama, hash: md5) place it. mnemo-cluster asks it where
// a key lives; tests ask it to predict where clients and the proxy put keys.
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "cluster/ketama.h"
#include "cluster/node_list.h"
#include "cluster/replica_placement.h"

namespace {

constexpr char kUsage[] =
    R"(Usage: mnemo-ring (--server SPEC... | --nodes FILE) [--points | --replicas N] [KEY...]

Prints, for each KEY (or each line of standard input when no KEY is given), the index of the
server that owns it and that server, as "KEY INDEX SPEC". Servers are numbered from 0 in the order
given, which is part of the ring as it is of a client's server list.

  --server SPEC  a server as a nutcracker configuration lists it, "host:port:weight [name]", or as
                 libmemcached and pylibmc do, "host[:port[:weight]]". Its points are hashed from
                 its name, or else from "host:port" ("host" alone on port 11211).
  --nodes FILE   the servers of a node list, as mnemod's -o cluster_file reads it (a nutcracker
                 configuration or plain lines)
  --points       print each server's number of ring points instead, as "INDEX POINTS SPEC"
  --replicas N   print each key's replica set instead, owner first, as "KEY INDEX,INDEX..."
                 (where mnemod with -o replicas=N keeps its copies)

To see where a proxy that ejected a server puts keys, list only the servers still live.
)";

int Usage(FILE* out, int exit_code) {
  std::fputs(kUsage, out);
  return exit_code;
}

void PrintOwner(const mnemo::cluster::KetamaRing& ring, const std::vector<std::string>& specs,
                std::string_view key) {
  const size_t index = ring.ServerFor(key);
  std::printf("%.*s %zu %s\n", static_cast<int>(key.size()), key.data(), index,
              specs[index].c_str());
}

void PrintReplicas(const mnemo::cluster::ReplicaPlacement& placement, std::string_view key) {
  uint32_t members[mnemo::cluster::ReplicaPlacement::kMaxReplicas];
  const size_t n = placement.ReplicasOf(key, members);
  std::string list;
  for (size_t i = 0; i < n; ++i) list += (i == 0 ? "" : ",") + std::to_string(members[i]);
  std::printf("%.*s %s\n", static_cast<int>(key.size()), key.data(), list.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> specs;
  std::vector<mnemo::cluster::KetamaServer> servers;
  std::vector<std::string_view> keys;
  bool points = false;
  std::optional<size_t> replicas;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") return Usage(stdout, 0);
    if (arg == "--points") {
      points = true;
    } else if (arg == "--replicas") {
      if (i + 1 == argc) return Usage(stderr, 2);
      replicas = std::strtoul(argv[++i], nullptr, 10);  // 0 if not a number: refused below
    } else if (arg == "--nodes") {
      if (i + 1 == argc) return Usage(stderr, 2);
      mnemo::Result<mnemo::cluster::NodeList> list = mnemo::cluster::ReadNodeList(argv[++i]);
      if (!list.ok()) {
        std::fprintf(stderr, "mnemo-ring: %s\n", list.status().message().c_str());
        return 2;
      }
      for (const mnemo::cluster::ClusterNode& node : list->nodes) {
        specs.push_back(node.address.host + ":" + std::to_string(node.address.port) + ":" +
                        std::to_string(node.server.weight) + " " + node.server.name);
        servers.push_back(node.server);
      }
    } else if (arg == "--server") {
      if (i + 1 == argc) return Usage(stderr, 2);
      mnemo::cluster::KetamaServer server;
      const mnemo::Status status = mnemo::cluster::ParseKetamaServer(argv[++i], &server);
      if (!status.ok()) {
        std::fprintf(stderr, "mnemo-ring: %s\n", status.message().c_str());
        return 2;
      }
      specs.emplace_back(argv[i]);
      servers.push_back(std::move(server));
    } else if (arg.starts_with("--")) {
      std::fprintf(stderr, "mnemo-ring: unknown option %s\n", argv[i]);
      return Usage(stderr, 2);
    } else {
      keys.push_back(arg);
    }
  }
  if (servers.empty()) {
    std::fprintf(stderr, "mnemo-ring: no --server given\n");
    return Usage(stderr, 2);
  }
  if (replicas.has_value()) {
    mnemo::cluster::NodeList list;
    for (const mnemo::cluster::KetamaServer& server : servers) list.nodes.push_back({server, {}});
    const mnemo::Result<mnemo::cluster::ReplicaPlacement> placement =
        mnemo::cluster::ReplicaPlacement::Create(list, *replicas);
    if (!placement.ok()) {
      std::fprintf(stderr, "mnemo-ring: %s\n", placement.status().message().c_str());
      return 2;
    }
    for (std::string_view key : keys) PrintReplicas(placement.value(), key);
    if (keys.empty()) {
      std::string line;
      while (std::getline(std::cin, line)) PrintReplicas(placement.value(), line);
    }
    return 0;
  }
  const mnemo::cluster::KetamaRing ring(servers);
  if (points) {
    for (size_t i = 0; i < servers.size(); ++i) {
      std::printf("%zu %zu %s\n", i, ring.PointsOf(i), specs[i].c_str());
    }
    return 0;
  }
  if (!keys.empty()) {
    for (std::string_view key : keys) PrintOwner(ring, specs, key);
    return 0;
  }
  std::string line;
  while (std::getline(std::cin, line)) PrintOwner(ring, specs, line);
  return 0;
}
