// JsonWriter builds a JSON document for mnemo-bench's --json output: objects, arrays, strings,
// numbers and booleans, indented two spaces per level so that the output also reads well.
//
// Invariants:
//  (1) Commas and colons are placed by the writer: callers only open, fill and close.
//  (2) Strings are escaped (quotes, backslashes, control characters); numbers that JSON cannot
//      express (NaN, infinities) are written as null.
// Thread safety: none.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace mnemo::bench {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  // Names the next value. REQUIRES: inside an object.
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Number(double value);
  JsonWriter& Uint(uint64_t value);
  JsonWriter& Bool(bool value);

  // The document so far; complete once every Begin has its End.
  const std::string& str() const { return out_; }

 private:
  // Writes what must precede a value or key: a comma after an earlier element, a newline and
  // the indentation (nothing after a key).
  void BeforeValue();
  void Open(char bracket);
  void Close(char bracket);

  std::string out_;
  std::vector<bool> has_elements_;  // one per open container
  bool after_key_ = false;
};

}  // namespace mnemo::bench
