// FlashReader reads byte ranges of flash for one worker thread without blocking it: Submit queues
// a read and returns at once; when reads complete, event_fd() becomes readable (the worker's epoll
// loop watches it) and DrainCompletions hands each finished read to a callback, with its bytes or
// the error that ended it.
//
// Reads go through io_uring (liburing) where the kernel allows it; where io_uring_queue_init
// fails (old kernels, seccomp profiles that forbid io_uring) a small pool of threads doing pread
// serves the same interface and signals the same kind of eventfd. backend() says which.
//
// Each read fetches the 4096-aligned range that covers the bytes asked for into an aligned scratch
// buffer of its own, as O_DIRECT needs, and hands back the span of the bytes asked for; the span
// is valid only during the callback. At most queue_depth reads are in flight; Submit refuses more.
// A read that fails (an I/O error, a closed descriptor, a range past the end of the file) completes
// with an error; it never crashes the caller.
//
// Thread safety: Submit, DrainCompletions and in_flight() from the owning thread only; event_fd()
// and backend() are constant. The thread pool's threads share only the pending and finished
// queues with the owner, under one mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "base/status.h"

namespace mnemo::flash {

class FlashReader {
 public:
  struct Request {
    int fd = -1;
    uint64_t offset = 0;
    uint32_t length = 0;
    uint64_t cookie = 0;  // the caller's, handed back with the completion
  };
  enum class Backend : uint8_t { kIoUring, kThreadPool };
  struct Options {
    uint32_t queue_depth = 64;       // reads in flight at most
    bool force_thread_pool = false;  // skip io_uring (tests, or a kernel known to misbehave)
    int pool_threads = 2;            // threads of the fallback
  };
  using Completion = std::function<void(uint64_t cookie, Result<std::span<const uint8_t>> bytes)>;

  // Fails only if neither back end can start (no eventfd, no threads).
  static Result<std::unique_ptr<FlashReader>> Create(const Options& options);
  // Waits for the reads in flight, discarding their results.
  virtual ~FlashReader() = default;

  // Queues a read; false if queue_depth reads are in flight already or its buffer cannot be had.
  virtual bool Submit(const Request& request) = 0;
  // Clears the eventfd and calls `done` once for every read finished since the last call; returns
  // how many. Call it when event_fd() is readable; calling it at other times is harmless.
  virtual size_t DrainCompletions(const Completion& done) = 0;

  virtual int event_fd() const = 0;
  virtual size_t in_flight() const = 0;
  virtual Backend backend() const = 0;
  // Why io_uring is not used, for the startup log; empty with io_uring.
  virtual const std::string& fallback_reason() const = 0;
};

}  // namespace mnemo::flash
