#include "flash/flash_writer.h"

#include <utility>

#include "flash/flash_segment.h"

namespace mnemo::flash {
namespace {

constexpr int kBuffers = 2;

}  // namespace

FlashWriter::FlashWriter(const FlashSpace& space, NextSegment next_segment, uint64_t first_sequence)
    : space_(space), next_segment_(std::move(next_segment)), next_sequence_(first_sequence) {}

Result<std::unique_ptr<FlashWriter>> FlashWriter::Create(const FlashSpace& space,
                                                         NextSegment next_segment,
                                                         uint64_t first_sequence) {
  std::unique_ptr<FlashWriter> writer(
      new FlashWriter(space, std::move(next_segment), first_sequence));
  for (int i = 0; i < kBuffers; ++i) {
    writer->buffers_.push_back(std::make_unique<WriteBuffer>(space.segment_size()));
    if (!writer->buffers_.back()->valid()) {
      return Status::Error("cannot allocate a flash write buffer of " +
                           std::to_string(space.segment_size()) + " bytes");
    }
  }
  {
    MutexLock lock(writer->mu_);
    for (const auto& buffer : writer->buffers_) writer->free_.push_back(buffer.get());
  }
  writer->thread_ = std::thread([raw = writer.get()] { raw->Loop(); });
  return writer;
}

FlashWriter::~FlashWriter() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  work_.NotifyOne();
  thread_.join();
}

size_t FlashWriter::max_record_size() const { return space_.segment_size() - kSegmentHeaderSize; }

bool FlashWriter::StartFilling() {
  if (free_.empty()) return false;
  std::optional<uint32_t> segment;
  if (next_segment_) {
    segment = next_segment_();
  } else {
    segment = next_default_segment_;
    next_default_segment_ = (next_default_segment_ + 1) % space_.segment_count();
  }
  if (!segment.has_value()) return false;
  filling_ = free_.back();
  free_.pop_back();
  filling_->Reset(*segment);
  return true;
}

void FlashWriter::SealFilling() {
  sealed_.push_back({filling_, filling_->Seal(next_sequence_++)});
  filling_ = nullptr;
  work_.NotifyOne();
}

std::optional<FlashWriter::Location> FlashWriter::Append(std::span<const uint8_t> record) {
  MutexLock lock(mu_);
  if (error_.ok() && !stop_ && record.size() <= max_record_size()) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (filling_ == nullptr && !StartFilling()) break;
      if (const std::optional<uint32_t> offset = filling_->Append(record)) {
        ++stats_.appended;
        return Location{filling_->segment(), *offset};
      }
      SealFilling();  // full: the record goes to the next buffer, if there is one
    }
  }
  ++stats_.refused;
  return std::nullopt;
}

bool FlashWriter::ReadBuffered(Location location, std::span<uint8_t> out) const {
  MutexLock lock(mu_);
  if (filling_ != nullptr && filling_->segment() == location.segment) {
    return filling_->Read(location.offset, out);
  }
  for (const Sealed& sealed : sealed_) {
    if (sealed.buffer->segment() == location.segment) {
      return sealed.buffer->Read(location.offset, out);
    }
  }
  return false;
}

void FlashWriter::Flush() {
  MutexLock lock(mu_);
  if (filling_ != nullptr) {
    if (filling_->has_records()) {
      SealFilling();
    } else {
      free_.push_back(std::exchange(filling_, nullptr));
    }
  }
  idle_.Wait(lock, [this]() REQUIRES(mu_) { return sealed_.empty(); });
}

Status FlashWriter::error() const {
  MutexLock lock(mu_);
  return error_;
}

FlashWriter::Stats FlashWriter::stats() const {
  MutexLock lock(mu_);
  return stats_;
}

void FlashWriter::Loop() {
  for (;;) {
    Sealed next;
    bool write = false;
    {
      MutexLock lock(mu_);
      work_.Wait(lock, [this]() REQUIRES(mu_) { return stop_ || !sealed_.empty(); });
      if (sealed_.empty()) return;  // stopping with nothing left to write
      next = sealed_.front();
      write = error_.ok();  // after a failure, what is queued is dropped
    }
    // The sealed bytes do not change until the buffer is released below, so they are read here
    // without the lock while ReadBuffered may read them with it.
    Status written = Status::Ok();
    if (write) {
      const FlashSpace::Place place = space_.Locate(next.buffer->segment());
      written = place.device->Write(place.offset, next.bytes);
    }
    MutexLock lock(mu_);
    if (write && written.ok()) {
      ++stats_.segments_written;
      stats_.bytes_written += next.bytes.size();
    } else if (write) {
      ++stats_.io_errors;
      error_ = std::move(written);
    }
    sealed_.pop_front();
    free_.push_back(next.buffer);
    if (sealed_.empty()) idle_.NotifyAll();
  }
}

}  // namespace mnemo::flash
