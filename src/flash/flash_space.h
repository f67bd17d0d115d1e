// FlashSpace is every `-o ext_path` device presented as one array of flash segments: segments
// 0 .. n0 - 1 are the first device's, n0 .. n0 + n1 - 1 the second's, and so on, in the order the
// devices were given. The layers above address flash by (segment, offset in it) only; Locate turns
// that into a device and a byte offset for I/O.
//
// Invariants: at least one device; every device has the same segment size; segment_count() is the
// sum of theirs.
//
// Thread safety: immutable after Open; Locate and the devices' I/O may be used from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/status.h"
#include "flash/flash_device.h"

namespace mnemo::flash {

class FlashSpace {
 public:
  struct Place {
    const FlashDevice* device;
    uint64_t offset;  // of the segment's first byte in the device
  };

  // Opens each device (FlashDevice::Open) in order; fails with the first one that fails. `specs`
  // must not be empty.
  static Result<std::unique_ptr<FlashSpace>> Open(std::span<const DeviceSpec> specs,
                                                  size_t segment_size);

  size_t segment_size() const { return segment_size_; }
  uint32_t segment_count() const { return segment_count_; }
  const std::vector<std::unique_ptr<FlashDevice>>& devices() const { return devices_; }

  // REQUIRES: segment < segment_count().
  Place Locate(uint32_t segment) const;

 private:
  FlashSpace(std::vector<std::unique_ptr<FlashDevice>> devices, size_t segment_size);

  const std::vector<std::unique_ptr<FlashDevice>> devices_;
  const size_t segment_size_;
  // first_segment_[i]: the space's number of devices_[i]'s segment 0.
  std::vector<uint32_t> first_segment_;
  uint32_t segment_count_ = 0;
};

}  // namespace mnemo::flash
