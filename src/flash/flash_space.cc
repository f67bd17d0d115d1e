#include "flash/flash_space.h"

#include <algorithm>
#include <cassert>
#include <limits>
#include <utility>

namespace mnemo::flash {

FlashSpace::FlashSpace(std::vector<std::unique_ptr<FlashDevice>> devices, size_t segment_size)
    : devices_(std::move(devices)), segment_size_(segment_size) {
  for (const auto& device : devices_) {
    first_segment_.push_back(segment_count_);
    segment_count_ += device->segment_count();
  }
}

Result<std::unique_ptr<FlashSpace>> FlashSpace::Open(std::span<const DeviceSpec> specs,
                                                     size_t segment_size) {
  assert(!specs.empty());
  std::vector<std::unique_ptr<FlashDevice>> devices;
  uint64_t total = 0;
  for (const DeviceSpec& spec : specs) {
    auto device = FlashDevice::Open(spec, segment_size);
    if (!device.ok()) return device.status();
    total += device.value()->segment_count();
    if (total > std::numeric_limits<uint32_t>::max()) {
      return Status::Error("ext_path " + spec.path + ": more than 2^32 flash segments in all");
    }
    devices.push_back(std::move(device.value()));
  }
  return std::unique_ptr<FlashSpace>(new FlashSpace(std::move(devices), segment_size));
}

FlashSpace::Place FlashSpace::Locate(uint32_t segment) const {
  assert(segment < segment_count_);
  // The last device whose first segment is at or below `segment`.
  const auto after = std::upper_bound(first_segment_.begin(), first_segment_.end(), segment);
  const auto index = static_cast<size_t>(after - first_segment_.begin()) - 1;
  const FlashDevice& device = *devices_[index];
  return {&device, device.SegmentOffset(segment - first_segment_[index])};
}

}  // namespace mnemo::flash
