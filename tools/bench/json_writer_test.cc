#include "json_writer.h"

#include <gtest/gtest.h>

#include <cmath>

namespace mnemo::bench {
namespace {

TEST(JsonWriterTest, WritesNestedDocuments) {
  JsonWriter json;
  json.BeginObject()
      .Key("name")
      .String("memcached")
      .Key("rounds")
      .BeginArray()
      .Uint(1)
      .Number(2.5)
      .EndArray()
      .Key("empty")
      .BeginObject()
      .EndObject()
      .Key("ok")
      .Bool(true)
      .EndObject();
  EXPECT_EQ(json.str(),
            "{\n"
            "  \"name\": \"memcached\",\n"
            "  \"rounds\": [\n"
            "    1,\n"
            "    2.5\n"
            "  ],\n"
            "  \"empty\": {},\n"
            "  \"ok\": true\n"
            "}");
}

TEST(JsonWriterTest, EscapesStringsAndNullsNonFiniteNumbers) {
  JsonWriter json;
  json.BeginArray()
      .String("a\"b\\c\nd\x01")
      .Number(std::nan(""))
      .Number(1e300 * 1e300)
      .Uint(18446744073709551615u)
      .EndArray();
  EXPECT_EQ(json.str(),
            "[\n  \"a\\\"b\\\\c\\nd\\u0001\",\n  null,\n  null,\n  18446744073709551615\n]");
}

}  // namespace
}  // namespace mnemo::bench
