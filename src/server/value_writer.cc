#include "server/value_writer.h"

#include <charconv>
#include <cstdio>
#include <cstring>

#include "base/logging.h"
#include "server/replies.h"

namespace mnemo::server {
namespace {

char* Put(char* p, std::string_view text) {
  std::memcpy(p, text.data(), text.size());
  return p + text.size();
}

}  // namespace

void ValueWriter::Begin(net::OutputQueue* out, bool with_cas) {
  out_ = out;
  with_cas_ = with_cas;
  corrupt_ = false;
}

void ValueWriter::OnItem(const storage::ItemView& item) {
  if (trace_fd_ >= 0 && g_verbosity.load(std::memory_order_relaxed) >= 2) {
    // As memcached prints each hit, under its item lock too; only at -vv.
    const std::string_view key = item.key();
    std::fprintf(stderr, ">%d sending key %.*s\n", trace_fd_, static_cast<int>(key.size()),
                 key.data());
  }
  const size_t value_size = item.value_size();
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
  if (value_size >= kSendInPlaceMin) {
    hold_ = item.Hold();
    return;
  }
  net::IoBuffer& copied = out_->copied();
  char* const start = copied.PrepareAppend(line_size_ + value_size + replies::kCrlf.size());
  if (start == nullptr) return;  // out of memory: the connection closes (IoBuffer::failed)
  p = Put(start, {line_, line_size_});
  if (!item.CopyValue(p)) {
    corrupt_ = true;  // nothing committed: no garbage reaches the client
    return;
  }
  p = Put(p + value_size, replies::kCrlf);
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
    char* const start = copied.PrepareAppend(line_size_ + value_size + replies::kCrlf.size());
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
    p = Put(p + value_size, replies::kCrlf);
    copied.CommitAppend(static_cast<size_t>(p - start));
    return true;
  }
  copied.Append({line_, line_size_});
  pieces_.clear();
  hold_.ForEachPiece([this](std::string_view piece) { pieces_.push_back(piece); });
  const storage::ValueHold::Token token = hold_.Detach();
  out_->AppendExternal(pieces_, net::OutputPin{token.release, token.owner, token.token});
  copied.Append(replies::kCrlf);
  return true;
}

}  // namespace mnemo::server
