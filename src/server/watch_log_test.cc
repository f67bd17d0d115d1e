#include "server/watch_log.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>

namespace mnemo::server {
namespace {

// Whether `text` starts with the stamp the log puts before a line, "ts=<s>.<us> gid=<n> ", as
// memcached's logger writes it; `rest` gets what follows. (No std::regex: GCC 12 warns inside it
// under -fsanitize at -O2.)
bool StripStamp(std::string_view text, std::string_view* rest) {
  const auto digits = [&text] {
    size_t n = 0;
    while (n < text.size() && text[n] >= '0' && text[n] <= '9') ++n;
    text.remove_prefix(n);
    return n > 0;
  };
  const auto literal = [&text](std::string_view expected) {
    if (!text.starts_with(expected)) return false;
    text.remove_prefix(expected.size());
    return true;
  };
  if (!literal("ts=") || !digits() || !literal(".") || !digits() || !literal(" gid=") ||
      !digits() || !literal(" ")) {
    return false;
  }
  *rest = text;
  return true;
}

TEST(ParseWatchFlagsTest, ReadsWordsAsMemcachedDoes) {
  uint16_t flags = 0;
  ASSERT_TRUE(ParseWatchFlags("", &flags));
  EXPECT_EQ(flags, kWatchFetchers);  // no word: fetchers
  ASSERT_TRUE(ParseWatchFlags("mutations  deletions", &flags));
  EXPECT_EQ(flags, kWatchMutations | kWatchDeletions);
  ASSERT_TRUE(ParseWatchFlags("fetch conn e", &flags));  // prefixes, "e" is evictions
  EXPECT_EQ(flags, kWatchFetchers | kWatchConnEvents | kWatchEvictions);
  ASSERT_TRUE(ParseWatchFlags("proxy", &flags));  // the first name it begins: proxyreqs
  EXPECT_EQ(flags, kWatchProxyReqs);
  EXPECT_FALSE(ParseWatchFlags("fetchersX", &flags));
  EXPECT_FALSE(ParseWatchFlags("fetchers noreply", &flags));
}

// Reads what arrives on `fd` until `want` is in it, or a few seconds pass; with no `want`, until
// nothing has arrived for a fifth of a second.
std::string ReadUntil(int fd, const std::string& want) {
  std::string got;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!want.empty() && got.find(want) != std::string::npos) break;
    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, 200) <= 0) {
      if (want.empty()) break;
      continue;
    }
    char bytes[4096];
    const ssize_t n = read(fd, bytes, sizeof(bytes));
    if (n <= 0) break;
    got.append(bytes, static_cast<size_t>(n));
  }
  return got;
}

TEST(WatchLogTest, WatcherGetsOkThenItsLinesStamped) {
  WatchLog log(4096, 4096);
  EXPECT_FALSE(log.Watching(kWatchFetchers));
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  log.Log(kWatchFetchers, "type=before\n");  // nobody watched it: never sent
  ASSERT_EQ(log.AddWatcher(fds[0], kWatchFetchers), WatchLog::AddResult::kOk);
  EXPECT_TRUE(log.Watching(kWatchFetchers));
  EXPECT_FALSE(log.Watching(kWatchMutations));
  log.Log(kWatchMutations, "type=other\n");
  log.Log(kWatchFetchers, "type=item_get key=a\n");
  const std::string got = ReadUntil(fds[1], "key=a\n");
  std::string_view rest;
  ASSERT_TRUE(std::string_view(got).starts_with("OK\r\n")) << got;
  EXPECT_TRUE(StripStamp(std::string_view(got).substr(4), &rest)) << got;
  EXPECT_EQ(rest, "type=item_get key=a\n");
  const WatchLogCounters counters = log.Counters();
  EXPECT_EQ(counters.watchers, 1u);
  EXPECT_EQ(counters.worker_written, 3u);
  EXPECT_EQ(counters.watcher_sent, 1u);
  close(fds[1]);  // the watcher leaves: the log closes its end and watches nothing more
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (log.Watching(kWatchFetchers) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_FALSE(log.Watching(kWatchFetchers));
  EXPECT_EQ(log.Counters().watchers, 0u);
}

TEST(WatchLogTest, SlowWatcherSkipsLinesAndIsToldHowMany) {
  WatchLog log(1 << 20, 1024);
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  const int small = 1;  // the kernel's least: the socket fills with a few lines
  ASSERT_EQ(setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
  ASSERT_EQ(log.AddWatcher(fds[0], kWatchMutations), WatchLog::AddResult::kOk);
  const std::string line = "type=item_store " + std::string(200, 'v') + "\n";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (log.Counters().watcher_skipped == 0 && std::chrono::steady_clock::now() < deadline) {
    log.Log(kWatchMutations, line);
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  const uint64_t skipped = log.Counters().watcher_skipped;
  ASSERT_GT(skipped, 0u);
  // Drain what was sent, then a line that fits again. Every run of lost lines is told of
  // ("skipped=N") before the next line, in the drain (lines the log still held: a slow build)
  // or after it; together they count at least what was lost when the drain began.
  const std::string drained = ReadUntil(fds[1], "");
  log.Log(kWatchMutations, "type=item_store key=last\n");
  const std::string all = drained + ReadUntil(fds[1], "key=last\n");
  uint64_t told = 0;
  for (size_t notice = all.find("skipped="); notice != std::string::npos;
       notice = all.find("skipped=", notice + 1)) {
    const size_t end = all.find('\n', notice);
    ASSERT_NE(end, std::string::npos) << all;
    const std::string count = all.substr(notice + 8, end - notice - 8);
    ASSERT_FALSE(count.empty()) << all;
    ASSERT_EQ(count.find_first_not_of("0123456789"), std::string::npos) << all;
    std::string_view following;
    ASSERT_TRUE(StripStamp(std::string_view(all).substr(end + 1), &following)) << all;
    told += std::stoull(count);
  }
  EXPECT_GE(told, skipped);
  const size_t last_line = all.rfind('\n', all.size() - 2);
  std::string_view rest;
  ASSERT_TRUE(StripStamp(std::string_view(all).substr(last_line + 1), &rest)) << all;
  EXPECT_EQ(rest, "type=item_store key=last\n");
  close(fds[1]);
}

TEST(WatchLogTest, RefusesMoreThanTheLimit) {
  WatchLog log(4096, 4096);
  int pairs[WatchLog::kMaxWatchers + 1][2];
  for (auto& pair : pairs) ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  for (size_t i = 0; i < WatchLog::kMaxWatchers; ++i) {
    ASSERT_EQ(log.AddWatcher(pairs[i][0], kWatchFetchers), WatchLog::AddResult::kOk);
  }
  EXPECT_EQ(log.AddWatcher(pairs[WatchLog::kMaxWatchers][0], kWatchFetchers),
            WatchLog::AddResult::kTooMany);
  close(pairs[WatchLog::kMaxWatchers][0]);  // refused: still the caller's
  for (auto& pair : pairs) close(pair[1]);
}

}  // namespace
}  // namespace mnemo::server
