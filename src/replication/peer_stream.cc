#include "replication/peer_stream.h"

#include <chrono>
#include <utility>

namespace mnemo::replication {

int64_t SteadyMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

PeerStream::AppendResult PeerStream::Append(std::string_view record, uint64_t* ticket) {
  MutexLock lock(mu_);
  if (ticket != nullptr) *ticket = 0;
  if (dropped_) return AppendResult::kIgnored;
  if (backlog_ + record.size() > backlog_limit_) {
    dropped_ = true;
    dropped_flag_.store(true, std::memory_order_relaxed);
    // The taken batches are the replication thread's: it discards them when it sees the drop.
    SetBacklog(backlog_ - open_.size());
    std::string().swap(open_);
    open_records_ = 0;
    AdvanceAcked(appended_);
    lost_.store(true, std::memory_order_release);
    return AppendResult::kOverflow;
  }
  const bool first = open_records_ == 0;
  if (first) open_since_ms_ = SteadyMillis();
  open_.append(record);
  ++open_records_;
  ++appended_;
  if (ticket != nullptr) *ticket = appended_;
  SetBacklog(backlog_ + record.size());
  return first ? AppendResult::kAppendedFirst : AppendResult::kAppended;
}

void PeerStream::AdvanceAcked(uint64_t ticket) {
  // A drop (on a worker) and an MN (on the replication thread) may race: it never goes back.
  uint64_t acked = acked_ticket_.load(std::memory_order_relaxed);
  while (acked < ticket &&
         !acked_ticket_.compare_exchange_weak(acked, ticket, std::memory_order_release)) {
  }
}

bool PeerStream::TakeBatch() {
  Batch batch;
  {
    MutexLock lock(mu_);
    if (open_records_ == 0) return false;
    batch.bytes.swap(open_);
    batch.records = std::exchange(open_records_, 0);
    batch.since_ms = open_since_ms_;
    batch.last_ticket = appended_;
  }
  batch.first_seq = last_seq_ + 1;
  last_seq_ += batch.records;
  unacked_.push_back(std::move(batch));
  return true;
}

void PeerStream::AckOldest() {
  if (unacked_.empty()) return;
  const size_t bytes = unacked_.front().bytes.size();
  AdvanceAcked(unacked_.front().last_ticket);
  unacked_.pop_front();
  MutexLock lock(mu_);
  // A drop since may already have taken these bytes off.
  SetBacklog(backlog_ >= bytes ? backlog_ - bytes : 0);
}

uint64_t PeerStream::Resume(uint64_t applied) {
  size_t forgotten = 0;
  while (!unacked_.empty() &&
         unacked_.front().first_seq + unacked_.front().records - 1 <= applied) {
    forgotten += unacked_.front().bytes.size();
    AdvanceAcked(unacked_.front().last_ticket);
    unacked_.pop_front();
  }
  // The rest is sent again, numbered on from the peer's count, which counts every record it
  // applies: a batch it applied in part is sent whole, as applying a record twice leaves what
  // applying it once does; records lost to a drop leave no gap.
  uint64_t seq = applied;
  for (Batch& batch : unacked_) {
    batch.written = false;
    batch.first_seq = seq + 1;
    seq += batch.records;
  }
  const uint64_t resent = seq - applied;
  last_seq_ = seq;
  MutexLock lock(mu_);
  SetBacklog(backlog_ >= forgotten ? backlog_ - forgotten : 0);
  return resent;
}

void PeerStream::Drop() {
  unacked_.clear();
  MutexLock lock(mu_);
  dropped_ = true;
  dropped_flag_.store(true, std::memory_order_relaxed);
  std::string().swap(open_);
  open_records_ = 0;
  SetBacklog(0);
  // Counted before the acknowledged ticket moves past the discarded records: a reader that sees
  // the ticket sees the drop.
  drops_.fetch_add(1, std::memory_order_acq_rel);
  AdvanceAcked(appended_);
  lost_.store(true, std::memory_order_release);
}

void PeerStream::Reopen() {
  unacked_.clear();
  MutexLock lock(mu_);
  dropped_ = false;
  dropped_flag_.store(false, std::memory_order_relaxed);
  SetBacklog(open_.size());
}

int64_t PeerStream::OldestUnackedMs() {
  if (!unacked_.empty()) return unacked_.front().since_ms;
  MutexLock lock(mu_);
  return open_records_ == 0 ? 0 : open_since_ms_;
}

}  // namespace mnemo::replication
