// ValueCodec turns values into the bytes an item stores and back: a snappy block when compression
// is on, the value is long enough and compressing saves enough (CacheOptions), else the value as
// it came. A long value whose first 4 KiB do not compress enough is stored as it came without
// compressing the rest. Readers always get the original bytes; a block that does not decode to
// exactly the size its header recorded is reported, never returned.
//
// Thread safety: const methods on shared options; each call uses the caller's own context for
// scratch space and counters.
#pragma once

#include <cstddef>
#include <string_view>

#include "storage/cache.h"
#include "storage/hash_table.h"
#include "storage/item.h"
#include "storage/segment_pool.h"
#include "storage/thread_context.h"

namespace mnemo::storage {

class ValueCodec {
 public:
  // Values above this are stored as they come: compressing into a context's scratch needs
  // snappy::MaxCompressedLength of the value, and the default -I is 1 MiB.
  static constexpr size_t kMaxCompressedValue = size_t{1} << 20;

  ValueCodec(const CacheOptions& options, const SegmentPool& pool)
      : options_(options), pool_(pool) {}

  // The bytes to store for `value`: a snappy block in ctx's scratch if it is worth it
  // (header->compressed and raw_size say so), else `value` itself.
  std::string_view Encode(ThreadContext& ctx, std::string_view value, ItemHeader* header) const;

  // Whether a value of `size` bytes would be offered to the compressor.
  bool Compressible(size_t size) const {
    return options_.compression != Compression::kOff && size >= options_.compress_min &&
           size <= kMaxCompressedValue;
  }

  // Copies the original value of an item whose stored value starts at `value_at` and whose header
  // is `header` to `out` (room for header.original_size() bytes), decoding a compressed one;
  // false if its block is corrupt. REQUIRES: the item's bytes cannot be reused meanwhile (its
  // stripe lock, or a hold on its segment).
  bool Decode(ThreadContext& ctx, ItemLocation value_at, const ItemHeader& header, char* out) const;
  // Decode for a value whose stored bytes lie in one piece at `stored` (an item read from flash).
  bool DecodeBytes(ThreadContext& ctx, const char* stored, const ItemHeader& header,
                   char* out) const;

 private:
  const CacheOptions& options_;
  const SegmentPool& pool_;
};

}  // namespace mnemo::storage
