#include "base/crc32c.h"

#include <array>
#include <cstring>
#include <utility>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace mnemo {
namespace {

constexpr uint32_t kPolynomial = 0x82F63B78;  // Castagnoli's, bit-reflected

// Slicing by 8: kTables[k][b] is the CRC of byte b followed by k zero bytes, so eight bytes are
// folded with eight lookups instead of eight dependent steps.
constexpr std::array<std::array<uint32_t, 256>, 8> MakeTables() {
  std::array<std::array<uint32_t, 256>, 8> tables{};
  for (uint32_t byte = 0; byte < 256; ++byte) {
    uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1) != 0 ? kPolynomial : 0);
    tables[0][byte] = crc;
  }
  for (uint32_t byte = 0; byte < 256; ++byte) {
    for (size_t k = 1; k < 8; ++k) {
      const uint32_t previous = tables[k - 1][byte];
      tables[k][byte] = (previous >> 8) ^ tables[0][previous & 0xFF];
    }
  }
  return tables;
}

constexpr auto kTables = MakeTables();

// Shifting a CRC over zeros: the CRC of a block followed by n zero bytes is a linear function of
// the block's CRC, a 32x32 matrix over GF(2). Three independent crc32 streams over three adjacent
// stretches of n bytes are then joined as shift(shift(a) ^ b) ^ c, where shift crosses n zero
// bytes: the streams run in parallel, where one stream waits 3 cycles between instructions.

using Gf2Matrix = std::array<uint32_t, 32>;

constexpr uint32_t Gf2Times(const Gf2Matrix& matrix, uint32_t vector) {
  uint32_t sum = 0;
  for (size_t i = 0; vector != 0; ++i, vector >>= 1) {
    if ((vector & 1) != 0) sum ^= matrix[i];
  }
  return sum;
}

constexpr Gf2Matrix Gf2Square(const Gf2Matrix& matrix) {
  Gf2Matrix square{};
  for (size_t i = 0; i < 32; ++i) square[i] = Gf2Times(matrix, matrix[i]);
  return square;
}

// The shift over `bytes` zero bytes, as four tables of 256 (one per byte of the CRC).
using ShiftTables = std::array<std::array<uint32_t, 256>, 4>;

constexpr ShiftTables MakeShiftTables(size_t bytes) {
  Gf2Matrix one_bit{};  // one zero bit: the CRC register's step
  one_bit[0] = kPolynomial;
  for (size_t i = 1; i < 32; ++i) one_bit[i] = uint32_t{1} << (i - 1);
  Gf2Matrix power = Gf2Square(Gf2Square(Gf2Square(one_bit)));  // one zero byte
  Gf2Matrix shift{};                                           // identity
  for (size_t i = 0; i < 32; ++i) shift[i] = uint32_t{1} << i;
  for (; bytes != 0; bytes >>= 1, power = Gf2Square(power)) {
    if ((bytes & 1) != 0) {
      Gf2Matrix product{};
      for (size_t i = 0; i < 32; ++i) product[i] = Gf2Times(power, shift[i]);
      shift = product;
    }
  }
  ShiftTables tables{};
  for (uint32_t byte = 0; byte < 256; ++byte) {
    for (size_t k = 0; k < 4; ++k) tables[k][byte] = Gf2Times(shift, byte << (8 * k));
  }
  return tables;
}

uint32_t Shift(const ShiftTables& tables, uint32_t crc) {
  return tables[0][crc & 0xFF] ^ tables[1][(crc >> 8) & 0xFF] ^ tables[2][(crc >> 16) & 0xFF] ^
         tables[3][crc >> 24];
}

// Stretches of the three streams: long ones for large buffers, short ones down to a record.
constexpr size_t kLongStretch = 8192;
constexpr size_t kShortStretch = 256;
constexpr ShiftTables kShiftLong = MakeShiftTables(kLongStretch);
constexpr ShiftTables kShiftShort = MakeShiftTables(kShortStretch);

uint64_t Load64(const uint8_t* p) {
  uint64_t value;
  std::memcpy(&value, p, sizeof(value));  // unaligned, little-endian on every target we build
  return value;
}

}  // namespace

uint32_t Crc32cSoftware(const void* data, size_t size, uint32_t seed) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint32_t crc = ~seed;
  for (; size >= 8; size -= 8, p += 8) {
    const uint64_t word = Load64(p) ^ crc;
    crc = kTables[7][word & 0xFF] ^ kTables[6][(word >> 8) & 0xFF] ^
          kTables[5][(word >> 16) & 0xFF] ^ kTables[4][(word >> 24) & 0xFF] ^
          kTables[3][(word >> 32) & 0xFF] ^ kTables[2][(word >> 40) & 0xFF] ^
          kTables[1][(word >> 48) & 0xFF] ^ kTables[0][word >> 56];
  }
  for (; size > 0; --size, ++p) crc = (crc >> 8) ^ kTables[0][(crc ^ *p) & 0xFF];
  return ~crc;
}

#if defined(__x86_64__)

__attribute__((target("sse4.2"))) uint32_t Crc32cHardware(const void* data, size_t size,
                                                          uint32_t seed) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t crc = ~seed;
  for (const auto& [stretch, tables] :
       {std::pair{kLongStretch, &kShiftLong}, std::pair{kShortStretch, &kShiftShort}}) {
    for (; size >= 3 * stretch; size -= 3 * stretch, p += 3 * stretch) {
      uint64_t crc1 = 0;
      uint64_t crc2 = 0;
      for (size_t at = 0; at < stretch; at += 8) {
        crc = _mm_crc32_u64(crc, Load64(p + at));
        crc1 = _mm_crc32_u64(crc1, Load64(p + stretch + at));
        crc2 = _mm_crc32_u64(crc2, Load64(p + 2 * stretch + at));
      }
      crc = Shift(*tables, static_cast<uint32_t>(crc)) ^ crc1;
      crc = Shift(*tables, static_cast<uint32_t>(crc)) ^ crc2;
    }
  }
  for (; size >= 8; size -= 8, p += 8) crc = _mm_crc32_u64(crc, Load64(p));
  auto crc32 = static_cast<uint32_t>(crc);
  for (; size > 0; --size, ++p) crc32 = _mm_crc32_u8(crc32, *p);
  return ~crc32;
}

bool Crc32cHardwareAvailable() { return __builtin_cpu_supports("sse4.2"); }

#else

uint32_t Crc32cHardware(const void* data, size_t size, uint32_t seed) {
  return Crc32cSoftware(data, size, seed);
}

bool Crc32cHardwareAvailable() { return false; }

#endif

uint32_t Crc32c(const void* data, size_t size, uint32_t seed) {
  static const auto implementation = Crc32cHardwareAvailable() ? Crc32cHardware : Crc32cSoftware;
  return implementation(data, size, seed);
}

}  // namespace mnemo
