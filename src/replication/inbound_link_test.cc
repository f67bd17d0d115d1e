#include "replication/inbound_link.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace mnemo::replication {
namespace {

TEST(InboundLinkTest, AppliesUntilSupersededThenNothing) {
  InboundLink link;
  ASSERT_TRUE(link.BeginApply());
  link.EndApply();
  EXPECT_FALSE(link.superseded());
  link.Supersede();
  EXPECT_TRUE(link.superseded());
  EXPECT_FALSE(link.BeginApply());
  EXPECT_FALSE(link.BeginApply()) << "a refused apply must leave nothing to end";
}

TEST(InboundLinkTest, SupersedeWaitsOutTheApplyInProgress) {
  InboundLink link;
  ASSERT_TRUE(link.BeginApply());
  std::atomic<bool> superseded{false};
  std::thread newer([&] {
    link.Supersede();
    superseded.store(true);
  });
  // The apply in progress must finish before Supersede returns: the newer link's flush comes
  // after it.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(superseded.load());
  link.EndApply();
  newer.join();
  EXPECT_TRUE(superseded.load());
  EXPECT_FALSE(link.BeginApply());
}

// Two threads race: whatever an applier's BeginApply returned true for has ended before
// Supersede returns, and nothing begins after.
TEST(InboundLinkTest, NoApplyOverlapsOrFollowsSupersede) {
  for (int round = 0; round < 200; ++round) {
    InboundLink link;
    std::atomic<bool> done{false};
    std::atomic<int> in_apply{0};
    std::atomic<bool> began_after{false};
    std::thread applier([&] {
      while (!done.load()) {
        if (!link.BeginApply()) continue;
        in_apply.fetch_add(1);
        if (done.load()) began_after.store(true);
        in_apply.fetch_sub(1);
        link.EndApply();
      }
    });
    std::this_thread::yield();
    link.Supersede();
    EXPECT_EQ(in_apply.load(), 0);
    done.store(true);
    applier.join();
    EXPECT_FALSE(began_after.load()) << "an apply began after Supersede returned";
  }
}

}  // namespace
}  // namespace mnemo::replication
