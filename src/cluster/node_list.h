// NodeList is the cluster as every node and every client sees it: the servers of the ketama ring,
// in order, with where to reach each. All nodes read the same list (the file nutcracker is
// configured with, or a plain list), so that they agree with the proxy and the clients on which
// node owns a key, and each node knows which entry is itself.
//
// Two forms are read:
//  - a nutcracker configuration: the `servers:` list of its first pool, one "host:port:weight
//    [name]" per "- " item;
//  - plain lines "host[:port[:weight]] [name]", as libmemcached and nutcracker list servers, with
//    '#' starting a comment and blank lines ignored.
//
// Thread safety: plain values and pure functions (ReadNodeList reads a file).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "cluster/ketama.h"
#include "cluster/server_address.h"

namespace mnemo::cluster {

struct ClusterNode {
  KetamaServer server;    // its name and weight on the ring
  ServerAddress address;  // where to connect to it

  friend bool operator==(const ClusterNode&, const ClusterNode&) = default;
};

struct NodeList {
  std::vector<ClusterNode> nodes;  // in the configured order, which breaks ties on the ring

  std::vector<KetamaServer> RingServers() const;

  friend bool operator==(const NodeList&, const NodeList&) = default;
};

// Parses either form; an error names the line. A list has at least one node, and no two nodes
// share a ketama name (they would share their points).
Result<NodeList> ParseNodeList(std::string_view text);
Result<NodeList> ReadNodeList(const std::string& path);

// Which entry is this node: the one whose ketama name or "host:port" is `self_name` if that is not
// empty, else the one entry whose port is `port`. An error if none or several match.
Result<size_t> FindSelf(const NodeList& list, std::string_view self_name, uint16_t port);

}  // namespace mnemo::cluster
