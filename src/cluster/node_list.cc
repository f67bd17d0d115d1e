#include "cluster/node_list.h"

#include <fstream>
#include <set>
#include <sstream>
#include <utility>

namespace mnemo::cluster {
namespace {

constexpr std::string_view kBlanks = " \t\r";

std::string_view Trim(std::string_view text) {
  const size_t first = text.find_first_not_of(kBlanks);
  if (first == std::string_view::npos) return {};
  const size_t last = text.find_last_not_of(kBlanks);
  return text.substr(first, last - first + 1);
}

// The line without a '#' comment. YAML starts a comment only at a '#' after a blank, which is
// also how nutcracker's lists are written; a server entry never contains one.
std::string_view WithoutComment(std::string_view line) {
  const size_t hash = line.find('#');
  if (hash == 0 ||
      (hash != std::string_view::npos && kBlanks.find(line[hash - 1]) != std::string_view::npos)) {
    return line.substr(0, hash);
  }
  return line;
}

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    lines.push_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end + 1);
  }
  return lines;
}

// An entry of either form, "host:port:weight [name]", with YAML quotes taken off.
Status ParseEntry(std::string_view text, size_t line_number, ClusterNode* out) {
  if (text.size() >= 2 && (text.front() == '"' || text.front() == '\'') &&
      text.back() == text.front()) {
    text = text.substr(1, text.size() - 2);
  }
  auto where = [line_number](const Status& status) {
    return Status::Error("line " + std::to_string(line_number) + ": " + status.message());
  };
  ClusterNode node;
  if (Status status = ParseKetamaServer(text, &node.server); !status.ok()) return where(status);
  const std::string_view address_text = text.substr(0, text.rfind(' '));
  if (Status status = ParseServerAddress(address_text, &node.address); !status.ok()) {
    return where(status);
  }
  *out = std::move(node);
  return Status::Ok();
}

// The "- " items that follow the first `servers:` key, up to the first line that is not one.
Status ParseNutcracker(const std::vector<std::string_view>& lines, size_t servers_line,
                       NodeList* out) {
  for (size_t i = servers_line + 1; i < lines.size(); ++i) {
    const std::string_view line = Trim(WithoutComment(lines[i]));
    if (line.empty()) continue;
    if (line.front() != '-') break;
    ClusterNode node;
    if (Status status = ParseEntry(Trim(line.substr(1)), i + 1, &node); !status.ok()) {
      return status;
    }
    out->nodes.push_back(std::move(node));
  }
  return Status::Ok();
}

}  // namespace

std::vector<KetamaServer> NodeList::RingServers() const {
  std::vector<KetamaServer> servers;
  servers.reserve(nodes.size());
  for (const ClusterNode& node : nodes) servers.push_back(node.server);
  return servers;
}

Result<NodeList> ParseNodeList(std::string_view text) {
  const std::vector<std::string_view> lines = Lines(text);
  NodeList list;
  size_t servers_line = lines.size();
  for (size_t i = 0; i < lines.size(); ++i) {
    if (Trim(WithoutComment(lines[i])) == "servers:") {
      servers_line = i;
      break;
    }
  }
  if (servers_line < lines.size()) {
    if (Status status = ParseNutcracker(lines, servers_line, &list); !status.ok()) return status;
  } else {
    for (size_t i = 0; i < lines.size(); ++i) {
      const std::string_view line = Trim(WithoutComment(lines[i]));
      if (line.empty()) continue;
      ClusterNode node;
      if (Status status = ParseEntry(line, i + 1, &node); !status.ok()) return status;
      list.nodes.push_back(std::move(node));
    }
  }
  if (list.nodes.empty()) return Status::Error("no servers listed");
  std::set<std::string_view> names;
  for (const ClusterNode& node : list.nodes) {
    if (!names.insert(node.server.name).second) {
      return Status::Error("server name '" + node.server.name + "' is listed twice");
    }
  }
  return list;
}

Result<NodeList> ReadNodeList(const std::string& path) {
  std::ifstream file(path);
  if (!file) return Status::Error("cannot read node list " + path);
  std::ostringstream text;
  text << file.rdbuf();
  Result<NodeList> list = ParseNodeList(text.str());
  if (!list.ok()) return Status::Error("node list " + path + ": " + list.status().message());
  return list;
}

Result<size_t> FindSelf(const NodeList& list, std::string_view self_name, uint16_t port) {
  std::vector<size_t> matches;
  for (size_t i = 0; i < list.nodes.size(); ++i) {
    const ClusterNode& node = list.nodes[i];
    const bool match =
        self_name.empty()
            ? node.address.port == port
            : node.server.name == self_name ||
                  node.address.host + ":" + std::to_string(node.address.port) == self_name;
    if (match) matches.push_back(i);
  }
  const std::string wanted =
      self_name.empty() ? "port " + std::to_string(port) : "'" + std::string(self_name) + "'";
  if (matches.empty()) return Status::Error("no server in the node list is " + wanted);
  if (matches.size() > 1) {
    return Status::Error("several servers in the node list are " + wanted +
                         ": name this node with -o cluster_self");
  }
  return matches.front();
}

}  // namespace mnemo::cluster
