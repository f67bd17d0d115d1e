#include "replication/move_guard.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace mnemo::replication {
namespace {

TEST(MoveGuardTest, AChangedKeyTakesNoCopy) {
  MoveGuard guard;
  EXPECT_TRUE(guard.Allows("a"));
  guard.Note("a");
  EXPECT_FALSE(guard.Allows("a"));
  EXPECT_TRUE(guard.Allows("b"));
}

TEST(MoveGuardTest, AFlushRefusesEveryCopy) {
  MoveGuard guard;
  guard.NoteFlush();
  EXPECT_FALSE(guard.Allows("a"));
  EXPECT_FALSE(guard.Allows("never noted"));
}

TEST(MoveGuardTest, NotesFromManyThreadsAreAllKept) {
  MoveGuard guard;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&guard, t] {
      for (int i = 0; i < 2000; ++i) guard.Note(std::to_string(t) + ":" + std::to_string(i));
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < 4; ++t) {
    for (int i = 0; i < 2000; ++i) {
      ASSERT_FALSE(guard.Allows(std::to_string(t) + ":" + std::to_string(i)));
    }
  }
  EXPECT_TRUE(guard.Allows("4:0"));
}

TEST(MoveGuardTest, PastItsBoundItForgetsEveryKeyAndRefusesEveryCopy) {
  MoveGuard guard;
  size_t noted = 0;
  // Distinct keys until one stripe holds more than its share of the bound.
  while (guard.Allows("never noted")) {
    guard.Note("key:" + std::to_string(noted++));
    ASSERT_LE(noted, MoveGuard::kMaxNoted + 1);
  }
  EXPECT_GT(noted, MoveGuard::kMaxNoted / 64);
  EXPECT_FALSE(guard.Allows("key:0"));
  EXPECT_FALSE(guard.Allows("another never noted"));
}

TEST(MoveGuardTest, AClosedGuardRefusesEveryCopy) {
  MoveGuard guard;
  guard.Note("a");
  guard.Close();
  EXPECT_FALSE(guard.Allows("a"));
  EXPECT_FALSE(guard.Allows("b"));
  guard.Note("c");  // a change after the close changes nothing
  EXPECT_FALSE(guard.Allows("d"));
}

}  // namespace
}  // namespace mnemo::replication
