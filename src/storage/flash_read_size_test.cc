#include "storage/flash_read_size.h"

#include <gtest/gtest.h>

namespace mnemo::storage {
namespace {

TEST(FlashReadSizeTest, StartsAtTheMostAndSettlesOnRecordsOfOneSize) {
  FlashReadSize size;
  EXPECT_EQ(size.next(), FlashReadSize::kMax);
  for (int i = 0; i < 40; ++i) size.Saw(1100);
  EXPECT_EQ(size.next(), 1152u);  // 1,100 rounded up to 64
  size.Saw(1100);
  EXPECT_EQ(size.next(), 1152u);
}

TEST(FlashReadSizeTest, RisesAtOnceAndFallsByAnEighth) {
  FlashReadSize size;
  for (int i = 0; i < 40; ++i) size.Saw(500);
  ASSERT_EQ(size.next(), 512u);
  size.Saw(2000);
  EXPECT_EQ(size.next(), 2048u);
  size.Saw(500);
  EXPECT_EQ(size.next(), 1792u);  // 2048 - 256
  size.Saw(500);
  EXPECT_EQ(size.next(), 1536u);  // 1568 rounded down
}

TEST(FlashReadSizeTest, StaysWithinItsBoundsAndReachesTheSmallest) {
  FlashReadSize size;
  for (int i = 0; i < 100; ++i) size.Saw(40);
  EXPECT_EQ(size.next(), FlashReadSize::kMin);  // never below the longest header and key
  size.Saw(50'000);
  EXPECT_EQ(size.next(), FlashReadSize::kMax);  // longer records take a second read
}

}  // namespace
}  // namespace mnemo::storage
