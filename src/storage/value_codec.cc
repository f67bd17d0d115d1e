#include "storage/value_codec.h"

#include <snappy.h>

#include <chrono>
#include <cstring>

#include "storage/item_cursor.h"

namespace mnemo::storage {
namespace {

int64_t NanosSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                              start)
      .count();
}

// A value at least twice this long is first tried on its first kSampleBytes: if they do not
// compress enough, neither will the whole, in practice, and snappy is not run over it. Without
// this, every incompressible 256 KiB set cost about 0.4 ms of compression for nothing and mnemod
// half of memcached's throughput on a 1:10 mix (bench/RESULTS.md).
constexpr size_t kSampleBytes = size_t{4} << 10;

}  // namespace

std::string_view ValueCodec::Encode(ThreadContext& ctx, std::string_view value,
                                    ItemHeader* header) const {
  header->compressed = false;
  if (options_.compression != Compression::kSnappy || value.size() < options_.compress_min ||
      value.size() > kMaxCompressedValue) {
    return value;
  }
  const auto start = std::chrono::steady_clock::now();
  const auto saves_enough = [this](size_t length, size_t of) {
    return static_cast<double>(length) <= options_.compress_ratio * static_cast<double>(of);
  };
  char* out = ctx.compressed.Get(snappy::MaxCompressedLength(value.size()));
  size_t length = 0;
  if (value.size() >= 2 * kSampleBytes) {
    snappy::RawCompress(value.data(), kSampleBytes, out, &length);
    if (!saves_enough(length, kSampleBytes)) {
      ctx.Add(CacheCounter::compress_time_us, NanosSince(start));
      ctx.Add(CacheCounter::compress_rejected, 1);
      return value;
    }
  }
  snappy::RawCompress(value.data(), value.size(), out, &length);
  ctx.Add(CacheCounter::compress_time_us, NanosSince(start));
  if (!saves_enough(length, value.size())) {
    ctx.Add(CacheCounter::compress_rejected, 1);
    return value;
  }
  ctx.Add(CacheCounter::compress_items, 1);
  ctx.Add(CacheCounter::compress_bytes_in, static_cast<int64_t>(value.size()));
  ctx.Add(CacheCounter::compress_bytes_out, static_cast<int64_t>(length));
  header->compressed = true;
  header->raw_size = static_cast<uint32_t>(value.size());
  return {out, length};
}

bool ValueCodec::Decode(ThreadContext& ctx, ItemLocation value_at, const ItemHeader& header,
                        char* out) const {
  ItemCursor cursor(pool_, value_at);
  if (!header.compressed) {
    cursor.Read(out, header.value_size);
    return true;
  }
  // A small item's block lies in one piece in its segment; a chained one's is gathered first.
  if (!header.chained)
    return DecodeBytes(ctx, pool_.Data(value_at.segment) + value_at.offset, header, out);
  char* gathered = ctx.block.Get(header.value_size);
  cursor.Read(gathered, header.value_size);
  const bool ok = DecodeBytes(ctx, gathered, header, out);
  ctx.block.Trim();
  return ok;
}

bool ValueCodec::DecodeBytes(ThreadContext& ctx, const char* stored, const ItemHeader& header,
                             char* out) const {
  if (!header.compressed) {
    std::memcpy(out, stored, header.value_size);
    return true;
  }
  const auto start = std::chrono::steady_clock::now();
  // The block's own length must be the one the header recorded, so snappy writes exactly the
  // raw_size bytes the caller has room for, and never more.
  size_t length = 0;
  const bool ok = snappy::GetUncompressedLength(stored, header.value_size, &length) &&
                  length == header.raw_size &&
                  snappy::RawUncompress(stored, header.value_size, out);
  ctx.Add(CacheCounter::decompress_time_us, NanosSince(start));
  ctx.Add(ok ? CacheCounter::decompress_items : CacheCounter::decompress_errors, 1);
  return ok;
}

}  // namespace mnemo::storage
