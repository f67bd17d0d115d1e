#include "net/io_buffer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>

namespace mnemo::net {
namespace {

constexpr size_t kBlock = 1024;
// More memory than any allocator can give (an exabyte).
constexpr size_t kUnobtainable = size_t{1} << 60;

void AppendBytes(IoBuffer& buffer, size_t n, char fill) { buffer.Append(std::string(n, fill)); }

TEST(IoBufferTest, EmptyBufferHoldsNoStorage) {
  BufferPool pool(kBlock);
  IoBuffer buffer(pool);
  EXPECT_TRUE(buffer.empty());
  EXPECT_EQ(buffer.capacity(), 0u);
}

TEST(IoBufferTest, SmallContentsBorrowAPoolBlockAndGiveItBack) {
  BufferPool pool(kBlock);
  IoBuffer buffer(pool);
  buffer.Append("get a\r\n");
  EXPECT_EQ(buffer.capacity(), kBlock);
  EXPECT_EQ(buffer.readable(), "get a\r\n");
  buffer.Consume(7);
  buffer.Shrink();
  EXPECT_EQ(buffer.capacity(), 0u);
  EXPECT_EQ(pool.idle_blocks(), 1u);
  buffer.Append("x");
  EXPECT_EQ(pool.idle_blocks(), 0u);  // the same block, reused
}

TEST(IoBufferTest, ConsumeKeepsTheRestInPlace) {
  BufferPool pool(kBlock);
  IoBuffer buffer(pool);
  buffer.Append("set k 0 0 1\r\nx\r\nget k\r\n");
  const std::string_view rest = buffer.readable().substr(16);
  buffer.Consume(16);
  EXPECT_EQ(buffer.readable(), "get k\r\n");
  EXPECT_EQ(buffer.readable().data(), rest.data());
}

TEST(IoBufferTest, CompactsBeforeGrowing) {
  BufferPool pool(kBlock);
  IoBuffer buffer(pool);
  AppendBytes(buffer, kBlock - 10, 'a');
  buffer.Consume(kBlock - 20);  // 10 bytes left at the end of the block
  buffer.PrepareAppend(500);
  EXPECT_EQ(buffer.capacity(), kBlock);
  EXPECT_EQ(buffer.readable(), std::string(10, 'a'));
}

TEST(IoBufferTest, GrowsOnlyWithTheBytesThatArrive) {
  // A reader asks for a little room at a time; storage must track what arrived, never a size
  // announced ahead (a client can declare a 1 GiB value and send nothing).
  BufferPool pool(kBlock);
  IoBuffer buffer(pool);
  constexpr size_t kChunk = 256;
  for (size_t total = kChunk; total <= 64 * kBlock; total += kChunk) {
    char* room = buffer.PrepareAppend(kChunk);
    std::fill(room, room + kChunk, 'v');
    buffer.CommitAppend(kChunk);
    EXPECT_LE(buffer.capacity(), std::max(kBlock, 2 * total)) << "at " << total << " bytes";
  }
  EXPECT_EQ(buffer.size(), 64 * kBlock);
}

TEST(IoBufferTest, ShrinksBackToAPoolBlockAfterALargeValue) {
  BufferPool pool(kBlock);
  IoBuffer buffer(pool);
  AppendBytes(buffer, 100 * kBlock, 'v');
  buffer.Append("get next");
  EXPECT_GT(buffer.capacity(), 100 * kBlock);
  buffer.Consume(100 * kBlock);
  buffer.Shrink();
  EXPECT_EQ(buffer.capacity(), kBlock);
  EXPECT_EQ(buffer.readable(), "get next");
}

TEST(IoBufferTest, KeepsALargeBlockWhileItIsStillNeeded) {
  BufferPool pool(kBlock);
  IoBuffer buffer(pool);
  AppendBytes(buffer, 4 * kBlock, 'v');
  buffer.Consume(kBlock);
  buffer.Shrink();
  EXPECT_GT(buffer.capacity(), kBlock);
  EXPECT_EQ(buffer.size(), 3 * kBlock);
}

TEST(IoBufferTest, HeapBlocksAreNotGivenToThePool) {
  BufferPool pool(kBlock);
  {
    IoBuffer buffer(pool);
    AppendBytes(buffer, 3 * kBlock, 'v');
  }
  EXPECT_EQ(pool.idle_blocks(), 0u);
}

TEST(BufferPoolTest, KeepsAtMostMaxIdleBlocks) {
  BufferPool pool(kBlock, /*max_idle=*/2);
  char* a = pool.Take();
  char* b = pool.Take();
  char* c = pool.Take();
  pool.Give(a);
  pool.Give(b);
  pool.Give(c);
  EXPECT_EQ(pool.idle_blocks(), 2u);
}

TEST(IoBufferTest, AnAppendWithoutMemoryFailsTheBufferAndKeepsWhatItHeld) {
  BufferPool pool(kBlock);
  IoBuffer buffer(pool);
  buffer.Append("VALUE k 0 1\r\n");
  EXPECT_FALSE(buffer.failed());
  EXPECT_EQ(buffer.PrepareAppend(kUnobtainable), nullptr);
  EXPECT_TRUE(buffer.failed());
  EXPECT_EQ(buffer.readable(), "VALUE k 0 1\r\n");
  buffer.Consume(buffer.size());
  EXPECT_EQ(buffer.PrepareAppend(kBlock * 2), nullptr) << "a failed buffer gets no more memory";
  EXPECT_TRUE(buffer.failed());
}

TEST(BufferPoolTest, TakeReturnsNullWhenTheAllocatorHasNoBlock) {
  BufferPool pool(kUnobtainable, /*max_idle=*/1);
  EXPECT_EQ(pool.Take(), nullptr);
  IoBuffer buffer(pool);
  buffer.Append("x");
  EXPECT_TRUE(buffer.failed());
  EXPECT_TRUE(buffer.empty());
  EXPECT_EQ(buffer.capacity(), 0u);
}

}  // namespace
}  // namespace mnemo::net
