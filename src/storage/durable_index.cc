#include "storage/durable_index.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>

#include "storage/hash_table.h"
#include "storage/segment_pool.h"

namespace mnemo::storage {
namespace {

constexpr char kMagic[8] = {'M', 'N', 'E', 'M', 'O', 'I', 'D', 'X'};
// Bumped whenever this layout, SegmentInfo's or a bucket's changes: an index of another version
// is not read.
constexpr uint32_t kIndexVersion = 1;
constexpr size_t kPage = 4096;

size_t PageUp(size_t bytes) { return (bytes + kPage - 1) / kPage * kPage; }

// Reads [from, to) of `fd` in whole buckets (relative to `from`), skipping holes where the file
// system can say where they are, and appends each non-zero slot word.
Status ReadSlots(int fd, size_t from, size_t to, std::vector<uint64_t>* slots) {
  constexpr size_t kWords = HashTable::kBucketBytes / sizeof(uint64_t);
  constexpr size_t kChunk = size_t{1} << 20;
  std::vector<uint64_t> buffer(kChunk / sizeof(uint64_t));
  size_t at = from;
  while (at < to) {
    off_t data = lseek(fd, static_cast<off_t>(at), SEEK_DATA);
    if (data < 0 && errno == ENXIO) break;        // only holes from here
    if (data < 0) data = static_cast<off_t>(at);  // cannot tell: read it all
    size_t start = std::max(at, static_cast<size_t>(data));
    start = from + (start - from) / HashTable::kBucketBytes * HashTable::kBucketBytes;
    if (start >= to) break;
    off_t hole = lseek(fd, static_cast<off_t>(start), SEEK_HOLE);
    const size_t end = hole < 0 ? to : std::min(to, static_cast<size_t>(hole));
    for (size_t pos = start; pos < end; pos += kChunk) {
      const size_t want = std::min(kChunk, end - pos);
      const ssize_t got = pread(fd, buffer.data(), want, static_cast<off_t>(pos));
      if (got < 0) return Status::Error(std::string("read: ") + std::strerror(errno));
      const size_t words = static_cast<size_t>(got) / HashTable::kBucketBytes * kWords;
      for (size_t w = 0; w < words; ++w) {
        // The last word of each bucket is its overflow index, not a slot.
        if (w % kWords != kWords - 1 && buffer[w] != 0) slots->push_back(buffer[w]);
      }
    }
    at = std::max(end, start + HashTable::kBucketBytes);
  }
  return Status::Ok();
}

}  // namespace

struct DurableIndex::Header {
  char magic[8];
  uint32_t version;
  std::atomic<uint32_t> running;
  uint64_t memory_limit;
  uint64_t segment_size;
  uint32_t max_segments;
  uint32_t item_layout;
  uint64_t item_size_max;
  uint64_t use_cas;
  uint64_t table_bytes;
  std::atomic<int64_t> time_base;
  alignas(64) CacheClocks clocks;
};

std::string IndexPathFor(const std::string& memory_file) { return memory_file + ".index"; }

DurableIndex::~DurableIndex() {
  if (fd_ >= 0) close(fd_);
  if (base_ == nullptr) return;
  MarkStopped();
  munmap(base_, size_);
}

bool DurableIndex::CommitTable(size_t offset, size_t bytes) {
  return posix_fallocate(fd_, static_cast<off_t>(table_at_ + offset), static_cast<off_t>(bytes)) ==
         0;
}

DurableIndex::Header* DurableIndex::header() const { return reinterpret_cast<Header*>(base_); }

CacheClocks* DurableIndex::clocks() const { return &header()->clocks; }

Status DurableIndex::Open(const Layout& layout, std::optional<CrashState>* crashed) {
  static_assert(sizeof(Header) <= kPage);
  descriptors_at_ = kPage;
  table_at_ = descriptors_at_ + PageUp(size_t{layout.max_segments} * sizeof(SegmentInfo));
  size_ = table_at_ + PageUp(layout.table_bytes);
  const auto fail = [this](const char* what) {
    return Status::Error(std::string("cannot ") + what + " durable index " + path_ + ": " +
                         std::strerror(errno));
  };
  const int fd = open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return fail("open");
  const auto closing = [fd](Status status) {
    close(fd);
    return status;
  };
  struct stat st {};
  if (fstat(fd, &st) != 0) return closing(fail("stat"));

  // What the last process left, if it was running.
  const auto old_size = static_cast<size_t>(st.st_size);
  void* old = old_size >= kPage ? mmap(nullptr, old_size, PROT_READ, MAP_SHARED, fd, 0) : nullptr;
  if (old != nullptr && old != MAP_FAILED) {
    const auto* h = static_cast<const Header*>(old);
    if (std::memcmp(h->magic, kMagic, sizeof(kMagic)) == 0 && h->version == kIndexVersion &&
        h->running.load(std::memory_order_relaxed) == 1) {
      CrashState& state = crashed->emplace();
      RestartMeta& meta = state.meta;
      meta.memory_limit = h->memory_limit;
      meta.segment_size = h->segment_size;
      meta.max_segments = h->max_segments;
      meta.item_layout = h->item_layout;
      meta.use_cas = h->use_cas != 0;
      meta.item_size_max = h->item_size_max;
      meta.time_base = h->time_base.load(std::memory_order_relaxed);
      meta.next_epoch = h->clocks.next_epoch.load(std::memory_order_relaxed);
      meta.flush_gen = h->clocks.flush_gen.load(std::memory_order_relaxed);
      meta.flush_at = h->clocks.flush_at.load(std::memory_order_relaxed);
      meta.flushed_second = h->clocks.flushed_second.load(std::memory_order_relaxed);
      const bool same_layout =
          h->memory_limit == layout.memory_limit && h->segment_size == layout.segment_size &&
          h->max_segments == layout.max_segments && (h->use_cas != 0) == layout.use_cas &&
          h->item_size_max == layout.item_size_max && h->table_bytes == layout.table_bytes &&
          old_size == size_;
      if (same_layout) {
        const auto* infos =
            reinterpret_cast<const SegmentInfo*>(static_cast<const char*>(old) + descriptors_at_);
        state.segments.resize(layout.max_segments);
        for (uint32_t id = 0; id < layout.max_segments; ++id) {
          const SegmentInfo& info = infos[id];
          CrashState::Segment& s = state.segments[id];
          s.write_offset = info.write_offset.load(std::memory_order_relaxed);
          s.max_expiry = info.max_expiry.load(std::memory_order_relaxed);
          s.flush_gen = info.flush_gen.load(std::memory_order_relaxed);
          s.state = static_cast<uint8_t>(info.state.load(std::memory_order_relaxed));
          s.last_access = info.last_access.load(std::memory_order_relaxed);
          s.epoch = info.epoch;
          s.create_time = info.create_time.load(std::memory_order_relaxed);
          s.ttl_bucket = info.ttl_bucket;
          s.chain_head = info.chain_head;
          s.chain_next = info.chain_next;
        }
        const Status read = ReadSlots(fd, table_at_, table_at_ + layout.table_bytes, &state.slots);
        if (!read.ok()) {
          state.segments.clear();
          state.slots.clear();
        }
      }
    }
    munmap(old, old_size);
  }

  // A new index: emptied (the old pages dropped, so the file stays sparse), then sized. The
  // header's and the descriptors' blocks are allocated now, the table's as it grows
  // (CommitTable): a write to a page of a file system that has no block left for it is SIGBUS.
  if (ftruncate(fd, 0) != 0 || ftruncate(fd, static_cast<off_t>(size_)) != 0) {
    return closing(fail("size"));
  }
  if (const int error = posix_fallocate(fd, 0, static_cast<off_t>(table_at_)); error != 0) {
    errno = error;  // posix_fallocate returns its error
    return closing(fail("allocate the header and descriptors of"));
  }
  void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) {
    return closing(fail("map"));
  }
  fd_ = fd;  // kept open for CommitTable
  base_ = static_cast<char*>(p);
  Header* h = new (base_) Header{};
  std::memcpy(h->magic, kMagic, sizeof(kMagic));
  h->version = kIndexVersion;
  h->memory_limit = layout.memory_limit;
  h->segment_size = layout.segment_size;
  h->max_segments = layout.max_segments;
  h->item_layout = kItemLayoutVersion;
  h->item_size_max = layout.item_size_max;
  h->use_cas = layout.use_cas ? 1 : 0;
  h->table_bytes = layout.table_bytes;
  return Status::Ok();
}

void DurableIndex::MarkRunning(int64_t time_base) {
  header()->time_base.store(time_base, std::memory_order_relaxed);
  header()->running.store(1, std::memory_order_release);
}

void DurableIndex::MarkStopped() {
  header()->running.store(0, std::memory_order_release);
  // On a disk-backed file system, so that a machine's crash after the stop does not bring back a
  // header that says running. tmpfs ignores it.
  msync(base_, kPage, MS_SYNC);
}

}  // namespace mnemo::storage
