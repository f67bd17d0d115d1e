// FlashTier is the cache's second tier (-o ext_path=PATH:SIZE): the devices' flash segments
// (flash/flash_space.h), of the RAM segment size, which eviction fills with the live items it
// would otherwise drop. An item
// on flash costs RAM only for its hash slot, which then points at a flash location: a segment id
// at or above first_id() (above every RAM segment id, so a slot needs no extra bit) and the
// item's offset in that flash segment.
//
// A flash segment on its device: a header of kHeaderSize bytes, then records. A record is an item
// in RAM's format (item.h) whose header always carries its CAS (a flash location derives none),
// followed by the CRC32C of the item's bytes, so a read verifies exactly the item it needs and a
// flipped bit is a miss, never wrong bytes sent. Segments are filled in order through one
// segment-sized write buffer and reused first in, first out.
//
// Invariants:
//  (1) Records are appended only by the thread that holds the cache's eviction mutex (MakeRoom,
//      Append), one flash segment at a time: the buffer's.
//  (2) Before a flash segment is reused, every slot that points into it is erased (Reuse reads
//      it back and unlinks its records), and then its generation changes. So a reader that
//      loaded the generation under the key's stripe lock, while the slot pointed there, and finds
//      it unchanged after reading, read bytes of the record the slot pointed at. A record that
//      cannot be read back (corrupt) keeps its slot until a lookup meets it and drops it.
//  (3) A location in the buffer's segment is read from the buffer; every other one from its
//      device, where it was written before the buffer moved on (both under buffer_mu_).
//  (4) A flash segment's items were all valid in its flush generation (eviction writes no
//      invalid item, and the buffer moves to a new segment when the generation changes).
//
// Lock order: a stripe lock, then buffer_mu_. MakeRoom takes stripe locks: call it with none.
// Thread safety: Read, LiveAdd/LiveSub, the queries and stats from any thread; MakeRoom and Append
// as invariant 1 says.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "base/mutex.h"
#include "base/status.h"
#include "base/thread_annotations.h"
#include "flash/aligned_buffer.h"
#include "flash/flash_segment.h"
#include "flash/flash_space.h"
#include "flash/write_buffer.h"
#include "storage/eviction.h"
#include "storage/flash_read_size.h"
#include "storage/hash_table.h"
#include "storage/item.h"
#include "storage/thread_context.h"

namespace mnemo::storage {

class CacheCore;

// What the tier has done, for `stats` (memcached's extstore_* names, see stats.cc).
struct FlashStats {
  uint64_t limit_bytes = 0;
  uint64_t segments_total = 0;
  uint64_t segments_used = 0;  // holding at least one indexed item
  uint64_t objects_used = 0;   // indexed items on flash
  uint64_t bytes_used = 0;
  uint64_t objects_written = 0;
  uint64_t bytes_written = 0;       // to the devices: segment headers, records, page padding
  uint64_t item_bytes_written = 0;  // of the items in the records written
  uint64_t objects_read = 0;
  uint64_t bytes_read = 0;
  uint64_t segment_reuses = 0;     // segments rewritten (memcached's extstore_page_reclaims)
  uint64_t segment_evictions = 0;  // ...that still held items (extstore_page_evictions)
  uint64_t objects_evicted = 0;
  uint64_t bytes_evicted = 0;
  uint64_t badcrc = 0;     // records read whose checksum or layout did not hold
  uint64_t io_errors = 0;  // failed reads and writes of the devices
  bool enabled = false;    // false after a write error turned the tier off
};

class FlashTier {
 public:
  static constexpr size_t kHeaderSize = flash::kSegmentHeaderSize;
  static constexpr size_t kRecordTrailer = 4;  // the CRC32C
  // The most the first read of a record asks for: enough for any header and key, and for the whole
  // of most items, so that reading one costs one system call (bench/RESULTS.md: two reads of 512
  // bytes and the rest cost a 1 KiB item a quarter of its server time). Read asks for less when
  // its thread's recent records were shorter (FlashReadSize); listings ask for this much.
  static constexpr size_t kFirstRead = 4096;

  enum class ReadResult : uint8_t {
    kOk,       // `out` holds the verified item
    kCorrupt,  // the bytes at the location are not a valid record
    kChanged,  // the segment was reused meanwhile: look the key up again
    kWait,     // bytes are not in the page cache: waits->pending says which (Read's `waits`)
  };

  // The tier on the flash segments of `space` (-o ext_path's devices, opened by the server),
  // numbered after the RAM segment ids of `core`. `space` must outlive the tier.
  FlashTier(CacheCore& core, const flash::FlashSpace& space);
  ~FlashTier();
  FlashTier(const FlashTier&) = delete;
  FlashTier& operator=(const FlashTier&) = delete;

  // Checks the space fits the cache (its segment size is the pool's) and allocates the buffers;
  // an error says what does not fit.
  Status Init();

  uint32_t first_id() const { return first_id_; }
  bool Owns(uint32_t segment) const {
    return segment >= first_id_ && segment - first_id_ < segment_count_;
  }

  // Makes room in the write buffer for a record of an item of `item_size` bytes, writing out a
  // full buffer and reusing the next flash segment (invariant 2) as needed. False if the item can
  // never go to flash (larger than a segment's room) or the tier is off.
  // REQUIRES: the eviction mutex, and no stripe lock.
  // Items that reuse unlinks are counted in `counters`.
  bool MakeRoom(size_t item_size, uint32_t flush_gen, ReclaimCounters* counters);
  // Appends a record of the item made of `header` (which must carry a CAS) and `body` (key and
  // value), and returns its location. REQUIRES: MakeRoom(header.item_size()) returned true since
  // the last Append, the eviction mutex, and the key's stripe lock.
  ItemLocation Append(const ItemHeader& header, const char* body);

  // The generation of the segment of `loc` (invariant 2). REQUIRES: Owns(loc.segment).
  uint32_t generation(ItemLocation loc) const;
  // Reads the item at `loc` into `scratch` and verifies it, as of the segment's `generation`,
  // loaded while the slot pointed at `loc` (invariant 2); on kOk, *record points at it. The first
  // read asks for `read_size.next()` bytes, and the record read is told to it. With
  // `waits` allowed, a read from the device that would wait for it ends kWait instead, unless
  // waits->served says the caller waited for those bytes already (Cache::SetFlashWaitServed).
  ReadResult Read(ItemLocation loc, uint32_t generation, ThreadContext::Scratch& scratch,
                  FlashReadSize& read_size, char** record,
                  ThreadContext::FlashWaits* waits = nullptr);
  // Reads the header and key of the item at `loc` into `head` (kFirstRead bytes), as of
  // `generation`, for listings (Cache::Walk), which need no value. False if the segment changed
  // or the bytes cannot be read; the bytes are not verified (the checksum covers the value too).
  bool ReadHead(ItemLocation loc, uint32_t generation, char* head);
  // MonotonicSeconds() when the segment of `loc` was filled: its items' last access, as far as
  // the tier knows.
  uint32_t written_at(ItemLocation loc) const;
  // The hash of the key of the item at `loc`, read from flash; for the hash table's splits, which
  // need every slot's hash. A record that cannot be read yields 0: its slot may go to the wrong
  // bucket, where no lookup finds it, which only makes a corrupt record unreachable sooner.
  uint64_t HashAt(ItemLocation loc);

  // Accounting of indexed items, as CacheCore::LiveAdd/LiveSub for RAM segments.
  void LiveAdd(uint32_t segment, size_t size);
  void LiveSub(uint32_t segment, size_t size);
  // True if the segment of `segment` was filled before the last flush_all (invariant 4).
  bool Flushed(uint32_t segment, uint32_t flush_gen) const;

  size_t segment_size() const { return segment_size_; }
  FlashStats Stats() const;

 private:
  struct Segment;

  // Writes the buffer to its segment and detaches it. REQUIRES: the eviction mutex (invariant 1).
  Status WriteBuffer() EXCLUDES(buffer_mu_);
  // Unlinks every item segment `index` still indexes and moves it to a new generation.
  void Reuse(uint32_t index, ReclaimCounters* counters);
  // How a read of bytes ended.
  enum class ByteRead : uint8_t { kRead, kFailed, kWait };
  // Reads `size` bytes at `offset` of flash segment `index` into `out`, from the buffer or the
  // device (invariant 3). kFailed on an I/O error; kWait as Read says, with `waits`.
  ByteRead ReadBytes(uint32_t index, size_t offset, size_t size, char* out,
                     ThreadContext::FlashWaits* waits);
  // Count a corrupt record and a failed read; the first of each is logged.
  void CountCorrupt();
  void CountReadError();
  // Reads from the device, through the page cache (FlashDevice::ReadCached), without waiting for
  // the device where `waits` allows it.
  ByteRead ReadDevice(uint32_t index, size_t offset, size_t size, char* out,
                      ThreadContext::FlashWaits* waits) const;

  CacheCore& core_;
  const flash::FlashSpace& space_;
  const size_t segment_size_;
  const uint32_t first_id_;
  const uint32_t segment_count_;
  std::unique_ptr<Segment[]> segments_;
  std::atomic<bool> enabled_{false};

  Mutex buffer_mu_;
  flash::WriteBuffer buffer_ GUARDED_BY(buffer_mu_);
  bool buffer_open_ GUARDED_BY(buffer_mu_) = false;  // filling buffer_.segment()
  uint32_t buffer_flush_gen_ = 0;                    // the evictor's only (invariant 1)
  uint32_t next_segment_ = 0;                        // the evictor's only: the next to fill
  uint64_t sequence_ = 0;                            // the evictor's only: segments filled so far
  flash::AlignedBuffer reuse_buffer_;                // the evictor's only: a segment read back

  mutable std::atomic<uint64_t> objects_written_{0}, bytes_written_{0}, item_bytes_written_{0},
      objects_read_{0}, bytes_read_{0}, segment_reuses_{0}, segment_evictions_{0},
      objects_evicted_{0}, bytes_evicted_{0}, badcrc_{0}, io_errors_{0};
};

}  // namespace mnemo::storage
