// MemoryFileCacheTest: a test fixture for a cache whose item memory is a file (-e), started,
// used, stopped and started again on the same file, as the warm restart and crash recovery tests
// do. Each test gets a file of its own under the test temp dir, removed with its .meta and .index
// after the test.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "storage/cache.h"
#include "storage/durable_index.h"
#include "storage/restart_meta.h"
#include "testing/storage/cache_calls.h"
#include "testing/storage/cache_test_util.h"

namespace mnemo::storage {

// What a read of a key returned.
struct Seen {
  std::string value;
  uint32_t flags = 0;
  uint64_t cas = 0;
  friend bool operator==(const Seen&, const Seen&) = default;
};

class MemoryFileCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
    file_ = ::testing::TempDir() + test->test_suite_name() + "." + std::to_string(getpid()) + "." +
            test->name();
    options_.memory_limit = size_t{16} << 20;
    options_.segment_size = size_t{64} << 10;
    options_.item_size_max = size_t{1} << 20;
    options_.background_thread = false;
    options_.memory_file = file_;
  }
  void TearDown() override {
    ctx_.reset();
    cache_.reset();
    unlink(file_.c_str());
    unlink(MetaPathFor(file_).c_str());
    unlink(IndexPathFor(file_).c_str());
  }

  // Starts the cache on the file; returns what it said on stderr.
  std::string Start(const CacheOptions& options) {
    ctx_.reset();
    cache_.reset();
    ::testing::internal::CaptureStderr();
    cache_ = CreateCacheOrDie(options);
    ctx_ = cache_->NewContext();
    return ::testing::internal::GetCapturedStderr();
  }
  std::string Start() { return Start(options_); }

  uint64_t Set(std::string_view key, std::string_view value, uint32_t flags = 0,
               Exptime exptime = 0) {
    uint64_t cas = 0;
    EXPECT_EQ(
        cache_calls::Store(*cache_, *ctx_, StoreMode::kSet, key, flags, exptime, value, 0, &cas),
        StoreResult::kStored);
    return cas;
  }
  bool Get(std::string_view key, Seen* seen) {
    CapturedItem item;
    if (cache_calls::Get(*cache_, *ctx_, key, item) != LookupResult::kHit) return false;
    *seen = {item.value, item.flags, item.cas};
    return true;
  }
  int64_t CurrItems() const { return static_cast<int64_t>(cache_->Stats().curr_items); }

  std::string file_;
  CacheOptions options_;
  std::unique_ptr<Cache> cache_;
  std::unique_ptr<Cache::Context> ctx_;
};

}  // namespace mnemo::storage
