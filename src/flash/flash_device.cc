#include "flash/flash_device.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <utility>

#include "flash/aligned_buffer.h"

namespace mnemo::flash {
namespace {

std::string ErrnoText(int error) { return std::strerror(error); }

// Closes the descriptor unless released.
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  ~FdGuard() {
    if (fd_ >= 0) close(fd_);
  }
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  int get() const { return fd_; }
  void reset(int fd) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

bool LockWhole(int fd) {
  struct flock lock = {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  lock.l_start = 0;
  lock.l_len = 0;  // to the end, however long
  return fcntl(fd, F_SETLK, &lock) == 0;
}

// Empties the file and gives it `size` bytes, allocated where the file system can allocate.
Status SizeRegularFile(int fd, uint64_t size) {
  if (ftruncate(fd, 0) != 0) return Status::Error("cannot empty it: " + ErrnoText(errno));
  if (size > static_cast<uint64_t>(std::numeric_limits<off_t>::max())) {
    return Status::Error("size " + std::to_string(size) + " is too large for a file");
  }
  const auto length = static_cast<off_t>(size);
  if (fallocate(fd, 0, 0, length) == 0) return Status::Ok();
  const int error = errno;
  if (error != EOPNOTSUPP && error != ENOSYS) {
    return Status::Error("cannot allocate " + std::to_string(size) + " bytes: " + ErrnoText(error));
  }
  if (ftruncate(fd, length) != 0) {
    return Status::Error("cannot extend it to " + std::to_string(size) +
                         " bytes: " + ErrnoText(errno));
  }
  return Status::Ok();
}

// Whether a 4096-byte direct read at offset 0 is refused as invalid: some file systems accept
// O_DIRECT at open and refuse it at the first transfer.
bool DirectReadRefused(int fd) {
  AlignedBuffer probe(kIoAlignment);
  return probe.data() != nullptr && pread(fd, probe.data(), probe.size(), 0) < 0 && errno == EINVAL;
}

}  // namespace

FlashDevice::FlashDevice(std::string path, int fd, int cached_fd, bool direct_io, bool block_device,
                         size_t segment_size, uint32_t segment_count)
    : path_(std::move(path)),
      fd_(fd),
      cached_fd_(cached_fd),
      direct_io_(direct_io),
      block_device_(block_device),
      segment_size_(segment_size),
      segment_count_(segment_count) {}

FlashDevice::~FlashDevice() {
  close(cached_fd_);
  close(fd_);
}

Result<std::unique_ptr<FlashDevice>> FlashDevice::Open(const DeviceSpec& spec,
                                                       size_t segment_size) {
  const auto fail = [&spec](const std::string& what) {
    return Status::Error("ext_path " + spec.path + ": " + what);
  };
  if (segment_size == 0 || segment_size % kIoAlignment != 0) {
    return fail("the flash segment size, " + std::to_string(segment_size) +
                " bytes, is not a positive multiple of 4096");
  }
  bool direct_io = true;
  FdGuard fd(open(spec.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_DIRECT, 0644));
  if (fd.get() < 0 && errno == EINVAL) {  // the file system has no O_DIRECT (tmpfs)
    direct_io = false;
    fd.reset(open(spec.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
  }
  if (fd.get() < 0) {
    const int error = errno;
    return fail("cannot open: " + ErrnoText(error) +
                (error == ENOENT ? " (its directory does not exist)" : ""));
  }
  struct stat st = {};
  if (fstat(fd.get(), &st) != 0) return fail("cannot stat: " + ErrnoText(errno));
  uint64_t usable = 0;
  const bool block_device = S_ISBLK(st.st_mode);
  if ((block_device || S_ISREG(st.st_mode)) && !LockWhole(fd.get())) {
    return fail("cannot lock it (" + ErrnoText(errno) + "): is another server using it?");
  }
  if (block_device) {
    uint64_t device_bytes = 0;
    if (ioctl(fd.get(), BLKGETSIZE64, &device_bytes) != 0) {
      return fail("cannot read the block device's size: " + ErrnoText(errno));
    }
    usable = std::min(device_bytes, spec.size);
  } else if (S_ISREG(st.st_mode)) {
    if (!spec.keep || static_cast<uint64_t>(st.st_size) != spec.size) {
      const Status sized = SizeRegularFile(fd.get(), spec.size);
      if (!sized.ok()) return fail(sized.message());
    }
    usable = spec.size;
  } else {
    return fail("is neither a regular file nor a block device");
  }
  const uint64_t segments = usable / segment_size;
  if (segments < 2) {
    return fail(std::to_string(usable) + " bytes hold " + std::to_string(segments) +
                " flash segments of " + std::to_string(segment_size) + " bytes; at least 2 needed");
  }
  if (direct_io && DirectReadRefused(fd.get())) {
    // Reopen buffered. Closing the old descriptor drops this process's lock on the file (fcntl
    // locks belong to the process and the file), so the new descriptor locks it again.
    FdGuard buffered(open(spec.path.c_str(), O_RDWR | O_CLOEXEC));
    if (buffered.get() < 0) return fail("cannot reopen without O_DIRECT: " + ErrnoText(errno));
    fd.reset(buffered.release());
    if (!LockWhole(fd.get())) {
      return fail("cannot lock it (" + ErrnoText(errno) + "): is another server using it?");
    }
    direct_io = false;
  }
  // Reads of single items go through the page cache: an item read is often read again soon, and
  // the kernel gives cached pages back under memory pressure. A direct write invalidates the
  // cached pages it covers, so such reads never see stale bytes.
  FdGuard cached(open(spec.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (cached.get() < 0) return fail("cannot open it for reading: " + ErrnoText(errno));
  const auto count =
      static_cast<uint32_t>(std::min<uint64_t>(segments, std::numeric_limits<uint32_t>::max()));
  return std::unique_ptr<FlashDevice>(new FlashDevice(
      spec.path, fd.release(), cached.release(), direct_io, block_device, segment_size, count));
}

Status FlashDevice::Write(uint64_t offset, std::span<const uint8_t> bytes) const {
  if (offset > size() || bytes.size() > size() - offset) {
    return Status::Error("ext_path " + path_ + ": write of " + std::to_string(bytes.size()) +
                         " bytes at " + std::to_string(offset) + " is past its end");
  }
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return Status::Error("ext_path " + path_ + ": write at " + std::to_string(offset + done) +
                           " failed: " + (n < 0 ? ErrnoText(errno) : "nothing written"));
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status FlashDevice::Sync() const {
  if (fdatasync(fd_) == 0) return Status::Ok();
  return Status::Error("ext_path " + path_ + ": cannot sync: " + ErrnoText(errno));
}

Status FlashDevice::Read(uint64_t offset, std::span<uint8_t> bytes) const {
  return ReadFrom(fd_, offset, bytes);
}

Status FlashDevice::ReadCached(uint64_t offset, std::span<uint8_t> bytes) const {
  return ReadFrom(cached_fd_, offset, bytes);
}

FlashDevice::TryRead FlashDevice::TryReadCached(uint64_t offset, std::span<uint8_t> bytes,
                                                size_t* done) const {
  *done = 0;
  if (offset > size() || bytes.size() > size() - offset) return TryRead::kFailed;
  while (*done < bytes.size()) {
    iovec iov{bytes.data() + *done, bytes.size() - *done};
    const ssize_t n = preadv2(cached_fd_, &iov, 1, static_cast<off_t>(offset + *done), RWF_NOWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return TryRead::kWouldBlock;
    if (n < 0 && errno == EOPNOTSUPP) {  // no RWF_NOWAIT here: read as ReadCached does
      const bool read = ReadFrom(cached_fd_, offset + *done, bytes.subspan(*done)).ok();
      if (read) *done = bytes.size();
      return read ? TryRead::kDone : TryRead::kFailed;
    }
    if (n <= 0) return TryRead::kFailed;
    *done += static_cast<size_t>(n);
  }
  return TryRead::kDone;
}

Status FlashDevice::ReadFrom(int fd, uint64_t offset, std::span<uint8_t> bytes) const {
  if (offset > size() || bytes.size() > size() - offset) {
    return Status::Error("ext_path " + path_ + ": read of " + std::to_string(bytes.size()) +
                         " bytes at " + std::to_string(offset) + " is past its end");
  }
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        pread(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return Status::Error("ext_path " + path_ + ": read at " + std::to_string(offset + done) +
                           " failed: " + (n < 0 ? ErrnoText(errno) : "end of file"));
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace mnemo::flash
