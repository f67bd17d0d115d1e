// Reads one statistic out of the text of a `stats` reply, for tests that drive a dispatcher.
#pragma once

#include <string>
#include <string_view>

namespace mnemo::server {

// The value of "STAT <name> <value>\r\n" in `stats_text`, or "<absent>".
inline std::string StatLine(std::string_view stats_text, std::string_view name) {
  const std::string prefix = "STAT " + std::string(name) + " ";
  const size_t at = stats_text.find(prefix);
  if (at == std::string_view::npos) return "<absent>";
  const size_t end = stats_text.find("\r\n", at);
  return std::string(stats_text.substr(at + prefix.size(), end - at - prefix.size()));
}

}  // namespace mnemo::server
