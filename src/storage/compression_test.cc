// Server-side compression, through the cache: which values are stored compressed, that every
// command sees the original bytes, and that a corrupt block is reported rather than returned.
// Most tests run the same commands on a cache with compression and one without and compare.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "storage/item.h"
#include "storage/segment_cache.h"
#include "testing/storage/cache_calls.h"
#include "testing/storage/cache_test_util.h"

namespace mnemo::storage {
namespace {

CacheOptions Options(Compression compression) {
  CacheOptions options;
  options.memory_limit = size_t{16} << 20;
  options.segment_size = size_t{64} << 10;
  options.item_size_max = size_t{1} << 20;
  options.background_thread = false;
  options.compression = compression;
  return options;
}

// About 4 KiB of JSON, as a web application caches it: compresses to about a third.
std::string Json(int seed) {
  std::string json = "[";
  for (int i = 0; i < 40; ++i) {
    json += "{\"id\":" + std::to_string(seed * 1000 + i) + ",\"name\":\"user" + std::to_string(i) +
            "\",\"email\":\"user" + std::to_string(i) +
            "@example.com\",\"active\":true,\"roles\":[\"reader\",\"writer\"]},";
  }
  json.back() = ']';
  return json;
}

std::string Random(size_t size, uint32_t seed) {
  std::mt19937 random(seed);
  std::string bytes(size, '\0');
  for (char& c : bytes) c = static_cast<char>(random());
  return bytes;
}

// Text of words from a small vocabulary: snappy finds the repeats but not the entropy, so it
// shrinks to about half, and a long one still needs a chain of segments.
std::string Words(size_t size, uint32_t seed) {
  std::mt19937 random(seed);
  std::string vocabulary[512];
  for (std::string& word : vocabulary) {
    for (int i = 0; i < 7; ++i) word += static_cast<char>('a' + random() % 26);
  }
  std::string text;
  while (text.size() < size) text += vocabulary[random() % 512] + ' ';
  text.resize(size);
  return text;
}

class CompressionTest : public ::testing::Test {
 protected:
  void SetUp() override { Make(Options(Compression::kSnappy)); }
  void Make(const CacheOptions& options) {
    ctx_.reset();
    cache_ = std::make_unique<SegmentCache>(options);
    ASSERT_TRUE(cache_->Init().ok());
    ctx_ = cache_->NewContext();
  }
  StoreResult Store(StoreMode mode, std::string_view key, std::string_view value, uint64_t cas = 0,
                    uint32_t flags = 0) {
    return cache_calls::Store(*cache_, *ctx_, mode, key, flags, 0, value, cas, nullptr);
  }
  std::string Value(std::string_view key) { return ValueOf(*cache_, *ctx_, key); }
  CapturedItem Item(std::string_view key) {
    CapturedItem item;
    EXPECT_EQ(cache_calls::Get(*cache_, *ctx_, key, item), LookupResult::kHit) << key;
    return item;
  }

  std::unique_ptr<SegmentCache> cache_;
  std::unique_ptr<Cache::Context> ctx_;
};

TEST_F(CompressionTest, CompressibleValueIsStoredSmallerAndReadBackWhole) {
  const std::string json = Json(1);
  ASSERT_EQ(Store(StoreMode::kSet, "k", json, 0, 7), StoreResult::kStored);
  const CapturedItem item = Item("k");
  EXPECT_TRUE(item.readable);
  EXPECT_EQ(item.value, json);
  EXPECT_EQ(item.flags, 7u);
  const CacheStats stats = cache_->Stats();
  EXPECT_EQ(stats.compress_items, 1u);
  EXPECT_EQ(stats.compress_bytes_in, json.size());
  EXPECT_LT(stats.compress_bytes_out, json.size() / 2);
  EXPECT_LT(stats.bytes, json.size() / 2);
  EXPECT_EQ(stats.decompress_items, 1u);
  EXPECT_EQ(stats.decompress_errors, 0u);
}

TEST_F(CompressionTest, IncompressibleShortAndDisabledValuesAreStoredAsTheyCame) {
  const std::string random = Random(4096, 1);
  ASSERT_EQ(Store(StoreMode::kSet, "random", random), StoreResult::kStored);
  EXPECT_EQ(Value("random"), random);
  const std::string short_text(255, 'a');  // below compress_min: not even tried
  ASSERT_EQ(Store(StoreMode::kSet, "short", short_text), StoreResult::kStored);
  EXPECT_EQ(Value("short"), short_text);
  CacheStats stats = cache_->Stats();
  EXPECT_EQ(stats.compress_items, 0u);
  EXPECT_EQ(stats.compress_rejected, 1u);
  EXPECT_GT(stats.bytes, random.size() + short_text.size());

  Make(Options(Compression::kOff));
  ASSERT_EQ(Store(StoreMode::kSet, "k", Json(1)), StoreResult::kStored);
  EXPECT_EQ(Value("k"), Json(1));
  stats = cache_->Stats();
  EXPECT_EQ(stats.compress_items + stats.compress_rejected, 0u);
  EXPECT_GT(stats.bytes, Json(1).size());
}

TEST_F(CompressionTest, ALongValueWhoseStartDoesNotCompressIsStoredAsItCame) {
  // Incompressible first 4 KiB, then 60 KiB of one byte: the sample decides, and the value is
  // stored as it came (it reads back whole either way).
  std::string value = Random(4 << 10, 7);
  value += std::string(60 << 10, 'z');
  ASSERT_EQ(Set(*cache_, *ctx_, "mixed", value), StoreResult::kStored);
  EXPECT_EQ(ValueOf(*cache_, *ctx_, "mixed"), value);
  CacheStats stats = cache_->Stats();
  EXPECT_EQ(stats.compress_items, 0u);
  EXPECT_EQ(stats.compress_rejected, 1u);
  // The other way round, it compresses.
  std::string other(60 << 10, 'z');
  other += Random(4 << 10, 8);
  ASSERT_EQ(Set(*cache_, *ctx_, "other", other), StoreResult::kStored);
  EXPECT_EQ(ValueOf(*cache_, *ctx_, "other"), other);
  stats = cache_->Stats();
  EXPECT_EQ(stats.compress_items, 1u);
}

TEST_F(CompressionTest, ItemSizeLimitAppliesToTheOriginalLength) {
  CacheOptions options = Options(Compression::kSnappy);
  options.item_size_max = 8192;
  Make(options);
  const std::string zeros(8192, '0');
  ASSERT_EQ(Store(StoreMode::kSet, "k", zeros), StoreResult::kStored);
  EXPECT_EQ(Store(StoreMode::kSet, "big", zeros + "0"), StoreResult::kTooLarge);
  EXPECT_EQ(Store(StoreMode::kAppend, "k", "0"), StoreResult::kNotStored);
  EXPECT_EQ(Store(StoreMode::kPrepend, "k", "0"), StoreResult::kNotStored);
  EXPECT_EQ(Value("k"), zeros);
  EXPECT_EQ(Item("k").value.size(), 8192u);
}

// Runs the same commands on a cache that compresses and one that does not: the replies and the
// values must be the same.
TEST_F(CompressionTest, EveryCommandGivesWhatItGivesOnAnUncompressedValue) {
  SegmentCache plain(Options(Compression::kOff));
  ASSERT_TRUE(plain.Init().ok());
  auto plain_ctx = plain.NewContext();
  const auto both = [&](auto&& op) {
    auto compressed = op(*cache_, *ctx_);
    const auto raw = op(plain, *plain_ctx);
    EXPECT_EQ(compressed, raw);
    return compressed;
  };
  const auto value_of = [&](std::string_view key) {
    return both([&](Cache& c, Cache::Context& x) { return ValueOf(c, x, key); });
  };
  const auto store = [&](StoreMode mode, std::string_view key, std::string_view value) {
    return both([&](Cache& c, Cache::Context& x) {
      return cache_calls::Store(c, x, mode, key, 3, 0, value, 0, nullptr);
    });
  };
  const std::string json = Json(2);
  EXPECT_EQ(store(StoreMode::kSet, "j", json), StoreResult::kStored);
  EXPECT_EQ(value_of("j"), json);
  EXPECT_EQ(store(StoreMode::kAppend, "j", ",tail"), StoreResult::kStored);
  EXPECT_EQ(store(StoreMode::kPrepend, "j", "head,"), StoreResult::kStored);
  EXPECT_EQ(value_of("j"), "head," + json + ",tail");
  EXPECT_EQ(store(StoreMode::kAdd, "j", "x"), StoreResult::kNotStored);
  EXPECT_EQ(store(StoreMode::kReplace, "j", json), StoreResult::kStored);
  // A short value made long enough by appends is compressed once it is.
  EXPECT_EQ(store(StoreMode::kSet, "grow", "start"), StoreResult::kStored);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(store(StoreMode::kAppend, "grow", json.substr(0, 100)), StoreResult::kStored);
  }
  EXPECT_EQ(value_of("grow").size(), 5u + 2000u);

  // A number padded with spaces compresses: incr and decr read it as memcached does.
  const std::string padded = "41" + std::string(600, ' ');
  EXPECT_EQ(store(StoreMode::kSet, "n", padded), StoreResult::kStored);
  const auto arith = [&](bool incr, uint64_t delta) {
    return both([&](Cache& c, Cache::Context& x) {
      uint64_t result = 0;
      uint64_t cas = 0;
      const ArithResult r = cache_calls::Arithmetic(c, x, "n", incr, delta, &result, &cas);
      return std::make_pair(r, result);
    });
  };
  EXPECT_EQ(arith(true, 1), std::make_pair(ArithResult::kOk, uint64_t{42}));
  EXPECT_EQ(arith(false, 40), std::make_pair(ArithResult::kOk, uint64_t{2}));
  EXPECT_EQ(value_of("n").size(), padded.size());
  EXPECT_EQ(store(StoreMode::kSet, "n", json), StoreResult::kStored);
  EXPECT_EQ(arith(true, 1).first, ArithResult::kNonNumeric);

  // cas: the token read by gets works once, on the compressed version it names.
  CapturedItem read;
  ASSERT_EQ(cache_calls::Get(*cache_, *ctx_, "j", read), LookupResult::kHit);
  const uint64_t older_cas = read.cas;
  EXPECT_EQ(Store(StoreMode::kCas, "j", json + "!", read.cas), StoreResult::kStored);
  EXPECT_EQ(Store(StoreMode::kCas, "j", json, read.cas), StoreResult::kExists);
  EXPECT_EQ(Value("j"), json + "!");

  // touch and gat keep the value, its flags and its CAS; the block moves as it is.
  ASSERT_EQ(cache_calls::Get(*cache_, *ctx_, "j", read), LookupResult::kHit);
  EXPECT_EQ(cache_->Touch(*ctx_, "j", 100), TouchResult::kTouched);
  CapturedItem touched;
  ASSERT_EQ(cache_calls::GetAndTouch(*cache_, *ctx_, "j", 0, touched), LookupResult::kHit);
  EXPECT_EQ(touched.value, json + "!");
  EXPECT_EQ(touched.flags, 0u);
  EXPECT_EQ(touched.cas, read.cas);
  EXPECT_EQ(Item("j").ttl, -1);

  // The meta protocol: what a read reports, invalidation, and emptying the value.
  struct Meta final : ItemSink {
    void OnItem(const ItemView& item) override {
      size = item.value_size();
      stored = item.meta().stored_bytes;
      stale = item.meta().stale;
      value.assign(size, '\0');
      readable = item.CopyValue(value.data());
    }
    size_t size = 0;
    size_t stored = 0;
    bool stale = false;
    bool readable = false;
    std::string value;
  } meta;
  ReadOptions touch;
  touch.touch = true;
  touch.touch_exptime = 50;
  ASSERT_EQ(cache_->Get(*ctx_, "j", touch, meta), LookupResult::kHit);
  EXPECT_EQ(meta.size, json.size() + 1);  // mg s: the original length
  EXPECT_LT(meta.stored, json.size() / 2);
  EXPECT_EQ(meta.value, json + "!");
  DeleteRequest invalidate;
  invalidate.key = "j";
  invalidate.invalidate = true;
  ASSERT_EQ(cache_->Delete(*ctx_, invalidate), DeleteResult::kDeleted);
  ASSERT_EQ(cache_->Get(*ctx_, "j", ReadOptions(), meta), LookupResult::kHit);
  EXPECT_TRUE(meta.stale);
  EXPECT_EQ(meta.value, json + "!");
  WriteRequest stale_write;
  stale_write.mode = StoreMode::kCas;
  stale_write.key = "j";
  stale_write.value = json;
  stale_write.cas = older_cas;  // the version before the item's
  stale_write.invalidate = true;
  ASSERT_EQ(cache_->Store(*ctx_, stale_write, nullptr), StoreResult::kStored);
  EXPECT_EQ(Value("j"), json);
  DeleteRequest drop;
  drop.key = "j";
  drop.drop_value = true;
  ASSERT_EQ(cache_->Delete(*ctx_, drop), DeleteResult::kDeleted);
  EXPECT_EQ(Value("j"), "");
  EXPECT_EQ(cache_->Stats().decompress_errors, 0u);
}

TEST_F(CompressionTest, LargeValuesAreCompressedBeforeTheyArePlacedAndReadThroughTheChain) {
  CacheOptions options = Options(Compression::kSnappy);
  options.compress_ratio = 0.95;
  Make(options);
  const size_t segment = cache_->pool().segment_size();
  const std::string text = Words(6 * segment, 3);
  ASSERT_EQ(Store(StoreMode::kSet, "big", text), StoreResult::kStored);
  EXPECT_EQ(Value("big"), text);
  CacheStats stats = cache_->Stats();
  EXPECT_EQ(stats.compress_items, 1u);
  EXPECT_LT(stats.bytes, text.size());
  EXPECT_GT(stats.bytes, segment);  // still a chain
  ASSERT_EQ(Store(StoreMode::kAppend, "big", "end"), StoreResult::kStored);
  EXPECT_EQ(Value("big"), text + "end");
  EXPECT_EQ(cache_->Touch(*ctx_, "big", 1000), TouchResult::kTouched);
  EXPECT_EQ(Value("big"), text + "end");
  // Incompressible and as large as -I: stored as it came, in a chain.
  const std::string random = Random(options.item_size_max, 4);
  ASSERT_EQ(Store(StoreMode::kSet, "random", random), StoreResult::kStored);
  EXPECT_EQ(Value("random"), random);
  EXPECT_EQ(cache_->Stats().decompress_errors, 0u);
}

// Flips bytes of the stored block of the only item in a fresh cache: snappy's structure (the
// length it records, its copy offsets) must catch it, and the read must fail, never return bytes.
TEST_F(CompressionTest, CorruptBlockIsReportedUnreadable) {
  const std::string json = Json(3);
  for (const size_t at : {size_t{0}, size_t{1}}) {
    Make(Options(Compression::kSnappy));
    ASSERT_EQ(Store(StoreMode::kSet, "k", json), StoreResult::kStored);
    char* item = nullptr;
    for (uint32_t id = 0; id < cache_->pool().touched() && item == nullptr; ++id) {
      if (cache_->pool().Info(id).live_items.load() == 1) item = cache_->pool().Data(id);
    }
    ASSERT_NE(item, nullptr);
    ItemHeader header;
    const size_t header_size = ItemHeader::Decode(item, &header);
    ASSERT_TRUE(header.compressed);
    ASSERT_EQ(ItemKey(item, header), "k");
    char* block = item + header_size + header.key_size;
    block[at] = static_cast<char>(block[at] ^ 0x7f);  // the recorded length, or the first tag

    const CapturedItem read = Item("k");
    EXPECT_FALSE(read.readable) << at;
    EXPECT_EQ(read.value.size(), json.size());
    EXPECT_EQ(cache_->Stats().decompress_errors, 1u);
    EXPECT_EQ(Store(StoreMode::kAppend, "k", "x"), StoreResult::kNoMemory);
    uint64_t result = 0;
    EXPECT_EQ(cache_calls::Arithmetic(*cache_, *ctx_, "k", true, 1, &result, nullptr),
              ArithResult::kNoMemory);
    // Overwriting it heals the key.
    ASSERT_EQ(Store(StoreMode::kSet, "k", json), StoreResult::kStored);
    EXPECT_EQ(Value("k"), json);
  }
}

}  // namespace
}  // namespace mnemo::storage
