// libFuzzer target for the storage engine: each input is a cache configuration and a sequence of
// operations on a few keys (set, add, replace, append, prepend, cas, incr, decr, delete, touch,
// gat, get, flush_all, and the clock moving on), run against a Cache small enough to evict all
// the time, with values from empty to chains of segments, compressible or not.
//
// The model cannot know what eviction dropped, so it holds, for each key, the value the cache
// must have if it still has the key: every reply must be one the cache could give with the key
// present as modelled, or with it evicted. After the operations every key is read: what remains
// must be exactly what was last written, and curr_items and bytes must count exactly what
// remains. Single-threaded, with no background thread: the clock moves only when the input says.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "storage/arithmetic.h"
#include "storage/cache.h"
#include "storage/cache_test_util.h"

namespace mnemo::storage {
namespace {

constexpr int kKeys = 8;
// An exptime of kShortExptime outlives no clock step; kStep seconds per step.
constexpr Exptime kShortExptime = 100;
constexpr uint32_t kStep = 150;

// Fails the run: a reply the cache could not give with the key present as modelled or evicted.
#define CHECK(condition)                                                   \
  do {                                                                     \
    if (!(condition)) {                                                    \
      std::fprintf(stderr, "cache_fuzzer: check failed at line %d: %s\n", \
                   __LINE__, #condition);                                  \
      std::abort();                                                        \
    }                                                                      \
  } while (false)

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ == size_; }
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint32_t Bytes2() { return Byte() | uint32_t{Byte()} << 8; }
  uint64_t Bytes8() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{Byte()} << (8 * i);
    return v;
  }
  // A value: mostly short, sometimes long enough to span segments; its bytes repeat one input
  // byte (compressible), cycle through the input, or spell a number (for incr and decr).
  std::string Value(size_t max_size) {
    const uint8_t shape = Byte();
    if (shape % 4 == 0) return std::to_string(Bytes8() >> (Byte() % 64));
    size_t size = shape % 4 == 1 ? Bytes2() % 300 : Bytes2() * 3 % (max_size + 1);
    std::string value(size, static_cast<char>(Byte()));
    if (shape % 4 == 3) {
      for (char& c : value) c = static_cast<char>(Byte());
    }
    return value;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

struct ModelItem {
  std::string value;
  uint32_t flags = 0;
  int expires_at_step = -1;  // -1: never
};

class Model {
 public:
  // The item the cache must hold under key k if it still holds it.
  std::optional<ModelItem>& At(int k) {
    std::optional<ModelItem>& item = items_[k];
    if (item && item->expires_at_step >= 0 && step_ >= item->expires_at_step) item.reset();
    return item;
  }
  int ExpiryFor(Exptime exptime) const { return exptime == 0 ? -1 : step_ + 1; }
  void Step() { ++step_; }
  void Flush() {
    for (auto& item : items_) item.reset();
  }

 private:
  std::optional<ModelItem> items_[kKeys];
  int step_ = 0;
};

std::string KeyName(int k) { return "key" + std::to_string(k); }

void Run(Input& in) {
  const uint8_t config = in.Byte();
  CacheOptions options;
  options.memory_limit = size_t{2} << 20;
  options.segment_size = size_t{64} << 10;
  options.item_size_max = size_t{96} << 10;  // more than a segment: chains
  options.background_thread = false;
  options.eviction = config % 2 == 0 ? EvictionPolicy::kMerge : EvictionPolicy::kFifo;
  options.compression = config / 2 % 2 == 0 ? Compression::kSnappy : Compression::kOff;
  const std::unique_ptr<Cache> cache = Cache::Create(options);
  const std::unique_ptr<Cache::Context> ctx = cache->NewContext();
  // A value this long may be stored as a chain of segments, and a chained item is never a number
  // (as memcached refuses incr on chunked items). The slack covers the item's header and key.
  const size_t chained_above = cache->Stats().segment_size - 64;
  Model model;

  while (!in.empty()) {
    const uint8_t op = in.Byte();
    const int k = in.Byte() % kKeys;
    const std::string key = KeyName(k);
    std::optional<ModelItem>& item = model.At(k);
    const Exptime exptime = in.Byte() % 4 == 0 ? kShortExptime : 0;
    switch (op % 14) {
      case 0:
      case 1: {  // get
        CapturedItem got;
        if (cache->Get(*ctx, key, got) == LookupResult::kHit) {
          CHECK(item && got.value == item->value && got.flags == item->flags);
        } else {
          item.reset();  // evicted
        }
        break;
      }
      case 2:
      case 3:
      case 4: {  // set, add, replace
        const StoreMode mode = op % 14 == 2   ? StoreMode::kSet
                               : op % 14 == 3 ? StoreMode::kAdd
                                              : StoreMode::kReplace;
        const std::string value = in.Value(options.item_size_max);
        const uint32_t flags = in.Byte() % 2 == 0 ? 0 : static_cast<uint32_t>(in.Bytes8());
        const StoreResult result =
            cache->Store(*ctx, mode, key, flags, exptime, value, 0, nullptr);
        if (mode == StoreMode::kSet) CHECK(result == StoreResult::kStored);
        if (mode == StoreMode::kAdd) CHECK(result == StoreResult::kStored || item);
        if (mode == StoreMode::kReplace) CHECK(result == StoreResult::kNotStored || item);
        CHECK(result == StoreResult::kStored || result == StoreResult::kNotStored);
        if (result == StoreResult::kStored) {
          item = ModelItem{value, flags, model.ExpiryFor(exptime)};
        } else if (mode == StoreMode::kReplace) {
          item.reset();  // evicted, or never there
        }
        break;
      }
      case 5:
      case 6: {  // append, prepend
        const bool append = op % 14 == 5;
        const std::string value = in.Value(options.item_size_max);
        const StoreResult result =
            cache->Store(*ctx, append ? StoreMode::kAppend : StoreMode::kPrepend, key, 0, 0,
                         value, 0, nullptr);
        CHECK(result == StoreResult::kStored || result == StoreResult::kNotStored);
        if (result == StoreResult::kStored) {
          CHECK(item && item->value.size() + value.size() <= options.item_size_max);
          item->value = append ? item->value + value : value + item->value;
        } else if (item && item->value.size() + value.size() <= options.item_size_max) {
          item.reset();  // it fitted, so the key was gone: evicted
        }
        break;
      }
      case 7: {  // cas, with the current token or a stale one
        CapturedItem got;
        const bool hit = cache->Get(*ctx, key, got) == LookupResult::kHit;
        if (!hit) item.reset();
        CHECK(!hit || item);
        const bool fresh = in.Byte() % 2 == 0;
        const std::string value = in.Value(options.item_size_max);
        const uint64_t token = hit ? (fresh ? got.cas : got.cas + 1) : in.Bytes8();
        const StoreResult result =
            cache->Store(*ctx, StoreMode::kCas, key, 0, exptime, value, token, nullptr);
        if (!hit) {
          CHECK(result == StoreResult::kNotFound);
        } else if (!fresh) {
          CHECK(result == StoreResult::kExists);
        } else {
          CHECK(result == StoreResult::kStored);
          item = ModelItem{value, 0, model.ExpiryFor(exptime)};
        }
        break;
      }
      case 8:
      case 9: {  // incr, decr
        const bool incr = op % 14 == 8;
        const uint64_t delta = in.Byte() % 2 == 0 ? in.Byte() : in.Bytes8();
        uint64_t value = 0;
        uint64_t new_cas = 0;
        const ArithResult result = cache->Arithmetic(*ctx, key, incr, delta, &value, &new_cas);
        uint64_t number = 0;
        const bool numeric = item && !item->value.empty() && ParseCounter(item->value, &number);
        if (result == ArithResult::kNotFound) {
          item.reset();
        } else if (result == ArithResult::kNonNumeric) {
          CHECK(item && (!numeric || item->value.size() > chained_above));
        } else {
          CHECK(result == ArithResult::kOk && numeric);
          CHECK(value == ApplyDelta(number, incr, delta));
          std::string text(std::max(item->value.size(), kMaxCounterDigits), '\0');
          text.resize(FormatCounter(value, item->value.size(), text.data()));
          item->value = text;
        }
        break;
      }
      case 10: {  // delete
        const DeleteResult result = cache->Delete(*ctx, key, 0);
        CHECK(result == DeleteResult::kNotFound || item);
        item.reset();
        break;
      }
      case 11: {  // touch, gat
        const bool gat = in.Byte() % 2 == 0;
        CapturedItem got;
        const bool touched =
            gat ? cache->GetAndTouch(*ctx, key, exptime, got) == LookupResult::kHit
                : cache->Touch(*ctx, key, exptime) == TouchResult::kTouched;
        if (!touched) {
          item.reset();
          break;
        }
        CHECK(item);
        if (gat) CHECK(got.value == item->value);
        item->expires_at_step = model.ExpiryFor(exptime);
        break;
      }
      case 12:  // flush_all
        cache->FlushAll(0);
        model.Flush();
        break;
      case 13:  // the clock moves on: short exptimes pass
        AdvanceClockForTesting(kStep);
        model.Step();
        break;
    }
  }

  // What remains is what was last written, and the counts count exactly that.
  uint64_t items = 0;
  uint64_t bytes = 0;
  for (int k = 0; k < kKeys; ++k) {
    CapturedItem got;
    if (cache->Get(*ctx, KeyName(k), got) != LookupResult::kHit) continue;
    const std::optional<ModelItem>& item = model.At(k);
    CHECK(item && got.value == item->value && got.flags == item->flags);
    ++items;
    bytes += got.stored_bytes;
  }
  const CacheStats stats = cache->Stats();
  CHECK(stats.curr_items == items);
  CHECK(stats.bytes == bytes);
}

}  // namespace
}  // namespace mnemo::storage

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mnemo::storage::Input input(data, size);
  mnemo::storage::Run(input);
  return 0;
}
