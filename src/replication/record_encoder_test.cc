#include "replication/record_encoder.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace mnemo::replication {
namespace {

// An item as the encoder reads it: flags and value.
class FakeItem final : public storage::ItemView {
 public:
  FakeItem(std::string value, uint32_t flags, bool corrupt = false)
      : value_(std::move(value)), flags_(flags), corrupt_(corrupt) {}
  std::string_view key() const override { return {}; }
  uint32_t flags() const override { return flags_; }
  uint64_t cas() const override { return 0; }
  size_t value_size() const override { return value_.size(); }
  bool CopyValue(char* out) const override {
    if (!value_.empty()) std::memcpy(out, value_.data(), value_.size());
    return !corrupt_;
  }
  storage::ValueHold Hold() const override { return {}; }
  int64_t ttl_remaining() const override { return -1; }
  bool fetched() const override { return false; }
  storage::ItemMeta meta() const override { return {}; }

 private:
  std::string value_;
  uint32_t flags_;
  bool corrupt_;
};

std::string Encode(const storage::Change& change) {
  std::string out = "before|";
  EXPECT_TRUE(AppendRecord(change, &out));
  EXPECT_TRUE(out.starts_with("before|"));
  return out.substr(7);
}

TEST(RecordEncoderTest, AStoreCarriesTheWholeValueFlagsAndAbsoluteExpiry) {
  const FakeItem item("hello\r\nworld", 42);
  storage::Change change;
  change.kind = storage::ChangeKind::kStore;
  change.key = "user:1";
  change.item = &item;
  change.expires_at = 1900000000;
  EXPECT_EQ(Encode(change), "ms user:1 12 T1900000000 F42 q\r\nhello\r\nworld\r\n");
  change.expires_at = 0;
  const FakeItem empty("", 0);
  change.item = &empty;
  EXPECT_EQ(Encode(change), "ms user:1 0 T0 F0 q\r\n\r\n");
}

TEST(RecordEncoderTest, ACopyIsAStoreInTheExplicitSetModeTaggedWithItsMove) {
  const FakeItem item("v1", 7);
  storage::Change change;
  change.kind = storage::ChangeKind::kStore;
  change.key = "user:2";
  change.item = &item;
  change.expires_at = 1900000000;
  std::string out;
  ASSERT_TRUE(AppendCopyRecord(change, 4611686018427387903, &out));
  EXPECT_EQ(out, "ms user:2 2 T1900000000 F7 MS O4611686018427387903 q\r\nv1\r\n");
  out.clear();
  change.key = std::string_view("a b", 3);
  ASSERT_TRUE(AppendCopyRecord(change, 12, &out));
  EXPECT_EQ(out, "ms YSBi 2 T1900000000 F7 MS O12 b q\r\nv1\r\n");
}

TEST(RecordEncoderTest, KeysTheTextProtocolCannotCarryGoInBase64) {
  const FakeItem item("v", 1);
  storage::Change change;
  change.kind = storage::ChangeKind::kStore;
  change.key = std::string_view("a b\0", 4);
  change.item = &item;
  EXPECT_EQ(Encode(change), "ms YSBiAA== 1 T0 F1 b q\r\nv\r\n");
  change.key = "foo";
  change.key_binary = true;  // it came base64-encoded: it stays marked so on the replica
  EXPECT_EQ(Encode(change), "ms Zm9v 1 T0 F1 b q\r\nv\r\n");

  change.kind = storage::ChangeKind::kRemove;
  change.key = "a b";
  EXPECT_EQ(Encode(change), "md YSBi b q\r\n");
  change.kind = storage::ChangeKind::kTouch;
  change.expires_at = 1900000000;
  EXPECT_EQ(Encode(change), "mg YSBi b T1900000000 q\r\n");
}

TEST(RecordEncoderTest, RemovalsTouchesAndFlushes) {
  storage::Change change;
  change.kind = storage::ChangeKind::kRemove;
  change.key = "k";
  EXPECT_EQ(Encode(change), "md k q\r\n");
  change.kind = storage::ChangeKind::kTouch;
  change.expires_at = 1900000000;
  EXPECT_EQ(Encode(change), "touch k 1900000000 noreply\r\n");
  change.expires_at = 0;
  EXPECT_EQ(Encode(change), "touch k 0 noreply\r\n");

  change = {};
  change.kind = storage::ChangeKind::kFlush;
  EXPECT_EQ(Encode(change), "flush_all noreply\r\n");
  // The dispatcher's flush_all N is {N - 1, whole second}.
  change.flush = {.delay_seconds = 0, .whole_second = true};
  EXPECT_EQ(Encode(change), "flush_all 1 noreply\r\n");
  change.flush = {.delay_seconds = 9, .whole_second = true};
  EXPECT_EQ(Encode(change), "flush_all 10 noreply\r\n");
}

TEST(RecordEncoderTest, ACorruptValueAppendsNothing) {
  const FakeItem item("xyz", 0, /*corrupt=*/true);
  storage::Change change;
  change.kind = storage::ChangeKind::kStore;
  change.key = "k";
  change.item = &item;
  std::string out = "kept";
  EXPECT_FALSE(AppendRecord(change, &out));
  EXPECT_EQ(out, "kept");
}

TEST(RecordEncoderTest, TextSafeKeys) {
  EXPECT_TRUE(TextSafeKey("abc:1~"));
  EXPECT_FALSE(TextSafeKey("a b"));
  EXPECT_FALSE(TextSafeKey("a\tb"));
  EXPECT_FALSE(TextSafeKey("a\x7f"));
  EXPECT_FALSE(TextSafeKey(""));
  EXPECT_TRUE(TextSafeKey("\xc3\xa9"));  // bytes above DEL pass, as memcached's text keys
}

}  // namespace
}  // namespace mnemo::replication
