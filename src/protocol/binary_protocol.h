// memcached's binary protocol on the wire (memcached's protocol_binary.h): the 24-byte packet
// header, the opcodes and status codes memcached 1.6.45 speaks, and the text of its error
// statuses. Big-endian integers are read and written here and nowhere else.
//
// Thread safety: constants and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "protocol/negotiation.h"

namespace mnemo::protocol::binary {

inline constexpr size_t kHeaderSize = 24;
inline constexpr unsigned char kRequestMagic = kBinaryRequestMagic;
inline constexpr unsigned char kResponseMagic = 0x81;

enum class Opcode : uint8_t {
  kGet = 0x00,
  kSet = 0x01,
  kAdd = 0x02,
  kReplace = 0x03,
  kDelete = 0x04,
  kIncrement = 0x05,
  kDecrement = 0x06,
  kQuit = 0x07,
  kFlush = 0x08,
  kGetQ = 0x09,
  kNoop = 0x0a,
  kVersion = 0x0b,
  kGetK = 0x0c,
  kGetKQ = 0x0d,
  kAppend = 0x0e,
  kPrepend = 0x0f,
  kStat = 0x10,
  kSetQ = 0x11,
  kAddQ = 0x12,
  kReplaceQ = 0x13,
  kDeleteQ = 0x14,
  kIncrementQ = 0x15,
  kDecrementQ = 0x16,
  kQuitQ = 0x17,
  kFlushQ = 0x18,
  kAppendQ = 0x19,
  kPrependQ = 0x1a,
  kTouch = 0x1c,
  kGat = 0x1d,
  kGatQ = 0x1e,
  kSaslListMechs = 0x20,
  kSaslAuth = 0x21,
  kSaslStep = 0x22,
  kGatK = 0x23,
  kGatKQ = 0x24,
};

enum class Status : uint16_t {
  kSuccess = 0x00,
  kKeyNotFound = 0x01,
  kKeyExists = 0x02,
  kTooLarge = 0x03,
  kInvalidArguments = 0x04,
  kNotStored = 0x05,
  kDeltaBadValue = 0x06,
  kAuthError = 0x20,
  kAuthContinue = 0x21,  // a SASL exchange wants another step
  kUnknownCommand = 0x81,
  kOutOfMemory = 0x82,
  kTemporaryFailure = 0x86,  // memcached's ETMPFAIL: mnemod's sync replication timed out
};

// The body memcached's write_bin_error sends with an error status when it is given no text.
inline std::string_view StatusText(Status status) {
  switch (status) {
    case Status::kSuccess:
    case Status::kAuthContinue:  // its body is the mechanism's challenge
      return {};
    case Status::kKeyNotFound:
      return "Not found";
    case Status::kKeyExists:
      return "Data exists for key.";
    case Status::kTooLarge:
      return "Too large.";
    case Status::kInvalidArguments:
      return "Invalid arguments";
    case Status::kNotStored:
      return "Not stored.";
    case Status::kDeltaBadValue:
      return "Non-numeric server-side value for incr or decr";
    case Status::kAuthError:
      return "Auth failure.";
    case Status::kUnknownCommand:
      return "Unknown command";
    case Status::kOutOfMemory:
      return "Out of memory";
    case Status::kTemporaryFailure:
      return "Temporary failure";
  }
  return {};
}

inline uint16_t Load16(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(b[0] << 8 | b[1]);
}
inline uint32_t Load32(const char* p) {
  return static_cast<uint32_t>(Load16(p)) << 16 | Load16(p + 2);
}
inline uint64_t Load64(const char* p) {
  return static_cast<uint64_t>(Load32(p)) << 32 | Load32(p + 4);
}

inline char* Store16(char* p, uint16_t v) {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v);
  return p + 2;
}
inline char* Store32(char* p, uint32_t v) { return Store16(Store16(p, v >> 16), v & 0xffff); }
inline char* Store64(char* p, uint64_t v) {
  return Store32(Store32(p, static_cast<uint32_t>(v >> 32)), static_cast<uint32_t>(v));
}

// A response header, as memcached's add_bin_header writes it (datatype raw bytes, vbucket
// carrying the status).
struct ResponseHeader {
  uint8_t opcode = 0;
  uint16_t key_length = 0;
  uint8_t extras_length = 0;
  Status status = Status::kSuccess;
  uint32_t body_length = 0;  // extras, key and value
  uint32_t opaque = 0;       // the request's, unconverted
  uint64_t cas = 0;
};

// Writes the kHeaderSize bytes of `header` at `out`; returns the end.
inline char* WriteResponseHeader(const ResponseHeader& header, char* out) {
  out[0] = static_cast<char>(kResponseMagic);
  out[1] = static_cast<char>(header.opcode);
  Store16(out + 2, header.key_length);
  out[4] = static_cast<char>(header.extras_length);
  out[5] = 0;
  Store16(out + 6, static_cast<uint16_t>(header.status));
  Store32(out + 8, header.body_length);
  std::memcpy(out + 12, &header.opaque, 4);
  Store64(out + 16, header.cas);
  return out + kHeaderSize;
}

}  // namespace mnemo::protocol::binary
