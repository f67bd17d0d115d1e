#include "replication/record_encoder.h"

#include <cstdint>
#include <string>

#include "protocol/base64.h"

namespace mnemo::replication {
namespace {

// The key as a command's token: itself, or base64 with `*binary` set.
void AppendKey(std::string_view key, bool key_binary, std::string* out, bool* binary) {
  *binary = key_binary || !TextSafeKey(key);
  if (!*binary) {
    out->append(key);
    return;
  }
  const size_t at = out->size();
  out->resize(at + protocol::Base64EncodedSize(key.size()));
  const size_t written = protocol::Base64Encode(key, out->data() + at);
  out->resize(at + written);
}

void AppendNumber(int64_t number, std::string* out) { out->append(std::to_string(number)); }

}  // namespace

bool TextSafeKey(std::string_view key) {
  for (const char c : key) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= ' ' || byte == 0x7f) return false;
  }
  return !key.empty();
}

namespace {

// `move`: a copy of the move to the list of that fingerprint; 0: an ordinary record.
bool AppendStore(const storage::Change& change, uint64_t move, std::string* out) {
  bool binary = false;
  const size_t start = out->size();
  const size_t length = change.item->value_size();
  out->append("ms ");
  AppendKey(change.key, change.key_binary, out, &binary);
  out->push_back(' ');
  AppendNumber(static_cast<int64_t>(length), out);
  out->append(" T");
  AppendNumber(change.expires_at, out);
  out->append(" F");
  AppendNumber(change.item->flags(), out);
  if (move != 0) {
    out->append(" MS O");
    out->append(std::to_string(move));
  }
  out->append(binary ? " b q\r\n" : " q\r\n");
  const size_t value_at = out->size();
  out->resize(value_at + length);
  if (!change.item->CopyValue(out->data() + value_at)) {
    out->resize(start);
    return false;
  }
  out->append("\r\n");
  return true;
}

}  // namespace

bool AppendCopyRecord(const storage::Change& change, uint64_t move, std::string* out) {
  return AppendStore(change, move, out);
}

bool AppendRecord(const storage::Change& change, std::string* out) {
  bool binary = false;
  switch (change.kind) {
    case storage::ChangeKind::kStore:
      return AppendStore(change, /*move=*/0, out);
    case storage::ChangeKind::kRemove:
      out->append("md ");
      AppendKey(change.key, false, out, &binary);
      out->append(binary ? " b q\r\n" : " q\r\n");
      return true;
    case storage::ChangeKind::kTouch:
      if (!change.key_binary && TextSafeKey(change.key)) {
        out->append("touch ");
        out->append(change.key);
        out->push_back(' ');
        AppendNumber(change.expires_at, out);
        out->append(" noreply\r\n");
        return true;
      }
      out->append("mg ");
      AppendKey(change.key, true, out, &binary);
      out->append(" b T");
      AppendNumber(change.expires_at, out);
      out->append(" q\r\n");
      return true;
    case storage::ChangeKind::kFlush:
      // flush_all N takes effect at the start of the second N - 1 from now, and flushes that
      // second's stores too (server/dispatcher.cc); without N, exactly what came before it.
      out->append("flush_all ");
      if (change.flush.whole_second) {
        AppendNumber(int64_t{change.flush.delay_seconds} + 1, out);
        out->push_back(' ');
      }
      out->append("noreply\r\n");
      return true;
  }
  return false;
}

}  // namespace mnemo::replication
