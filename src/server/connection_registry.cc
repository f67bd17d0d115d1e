#include "server/connection_registry.h"

#include <algorithm>

#include "net/socket_address.h"

namespace mnemo::server {
namespace {

const char* StateName(ConnectionState state) {
  switch (state) {
    case ConnectionState::kListening:
      return "conn_listening";
    case ConnectionState::kWaiting:
      return "conn_waiting";
    case ConnectionState::kRead:
      return "conn_read";
    case ConnectionState::kParseCmd:
      return "conn_parse_cmd";
    case ConnectionState::kSwallow:
      return "conn_swallow";
    case ConnectionState::kMwrite:
      return "conn_mwrite";
  }
  return "conn_closed";
}

void AppendLine(int fd, const char* name, const std::string& value, std::string* out) {
  *out += "STAT ";
  *out += std::to_string(fd);
  *out += ':';
  *out += name;
  *out += ' ';
  *out += value;
  *out += "\r\n";
}

}  // namespace

void ConnectionRegistry::Add(ConnectionEntry* entry) {
  MutexLock lock(mu_);
  entry->index_ = entries_.size();
  entries_.push_back(entry);
}

void ConnectionRegistry::Remove(ConnectionEntry* entry) {
  MutexLock lock(mu_);
  ConnectionEntry* last = entries_.back();
  entries_[entry->index_] = last;
  last->index_ = entry->index_;
  entries_.pop_back();
}

size_t ConnectionRegistry::size() const {
  MutexLock lock(mu_);
  return entries_.size();
}

void ConnectionRegistry::AppendStats(uint32_t now, std::string* out) const {
  MutexLock lock(mu_);
  std::vector<const ConnectionEntry*> sorted(entries_.begin(), entries_.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const ConnectionEntry* a, const ConnectionEntry* b) { return a->fd < b->fd; });
  for (const ConnectionEntry* entry : sorted) {
    const ConnectionState state = entry->state.load(std::memory_order_relaxed);
    const uint32_t last = entry->last_command.load(std::memory_order_relaxed);
    if (entry->udp) {
      // Idle between datagrams, as memcached's UDP connections show: the local address, with
      // udp for tcp.
      AppendLine(entry->fd, "UDP", "UDP", out);
      std::string address = net::LocalAddressOf(entry->fd);
      if (address.starts_with("tcp")) address.replace(0, 3, "udp");
      AppendLine(entry->fd, "addr", address, out);
    } else if (state == ConnectionState::kListening) {
      AppendLine(entry->fd, "addr", net::LocalAddressOf(entry->fd), out);
    } else {
      AppendLine(entry->fd, "addr", net::PeerAddressOf(entry->fd), out);
      AppendLine(entry->fd, "listen_addr", net::LocalAddressOf(entry->fd), out);
    }
    AppendLine(entry->fd, "state", StateName(state), out);
    AppendLine(entry->fd, "secs_since_last_cmd", std::to_string(now > last ? now - last : 0), out);
  }
}

}  // namespace mnemo::server
