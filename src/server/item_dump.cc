#include "server/item_dump.h"

#include <charconv>

#include "protocol/base64.h"
#include "server/uri_encode.h"

namespace mnemo::server {
namespace {

// Items copied out of the cache per step of the walk.
constexpr size_t kBatchItems = 64;
// memcached's item_cachedump answers at most 2 MB, END included.
constexpr size_t kCachedumpMax = size_t{2} << 20;
constexpr std::string_view kEnd = "END\r\n";

void AppendNumber(std::string* out, int64_t value) {
  char buf[24];
  const auto result = std::to_chars(buf, buf + sizeof(buf), value);
  out->append(buf, result.ptr);
}

void AppendUnsigned(std::string* out, uint64_t value) {
  char buf[24];
  const auto result = std::to_chars(buf, buf + sizeof(buf), value);
  out->append(buf, result.ptr);
}

}  // namespace

void ItemDump::Start(DumpKind kind, bool everything, uint32_t limit, std::atomic<bool>* crawler) {
  Stop();
  kind_ = kind;
  active_ = true;
  everything_ = everything;
  started_ = false;
  limit_ = limit;
  shown_ = 0;
  bytes_ = 0;
  crawler_ = crawler;
  cursor_ = storage::WalkCursor();
  batch_.Clear();
  next_ = 0;
}

void ItemDump::Stop() {
  if (crawler_ != nullptr) crawler_->store(false, std::memory_order_release);
  crawler_ = nullptr;
  active_ = false;
  batch_.Clear();
  next_ = 0;
}

bool ItemDump::Continue(storage::Cache& cache, net::IoBuffer& out, size_t chunk) {
  if (!started_) {
    started_ = true;
    if (kind_ != DumpKind::kCachedump) out.Append("OK\r\n");
  }
  size_t appended = 0;
  while (appended < chunk) {
    if (next_ == batch_.items().size()) {
      if (!everything_ || cursor_.done) break;
      cache.Walk(&cursor_, kBatchItems, &batch_);
      next_ = 0;
      continue;
    }
    const storage::WalkedItem& item = batch_.items()[next_];
    line_.clear();
    if (!Format(item, batch_.key(item), &line_)) break;
    ++next_;
    out.Append(line_);
    appended += line_.size();
  }
  if (appended >= chunk) return false;
  out.Append(kind_ == DumpKind::kMgdump ? std::string_view("EN\r\n") : kEnd);
  Stop();
  return true;
}

bool ItemDump::Format(const storage::WalkedItem& item, std::string_view key, std::string* line) {
  switch (kind_) {
    case DumpKind::kCachedump:
      if (limit_ != 0 && shown_ >= limit_) return false;
      if (item.key_binary) return true;  // memcached keeps binary keys out of its cachedump
      line->append("ITEM ").append(key).append(" [");
      AppendUnsigned(line, item.value_size);
      line->append(" b; ");
      AppendNumber(line, item.expires_at);
      line->append(" s]\r\n");
      if (bytes_ + line->size() + kEnd.size() + 1 > kCachedumpMax) return false;
      bytes_ += line->size();
      ++shown_;
      return true;
    case DumpKind::kMetadump:
      line->append("key=");
      AppendUriEncoded(line, key);
      line->append(" exp=");
      AppendNumber(line, item.expires_at == 0 ? -1 : item.expires_at);
      line->append(" la=");
      AppendNumber(line, item.last_access);
      line->append(" cas=");
      AppendUnsigned(line, item.cas);
      line->append(item.fetched ? " fetch=yes" : " fetch=no");
      line->append(" cls=1 size=");
      AppendUnsigned(line, item.stored_bytes);
      line->append(" flags=");
      AppendUnsigned(line, item.flags);
      line->append(" \n");
      return true;
    case DumpKind::kMgdump:
      line->append("mg ");
      if (item.key_binary) {
        const size_t at = line->size();
        line->resize(at + protocol::Base64EncodedSize(key.size()));
        line->resize(at + protocol::Base64Encode(key, line->data() + at));
        line->append(" b\r\n");
      } else {
        line->append(key).append("\r\n");
      }
      return true;
  }
  return true;
}

}  // namespace mnemo::server
