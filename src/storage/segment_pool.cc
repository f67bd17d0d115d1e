#include "storage/segment_pool.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <string>

#include "storage/hash_table.h"

namespace mnemo::storage {

namespace {

// Segment counts at most kMaxSegments (what an ItemLocation can name) survive the narrowing to
// uint32_t; Init() refuses a pool that needs more.
uint32_t CappedSegments(size_t bytes, size_t segment_size) {
  return static_cast<uint32_t>(std::min<size_t>(bytes / segment_size, kMaxSegments + size_t{1}));
}

}  // namespace

SegmentPool::SegmentPool(size_t limit_bytes, size_t max_bytes, size_t segment_size)
    : segment_size_(segment_size),
      max_segments_(CappedSegments(std::max(limit_bytes, max_bytes), segment_size)),
      limit_(CappedSegments(limit_bytes, segment_size)) {}

SegmentPool::~SegmentPool() {
  if (base_ != nullptr) munmap(base_, size_t{max_segments_} * segment_size_);
  if (memory_file_fd_ >= 0) close(memory_file_fd_);
}

namespace {

// Opens (creating) `path`, locks it, sizes it to `bytes` with its blocks allocated, and maps it
// shared. On success *fd_out is the open file, which holds the lock until it is closed.
Status MapFile(const std::string& path, size_t bytes, int64_t* size_at_open, void** out,
               int* fd_out) {
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status::Error("cannot open memory file " + path + ": " + std::strerror(errno));
  }
  // Two servers on one file would write over each other's items, and the second would resize
  // the first's mapping from under it: the lock is taken before anything touches the file.
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    close(fd);
    return Status::Error(
        "cannot lock memory file " + path + ": " +
        (error == EWOULDBLOCK ? std::string("another process is using it") : std::strerror(error)));
  }
  struct stat st {};
  Status status = Status::Ok();
  if (fstat(fd, &st) != 0) {
    status = Status::Error("cannot stat memory file " + path + ": " + std::strerror(errno));
  } else {
    *size_at_open = st.st_size;
    if (static_cast<uint64_t>(st.st_size) != bytes &&
        ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
      status = Status::Error("cannot size memory file " + path + " to " + std::to_string(bytes) +
                             " bytes: " + std::strerror(errno));
    }
  }
  // posix_fallocate returns the error rather than setting errno. A file system that cannot
  // allocate blocks ahead (EOPNOTSUPP on some) is told apart from one that is full.
  // A file of the right size whose blocks are all allocated (the last start's) needs none: on
  // tmpfs, posix_fallocate visits every page again, a tenth of a second per GiB.
  const bool allocated = static_cast<uint64_t>(st.st_size) == bytes &&
                         static_cast<uint64_t>(st.st_blocks) * 512 >= bytes;
  const int error =
      status.ok() && !allocated ? posix_fallocate(fd, 0, static_cast<off_t>(bytes)) : 0;
  if (status.ok() && error != 0) {
    status = Status::Error("cannot allocate " + std::to_string(bytes) + " bytes for memory file " +
                           path + ": " + std::strerror(error));
  }
  if (status.ok()) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      status = Status::Error("cannot map memory file " + path + ": " + std::strerror(errno));
    } else {
      *out = p;
    }
  }
  if (status.ok()) {
    *fd_out = fd;
  } else {
    close(fd);
  }
  return status;
}

}  // namespace

Status SegmentPool::Init(const std::string& memory_file) {
  if (max_segments_ > kMaxSegments) {
    return Status::Error("cannot address more than " + std::to_string(kMaxSegments) +
                         " segments of " + std::to_string(segment_size_) + " bytes for items");
  }
  const size_t bytes = size_t{max_segments_} * segment_size_;
  if (memory_file.empty()) {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      return Status::Error("cannot reserve " + std::to_string(bytes) +
                           " bytes of address space for items: " + std::strerror(errno));
    }
    base_ = static_cast<char*>(p);
    // Huge pages where the kernel allows them (transparent_hugepage "madvise" or "always"): the
    // kernel reads a large value's pages as it sends it, and 2 MiB pages spare those reads most
    // of their TLB misses (256 KiB gets: 2% more per second, bench/RESULTS.md). Only advice: a
    // kernel without them maps small pages, as before. The first write to each 2 MiB may make
    // the kernel compact memory to find a huge page (defrag "madvise"): once per 2 MiB of -m.
    (void)madvise(p, bytes, MADV_HUGEPAGE);
  } else {
    void* p = nullptr;
    Status status = MapFile(memory_file, bytes, &file_size_at_open_, &p, &memory_file_fd_);
    if (!status.ok()) return status;
    base_ = static_cast<char*>(p);
    file_backed_ = true;
  }
  owned_infos_.reset(new (std::nothrow) SegmentInfo[max_segments_]);
  infos_ = owned_infos_.get();
  if (infos_ == nullptr) {
    return Status::Error("cannot allocate " + std::to_string(max_segments_) +
                         " segment descriptors");
  }
  SpinLockGuard guard(lock_);
  free_.reserve(max_segments_);
  return Status::Ok();
}

void SegmentPool::PlaceDescriptors(void* memory) {
  infos_ = static_cast<SegmentInfo*>(memory);
  for (uint32_t id = 0; id < max_segments_; ++id) new (&infos_[id]) SegmentInfo;
  owned_infos_.reset();
}

Status SegmentPool::Sync() const {
  if (!file_backed_) return Status::Ok();
  if (msync(base_, size_t{max_segments_} * segment_size_, MS_SYNC) != 0) {
    return Status::Error(std::string("msync of the memory file: ") + std::strerror(errno));
  }
  return Status::Ok();
}

void SegmentPool::RestoreInUse(const std::vector<uint32_t>& ids) {
  SpinLockGuard guard(lock_);
  free_.clear();
  // Pushed from the top, so that the lowest free ids are handed out first.
  size_t next = ids.size();
  for (uint32_t id = max_segments_; id-- > 0;) {
    if (next > 0 && ids[next - 1] == id) {
      --next;
    } else {
      free_.push_back(id);
    }
  }
  untouched_next_ = max_segments_;
  touched_.store(max_segments_, std::memory_order_relaxed);
  free_count_.store(static_cast<uint32_t>(free_.size()), std::memory_order_relaxed);
  in_use_.store(static_cast<uint32_t>(ids.size()), std::memory_order_relaxed);
}

uint32_t SegmentPool::Allocate(SegmentState state) {
  uint32_t id = kNoSegment;
  {
    SpinLockGuard guard(lock_);
    if (in_use_.load(std::memory_order_relaxed) >= limit_.load(std::memory_order_relaxed)) {
      return kNoSegment;
    }
    if (!free_.empty()) {
      id = free_.back();
      free_.pop_back();
      free_count_.fetch_sub(1, std::memory_order_relaxed);
    } else if (untouched_next_ < max_segments_) {
      id = untouched_next_++;
      touched_.store(untouched_next_, std::memory_order_relaxed);
    } else {
      return kNoSegment;
    }
    in_use_.fetch_add(1, std::memory_order_relaxed);
  }
  infos_[id].state.store(state, std::memory_order_release);
  return id;
}

void SegmentPool::Free(uint32_t id) {
  infos_[id].state.store(SegmentState::kDraining, std::memory_order_seq_cst);
  if (!FinishFreeIfUnheld(id)) draining_.fetch_add(1, std::memory_order_relaxed);
}

void SegmentPool::Unhold(uint32_t id) {
  SegmentInfo& info = infos_[id];
  if (info.readers.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
      info.state.load(std::memory_order_seq_cst) == SegmentState::kDraining &&
      FinishFreeIfUnheld(id)) {
    draining_.fetch_sub(1, std::memory_order_relaxed);
  }
}

bool SegmentPool::FinishFreeIfUnheld(uint32_t id) {
  SegmentInfo& info = infos_[id];
  if (info.readers.load(std::memory_order_seq_cst) != 0) return false;
  SegmentState expected = SegmentState::kDraining;
  if (!info.state.compare_exchange_strong(expected, SegmentState::kFree,
                                          std::memory_order_seq_cst)) {
    return false;  // the other side of the race freed it
  }
  uint32_t next = info.chain_next;
  Recycle(id);
  while (next != kNoSegment) {
    const uint32_t after = infos_[next].chain_next;
    Recycle(next);
    next = after;
  }
  return true;
}

void SegmentPool::Recycle(uint32_t id) {
  SegmentInfo& info = infos_[id];
  info.write_offset.store(0, std::memory_order_relaxed);
  info.live_items.store(0, std::memory_order_relaxed);
  info.live_bytes.store(0, std::memory_order_relaxed);
  info.max_expiry.store(0, std::memory_order_relaxed);
  info.epoch = 0;
  info.create_time.store(0, std::memory_order_relaxed);
  info.last_access.store(0, std::memory_order_relaxed);
  info.flush_gen.store(0, std::memory_order_relaxed);
  info.ttl_bucket = 0;
  info.chain_head = false;
  info.chain_next = kNoSegment;
  info.prev = kNoSegment;
  info.next = kNoSegment;
  info.state.store(SegmentState::kFree, std::memory_order_release);
  SpinLockGuard guard(lock_);
  free_.push_back(id);
  free_count_.fetch_add(1, std::memory_order_relaxed);
  in_use_.fetch_sub(1, std::memory_order_relaxed);
}

bool SegmentPool::SetLimit(size_t limit_bytes) {
  const size_t segments = limit_bytes / segment_size_;
  if (segments < 1 || segments > max_segments_) return false;
  limit_.store(static_cast<uint32_t>(segments), std::memory_order_relaxed);
  return true;
}

uint32_t SegmentPool::available() const {
  const uint32_t used = in_use();
  const uint32_t lim = limit();
  return used >= lim ? 0 : lim - used;
}

}  // namespace mnemo::storage
