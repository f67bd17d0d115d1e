// AlignedBuffer owns bytes whose address and size are multiples of kIoAlignment (4096), as
// O_DIRECT requires of every buffer, offset and length it reads or writes. The bytes are not
// initialized.
//
// Thread safety: as a std::unique_ptr to its bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>

namespace mnemo::flash {

inline constexpr size_t kIoAlignment = 4096;

constexpr uint64_t AlignDown(uint64_t value) { return value & ~uint64_t{kIoAlignment - 1}; }
constexpr uint64_t AlignUp(uint64_t value) { return AlignDown(value + kIoAlignment - 1); }

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  // `size` is rounded up to kIoAlignment. Empty (data() null) if the allocation failed.
  explicit AlignedBuffer(size_t size)
      : size_(AlignUp(size)),
        bytes_(size_ == 0 ? nullptr
                          : static_cast<uint8_t*>(std::aligned_alloc(kIoAlignment, size_))) {
    if (bytes_ == nullptr) size_ = 0;
  }

  uint8_t* data() { return bytes_.get(); }
  const uint8_t* data() const { return bytes_.get(); }
  size_t size() const { return size_; }
  std::span<uint8_t> span() { return {bytes_.get(), size_}; }
  std::span<const uint8_t> span() const { return {bytes_.get(), size_}; }

 private:
  struct Free {
    void operator()(uint8_t* bytes) const { std::free(bytes); }
  };
  size_t size_ = 0;
  std::unique_ptr<uint8_t[], Free> bytes_;
};

}  // namespace mnemo::flash
