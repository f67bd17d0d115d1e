// memcached's uriencode, shared by the lines that name keys in text (lru_crawler metadump, watch):
// every byte but letters, digits and -._~ is written as %XX.
//
// Thread safety: a pure function.
#pragma once

#include <string>
#include <string_view>

namespace mnemo::server {

inline void AppendUriEncoded(std::string* out, std::string_view key) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (const char c : key) {
    const auto byte = static_cast<unsigned char>(c);
    const bool plain = (byte >= '0' && byte <= '9') || (byte >= 'A' && byte <= 'Z') ||
                       (byte >= 'a' && byte <= 'z') || byte == '-' || byte == '.' || byte == '_' ||
                       byte == '~';
    if (plain) {
      out->push_back(c);
    } else {
      out->push_back('%');
      out->push_back(kHex[byte >> 4]);
      out->push_back(kHex[byte & 0xf]);
    }
  }
}

}  // namespace mnemo::server
