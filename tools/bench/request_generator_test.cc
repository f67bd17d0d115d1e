#include "request_generator.h"

#include <gtest/gtest.h>

#include <vector>

namespace mnemo::bench {
namespace {

TEST(RequestGeneratorTest, PreloadWritesEveryKeyExactlyOnce) {
  LoadOptions options;
  options.key_space = 10007;
  options.value_min = 10;
  options.value_max = 20;
  constexpr uint64_t kClients = 13;
  std::vector<int> written(options.key_space, 0);
  for (uint64_t c = 0; c < kClients; ++c) {
    RequestGenerator g = RequestGenerator::Preload(options, c, kClients);
    Request r;
    while (g.Next(&r)) {
      ASSERT_EQ(r.op, Op::kSet);
      ASSERT_LT(r.key_id, options.key_space);
      EXPECT_GE(r.value_size, 10u);
      EXPECT_LE(r.value_size, 20u);
      ++written[r.key_id];
    }
  }
  for (int w : written) EXPECT_EQ(w, 1);
}

TEST(RequestGeneratorTest, MoreClientsThanKeysStillWriteEachKeyOnce) {
  LoadOptions options;
  options.key_space = 3;
  std::vector<int> written(3, 0);
  for (uint64_t c = 0; c < 8; ++c) {
    RequestGenerator g = RequestGenerator::Preload(options, c, 8);
    Request r;
    while (g.Next(&r)) ++written[r.key_id];
  }
  EXPECT_EQ(written, (std::vector<int>{1, 1, 1}));
}

TEST(RequestGeneratorTest, LoadKeepsTheSetGetRatioExactly) {
  LoadOptions options;
  options.set_ratio = 1;
  options.get_ratio = 10;
  for (uint64_t client : {0, 5, 12}) {
    RequestGenerator g = RequestGenerator::Load(options, client, 20);
    int sets = 0;
    for (int i = 0; i < 11 * 1000; ++i) {
      Request r;
      ASSERT_TRUE(g.Next(&r));
      if (r.op == Op::kSet) {
        ++sets;
        EXPECT_EQ(r.value_size, 32u);
      } else {
        EXPECT_EQ(r.value_size, 0u);
      }
      EXPECT_LT(r.key_id, options.key_space);
    }
    EXPECT_EQ(sets, 1000);
  }
}

TEST(RequestGeneratorTest, OnlyGetsOrOnlySets) {
  LoadOptions options;
  options.set_ratio = 0;
  options.get_ratio = 1;
  RequestGenerator gets = RequestGenerator::Load(options, 0, 1);
  options.set_ratio = 1;
  options.get_ratio = 0;
  RequestGenerator sets = RequestGenerator::Load(options, 0, 1);
  for (int i = 0; i < 100; ++i) {
    Request r;
    ASSERT_TRUE(gets.Next(&r));
    EXPECT_EQ(r.op, Op::kGet);
    ASSERT_TRUE(sets.Next(&r));
    EXPECT_EQ(r.op, Op::kSet);
  }
}

TEST(RequestGeneratorTest, SequentialClientsStartSpreadOverTheKeySpace) {
  LoadOptions options;
  options.key_pattern = KeyPattern::kSequential;
  options.key_space = 1000;
  options.set_ratio = 0;
  Request r;
  RequestGenerator first = RequestGenerator::Load(options, 0, 4);
  RequestGenerator third = RequestGenerator::Load(options, 2, 4);
  ASSERT_TRUE(first.Next(&r));
  EXPECT_EQ(r.key_id, 0u);
  ASSERT_TRUE(third.Next(&r));
  EXPECT_EQ(r.key_id, 500u);
  ASSERT_TRUE(third.Next(&r));
  EXPECT_EQ(r.key_id, 501u);
}

TEST(RequestGeneratorTest, TheSeedReproducesAStreamAndClientsDiffer) {
  LoadOptions options;
  options.value_min = 1;
  options.value_max = 1000;
  options.set_ratio = 1;
  options.get_ratio = 1;
  RequestGenerator a = RequestGenerator::Load(options, 3, 10);
  RequestGenerator b = RequestGenerator::Load(options, 3, 10);
  RequestGenerator other = RequestGenerator::Load(options, 4, 10);
  int same_as_other = 0;
  for (int i = 0; i < 1000; ++i) {
    Request ra, rb, ro;
    ASSERT_TRUE(a.Next(&ra) && b.Next(&rb) && other.Next(&ro));
    EXPECT_EQ(ra.key_id, rb.key_id);
    EXPECT_EQ(ra.value_size, rb.value_size);
    if (ra.key_id == ro.key_id) ++same_as_other;
  }
  EXPECT_LT(same_as_other, 10);
}

}  // namespace
}  // namespace mnemo::bench
