// FlashDevice is one `-o ext_path=PATH:SIZE`: a regular file or a block device, opened read-write,
// cut into flash segments of a fixed size. It knows bytes and segment numbers only; what the
// segments hold is the business of the layers above (flash_segment.h, write_buffer.h).
//
// - It is locked against a second server (fcntl F_SETLK, as memcached does). A regular file is
//   created if missing, emptied (whatever a previous run left is discarded) and given SIZE bytes,
//   allocated with fallocate where the file system can, so that a disk too full for SIZE is
//   found at startup rather than by a write; unless DeviceSpec::keep asks to keep a file that has
//   SIZE bytes already, for a warm restart (-e) that may read back what the last run saved. A
//   block device keeps its contents and size; SIZE caps how much of it is used.
// - It is opened with O_DIRECT (no page cache: flash holds what RAM does not, caching what is
//   written would spend the RAM twice) where the file system allows it; where it does not
//   (tmpfs), it is opened buffered and direct_io() says so. Either way, Read and Write take
//   AlignedBuffer buffers at 4096-aligned offsets and lengths. ReadCached reads single items
//   through the page cache, from a second, read-only descriptor.
// - Segment i occupies bytes [i * segment_size, (i + 1) * segment_size); segment_count() >= 2.
//
// Thread safety: immutable after Open; Read and Write are pread/pwrite and may be called from any
// thread at once (on distinct or read-only ranges).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "base/status.h"

namespace mnemo::flash {

struct DeviceSpec {
  std::string path;
  uint64_t size = 0;  // bytes the device may use at most
  bool keep = false;  // a regular file of `size` bytes keeps its contents
};

class FlashDevice {
 public:
  // `segment_size` must be a positive multiple of 4096. Fails with a message naming the path
  // when the file cannot be opened, created, locked or sized, or when SIZE (or a block device's
  // size) holds fewer than 2 segments.
  static Result<std::unique_ptr<FlashDevice>> Open(const DeviceSpec& spec, size_t segment_size);

  ~FlashDevice();
  FlashDevice(const FlashDevice&) = delete;
  FlashDevice& operator=(const FlashDevice&) = delete;

  const std::string& path() const { return path_; }
  int fd() const { return fd_; }
  bool direct_io() const { return direct_io_; }
  bool block_device() const { return block_device_; }
  size_t segment_size() const { return segment_size_; }
  uint32_t segment_count() const { return segment_count_; }
  uint64_t size() const { return uint64_t{segment_count_} * segment_size_; }
  uint64_t SegmentOffset(uint32_t segment) const { return uint64_t{segment} * segment_size_; }

  // Writes or reads all of `bytes` at `offset` (pwrite/pread, retried after a short transfer or
  // EINTR). With direct_io(), offset, size and address must be 4096-aligned. Fails on an I/O
  // error, on a range past size(), or on reading past the end of the file.
  Status Write(uint64_t offset, std::span<const uint8_t> bytes) const;
  Status Read(uint64_t offset, std::span<uint8_t> bytes) const;
  // Makes what Write wrote durable (fdatasync).
  Status Sync() const;
  // Reads through the page cache (a second descriptor, never O_DIRECT): any offset, length and
  // address. For reads of single items, which the kernel may then keep.
  Status ReadCached(uint64_t offset, std::span<uint8_t> bytes) const;
  // ReadCached without waiting for the device (preadv2 RWF_NOWAIT): kWouldBlock once it meets a
  // byte the page cache does not hold, with *done bytes read before it; kFailed as ReadCached
  // fails. Where the file system has no RWF_NOWAIT, it reads as ReadCached does.
  enum class TryRead : uint8_t { kDone, kWouldBlock, kFailed };
  TryRead TryReadCached(uint64_t offset, std::span<uint8_t> bytes, size_t* done) const;
  // The descriptor of ReadCached, for reads that fill the page cache asynchronously.
  int cached_fd() const { return cached_fd_; }

 private:
  FlashDevice(std::string path, int fd, int cached_fd, bool direct_io, bool block_device,
              size_t segment_size, uint32_t segment_count);
  Status ReadFrom(int fd, uint64_t offset, std::span<uint8_t> bytes) const;

  const std::string path_;
  const int fd_;
  const int cached_fd_;  // read-only, buffered
  const bool direct_io_;
  const bool block_device_;
  const size_t segment_size_;
  const uint32_t segment_count_;
};

}  // namespace mnemo::flash
