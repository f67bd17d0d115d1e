// The protocol a connection speaks, told from its first byte as memcached's
// try_read_command_negotiate tells it: a binary-protocol request starts with its magic byte, which
// no ascii command does. A connection chooses once, from the first byte it receives, and keeps its
// choice. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

namespace mnemo::protocol {

// The first byte of every binary-protocol request (protocol_binary.h's PROTOCOL_BINARY_REQ).
inline constexpr unsigned char kBinaryRequestMagic = 0x80;

enum class WireProtocol : uint8_t {
  kAscii,   // text and meta commands (ascii_parser.h)
  kBinary,  // memcached's binary protocol
};

inline WireProtocol NegotiateProtocol(char first_byte) {
  return static_cast<unsigned char>(first_byte) == kBinaryRequestMagic ? WireProtocol::kBinary
                                                                       : WireProtocol::kAscii;
}

// As memcached's -vv log names it.
inline std::string_view WireProtocolName(WireProtocol protocol) {
  return protocol == WireProtocol::kBinary ? "binary" : "ascii";
}

}  // namespace mnemo::protocol
