#include "storage/restart_meta.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/crc32c.h"
#include "storage/hash_table.h"

namespace mnemo::storage {
namespace {

constexpr char kMagic[8] = {'M', 'N', 'E', 'M', 'O', 'W', 'R', 'M'};
constexpr size_t kHeaderSize = sizeof(kMagic) + 4 + 4 + 8;
constexpr size_t kSegmentBytes = 4 * 4 + 8 + 4 * 2 + 2 + 1 + 4 + 8;
constexpr size_t kItemBytes = 4 + 4;
constexpr size_t kFlashSegmentBytes = 4 * 4;
constexpr size_t kFlashItemBytes = 4 * 4 + 8;
// A device path longer than this is not one a server was given.
constexpr uint32_t kMaxPath = 4096;

class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}
  template <typename T>
  void Put(T value) {
    uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof(T));
    for (size_t i = 0; i < sizeof(T); ++i) out_->push_back(static_cast<char>(bits >> (8 * i)));
  }

 private:
  std::string* out_;
};

class Reader {
 public:
  Reader(const std::string& in, size_t at) : in_(in), at_(at) {}
  // False, and *value untouched, past the end.
  template <typename T>
  bool Get(T* value) {
    if (in_.size() - at_ < sizeof(T)) return false;
    uint64_t bits = 0;
    for (size_t i = 0; i < sizeof(T); ++i) {
      bits |= uint64_t{static_cast<uint8_t>(in_[at_ + i])} << (8 * i);
    }
    at_ += sizeof(T);
    std::memcpy(value, &bits, sizeof(T));
    return true;
  }
  // False past the end.
  bool GetBytes(size_t size, std::string* out) {
    if (in_.size() - at_ < size) return false;
    out->assign(in_, at_, size);
    at_ += size;
    return true;
  }
  size_t left() const { return in_.size() - at_; }

 private:
  const std::string& in_;
  size_t at_;
};

}  // namespace

std::string RestartMeta::Encode() const {
  std::string body;
  Writer w(&body);
  w.Put(memory_limit);
  w.Put(segment_size);
  w.Put(max_segments);
  w.Put(item_layout);
  w.Put(static_cast<uint8_t>(use_cas));
  w.Put(item_size_max);
  w.Put(time_base);
  w.Put(saved_now);
  w.Put(next_epoch);
  w.Put(flush_gen);
  w.Put(flush_at);
  w.Put(flushed_second);
  w.Put(static_cast<uint32_t>(segments.size()));
  for (const Segment& s : segments) {
    w.Put(s.id);
    w.Put(s.write_offset);
    w.Put(s.max_expiry);
    w.Put(s.flush_gen);
    w.Put(s.epoch);
    w.Put(s.create_time);
    w.Put(s.last_access);
    w.Put(s.ttl_bucket);
    w.Put(static_cast<uint8_t>(s.kind));
    w.Put(s.chain_next);
    w.Put(s.checksum);
  }
  w.Put(static_cast<uint64_t>(items.size()));
  for (const Item& item : items) {
    w.Put(item.segment);
    w.Put(item.offset | uint32_t{item.counter} << 28);
  }
  w.Put(static_cast<uint32_t>(flash_devices.size()));
  for (const FlashDevice& device : flash_devices) {
    w.Put(static_cast<uint32_t>(device.path.size()));
    body.append(device.path);
    w.Put(device.size);
  }
  w.Put(flash_segment_count);
  w.Put(flash_next_segment);
  w.Put(flash_sequence);
  w.Put(static_cast<uint32_t>(flash_segments.size()));
  for (const FlashSegment& s : flash_segments) {
    w.Put(s.index);
    w.Put(s.end);
    w.Put(s.flush_gen);
    w.Put(s.written_at);
  }
  w.Put(static_cast<uint64_t>(flash_items.size()));
  for (const FlashItem& item : flash_items) {
    w.Put(item.segment);
    w.Put(item.offset | uint32_t{item.counter} << 28);
    w.Put(item.expiry);
    w.Put(item.size);
    w.Put(item.hash);
  }
  std::string out(kMagic, sizeof(kMagic));
  Writer h(&out);
  h.Put(kRestartFormatVersion);
  h.Put(Crc32c(body.data(), body.size()));
  h.Put(static_cast<uint64_t>(body.size()));
  return out + body;
}

namespace {

// The flash tier's part of the body, which ends it.
Status DecodeFlash(Reader& r, RestartMeta* m) {
  uint32_t device_count = 0;
  if (!r.Get(&device_count)) return Status::Error("truncated");
  for (uint32_t i = 0; i < device_count; ++i) {
    RestartMeta::FlashDevice device;
    uint32_t length = 0;
    if (!r.Get(&length) || length > kMaxPath || !r.GetBytes(length, &device.path) ||
        !r.Get(&device.size)) {
      return Status::Error("truncated");
    }
    m->flash_devices.push_back(std::move(device));
  }
  uint32_t segment_count = 0;
  bool ok = r.Get(&m->flash_segment_count) && r.Get(&m->flash_next_segment) &&
            r.Get(&m->flash_sequence) && r.Get(&segment_count);
  if (!ok || r.left() / kFlashSegmentBytes < segment_count) return Status::Error("truncated");
  if (m->flash_segment_count > kMaxSegments - m->max_segments ||
      (m->flash_segment_count != 0 && m->flash_next_segment >= m->flash_segment_count)) {
    return Status::Error("flash tier out of range");
  }
  m->flash_segments.resize(segment_count);
  for (size_t i = 0; i < segment_count; ++i) {
    RestartMeta::FlashSegment& s = m->flash_segments[i];
    (void)(r.Get(&s.index) && r.Get(&s.end) && r.Get(&s.flush_gen) && r.Get(&s.written_at));
    if (s.index >= m->flash_segment_count || s.end > m->segment_size) {
      return Status::Error("flash segment " + std::to_string(s.index) + " out of range");
    }
    if (i > 0 && s.index <= m->flash_segments[i - 1].index) {
      return Status::Error("flash segments out of order");
    }
  }
  uint64_t item_count = 0;
  if (!r.Get(&item_count) || r.left() != item_count * kFlashItemBytes) {
    return Status::Error("truncated");
  }
  m->flash_items.resize(item_count);
  for (RestartMeta::FlashItem& item : m->flash_items) {
    uint32_t packed = 0;
    (void)(r.Get(&item.segment) && r.Get(&packed) && r.Get(&item.expiry) && r.Get(&item.size) &&
           r.Get(&item.hash));
    item.offset = packed & ((1u << 28) - 1);
    item.counter = static_cast<uint8_t>(packed >> 28);
    if (item.segment < m->max_segments ||
        item.segment - m->max_segments >= m->flash_segment_count ||
        item.offset >= m->segment_size || item.size > m->segment_size) {
      return Status::Error("flash item out of range");
    }
  }
  return Status::Ok();
}

}  // namespace

Status RestartMeta::Decode(const std::string& bytes, RestartMeta* meta) {
  if (bytes.size() < kHeaderSize || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    return Status::Error("not a metadata file");
  }
  Reader h(bytes, sizeof(kMagic));
  uint32_t version = 0;
  uint32_t crc = 0;
  uint64_t size = 0;
  (void)(h.Get(&version) && h.Get(&crc) && h.Get(&size));
  if (version != kRestartFormatVersion) {
    return Status::Error("format version " + std::to_string(version) + ", this mnemod reads " +
                         std::to_string(kRestartFormatVersion));
  }
  if (size != bytes.size() - kHeaderSize) return Status::Error("truncated");
  if (Crc32c(bytes.data() + kHeaderSize, size) != crc) return Status::Error("checksum mismatch");

  Reader r(bytes, kHeaderSize);
  RestartMeta m;
  uint8_t use_cas = 0;
  uint32_t segment_count = 0;
  bool ok = r.Get(&m.memory_limit) && r.Get(&m.segment_size) && r.Get(&m.max_segments) &&
            r.Get(&m.item_layout) && r.Get(&use_cas) && r.Get(&m.item_size_max) &&
            r.Get(&m.time_base) && r.Get(&m.saved_now) && r.Get(&m.next_epoch) &&
            r.Get(&m.flush_gen) && r.Get(&m.flush_at) && r.Get(&m.flushed_second) &&
            r.Get(&segment_count);
  if (!ok || r.left() / kSegmentBytes < segment_count) return Status::Error("truncated");
  m.use_cas = use_cas != 0;
  m.segments.resize(segment_count);
  for (Segment& s : m.segments) {
    uint8_t kind = 0;
    ok = r.Get(&s.id) && r.Get(&s.write_offset) && r.Get(&s.max_expiry) && r.Get(&s.flush_gen) &&
         r.Get(&s.epoch) && r.Get(&s.create_time) && r.Get(&s.last_access) &&
         r.Get(&s.ttl_bucket) && r.Get(&kind) && r.Get(&s.chain_next) && r.Get(&s.checksum);
    if (!ok) return Status::Error("truncated");
    if (kind > static_cast<uint8_t>(Kind::kChained)) return Status::Error("bad segment kind");
    s.kind = static_cast<Kind>(kind);
    if (s.id >= m.max_segments || s.write_offset > m.segment_size) {
      return Status::Error("segment " + std::to_string(s.id) + " out of range");
    }
  }
  for (size_t i = 1; i < m.segments.size(); ++i) {
    if (m.segments[i].id <= m.segments[i - 1].id) return Status::Error("segments out of order");
  }
  uint64_t item_count = 0;
  if (!r.Get(&item_count) || r.left() / kItemBytes < item_count) return Status::Error("truncated");
  m.items.resize(item_count);
  for (Item& item : m.items) {
    uint32_t packed = 0;
    (void)(r.Get(&item.segment) && r.Get(&packed));
    item.offset = packed & ((1u << 28) - 1);
    item.counter = static_cast<uint8_t>(packed >> 28);
    if (item.segment >= m.max_segments || item.offset >= m.segment_size) {
      return Status::Error("item out of range");
    }
  }
  Status flash = DecodeFlash(r, &m);
  if (!flash.ok()) return flash;
  *meta = std::move(m);
  return Status::Ok();
}

std::string MetaPathFor(const std::string& memory_file) { return memory_file + ".meta"; }

Status WriteMetaFile(const std::string& path, const RestartMeta& meta) {
  const std::string bytes = meta.Encode();
  const std::string temporary = path + ".tmp";
  const int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Error("cannot create " + temporary + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = std::strerror(errno);
      close(fd);
      unlink(temporary.c_str());
      return Status::Error(std::string("cannot write ").append(temporary).append(": ").append(why));
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    unlink(temporary.c_str());
    return Status::Error("cannot sync " + temporary + ": " + std::strerror(errno));
  }
  if (rename(temporary.c_str(), path.c_str()) != 0) {
    unlink(temporary.c_str());
    return Status::Error("cannot rename " + temporary + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

MetaRead ReadMetaFile(const std::string& path, RestartMeta* meta, std::string* why) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *why = std::strerror(errno);
    return errno == ENOENT ? MetaRead::kMissing : MetaRead::kCorrupt;
  }
  std::string bytes;
  char buffer[1 << 16];
  ssize_t n = 0;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0 || (n < 0 && errno == EINTR)) {
    if (n > 0) bytes.append(buffer, static_cast<size_t>(n));
  }
  const int read_errno = n < 0 ? errno : 0;
  close(fd);
  // Read once: from now on the memory file changes, and this description of it would be wrong.
  unlink(path.c_str());
  if (read_errno != 0) {
    *why = std::strerror(read_errno);
    return MetaRead::kCorrupt;
  }
  const Status status = RestartMeta::Decode(bytes, meta);
  if (!status.ok()) {
    *why = status.message();
    return MetaRead::kCorrupt;
  }
  return MetaRead::kOk;
}

}  // namespace mnemo::storage
