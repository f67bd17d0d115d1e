#include "storage/arithmetic.h"

#include <gtest/gtest.h>

#include <string>

namespace mnemo::storage {
namespace {

TEST(ArithmeticTest, ParsesAsSafeStrtoull) {
  const struct {
    std::string text;
    bool ok;
    uint64_t value;
  } cases[] = {
      {"0", true, 0},
      {"12", true, 12},
      {"  12", true, 12},
      {"\t12", true, 12},
      {"12 ", true, 12},
      {"12\r\n", true, 12},
      {"12 34", true, 12},
      {std::string("12\0x", 4), true, 12},
      {"+7", true, 7},
      {"-0", true, 0},
      {"18446744073709551615", true, UINT64_MAX},
      {"000000000000000000000000042", true, 42},
      {"-18446744073709551615", true, 1},  // strtoull negates; memcached lets it through
      {"", false, 0},
      {" ", false, 0},
      {"-", false, 0},
      {"abc", false, 0},
      {"12abc", false, 0},
      {"-5", false, 0},
      {"18446744073709551616", false, 0},
      {"0x10", false, 0},
  };
  for (const auto& c : cases) {
    uint64_t value = 99;
    EXPECT_EQ(ParseCounter(c.text, &value), c.ok) << c.text;
    if (c.ok) {
      EXPECT_EQ(value, c.value) << c.text;
    }
  }
}

TEST(ArithmeticTest, IncrWrapsAndDecrStopsAtZero) {
  EXPECT_EQ(ApplyDelta(UINT64_MAX, true, 1), 0u);
  EXPECT_EQ(ApplyDelta(5, true, 3), 8u);
  EXPECT_EQ(ApplyDelta(5, false, 3), 2u);
  EXPECT_EQ(ApplyDelta(5, false, 6), 0u);
}

TEST(ArithmeticTest, FormatsPaddedToTheOldLength) {
  char out[32];
  EXPECT_EQ(std::string(out, FormatCounter(99, 3, out)), "99 ");
  EXPECT_EQ(std::string(out, FormatCounter(1000, 3, out)), "1000");
  EXPECT_EQ(std::string(out, FormatCounter(0, 0, out)), "0");
  EXPECT_EQ(std::string(out, FormatCounter(UINT64_MAX, 0, out)), "18446744073709551615");
}

}  // namespace
}  // namespace mnemo::storage
