#include "storage/crash_recovery.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>

#include "base/clock.h"
#include "storage/cache.h"
#include "storage/durable_index.h"
#include "storage/restart_meta.h"
#include "testing/storage/cache_calls.h"
#include "testing/storage/cache_test_util.h"
#include "testing/storage/memory_file_cache_test.h"

namespace mnemo::storage {
namespace {

using Model = std::map<std::string, Seen>;

// A process that works on a cache with a memory file and dies (_exit: no destructor, no save, as
// kill -9), and the start after it.
class CrashRecoveryTest : public MemoryFileCacheTest {
 protected:
  // Runs `work` in a child process on a cache started on the file, then kills the child with
  // _exit; returns the model `work` left of what the cache holds.
  Model CrashAfter(const std::function<void(Model*)>& work) {
    int fds[2];
    EXPECT_EQ(pipe(fds), 0);
    const pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      Start();
      Model model;
      work(&model);
      std::ostringstream out;
      for (const auto& [key, seen] : model) {
        out << key << '\t' << seen.value << '\t' << seen.flags << '\t' << seen.cas << '\n';
      }
      const std::string bytes = out.str();
      for (size_t at = 0; at < bytes.size();) {
        const ssize_t n = write(fds[1], bytes.data() + at, bytes.size() - at);
        if (n <= 0) _exit(1);
        at += static_cast<size_t>(n);
      }
      _exit(::testing::Test::HasFailure() ? 1 : 0);
    }
    close(fds[1]);
    std::string bytes;
    char buffer[1 << 16];
    for (ssize_t n; (n = read(fds[0], buffer, sizeof(buffer))) > 0;) bytes.append(buffer, n);
    close(fds[0]);
    int status = 0;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the child's work failed";
    Model model;
    std::istringstream in(bytes);
    for (std::string line; std::getline(in, line);) {
      std::istringstream fields(line);
      std::string key;
      Seen seen;
      std::getline(fields, key, '\t');
      std::getline(fields, seen.value, '\t');
      fields >> seen.flags >> seen.cas;
      model[key] = seen;
    }
    return model;
  }
};

std::string Key(int i) { return "key" + std::to_string(i); }

TEST_F(CrashRecoveryTest, LiveItemsComeBackAndNothingDeletedOrOverwrittenDoes) {
  const Model model = CrashAfter([&](Model* kept) {
    for (int i = 0; i < 5000; ++i) {
      // Small values, compressible ones (stored compressed) and a few that expire far ahead.
      const std::string value =
          i % 3 == 0 ? std::string(600, static_cast<char>('a' + i % 26)) : "v" + std::to_string(i);
      (*kept)[Key(i)] = {value, static_cast<uint32_t>(i % 7),
                         Set(Key(i), value, i % 7, i % 5 == 0 ? 3600 : 0)};
    }
    for (int i = 0; i < 5000; i += 4) {
      Seen& seen = (*kept)[Key(i)];
      seen.value = "new" + std::to_string(i);
      seen.cas = Set(Key(i), seen.value, seen.flags);
    }
    for (int i = 1; i < 5000; i += 10) {
      EXPECT_EQ(cache_calls::Delete(*cache_, *ctx_, Key(i)), DeleteResult::kDeleted);
      kept->erase(Key(i));
    }
    Seen& counter = (*kept)["counter"];
    counter.cas = Set("counter", "41");
    uint64_t result = 0;
    EXPECT_EQ(cache_calls::Arithmetic(*cache_, *ctx_, "counter", true, 1, &result, &counter.cas),
              ArithResult::kOk);
    counter.value = "42";
    // A large item, chained over several segments.
    const std::string large(200 << 10, 'L');
    (*kept)["large"] = {large, 9, Set("large", large, 9)};
  });
  ASSERT_EQ(model.size(), 5000u - 500u + 2u);

  const std::string said = Start();
  EXPECT_NE(said.find("[restart] no metadata save file, recovering what a crash left"),
            std::string::npos)
      << said;
  EXPECT_NE(said.find("[restart] restored " + std::to_string(model.size()) + " of"),
            std::string::npos)
      << said;
  EXPECT_EQ(CurrItems(), static_cast<int64_t>(model.size()));
  for (const auto& [key, want] : model) {
    Seen seen;
    ASSERT_TRUE(Get(key, &seen)) << key;
    EXPECT_EQ(seen, want) << key;
  }
  for (int i = 1; i < 5000; i += 10) {
    Seen seen;
    EXPECT_FALSE(Get(Key(i), &seen)) << i;
  }
  // New versions get CAS values no recovered item has: the epochs went on.
  const uint64_t fresh = Set("fresh", "x");
  for (const auto& [key, want] : model) EXPECT_GT(fresh, want.cas) << key;
}

TEST_F(CrashRecoveryTest, AFullCacheThatEvictedComesBackRight) {
  // Eight times the memory: segments evicted, reset and reused while the table pointed into them.
  const auto value_for = [](const std::string& key) { return key + std::string(900, '.') + key; };
  CrashAfter([&](Model*) {
    Seen seen;
    for (int i = 0; i < 128000; ++i) {
      Set(Key(i), value_for(Key(i)));
      if (i % 7 == 0) Get(Key(i / 2), &seen);
      if (i % 11 == 0) (void)cache_calls::Delete(*cache_, *ctx_, Key(i - 5));
    }
  });
  Start();
  size_t hits = 0;
  Seen seen;
  for (int i = 0; i < 128000; ++i) {
    if (!Get(Key(i), &seen)) continue;
    ++hits;
    ASSERT_EQ(seen.value, value_for(Key(i))) << i;
    ASSERT_FALSE((i + 5) % 11 == 0 && i + 5 < 128000) << "deleted " << i;
  }
  EXPECT_GT(hits, 8000u);
  EXPECT_EQ(CurrItems(), static_cast<int64_t>(hits));
  // And it goes on evicting and storing.
  for (int i = 0; i < 32000; ++i) Set("new" + std::to_string(i), value_for(Key(i)));
  EXPECT_TRUE(Get("new31999", &seen));
}

TEST_F(CrashRecoveryTest, FlushAllAndExpiryAreHonoured) {
  CrashAfter([&](Model*) {
    Set("before", "v");
    cache_->FlushAll({});
    Set("after", "v");
    Set("short", "v", 0, 5);
    FlushRequest delayed;
    delayed.delay_seconds = 50;
    cache_->FlushAll(delayed);
  });
  AdvanceClockForTesting(10);
  Start();
  Seen seen;
  EXPECT_FALSE(Get("before", &seen));
  EXPECT_FALSE(Get("short", &seen));
  EXPECT_TRUE(Get("after", &seen));
  // The pending flush_all still happens.
  AdvanceClockForTesting(41);
  EXPECT_FALSE(Get("after", &seen));
}

TEST_F(CrashRecoveryTest, RecoversTwiceAndAfterAGracefulRestore) {
  CrashAfter([&](Model*) { Set("a", "1"); });
  Start();
  Seen seen;
  ASSERT_TRUE(Get("a", &seen));
  Set("b", "2");
  ctx_.reset();
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(cache_->SaveForRestart().ok());
  ::testing::internal::GetCapturedStderr();
  cache_.reset();
  // A crash after a graceful restore.
  CrashAfter([&](Model*) {
    Seen got;
    EXPECT_TRUE(Get("a", &got));
    EXPECT_TRUE(Get("b", &got));
    EXPECT_EQ(cache_calls::Delete(*cache_, *ctx_, "a"), DeleteResult::kDeleted);
    Set("c", "3");
  });
  EXPECT_NE(Start().find("recovering what a crash left"), std::string::npos);
  EXPECT_FALSE(Get("a", &seen));
  EXPECT_TRUE(Get("b", &seen));
  EXPECT_TRUE(Get("c", &seen));
}

TEST_F(CrashRecoveryTest, AnOrderlyStopWithoutASaveStartsCold) {
  Start();
  Set("k", "v");
  ctx_.reset();
  cache_.reset();  // as SIGTERM: the index says the process stopped
  EXPECT_NE(Start().find("no metadata save file, starting with a clean cache"), std::string::npos);
  Seen seen;
  EXPECT_FALSE(Get("k", &seen));
}

TEST_F(CrashRecoveryTest, IncompatibleSettingsStartCold) {
  CrashAfter([&](Model*) { Set("k", "v"); });
  CacheOptions other = options_;
  other.memory_limit = size_t{32} << 20;
  EXPECT_NE(Start(other).find("[restart] restart incompatible due to setting for [maxbytes] [old "
                              "value: 16777216], starting with a clean cache"),
            std::string::npos);
  Seen seen;
  EXPECT_FALSE(Get("k", &seen));
}

// Item memory that does not say what the index says (overwritten behind the cache's back): the
// slots into it are dropped, the others kept, and nothing crashes.
TEST_F(CrashRecoveryTest, SlotsIntoGarbageAreDropped) {
  CrashAfter([&](Model*) {
    for (int i = 0; i < 3000; ++i) Set(Key(i), std::string(100, 'v'));
  });
  {
    std::fstream f(file_, std::ios::in | std::ios::out | std::ios::binary);
    // The first three segments (the merge policy may have taken one of them for itself).
    const std::string garbage(3 * options_.segment_size, '\xff');
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  Start();
  Seen seen;
  size_t hits = 0;
  for (int i = 0; i < 3000; ++i) {
    if (!Get(Key(i), &seen)) continue;
    ++hits;
    ASSERT_EQ(seen.value, std::string(100, 'v'));
  }
  EXPECT_GT(hits, 1000u);
  EXPECT_LT(hits, 3000u);
  EXPECT_EQ(CurrItems(), static_cast<int64_t>(hits));
}

}  // namespace
}  // namespace mnemo::storage
