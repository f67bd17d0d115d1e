#include "server/space_saving.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace mnemo::server {
namespace {

std::map<std::string, SpaceSaving::Slot> ByKey(const SpaceSaving& sketch) {
  std::map<std::string, SpaceSaving::Slot> slots;
  for (const SpaceSaving::Slot& slot : sketch.slots()) slots[slot.key] = slot;
  return slots;
}

TEST(SpaceSavingTest, CountsExactlyWhileKeysFit) {
  SpaceSaving sketch(3);
  sketch.Add("a");
  sketch.Add("b", 5);
  sketch.Add("a");
  auto slots = ByKey(sketch);
  ASSERT_EQ(slots.size(), 2u);
  EXPECT_EQ(slots["a"].count, 2u);
  EXPECT_EQ(slots["a"].error, 0u);
  EXPECT_EQ(slots["b"].count, 5u);
  EXPECT_EQ(sketch.total(), 7u);
}

TEST(SpaceSavingTest, NewKeyTakesTheLeastCountedSlotAndItsCountAsError) {
  SpaceSaving sketch(2);
  sketch.Add("a", 3);
  sketch.Add("b", 1);
  sketch.Add("c");  // replaces b (1): starts at 1 + 1, of which 1 may be b's
  auto slots = ByKey(sketch);
  ASSERT_EQ(slots.size(), 2u);
  EXPECT_EQ(slots.count("b"), 0u);
  EXPECT_EQ(slots["c"].count, 2u);
  EXPECT_EQ(slots["c"].error, 1u);
  EXPECT_EQ(slots["a"].count, 3u);
  sketch.Add("b");  // b comes back into c's slot, the least counted now
  slots = ByKey(sketch);
  EXPECT_EQ(slots["b"].count, 3u);
  EXPECT_EQ(slots["b"].error, 2u);
  EXPECT_EQ(slots.count("c"), 0u);
}

// The guarantees of space_saving.h over a long stream with many more keys than slots: counts
// bound the truth from above within their error, and every key above N / C has a slot.
TEST(SpaceSavingTest, BoundsHoldOverASkewedStream) {
  constexpr size_t kSlots = 16;
  SpaceSaving sketch(kSlots);
  std::map<std::string, uint64_t> truth;
  uint64_t state = 12345;
  for (int i = 0; i < 20000; ++i) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    // Key k with probability about 1/(k+1): a few heavy keys and a long tail of 1000.
    const uint64_t draw = (state >> 33) % 1000;
    const std::string key = "k" + std::to_string(1000 / (draw + 1));
    ++truth[key];
    sketch.Add(key);
  }
  auto slots = ByKey(sketch);
  EXPECT_EQ(slots.size(), kSlots);
  for (const auto& [key, slot] : slots) {
    EXPECT_GE(slot.count, truth[key]) << key;
    EXPECT_LE(slot.count - slot.error, truth[key]) << key;
  }
  for (const auto& [key, count] : truth) {
    if (count > sketch.total() / kSlots) {
      EXPECT_EQ(slots.count(key), 1u) << key;
    }
  }
}

TEST(SpaceSavingTest, ClearForgetsAndSwapKeepsKeysFindable) {
  SpaceSaving a(4);
  SpaceSaving b(4);
  a.Add("x", 2);
  std::swap(a, b);
  b.Add("x");
  EXPECT_EQ(ByKey(b)["x"].count, 3u);
  EXPECT_TRUE(a.slots().empty());
  b.Clear();
  EXPECT_TRUE(b.slots().empty());
  EXPECT_EQ(b.total(), 0u);
  b.Add("y");
  EXPECT_EQ(ByKey(b)["y"].count, 1u);
}

}  // namespace
}  // namespace mnemo::server
