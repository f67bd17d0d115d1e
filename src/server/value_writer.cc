#include "server/value_writer.h"

#include <charconv>
#include <cstdio>
#include <cstring>

#include "base/logging.h"
#include "server/replies.h"

namespace mnemo::server {
namespace {

char* Put(char* p, std::string_view text) {
  if (text.empty()) return p;  // its data() may be null, which memcpy must not be given
  std::memcpy(p, text.data(), text.size());
  return p + text.size();
}

}  // namespace

void ValueWriter::Begin(net::OutputQueue* out, bool with_cas) {
  out_ = out;
  binary_ = false;
  with_cas_ = with_cas;
  corrupt_ = false;
}

void ValueWriter::BeginBinary(net::OutputQueue* out, const BinaryFraming& framing) {
  out_ = out;
  binary_ = true;
  framing_ = framing;
  corrupt_ = false;
}

std::string_view ValueWriter::trailer() const {
  return replies::kCrlf.substr(0, binary_ ? 0 : replies::kCrlf.size());
}

void ValueWriter::FormatTextLine(const storage::ItemView& item, size_t value_size) {
  char* p = Put(line_, replies::kValue);
  p = Put(p, item.key());
  *p++ = ' ';
  p = std::to_chars(p, p + 10, item.flags()).ptr;
  *p++ = ' ';
  p = std::to_chars(p, p + 20, value_size).ptr;
  if (with_cas_) {
    *p++ = ' ';
    p = std::to_chars(p, p + 20, item.cas()).ptr;
  }
  p = Put(p, replies::kCrlf);
  line_size_ = static_cast<size_t>(p - line_);
}

void ValueWriter::FormatBinaryHeader(const storage::ItemView& item, size_t value_size) {
  const std::string_view key = framing_.with_key ? item.key() : std::string_view();
  protocol::binary::ResponseHeader header;
  header.opcode = framing_.opcode;
  header.key_length = static_cast<uint16_t>(key.size());
  header.extras_length = 4;
  header.body_length =
      static_cast<uint32_t>(4 + key.size() + (framing_.with_value ? value_size : 0));
  header.opaque = framing_.opaque;
  header.cas = item.cas();
  char* p = protocol::binary::WriteResponseHeader(header, line_);
  p = protocol::binary::Store32(p, item.flags());
  p = Put(p, key);
  line_size_ = static_cast<size_t>(p - line_);
}

void ValueWriter::OnItem(const storage::ItemView& item) {
  if (trace_fd_ >= 0 && g_verbosity.load(std::memory_order_relaxed) >= 2) {
    // As memcached prints each hit, under its item lock too; only at -vv.
    const std::string_view key = item.key();
    std::fprintf(stderr, ">%d sending key %.*s\n", trace_fd_, static_cast<int>(key.size()),
                 key.data());
  }
  const size_t value_size = item.value_size();
  if (binary_) {
    FormatBinaryHeader(item, value_size);
    if (!framing_.with_value) {  // a touch: the flags are all it answers
      out_->copied().Append({line_, line_size_});
      return;
    }
  } else {
    FormatTextLine(item, value_size);
  }
  SendValue(item, value_size);
}

void ValueWriter::BeginMeta(net::OutputQueue* out) {
  out_ = out;
  binary_ = false;
  corrupt_ = false;
}

void ValueWriter::WriteValue(const storage::ItemView& item, std::string_view head) {
  std::memcpy(line_, head.data(), head.size());
  line_size_ = head.size();
  SendValue(item, item.value_size());
}

void ValueWriter::SendValue(const storage::ItemView& item, size_t value_size) {
  if (value_size >= kSendInPlaceMin) {
    hold_ = item.Hold();
    if (hold_.held()) return;  // else a copy read from flash: copied below
  }
  net::IoBuffer& copied = out_->copied();
  char* const start = copied.PrepareAppend(line_size_ + value_size + trailer().size());
  if (start == nullptr) return;  // out of memory: the connection closes (IoBuffer::failed)
  char* p = Put(start, {line_, line_size_});
  if (!item.CopyValue(p)) {
    corrupt_ = true;  // nothing committed: no garbage reaches the client
    return;
  }
  p = Put(p + value_size, trailer());
  copied.CommitAppend(static_cast<size_t>(p - start));
}

bool ValueWriter::Finish(bool may_copy) {
  if (!hold_.held()) return true;
  net::IoBuffer& copied = out_->copied();
  if (copied.failed()) {  // the connection closes (IoBuffer::failed): nothing more to send
    hold_.Release();
    return true;
  }
  if (hold_.compressed()) {
    if (!may_copy) return false;
    const size_t value_size = hold_.value_size();
    char* const start = copied.PrepareAppend(line_size_ + value_size + trailer().size());
    if (start == nullptr) {
      hold_.Release();
      return true;
    }
    char* p = Put(start, {line_, line_size_});
    const bool ok = hold_.Decode(p);
    hold_.Release();
    if (!ok) {
      corrupt_ = true;
      return true;
    }
    p = Put(p + value_size, trailer());
    copied.CommitAppend(static_cast<size_t>(p - start));
    return true;
  }
  copied.Append({line_, line_size_});
  pieces_.clear();
  hold_.ForEachPiece([this](std::string_view piece) { pieces_.push_back(piece); });
  const storage::ValueHold::Token token = hold_.Detach();
  out_->AppendExternal(pieces_, net::OutputPin{token.release, token.owner, token.token});
  copied.Append(trailer());
  return true;
}

}  // namespace mnemo::server
