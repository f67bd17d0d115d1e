#include "net/memory_budget.h"

#include <gtest/gtest.h>

#include <string>

#include "net/buffer_pool.h"
#include "net/io_buffer.h"

namespace mnemo::net {
namespace {

constexpr size_t kBlock = 1024;

TEST(MemoryBudgetTest, ExhaustedAtTheLimitAndNeverWithoutOne) {
  MemoryBudget budget(100);
  EXPECT_FALSE(budget.exhausted());
  budget.Charge(99);
  EXPECT_FALSE(budget.exhausted());
  budget.Charge(1);
  EXPECT_TRUE(budget.exhausted());
  budget.Credit(50);
  EXPECT_FALSE(budget.exhausted());
  EXPECT_EQ(budget.used(), 50u);
  EXPECT_EQ(budget.TakeFreed(), 50u);
  EXPECT_EQ(budget.TakeFreed(), 0u);

  MemoryBudget unlimited(0);
  unlimited.Charge(size_t{1} << 40);
  EXPECT_FALSE(unlimited.exhausted());
}

TEST(MemoryBudgetTest, PoolBlocksAreChargedWhenMadeNotWhenReused) {
  MemoryBudget budget;
  {
    BufferPool pool(kBlock, /*max_idle=*/4, &budget);
    char* a = pool.Take();
    EXPECT_EQ(budget.used(), kBlock);
    pool.Give(a);
    EXPECT_EQ(budget.used(), kBlock);  // idle, still held
    EXPECT_EQ(pool.idle_blocks(), 1u);
    a = pool.Take();  // reused: nothing charged
    EXPECT_EQ(budget.used(), kBlock);
    EXPECT_EQ(pool.blocks(), 1u);
    pool.Give(a);
  }
  EXPECT_EQ(budget.used(), 0u);  // the pool frees its idle blocks
}

TEST(MemoryBudgetTest, HeapBlocksOfBuffersAreChargedWhileHeld) {
  MemoryBudget budget;
  BufferPool pool(kBlock, /*max_idle=*/4, &budget);
  {
    IoBuffer buffer(pool);
    buffer.Append(std::string(3 * kBlock, 'v'));  // a heap block of 4 KiB
    EXPECT_EQ(budget.used(), 4 * kBlock);
    EXPECT_EQ(pool.heap_blocks(), 1u);
    EXPECT_EQ(pool.heap_bytes(), 4 * kBlock);
    buffer.Append(std::string(3 * kBlock, 'v'));  // grows to 8 KiB, the old block freed
    EXPECT_EQ(budget.used(), 8 * kBlock);
    buffer.Consume(6 * kBlock - 10);
    buffer.Shrink();  // back to a pool block
    EXPECT_EQ(pool.heap_blocks(), 0u);
    EXPECT_EQ(budget.used(), kBlock);
  }
  EXPECT_EQ(budget.used(), kBlock);  // the block is idle in the pool
  EXPECT_EQ(pool.heap_bytes(), 0u);
}

TEST(MemoryBudgetTest, TrimFreesBlocksThatStayedIdleThroughAnInterval) {
  MemoryBudget budget;
  BufferPool pool(kBlock, /*max_idle=*/16, &budget);
  char* blocks[8];
  for (char*& block : blocks) block = pool.Take();
  for (char* block : blocks) pool.Give(block);
  EXPECT_EQ(pool.idle_blocks(), 8u);
  pool.Trim();  // the interval started with none idle: all 8 were in use at some point
  EXPECT_EQ(pool.idle_blocks(), 8u);
  // During the next interval, at most 3 are in use at once: 5 stayed idle throughout.
  char* a = pool.Take();
  char* b = pool.Take();
  char* c = pool.Take();
  pool.Give(a);
  pool.Give(b);
  pool.Give(c);
  pool.Trim();
  EXPECT_EQ(pool.idle_blocks(), 3u);
  EXPECT_EQ(budget.used(), 3 * kBlock);
  pool.Trim();  // nothing used for a whole interval: everything goes back
  EXPECT_EQ(pool.idle_blocks(), 0u);
  EXPECT_EQ(budget.used(), 0u);
}

}  // namespace
}  // namespace mnemo::net
