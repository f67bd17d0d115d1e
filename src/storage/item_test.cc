#include "storage/item.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>

namespace mnemo::storage {
namespace {

ItemHeader RoundTrip(const ItemHeader& header, size_t expected_size) {
  char bytes[kItemMaxHeader + 1];
  std::memset(bytes, 0x5a, sizeof(bytes));
  EXPECT_EQ(header.size(), expected_size);
  EXPECT_EQ(header.Encode(bytes), expected_size);
  EXPECT_EQ(bytes[expected_size], 0x5a) << "wrote past the header";
  ItemHeader decoded;
  EXPECT_EQ(ItemHeader::Decode(bytes, &decoded), expected_size);
  EXPECT_EQ(decoded.value_size, header.value_size);
  EXPECT_EQ(decoded.flags, header.flags);
  EXPECT_EQ(decoded.expiry, header.expiry);
  EXPECT_EQ(decoded.key_size, header.key_size);
  EXPECT_EQ(decoded.compressed, header.compressed);
  EXPECT_EQ(decoded.raw_size, header.compressed ? header.raw_size : 0);
  EXPECT_EQ(decoded.original_size(), header.original_size());
  EXPECT_EQ(decoded.chained, header.chained);
  EXPECT_EQ(decoded.has_cas, header.has_cas);
  EXPECT_EQ(decoded.cas, header.has_cas ? header.cas : 0);
  EXPECT_EQ(decoded.key_binary, header.key_binary);
  EXPECT_EQ(decoded.stale, header.stale);
  EXPECT_EQ(decoded.win_sent, header.win_sent);
  const ItemSpan span = ItemSpanAt(bytes);
  EXPECT_EQ(span.header_size, expected_size);
  EXPECT_EQ(span.key_size, header.key_size);
  EXPECT_EQ(span.value_size, header.value_size);
  return decoded;
}

TEST(ItemTest, SmallItemCostsThreeBytesOfHeader) {
  // The budget of docs/item-layout.md: a 13-byte key and a 32-byte value in 48 bytes.
  ItemHeader header;
  header.key_size = 13;
  header.value_size = 32;
  RoundTrip(header, kItemMinHeader);
  EXPECT_EQ(header.item_size(), 48u);
}

TEST(ItemTest, OptionalFieldsCostFourBytesEach) {
  ItemHeader header;
  header.key_size = 250;
  header.value_size = 1024;  // two varint bytes
  RoundTrip(header, 4);
  header.flags = 0xdeadbeef;
  RoundTrip(header, 8);
  header.expiry = 123456789;
  RoundTrip(header, 12);
  header.flags = 0;
  RoundTrip(header, 8);
  header.chained = true;
  RoundTrip(header, 8);
}

TEST(ItemTest, CompressedItemCarriesItsRawSizeAfterTheCas) {
  ItemHeader header;
  header.key_size = 13;
  header.value_size = 300;  // the snappy block: two varint bytes
  header.raw_size = 4096;   // the original value: two more
  RoundTrip(header, kItemMinHeader + 1);
  header.compressed = true;
  EXPECT_EQ(RoundTrip(header, kItemMinHeader + 3).original_size(), 4096u);
  EXPECT_EQ(header.item_size(), 6 + 13 + 300u);
  header.has_cas = true;
  header.cas = 5;
  header.expiry = 9;
  const ItemHeader decoded = RoundTrip(header, kItemMinHeader + 3 + 12);
  EXPECT_EQ(decoded.expiry, 9u);
  EXPECT_EQ(decoded.cas, 5u);
  // touch rewrites the expiry in place: the raw size after it stays.
  char item[64];
  header.Encode(item);
  RewriteExpiry(item, header, 77);
  ItemHeader rewritten;
  ItemHeader::Decode(item, &rewritten);
  EXPECT_EQ(rewritten.expiry, 77u);
  EXPECT_EQ(rewritten.raw_size, 4096u);
}

TEST(ItemTest, VarintBoundaries) {
  const struct {
    uint32_t value;
    size_t bytes;
  } cases[] = {{0, 1},        {127, 1},
               {128, 2},      {16383, 2},
               {16384, 3},    {(1u << 21) - 1, 3},
               {1u << 21, 4}, {(1u << 28) - 1, 4},
               {1u << 28, 5}, {UINT32_MAX, 5}};
  for (const auto& c : cases) {
    ItemHeader header;
    header.key_size = 1;
    header.value_size = c.value;
    RoundTrip(header, 2 + c.bytes);
  }
  ItemHeader header;
  header.value_size = UINT32_MAX;
  header.flags = 1;
  header.expiry = 1;
  header.has_cas = true;
  header.cas = 1;
  header.compressed = true;
  header.raw_size = UINT32_MAX;
  RoundTrip(header, kItemMaxHeader);
}

TEST(ItemTest, ExplicitCasCostsEightBytesAndStateBitsNothing) {
  ItemHeader header;
  header.key_size = 13;
  header.value_size = 32;
  header.key_binary = true;
  header.stale = true;
  header.win_sent = true;
  RoundTrip(header, kItemMinHeader);
  header.has_cas = true;
  header.cas = 0x0123456789abcdefull;
  RoundTrip(header, kItemMinHeader + 8);
  header.cas = 0;  // a client may choose 0 (meta E0): still carried
  RoundTrip(header, kItemMinHeader + 8);
  header.expiry = 77;
  EXPECT_EQ(RoundTrip(header, kItemMinHeader + 12).expiry, 77u);
}

TEST(ItemTest, StateBitsChangeInPlaceAndLeaveTheRestAlone) {
  ItemHeader header;
  header.key_size = 3;
  header.value_size = 2;
  header.expiry = 1000;
  header.has_cas = true;
  header.cas = 42;
  header.key_binary = true;
  char item[64];
  const size_t n = header.Encode(item);
  std::copy_n("keyvv", 5, item + n);
  ItemHeader decoded;
  RewriteState(item, kItemStale | kItemWinSent);
  ItemHeader::Decode(item, &decoded);
  EXPECT_TRUE(decoded.stale);
  EXPECT_TRUE(decoded.win_sent);
  RewriteState(item, kItemStale);
  ItemHeader::Decode(item, &decoded);
  EXPECT_TRUE(decoded.stale);
  EXPECT_FALSE(decoded.win_sent);
  // Layout bits are not state: asking to change them does nothing.
  RewriteState(item, 0xff & ~kItemStale & ~kItemWinSent);
  EXPECT_EQ(ItemHeader::Decode(item, &decoded), n);
  EXPECT_FALSE(decoded.stale);
  EXPECT_FALSE(decoded.win_sent);
  EXPECT_TRUE(decoded.key_binary);
  EXPECT_TRUE(decoded.has_cas);
  EXPECT_EQ(decoded.cas, 42u);
  EXPECT_EQ(decoded.expiry, 1000u);
  EXPECT_EQ(ItemKey(item, decoded), "key");
  EXPECT_EQ(ItemSpanAt(item).item_size(), n + 5);
}

TEST(ItemTest, KeyFollowsTheHeaderAndExpiryRewritesInPlace) {
  ItemHeader header;
  header.key_size = 3;
  header.value_size = 2;
  header.flags = 7;
  header.expiry = 1000;
  char item[32];
  const size_t n = header.Encode(item);
  std::copy_n("keyvv", 5, item + n);
  EXPECT_EQ(ItemKey(item, header), "key");
  RewriteExpiry(item, header, 99999);
  ItemHeader decoded;
  ItemHeader::Decode(item, &decoded);
  EXPECT_EQ(decoded.expiry, 99999u);
  EXPECT_EQ(decoded.flags, 7u);
  EXPECT_EQ(std::string(item + n, 5), "keyvv");
}

TEST(ItemTest, BytesThatAreNoItemDecodeWithinTheLongestHeader) {
  // What a walk of a damaged memory file meets (crash recovery): every varint byte says "more".
  char bytes[4 * kItemMaxHeader];
  std::memset(bytes, 0xff, sizeof(bytes));
  ItemHeader header;
  EXPECT_LE(ItemHeader::Decode(bytes, &header), kItemMaxHeader);
  EXPECT_LE(ItemSpanAt(bytes).header_size, kItemMaxHeader);
}

}  // namespace
}  // namespace mnemo::storage
