#include "storage/hash_table.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

namespace mnemo::storage {
namespace {

// Item i lives at segment i / 2^20, offset i % 2^20, and its key's hash is hashes[i].
class FakeItems : public LocationHasher {
 public:
  explicit FakeItems(size_t n, uint64_t seed) {
    std::mt19937_64 rng(seed);
    hashes.resize(n);
    for (auto& h : hashes) h = rng();
  }
  static ItemLocation At(size_t i) {
    return {static_cast<uint32_t>(i >> 20), static_cast<uint32_t>(i & 0xfffff)};
  }
  static size_t IndexOf(ItemLocation loc) { return (size_t{loc.segment} << 20) | loc.offset; }
  uint64_t HashAt(ItemLocation loc) const override { return hashes[IndexOf(loc)]; }

  std::vector<uint64_t> hashes;
};

Slot* FindItem(HashTable& table, const FakeItems& items, size_t i) {
  SpinLockGuard guard(table.StripeFor(items.hashes[i]));
  return table.Find(items.hashes[i],
                    [&](ItemLocation loc) { return FakeItems::IndexOf(loc) == i; });
}

TEST(HashTableTest, GrowsAndKeepsEveryItemReachable) {
  constexpr size_t kItems = 200000;
  FakeItems items(kItems, 1);
  HashTable table(10, kItems, &items);
  ASSERT_TRUE(table.Init().ok());
  for (size_t i = 0; i < kItems; ++i) {
    {
      SpinLockGuard guard(table.StripeFor(items.hashes[i]));
      ASSERT_TRUE(table.Insert(items.hashes[i], FakeItems::At(i)));
    }
    table.Grow();
  }
  EXPECT_EQ(table.size(), kItems);
  EXPECT_GT(table.power(), 10);
  EXPECT_LE(table.size(), table.bucket_count() * HashTable::kTargetLoad + 2);
  for (size_t i = 0; i < kItems; ++i) {
    Slot* slot = FindItem(table, items, i);
    ASSERT_NE(slot, nullptr) << i;
    EXPECT_EQ(slot->location(), FakeItems::At(i));
  }
}

// A hasher that counts its calls: a split of a bucket with slots asks it for their hashes.
class CountingItems : public FakeItems {
 public:
  using FakeItems::FakeItems;
  uint64_t HashAt(ItemLocation loc) const override {
    ++calls;
    return FakeItems::HashAt(loc);
  }
  mutable size_t calls = 0;
};

TEST(HashTableTest, ReserveSplitsBeforeTheInsertsSoThatTheyNeedNone) {
  constexpr size_t kItems = 100000;
  CountingItems items(kItems, 7);
  HashTable table(10, kItems, &items);
  ASSERT_TRUE(table.Init().ok());
  table.Reserve(kItems);
  const size_t buckets = table.bucket_count();
  EXPECT_GE(buckets * HashTable::kTargetLoad, kItems);
  EXPECT_LT((buckets - 1) * HashTable::kTargetLoad, kItems);
  for (size_t i = 0; i < kItems; ++i) {
    {
      SpinLockGuard guard(table.StripeFor(items.hashes[i]));
      ASSERT_TRUE(table.Insert(items.hashes[i], FakeItems::At(i)));
    }
    table.Grow();
  }
  EXPECT_EQ(table.bucket_count(), buckets);
  EXPECT_EQ(items.calls, 0u);
  for (size_t i = 0; i < kItems; ++i) ASSERT_NE(FindItem(table, items, i), nullptr) << i;
}

TEST(HashTableTest, ATableGivenMemoryTouchesOnlyWhatWasCommittedAndStopsGrowingWhenRefused) {
  constexpr size_t kItems = 200000;
  FakeItems items(kItems, 5);
  HashTable table(10, kItems, &items);
  // Inaccessible memory, made accessible by each commit: touching anything not committed faults.
  const size_t bytes = table.reservation_bytes();
  void* memory =
      mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(memory, MAP_FAILED);
  constexpr size_t kRoom = size_t{3} << 19;  // what the "file system" holds: 1.5 MiB
  size_t committed = 0;
  ASSERT_TRUE(table
                  .Init(memory,
                        [&](size_t offset, size_t length) {
                          if (committed + length > kRoom) return false;
                          committed += length;
                          return mprotect(static_cast<char*>(memory) + offset, length,
                                          PROT_READ | PROT_WRITE) == 0;
                        })
                  .ok());
  size_t inserted = 0;
  bool refused = false;
  for (size_t i = 0; i < kItems && !table.full(); ++i) {
    {
      SpinLockGuard guard(table.StripeFor(items.hashes[i]));
      refused = !table.Insert(items.hashes[i], FakeItems::At(i));
    }
    if (refused) break;
    ++inserted;
    table.Grow();
  }
  // It stopped short of all of them, within the room it was given, and said so as it does at its
  // memory limit: full() (the cache evicts), or an Insert refused (the cache evicts and retries).
  EXPECT_LT(inserted, kItems);
  EXPECT_GT(inserted, kItems / 4);
  EXPECT_LE(committed, kRoom);
  EXPECT_TRUE(table.full() || refused);
  for (size_t i = 0; i < inserted; ++i) ASSERT_NE(FindItem(table, items, i), nullptr) << i;
  munmap(memory, bytes);
}

TEST(HashTableTest, EraseKeepsChainsPackedAndFreesOverflow) {
  constexpr size_t kItems = 50000;
  FakeItems items(kItems, 2);
  // No growth: 1024 buckets for 50000 items forces long overflow chains.
  HashTable table(10, kItems, &items);
  ASSERT_TRUE(table.Init().ok());
  for (size_t i = 0; i < kItems; ++i) {
    SpinLockGuard guard(table.StripeFor(items.hashes[i]));
    ASSERT_TRUE(table.Insert(items.hashes[i], FakeItems::At(i)));
  }
  const size_t full_bytes = table.memory_bytes();
  for (size_t i = 0; i < kItems; i += 2) {
    SpinLockGuard guard(table.StripeFor(items.hashes[i]));
    Slot* slot = table.FindLocation(items.hashes[i], FakeItems::At(i));
    ASSERT_NE(slot, nullptr);
    table.Erase(items.hashes[i], slot);
  }
  EXPECT_EQ(table.size(), kItems / 2);
  EXPECT_LT(table.memory_bytes(), full_bytes);
  for (size_t i = 0; i < kItems; ++i) {
    EXPECT_EQ(FindItem(table, items, i) != nullptr, i % 2 == 1) << i;
  }
}

TEST(HashTableTest, MemoryStaysWithinItsLimitAndFullComesFirst) {
  constexpr size_t kItems = 400000;
  FakeItems items(kItems, 3);
  HashTable table(10, kItems, &items);
  ASSERT_TRUE(table.Init().ok());
  table.SetMemoryLimit(size_t{1} << 20);
  size_t inserted = 0;
  size_t first_full = 0;
  for (; inserted < kItems; ++inserted) {
    if (table.full() && first_full == 0) first_full = inserted;
    bool added = false;
    {
      SpinLockGuard guard(table.StripeFor(items.hashes[inserted]));
      added = table.Insert(items.hashes[inserted], FakeItems::At(inserted));
    }
    if (!added) break;
    table.Grow();
    ASSERT_LE(table.memory_bytes(), table.memory_limit()) << inserted;
  }
  ASSERT_LT(inserted, kItems) << "a limit of 1 MiB must stop the table short of 400,000 items";
  EXPECT_LE(table.memory_limit(), size_t{1} << 20);
  // full() turns true at kTargetLoad items a bucket, well before the overflow buckets run out.
  EXPECT_GT(first_full, 0u);
  EXPECT_LT(first_full, inserted * 95 / 100);
  EXPECT_GT(first_full, table.memory_limit() / 16);
  for (size_t i = 0; i < inserted; ++i) ASSERT_NE(FindItem(table, items, i), nullptr) << i;
  // Raising the limit lets it grow again.
  table.SetMemoryLimit(size_t{4} << 20);
  EXPECT_FALSE(table.full());
  SpinLockGuard guard(table.StripeFor(items.hashes[inserted]));
  EXPECT_TRUE(table.Insert(items.hashes[inserted], FakeItems::At(inserted)));
}

TEST(HashTableTest, StartingBucketsAboveTheLimitAreKept) {
  FakeItems items(1, 4);
  HashTable table(16, 1 << 20, &items);
  ASSERT_TRUE(table.Init().ok());
  table.SetMemoryLimit(1 << 16);
  EXPECT_EQ(table.bucket_count(), size_t{1} << 16);
  EXPECT_GE(table.memory_limit(), table.memory_bytes());
  EXPECT_FALSE(table.full());
}

TEST(HashTableTest, CounterSaturatesAndRelocateResetsIt) {
  FakeItems items(1, 3);
  HashTable table(10, 1, &items);
  ASSERT_TRUE(table.Init().ok());
  SpinLockGuard guard(table.StripeFor(items.hashes[0]));
  ASSERT_TRUE(table.Insert(items.hashes[0], FakeItems::At(0)));
  Slot* slot = table.FindLocation(items.hashes[0], FakeItems::At(0));
  for (int i = 0; i < 100; ++i) slot->CountAccess();
  EXPECT_EQ(slot->counter(), Slot::kMaxCounter);
  slot->Relocate({7, 9});
  EXPECT_EQ(slot->counter(), 0u);
  EXPECT_EQ(slot->location(), (ItemLocation{7, 9}));
  EXPECT_EQ(slot->tag(), Slot::TagOf(items.hashes[0]));
}

TEST(HashTableTest, ConcurrentInsertFindEraseWhileGrowing) {
  constexpr size_t kThreads = 4;
  constexpr size_t kPerThread = 40000;
  FakeItems items(kThreads * kPerThread, 4);
  HashTable table(10, kThreads * kPerThread, &items);
  ASSERT_TRUE(table.Init().ok());
  std::vector<std::thread> threads;
  for (size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t * kPerThread; i < (t + 1) * kPerThread; ++i) {
        {
          SpinLockGuard guard(table.StripeFor(items.hashes[i]));
          ASSERT_TRUE(table.Insert(items.hashes[i], FakeItems::At(i)));
        }
        table.Grow();
        ASSERT_NE(FindItem(table, items, i), nullptr);
        if (i % 3 == 0) {
          SpinLockGuard guard(table.StripeFor(items.hashes[i]));
          table.Erase(items.hashes[i], table.FindLocation(items.hashes[i], FakeItems::At(i)));
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  size_t expected = 0;
  for (size_t i = 0; i < kThreads * kPerThread; ++i) {
    const bool present = FindItem(table, items, i) != nullptr;
    EXPECT_EQ(present, i % 3 != 0) << i;
    expected += present;
  }
  EXPECT_EQ(table.size(), expected);
}

TEST(HashTableTest, InitReportsAReservationTheAddressSpaceCannotHold) {
  FakeItems items(1, 5);
  // 2^46 items want 2^45 buckets of 64 bytes: 2 PiB, more than a 47-bit address space.
  HashTable table(10, size_t{1} << 46, &items);
  const Status status = table.Init();
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("cannot reserve"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("hash table"), std::string::npos) << status.message();
}

}  // namespace
}  // namespace mnemo::storage
