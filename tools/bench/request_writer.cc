#include "request_writer.h"

#include <charconv>

namespace mnemo::bench {

void AppendGet(Protocol protocol, std::string_view key, std::string* out) {
  out->append(protocol == Protocol::kText ? "get " : "mg ");
  out->append(key);
  out->append(protocol == Protocol::kText ? "\r\n" : " v\r\n");
}

void AppendSet(Protocol protocol, std::string_view key, std::string_view value, std::string* out) {
  char size[24];
  const auto result = std::to_chars(size, size + sizeof(size), value.size());
  out->append(protocol == Protocol::kText ? "set " : "ms ");
  out->append(key);
  out->append(protocol == Protocol::kText ? " 0 0 " : " ");
  out->append(size, result.ptr);
  out->append("\r\n");
  out->append(value);
  out->append("\r\n");
}

}  // namespace mnemo::bench
