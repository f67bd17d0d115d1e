// libFuzzer target for the storage engine: each input is a cache configuration and a sequence of
// operations on 64 keys (set, add, replace, append, prepend, cas, incr, decr, delete, touch, gat,
// get, flush_all, and the clock moving on), run against a 512 KiB cache that the values (from empty
// to chains of segments, compressible or not) overflow many times: live items are evicted, in
// half the runs to a flash tier (-o ext_path) whose file the evicted items also overflow.
//
// The model holds, for each key, the item the cache must have if it still has the key, and the
// cache's eviction count when the model last saw the key present. A reply that says the key is
// gone is accepted only if evictions have happened since (flush_all and expiry are modelled). At
// the end every key is read: what remains is exactly what was last written, and curr_items and
// bytes count exactly that. Single-threaded, no background thread; the clock moves only when the
// input says. Counters are parsed and formatted with the engine's own arithmetic.h, which
// arithmetic_test.cc checks; this target checks what the cache does with them.
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/clock.h"
#include "flash/flash_space.h"
#include "storage/arithmetic.h"
#include "storage/cache.h"
#include "storage/item.h"
#include "testing/storage/cache_calls.h"
#include "testing/storage/cache_test_util.h"

namespace mnemo::storage {
namespace {

constexpr int kKeys = 64;
// An exptime of kShortExptime outlives no clock step; kStep seconds per step.
constexpr Exptime kShortExptime = 100;
constexpr uint32_t kStep = 150;

// Fails the run: a reply the cache could not give with the key present as modelled or evicted.
#define CHECK(condition)                                                                         \
  do {                                                                                           \
    if (!(condition)) {                                                                          \
      std::fprintf(stderr, "cache_fuzzer: check failed at line %d: %s\n", __LINE__, #condition); \
      std::abort();                                                                              \
    }                                                                                            \
  } while (false)

class Input {
 public:
  Input(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ == size_; }
  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  uint32_t Bytes2() {
    const uint32_t low = Byte();  // two statements: the order of a |'s operands is unspecified
    return low | uint32_t{Byte()} << 8;
  }
  uint64_t Bytes8() {
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{Byte()} << (8 * i);
    return v;
  }
  // A value: mostly short, often long enough to span segments; its bytes repeat one byte
  // (compressible), come from a generator seeded by the input (incompressible, so that values
  // overflow the cache and live items are evicted), or spell a number (for incr and decr).
  std::string Value(size_t max_size) {
    const uint8_t shape = Byte();
    if (shape % 4 == 0) return std::to_string(Bytes8() >> (Byte() % 64));
    const size_t size =
        shape % 4 == 1 ? Bytes2() % 300 : max_size / 3 + Bytes2() * 3 % (max_size * 2 / 3 + 1);
    std::string value(size, static_cast<char>(Byte()));
    if (shape % 4 == 3) {
      uint64_t state = Bytes8();
      for (char& c : value) {
        state = state * 6364136223846793005u + 1442695040888963407u;  // an LCG: cheap, enough
        c = static_cast<char>(state >> 56);
      }
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
  int expires_at_step = -1;          // -1: never
  uint64_t evictions_when_seen = 0;  // the cache's eviction count when last written or read
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

// A flash device of `segments` segments on a file in /dev/shm (memory: runs stay fast). The file
// is unlinked as soon as the device has opened it: a run that ends in the middle of an input (a
// crash, a timeout, the time limit) skips this object's destructor, and the file was left behind.
class FlashFile {
 public:
  FlashFile(bool on, size_t segments, size_t segment_size) {
    if (!on) return;
    char path[] = "/dev/shm/mnemo-cache-fuzzer-XXXXXX";
    const int fd = ::mkstemp(path);
    CHECK(fd >= 0);
    ::close(fd);
    const flash::DeviceSpec spec{path, segments * segment_size};
    auto space = flash::FlashSpace::Open(std::span(&spec, 1), segment_size);
    ::unlink(path);  // the device keeps its descriptors
    CHECK(space.ok());
    space_ = std::move(space.value());
  }
  FlashFile(const FlashFile&) = delete;
  FlashFile& operator=(const FlashFile&) = delete;
  bool on() const { return space_ != nullptr; }
  const flash::FlashSpace* space() const { return space_.get(); }

 private:
  std::unique_ptr<flash::FlashSpace> space_;
};

void Run(Input& in) {
  ResetClockForTesting();  // else millions of runs' steps would wrap the 32-bit clock
  const uint8_t config = in.Byte();
  CacheOptions options;
  options.memory_limit = size_t{512} << 10;  // 8 segments: a few long values overflow it
  options.segment_size = size_t{64} << 10;
  options.item_size_max = size_t{96} << 10;  // more than a segment: chains
  options.hash_power_initial = 0;            // the least the table allows: cheaper to create
  options.background_thread = false;
  options.eviction = config % 2 == 0 ? EvictionPolicy::kMerge : EvictionPolicy::kFifo;
  options.compression = config / 2 % 2 == 0 ? Compression::kSnappy : Compression::kOff;
  // Half the runs with a flash tier of 4 segments, which evicted items fill and wrap around.
  const FlashFile flash(config / 4 % 2 == 0, 4, options.segment_size);
  options.flash = flash.space();
  const std::unique_ptr<Cache> cache = CreateCacheOrDie(options);
  const std::unique_ptr<Cache::Context> ctx = cache->NewContext();
  const size_t segment_size = cache->Stats().segment_size;
  Model model;

  // Items leave the cache by eviction from RAM, or from flash when its segment is reused.
  auto evictions = [&] {
    const CacheStats stats = cache->Stats();
    return stats.evictions + stats.extstore_objects_evicted;
  };
  auto present = [&](int k, ModelItem item) {
    item.evictions_when_seen = evictions();
    model.At(k) = std::move(item);
  };
  // The cache says key k is not there: fine if the model agrees, or if it may have been evicted.
  auto gone = [&](std::optional<ModelItem>& item) {
    if (item) CHECK(evictions() > item->evictions_when_seen);
    item.reset();
  };
  auto seen = [&](std::optional<ModelItem>& item) { item->evictions_when_seen = evictions(); };

  while (!in.empty()) {
    const uint8_t op = in.Byte();
    const int k = in.Byte() % kKeys;
    const std::string key = KeyName(k);
    std::optional<ModelItem>& item = model.At(k);
    const Exptime exptime = in.Byte() % 4 == 0 ? kShortExptime : 0;
    // With a flash tier, a rewrite (append, prepend, incr, decr, touch) whose item RAM keeps
    // evicting to flash as fast as it is brought back (8 segments, values of 96 KiB) may give up
    // (FlashRecall::kMaxRounds) and answer kNoMemory, the item unchanged.
    // Set, add, replace, append, prepend and cas never answer kNoMemory here: the cache evicts
    // (CacheOptions::evict) and every value fits in it.
    switch (op % 14) {
      case 0:
      case 1: {  // get
        CapturedItem got;
        if (cache_calls::Get(*cache, *ctx, key, got) == LookupResult::kHit) {
          CHECK(item && got.readable && got.value == item->value && got.flags == item->flags);
          seen(item);
        } else {
          gone(item);
        }
        break;
      }
      case 2: {  // set, now and then above item_size_max, which removes the old value
        const size_t max = in.Byte() == 0 ? options.item_size_max + 16 : options.item_size_max;
        const std::string value = in.Value(max);
        const uint32_t flags = in.Byte() % 2 == 0 ? 0 : static_cast<uint32_t>(in.Bytes8());
        const StoreResult result = cache_calls::Store(*cache, *ctx, StoreMode::kSet, key, flags,
                                                      exptime, value, 0, nullptr);
        if (value.size() > options.item_size_max) {
          CHECK(result == StoreResult::kTooLarge);
          item.reset();
        } else {
          CHECK(result == StoreResult::kStored);
          present(k, ModelItem{value, flags, model.ExpiryFor(exptime)});
        }
        break;
      }
      case 3:
      case 4: {  // add, replace
        const bool add = op % 14 == 3;
        const std::string value = in.Value(options.item_size_max);
        const uint32_t flags = in.Byte() % 2 == 0 ? 0 : static_cast<uint32_t>(in.Bytes8());
        const StoreResult result =
            cache_calls::Store(*cache, *ctx, add ? StoreMode::kAdd : StoreMode::kReplace, key,
                               flags, exptime, value, 0, nullptr);
        CHECK(result == StoreResult::kStored || result == StoreResult::kNotStored);
        const bool was_there =
            add ? result == StoreResult::kNotStored : result == StoreResult::kStored;
        if (was_there) {
          CHECK(item);
        } else {
          gone(item);
        }
        if (result == StoreResult::kStored) {
          present(k, ModelItem{value, flags, model.ExpiryFor(exptime)});
        } else if (item) {
          seen(item);
        }
        break;
      }
      case 5:
      case 6: {  // append, prepend
        const bool append = op % 14 == 5;
        const std::string value = in.Value(options.item_size_max);
        const StoreResult result =
            cache_calls::Store(*cache, *ctx, append ? StoreMode::kAppend : StoreMode::kPrepend, key,
                               0, 0, value, 0, nullptr);
        if (flash.on() && result == StoreResult::kNoMemory) break;  // gave up, value unchanged
        CHECK(result == StoreResult::kStored || result == StoreResult::kNotStored);
        const bool fits = item && item->value.size() + value.size() <= options.item_size_max;
        if (result == StoreResult::kStored) {
          CHECK(fits);
          item->value = append ? item->value + value : value + item->value;
          seen(item);
        } else if (fits) {
          gone(item);  // it would have fitted, so the key was not there
        }
        break;
      }
      case 7: {  // cas, with the current token or a stale one
        CapturedItem got;
        const bool hit = cache_calls::Get(*cache, *ctx, key, got) == LookupResult::kHit;
        if (hit) {
          CHECK(item && got.value == item->value && got.flags == item->flags);
          seen(item);
        } else {
          gone(item);
        }
        const bool fresh = in.Byte() % 2 == 0;
        const std::string value = in.Value(options.item_size_max);
        const uint64_t token = hit ? (fresh ? got.cas : got.cas + 1) : in.Bytes8();
        const StoreResult result = cache_calls::Store(*cache, *ctx, StoreMode::kCas, key, 0,
                                                      exptime, value, token, nullptr);
        if (result == StoreResult::kNotFound) {
          gone(item);  // making room for the new value may evict the key itself
        } else if (!fresh) {
          CHECK(hit && result == StoreResult::kExists);
        } else {
          CHECK(hit && result == StoreResult::kStored);
          present(k, ModelItem{value, 0, model.ExpiryFor(exptime)});
        }
        break;
      }
      case 8:
      case 9: {  // incr, decr
        const bool incr = op % 14 == 8;
        const uint64_t delta = in.Byte() % 2 == 0 ? in.Byte() : in.Bytes8();
        uint64_t value = 0;
        uint64_t new_cas = 0;
        const ArithResult result =
            cache_calls::Arithmetic(*cache, *ctx, key, incr, delta, &value, &new_cas);
        uint64_t number = 0;
        const bool numeric = item && ParseCounter(item->value, &number);
        // A chained item is never a number, as memcached refuses incr on chunked items.
        const bool may_be_chained =
            item && item->value.size() + kItemMaxHeader + key.size() > segment_size;
        if (flash.on() && result == ArithResult::kNoMemory) break;  // gave up, value unchanged
        if (result == ArithResult::kNotFound) {
          gone(item);
        } else if (result == ArithResult::kNonNumeric) {
          CHECK(item && (!numeric || may_be_chained));
          seen(item);
        } else {
          CHECK(result == ArithResult::kOk && numeric);
          CHECK(value == ApplyDelta(number, incr, delta));
          std::string text(std::max(item->value.size(), kMaxCounterDigits), '\0');
          text.resize(FormatCounter(value, item->value.size(), text.data()));
          item->value = text;
          seen(item);
        }
        break;
      }
      case 10: {  // delete
        if (cache_calls::Delete(*cache, *ctx, key, 0) == DeleteResult::kDeleted) {
          CHECK(item);
          item.reset();
        } else {
          gone(item);
        }
        break;
      }
      case 11: {  // touch, gat
        const bool gat = in.Byte() % 2 == 0;
        CapturedItem got;
        bool touched;
        if (gat) {
          touched = cache_calls::GetAndTouch(*cache, *ctx, key, exptime, got) == LookupResult::kHit;
        } else {
          const TouchResult result = cache->Touch(*ctx, key, exptime);
          if (flash.on() && result == TouchResult::kNoMemory) break;  // gave up, unchanged
          CHECK(result != TouchResult::kNoMemory);  // only under -M, which is not set
          touched = result == TouchResult::kTouched;
        }
        if (!touched) {
          gone(item);
          break;
        }
        CHECK(item);
        if (gat) CHECK(got.value == item->value && got.flags == item->flags);
        item->expires_at_step = model.ExpiryFor(exptime);
        seen(item);
        break;
      }
      case 12:  // flush_all
        cache->FlushAll({});
        model.Flush();
        break;
      case 13:  // the clock moves on: short exptimes pass
        AdvanceClockForTesting(kStep);
        model.Step();
        break;
    }
  }

  // What remains is what was last written, and the counts count exactly that (unless reading
  // items on flash made room in RAM for their copies by evicting keys already counted, or by
  // moving them to flash or copying them forward, where they carry their CAS: 8 bytes more).
  auto moves = [&] {
    const CacheStats stats = cache->Stats();
    return evictions() + stats.extstore_objects_written + stats.items_copied_forward;
  };
  const uint64_t moves_before_reading = moves();
  uint64_t items = 0;
  uint64_t bytes = 0;
  for (int k = 0; k < kKeys; ++k) {
    std::optional<ModelItem>& item = model.At(k);
    CapturedItem got;
    if (cache_calls::Get(*cache, *ctx, KeyName(k), got) != LookupResult::kHit) {
      gone(item);
      continue;
    }
    CHECK(item && got.readable && got.value == item->value && got.flags == item->flags);
    ++items;
    bytes += got.stored_bytes;
  }
  if (moves() != moves_before_reading) return;
  const CacheStats stats = cache->Stats();
  CHECK(stats.curr_items == items);
  if (stats.bytes != bytes)
    std::fprintf(stderr, "bytes %lu counted %lu items %lu\n", (unsigned long)stats.bytes,
                 (unsigned long)bytes, (unsigned long)items);
  CHECK(stats.bytes == bytes);
}

}  // namespace
}  // namespace mnemo::storage

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mnemo::storage::Input input(data, size);
  mnemo::storage::Run(input);
  return 0;
}
