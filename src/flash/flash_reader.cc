#include "flash/flash_reader.h"

#include <liburing.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <thread>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "base/thread_annotations.h"
#include "flash/aligned_buffer.h"

namespace mnemo::flash {
namespace {

// One read in flight: the covering aligned range [start, start + buffer.size()) is read into
// buffer until `needed` bytes (up to the end of the bytes asked for) are in, or it fails.
struct Slot {
  AlignedBuffer buffer;
  int fd = -1;
  uint64_t start = 0;   // the aligned offset the buffer begins at
  uint32_t skip = 0;    // offset of the bytes asked for in the buffer
  uint32_t length = 0;  // bytes asked for
  uint64_t cookie = 0;
  size_t done = 0;  // bytes read so far
  int error = 0;    // errno of the failure; 0: none
  bool end_of_file = false;

  size_t needed() const { return size_t{skip} + length; }
  bool finished() const { return error != 0 || end_of_file || done >= needed(); }
  // Accounts for one transfer's result: bytes (> 0), end of file (0), or -errno.
  void Record(ssize_t result) {
    if (result > 0) {
      done += static_cast<size_t>(result);
    } else if (result == 0) {
      end_of_file = true;
    } else {
      error = static_cast<int>(-result);
    }
  }
};

// The slots, the eventfd and completion, common to both back ends.
class ReaderBase : public FlashReader {
 public:
  ReaderBase(uint32_t depth, int event_fd) : slots_(depth), event_fd_(event_fd) {
    for (uint32_t i = depth; i > 0; --i) free_.push_back(i - 1);
  }
  ~ReaderBase() override { close(event_fd_); }

  bool Submit(const Request& request) final {
    if (free_.empty()) return false;
    const uint32_t index = free_.back();
    Slot& slot = slots_[index];
    slot.start = AlignDown(request.offset);
    slot.skip = static_cast<uint32_t>(request.offset - slot.start);
    slot.length = request.length;
    slot.buffer = AlignedBuffer(std::max<size_t>(AlignUp(slot.needed()), kIoAlignment));
    if (slot.buffer.data() == nullptr) return false;
    slot.fd = request.fd;
    slot.cookie = request.cookie;
    slot.done = 0;
    slot.error = 0;
    slot.end_of_file = false;
    free_.pop_back();
    Start(index);
    return true;
  }

  size_t DrainCompletions(const Completion& done) final {
    uint64_t count = 0;
    (void)!read(event_fd_, &count, sizeof(count));  // EAGAIN when nothing is signalled
    finished_.clear();
    Collect(&finished_);
    for (const uint32_t index : finished_) {
      Slot& slot = slots_[index];
      if (slot.done >= slot.needed()) {
        done(slot.cookie, std::span<const uint8_t>(slot.buffer.data() + slot.skip, slot.length));
      } else {
        done(slot.cookie, Status::Error(ErrorText(slot)));
      }
      slot.buffer = AlignedBuffer();
      free_.push_back(index);
    }
    return finished_.size();
  }

  int event_fd() const final { return event_fd_; }
  size_t in_flight() const final { return slots_.size() - free_.size(); }

 protected:
  // Begins reading slots_[index] (whose fields are set).
  virtual void Start(uint32_t index) = 0;
  // Appends the indices of the slots finished since the last call.
  virtual void Collect(std::vector<uint32_t>* finished) = 0;

  void Signal() const {
    const uint64_t one = 1;
    (void)!write(event_fd_, &one, sizeof(one));
  }

  std::vector<Slot> slots_;

 private:
  static std::string ErrorText(const Slot& slot) {
    const std::string what = "flash read of " + std::to_string(slot.length) + " bytes at " +
                             std::to_string(slot.start + slot.skip);
    if (slot.error != 0) return what + ": " + std::strerror(slot.error);
    return what + ": past the end of the file";
  }

  const int event_fd_;
  std::vector<uint32_t> free_;
  std::vector<uint32_t> finished_;
};

class UringReader final : public ReaderBase {
 public:
  UringReader(uint32_t depth, int event_fd) : ReaderBase(depth, event_fd) {}

  // Sets up the ring and has it signal the eventfd; on failure, says which call failed.
  Status Init() {
    const int init = io_uring_queue_init(static_cast<unsigned>(slots_.size()), &ring_, 0);
    if (init != 0)
      return Status::Error(std::string("io_uring_queue_init: ") + std::strerror(-init));
    ring_ready_ = true;
    const int registered = io_uring_register_eventfd(&ring_, event_fd());
    if (registered != 0) {
      return Status::Error(std::string("io_uring_register_eventfd: ") + std::strerror(-registered));
    }
    return Status::Ok();
  }

  ~UringReader() override {
    if (!ring_ready_) return;
    // The kernel writes into the slots' buffers until each read completes.
    while (pending_ > 0) {
      io_uring_cqe* cqe = nullptr;
      if (io_uring_wait_cqe(&ring_, &cqe) != 0) break;
      io_uring_cqe_seen(&ring_, cqe);
      --pending_;
    }
    io_uring_queue_exit(&ring_);
  }

  Backend backend() const override { return Backend::kIoUring; }
  const std::string& fallback_reason() const override { return no_reason_; }

 protected:
  void Start(uint32_t index) override {
    Slot& slot = slots_[index];
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {  // cannot happen: the ring has a place for every slot
      Fail(index, EAGAIN);
      return;
    }
    const size_t remaining = slot.buffer.size() - slot.done;
    io_uring_prep_read(sqe, slot.fd, slot.buffer.data() + slot.done,
                       static_cast<unsigned>(remaining), slot.start + slot.done);
    io_uring_sqe_set_data64(sqe, index);
    const int submitted = io_uring_submit(&ring_);
    if (submitted < 0) {
      Fail(index, -submitted);
      return;
    }
    ++pending_;
  }

  void Collect(std::vector<uint32_t>* finished) override {
    finished->insert(finished->end(), failed_.begin(), failed_.end());
    failed_.clear();
    io_uring_cqe* cqe = nullptr;
    std::vector<uint32_t> again;
    while (io_uring_peek_cqe(&ring_, &cqe) == 0) {
      const auto index = static_cast<uint32_t>(io_uring_cqe_get_data64(cqe));
      const int result = cqe->res;
      io_uring_cqe_seen(&ring_, cqe);
      --pending_;
      Slot& slot = slots_[index];
      slot.Record(result);
      (slot.finished() ? *finished : again).push_back(index);
    }
    for (const uint32_t index : again) Start(index);  // a short read: read the rest
  }

 private:
  // A read that could not be submitted completes with `error` at the next DrainCompletions.
  void Fail(uint32_t index, int error) {
    slots_[index].error = error;
    failed_.push_back(index);
    Signal();
  }

  io_uring ring_ = {};
  bool ring_ready_ = false;
  size_t pending_ = 0;  // submitted, not yet reaped
  std::vector<uint32_t> failed_;
  const std::string no_reason_;
};

class PoolReader final : public ReaderBase {
 public:
  PoolReader(uint32_t depth, int event_fd, int threads, std::string reason)
      : ReaderBase(depth, event_fd), reason_(std::move(reason)) {
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
  }

  ~PoolReader() override {
    {
      MutexLock lock(mu_);
      stop_ = true;
    }
    work_.NotifyAll();
    for (std::thread& thread : threads_) thread.join();
  }

  Backend backend() const override { return Backend::kThreadPool; }
  const std::string& fallback_reason() const override { return reason_; }

 protected:
  void Start(uint32_t index) override {
    {
      MutexLock lock(mu_);
      pending_.push_back(index);
    }
    work_.NotifyOne();
  }

  void Collect(std::vector<uint32_t>* finished) override {
    MutexLock lock(mu_);
    finished->insert(finished->end(), done_.begin(), done_.end());
    done_.clear();
  }

 private:
  void Loop() {
    for (;;) {
      uint32_t index = 0;
      {
        MutexLock lock(mu_);
        work_.Wait(lock, [this]() REQUIRES(mu_) { return stop_ || !pending_.empty(); });
        if (pending_.empty()) return;  // stopping with nothing left to read
        index = pending_.front();
        pending_.pop_front();
      }
      // The slot belongs to this thread until it is handed back in done_.
      Slot& slot = slots_[index];
      while (!slot.finished()) {
        const ssize_t n =
            pread(slot.fd, slot.buffer.data() + slot.done, slot.buffer.size() - slot.done,
                  static_cast<off_t>(slot.start + slot.done));
        if (n < 0 && errno == EINTR) continue;
        slot.Record(n < 0 ? -errno : n);
      }
      {
        MutexLock lock(mu_);
        done_.push_back(index);
      }
      Signal();
    }
  }

  const std::string reason_;
  Mutex mu_;
  CondVar work_;
  std::deque<uint32_t> pending_ GUARDED_BY(mu_);
  std::vector<uint32_t> done_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace

Result<std::unique_ptr<FlashReader>> FlashReader::Create(const Options& options) {
  const uint32_t depth = std::max<uint32_t>(options.queue_depth, 1);
  const auto new_event_fd = [] { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); };
  std::string reason = "the thread pool was asked for";
  if (!options.force_thread_pool) {
    const int event_fd = new_event_fd();
    if (event_fd < 0) return Status::Error(std::string("eventfd: ") + std::strerror(errno));
    auto reader = std::make_unique<UringReader>(depth, event_fd);
    Status ready = reader->Init();
    if (ready.ok()) return std::unique_ptr<FlashReader>(std::move(reader));
    reason = ready.message();
  }
  const int event_fd = new_event_fd();
  if (event_fd < 0) return Status::Error(std::string("eventfd: ") + std::strerror(errno));
  return std::unique_ptr<FlashReader>(std::make_unique<PoolReader>(
      depth, event_fd, std::max(options.pool_threads, 1), std::move(reason)));
}

}  // namespace mnemo::flash
