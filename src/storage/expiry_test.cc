#include "storage/expiry.h"

#include <gtest/gtest.h>

namespace mnemo::storage {
namespace {

constexpr uint32_t kNow = 1000;
constexpr int64_t kWall = 1700000000;

TEST(ExpiryTest, MemcachedRules) {
  EXPECT_EQ(ExpiryFromExptime(0, kNow, kWall), kNeverExpires);
  EXPECT_EQ(ExpiryFromExptime(-1, kNow, kWall), kExpiredAtOnce);
  EXPECT_EQ(ExpiryFromExptime(INT64_MIN, kNow, kWall), kExpiredAtOnce);
  EXPECT_EQ(ExpiryFromExptime(1, kNow, kWall), kNow + 1);
  EXPECT_EQ(ExpiryFromExptime(kMaxRelativeExptime, kNow, kWall), kNow + kMaxRelativeExptime);
  // Above 30 days: absolute Unix time, converted through the wall clock.
  EXPECT_EQ(ExpiryFromExptime(kWall + 50, kNow, kWall), kNow + 50);
  EXPECT_EQ(ExpiryFromExptime(kWall, kNow, kWall), kExpiredAtOnce);
  EXPECT_EQ(ExpiryFromExptime(kMaxRelativeExptime + 1, kNow, kWall), kExpiredAtOnce);
  EXPECT_EQ(ExpiryFromExptime(INT64_MAX, kNow, kWall), UINT32_MAX);
}

TEST(ExpiryTest, ExpiredOnItsSecond) {
  EXPECT_FALSE(IsExpired(kNeverExpires, kNow));
  EXPECT_TRUE(IsExpired(kExpiredAtOnce, 2));
  EXPECT_FALSE(IsExpired(kNow + 1, kNow));
  EXPECT_TRUE(IsExpired(kNow, kNow));
}

}  // namespace
}  // namespace mnemo::storage
