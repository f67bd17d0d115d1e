// FlashWriter puts records on a FlashSpace a segment at a time: records are appended to a
// WriteBuffer in RAM, and a full buffer is written to its flash segment with one pwrite by the
// writer's own I/O thread. There are two buffers, so appends go on into one while the other is
// written; when both are taken (one full and queued, one being written), Append refuses at once
// instead of waiting, so that its caller (eviction) can drop the record as it would without flash.
//
// A record's location (flash segment, offset in it) is known when it is appended, before it is on
// flash; until its buffer has been written, ReadBuffered answers reads of it from RAM. Once
// ReadBuffered says no for a location it said yes to, the bytes are on flash (a buffer is released
// only after its pwrite returned) or the write failed (error()).
//
// Segments are filled in the order NextSegment gives them (by default 0, 1, ..., count - 1, 0,
// ...), and each is stamped with the next flash sequence number when sealed. Whoever reuses a
// segment must have let go of what it held before NextSegment hands it out again.
//
// Failures: the first I/O error turns the writer off: Append refuses from then on and error()
// says why. Records in the failed buffer and in any buffer queued behind it are lost.
//
// Thread safety: Append, ReadBuffered, Flush, error() and stats() may be called from any thread.
// One mutex (mu_) guards the buffers' states and is held while ReadBuffered copies bytes out and
// while Append copies bytes in; the I/O thread does not hold it while it writes. NextSegment is
// called with mu_ held and must not call back into the writer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "flash/flash_space.h"
#include "flash/write_buffer.h"

namespace mnemo::flash {

class FlashWriter {
 public:
  struct Location {
    uint32_t segment = 0;
    uint32_t offset = 0;  // from the segment's start; records start after the header
    bool operator==(const Location&) const = default;
  };
  // Which flash segment the next buffer fills; nothing if none may be written now.
  using NextSegment = std::function<std::optional<uint32_t>()>;

  struct Stats {
    uint64_t appended = 0;          // records accepted
    uint64_t refused = 0;           // records refused: no free buffer, too large, or turned off
    uint64_t segments_written = 0;  // pwrites completed
    uint64_t bytes_written = 0;
    uint64_t io_errors = 0;
  };

  // Starts the I/O thread. Fails if the buffers cannot be allocated. `space` must outlive the
  // writer.
  static Result<std::unique_ptr<FlashWriter>> Create(const FlashSpace& space,
                                                     NextSegment next_segment = {},
                                                     uint64_t first_sequence = 1);
  // Writes the buffers already sealed, drops a partly filled one, and joins the I/O thread.
  ~FlashWriter();
  FlashWriter(const FlashWriter&) = delete;
  FlashWriter& operator=(const FlashWriter&) = delete;

  // Largest record Append takes: a segment less its header.
  size_t max_record_size() const;

  // Where `record` will be on flash, or nothing if it was refused (see above).
  std::optional<Location> Append(std::span<const uint8_t> record) EXCLUDES(mu_);

  // Copies out.size() bytes at `location` into `out` if they are still in a buffer.
  bool ReadBuffered(Location location, std::span<uint8_t> out) const EXCLUDES(mu_);

  // Seals the partly filled buffer, if it holds records, and waits until every sealed buffer is
  // written (or the writer has failed).
  void Flush() EXCLUDES(mu_);

  // Ok, or the I/O error that turned the writer off.
  Status error() const EXCLUDES(mu_);
  Stats stats() const EXCLUDES(mu_);

 private:
  FlashWriter(const FlashSpace& space, NextSegment next_segment, uint64_t first_sequence);

  // Starts a free buffer filling; false if there is none or NextSegment has no segment.
  bool StartFilling() REQUIRES(mu_);
  // Hands the filling buffer to the I/O thread.
  void SealFilling() REQUIRES(mu_);
  void Loop() EXCLUDES(mu_);

  const FlashSpace& space_;
  const NextSegment next_segment_;
  std::vector<std::unique_ptr<WriteBuffer>> buffers_;  // fixed after construction

  mutable Mutex mu_;
  CondVar work_;  // the I/O thread waits for a sealed buffer or stop_
  CondVar idle_;  // Flush waits for sealed_ to empty
  std::vector<WriteBuffer*> free_ GUARDED_BY(mu_);
  WriteBuffer* filling_ GUARDED_BY(mu_) = nullptr;
  // Sealed buffers in write order, with the bytes to write; the I/O thread writes the front one.
  struct Sealed {
    WriteBuffer* buffer;
    std::span<const uint8_t> bytes;
  };
  std::deque<Sealed> sealed_ GUARDED_BY(mu_);
  uint64_t next_sequence_ GUARDED_BY(mu_);
  uint32_t next_default_segment_ GUARDED_BY(mu_) = 0;
  Status error_ GUARDED_BY(mu_);
  Stats stats_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace mnemo::flash
