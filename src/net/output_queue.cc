#include "net/output_queue.h"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

namespace mnemo::net {

OutputQueue::~OutputQueue() {
  for (size_t i = head_; i < external_.size(); ++i) {
    const OutputPin& pin = external_[i].pin;
    if (pin.release != nullptr) pin.release(pin.owner, pin.token);
  }
}

void OutputQueue::AppendExternal(std::span<const std::string_view> pieces, OutputPin pin) {
  const uint64_t position = copied_sent_ + copied_.size();
  bool added = false;
  for (const std::string_view piece : pieces) {
    if (piece.empty()) continue;
    external_.push_back(External{piece, position, OutputPin{nullptr, nullptr, 0}});
    external_bytes_ += piece.size();
    added = true;
  }
  if (added) {
    external_.back().pin = pin;
  } else {
    external_.push_back(External{{}, position, pin});  // a marker: released in its turn
  }
}

OutputQueue::FlushStatus OutputQueue::FlushCopiedOnly(int fd, uint64_t* bytes) {
  while (!copied_.empty()) {
    const std::string_view pending = copied_.readable();
    const ssize_t n = send(fd, pending.data(), pending.size(), MSG_NOSIGNAL);
    if (n > 0) {
      copied_.Consume(static_cast<size_t>(n));
      copied_sent_ += static_cast<uint64_t>(n);
      *bytes += static_cast<uint64_t>(n);
      // A partial send means the socket buffer is full; trying again now would only return
      // EAGAIN. The writable edge will call us back.
      if (!copied_.empty()) return FlushStatus::kBlocked;
      break;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return FlushStatus::kBlocked;
    return FlushStatus::kError;
  }
  copied_.Shrink();
  return FlushStatus::kDone;
}

OutputQueue::FlushStatus OutputQueue::Flush(int fd, uint64_t* bytes, uint64_t* external_bytes) {
  if (copied_.failed()) return FlushStatus::kError;  // a reply is missing: send nothing more
  PopFinished();
  if (head_ == external_.size()) return FlushCopiedOnly(fd, bytes);
  iovec iov[IOV_MAX];
  while (!empty()) {
    // Gather in send order: the copied bytes before each view, the view, ... the copied rest.
    const char* const copied = copied_.readable().data();
    uint64_t pos = copied_sent_;  // position of the next copied byte to gather
    size_t count = 0;
    size_t gathered = 0;
    for (size_t i = head_; i < external_.size() && count < IOV_MAX; ++i) {
      const External& e = external_[i];
      if (e.copied_pos > pos) {
        const size_t length = static_cast<size_t>(e.copied_pos - pos);
        iov[count++] = {const_cast<char*>(copied + (pos - copied_sent_)), length};
        gathered += length;
        pos = e.copied_pos;
      }
      if (e.bytes.empty() || count == IOV_MAX) continue;
      iov[count++] = {const_cast<char*>(e.bytes.data()), e.bytes.size()};
      gathered += e.bytes.size();
    }
    const uint64_t copied_end = copied_sent_ + copied_.size();
    if (count < IOV_MAX && pos < copied_end) {  // every view is gathered: the copied rest
      iov[count++] = {const_cast<char*>(copied + (pos - copied_sent_)),
                      static_cast<size_t>(copied_end - pos)};
      gathered += static_cast<size_t>(copied_end - pos);
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = count;
    const ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n > 0) {
      *bytes += static_cast<uint64_t>(n);
      *external_bytes += Consume(static_cast<size_t>(n));
      if (static_cast<size_t>(n) < gathered) return FlushStatus::kBlocked;  // the socket is full
      continue;  // all gathered went out; more than IOV_MAX pieces may remain
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return FlushStatus::kBlocked;
    return FlushStatus::kError;
  }
  copied_.Shrink();
  return FlushStatus::kDone;
}

size_t OutputQueue::Peek(char* buffer, size_t capacity) const {
  const char* const copied = copied_.readable().data();
  uint64_t pos = copied_sent_;  // position of the next copied byte to copy
  size_t filled = 0;
  auto take = [&](const char* from, size_t length) {
    length = std::min(length, capacity - filled);
    if (length == 0) return;  // an empty group's marker has no bytes to point at
    std::memcpy(buffer + filled, from, length);
    filled += length;
  };
  for (size_t i = head_; i < external_.size() && filled < capacity; ++i) {
    const External& e = external_[i];
    if (e.copied_pos > pos) {
      take(copied + (pos - copied_sent_), static_cast<size_t>(e.copied_pos - pos));
      pos = e.copied_pos;
    }
    if (filled < capacity) take(e.bytes.data(), e.bytes.size());
  }
  const uint64_t copied_end = copied_sent_ + copied_.size();
  if (filled < capacity && pos < copied_end) {
    take(copied + (pos - copied_sent_), static_cast<size_t>(copied_end - pos));
  }
  return filled;
}

size_t OutputQueue::DrainTo(std::string* out) {
  size_t external_drained = 0;
  while (!empty()) {
    PopFinished();
    const uint64_t next_view = head_ == external_.size() ? UINT64_MAX : external_[head_].copied_pos;
    std::string_view piece;
    if (copied_sent_ < next_view && !copied_.empty()) {
      piece = copied_.readable().substr(
          0, static_cast<size_t>(std::min<uint64_t>(next_view - copied_sent_, copied_.size())));
    } else {
      piece = external_[head_].bytes;  // not empty: PopFinished drops finished views
    }
    out->append(piece);
    external_drained += Consume(piece.size());
  }
  copied_.Shrink();
  return external_drained;
}

size_t OutputQueue::Consume(size_t n) {
  size_t external_sent = 0;
  while (n > 0) {
    PopFinished();  // a view just finished may uncover copied bytes that go before the next
    const uint64_t next_view = head_ == external_.size() ? UINT64_MAX : external_[head_].copied_pos;
    if (copied_sent_ < next_view) {
      const size_t take =
          static_cast<size_t>(std::min<uint64_t>({n, next_view - copied_sent_, copied_.size()}));
      copied_.Consume(take);
      copied_sent_ += take;
      n -= take;
      continue;
    }
    External& e = external_[head_];  // bytes were sent and none of them copied: a view is next
    const size_t take = std::min(n, e.bytes.size());
    e.bytes.remove_prefix(take);
    external_bytes_ -= take;
    external_sent += take;
    n -= take;
  }
  PopFinished();
  return external_sent;
}

void OutputQueue::PopFinished() {
  while (head_ < external_.size()) {
    const External& e = external_[head_];
    if (!e.bytes.empty() || e.copied_pos > copied_sent_) return;
    const OutputPin pin = e.pin;
    ++head_;
    if (pin.release != nullptr) pin.release(pin.owner, pin.token);
  }
  if (head_ != 0 && head_ == external_.size()) {
    external_.clear();
    head_ = 0;
  }
}

}  // namespace mnemo::net
