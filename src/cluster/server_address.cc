#include "cluster/server_address.h"

#include <charconv>
#include <string>

namespace mnemo::cluster {
namespace {

// Parses all of `text` as a decimal in [min, max].
bool ParseNumber(std::string_view text, uint64_t min, uint64_t max, uint64_t* out) {
  uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size()) return false;
  if (value < min || value > max) return false;
  *out = value;
  return true;
}

}  // namespace

Status ParseServerAddress(std::string_view text, ServerAddress* out) {
  ServerAddress address;
  std::string_view rest;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return Status::Error("server '" + std::string(text) + "': missing ']' after IPv6 address");
    }
    address.host = std::string(text.substr(1, close - 1));
    rest = text.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') {
      return Status::Error("server '" + std::string(text) + "': expected ':' after ']'");
    }
  } else {
    const size_t colon = text.find(':');
    address.host = std::string(text.substr(0, colon));
    if (colon != std::string_view::npos) rest = text.substr(colon);
  }
  if (address.host.empty()) {
    return Status::Error("server '" + std::string(text) + "': empty host");
  }
  if (!rest.empty()) {
    rest.remove_prefix(1);  // the ':'
    const size_t colon = rest.find(':');
    uint64_t port = 0;
    if (!ParseNumber(rest.substr(0, colon), 1, 65535, &port)) {
      return Status::Error("server '" + std::string(text) + "': port must be 1-65535");
    }
    address.port = static_cast<uint16_t>(port);
    if (colon != std::string_view::npos) {
      uint64_t weight = 0;
      if (!ParseNumber(rest.substr(colon + 1), 1, UINT32_MAX, &weight)) {
        return Status::Error("server '" + std::string(text) +
                             "': weight must be a positive integer");
      }
      address.weight = static_cast<uint32_t>(weight);
    }
  }
  *out = std::move(address);
  return Status::Ok();
}

}  // namespace mnemo::cluster
