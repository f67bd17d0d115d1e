// ParseAsciiAuth reads the handshake of memcached's ascii authentication (-Y) from the front of an
// unauthenticated text connection's input, as memcached 1.6.45's try_read_command_asciiauth
// reads it: a storage line whose key, flags and exptime are ignored, then a data block holding
// "<user> <password>":
//
//   set <any key> <any> <any> <bytes>\r\n<user> <password>\r\n
//
// Whatever else the client sends before it authenticates is answered by this parser too: a line
// that is not such a set is "CLIENT_ERROR unauthenticated" (its line consumed); a line shorter
// than memcached's shortest handshake closes the connection without a word, as does a line that
// has not ended after kMaxLineWait bytes.
//
// memcached's quirks kept, since clients see them: the line must start with the bytes "set"
// (so "setx" does as well); its words are split as memcached's tokenizer splits them, which
// drops the line's last byte when the line ends with a bare "\n"; the data block's size is taken
// as is, and one larger than kMaxToken is refused with only its line consumed (its bytes are then
// read as the next line).
//
// It never performs I/O and never allocates; user and password point into the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace mnemo::protocol {

struct AsciiAuthRequest {
  enum class Kind : uint8_t {
    kNeedMore,     // the handshake is not complete; nothing consumed
    kClose,        // close the connection without a reply
    kReply,        // answer `reply` and drop `consumed` bytes
    kCredentials,  // check user and password, then drop `consumed` bytes
  };
  Kind kind = Kind::kNeedMore;
  size_t consumed = 0;
  // kNeedMore: the bytes the handshake needs in all, once its line is in; else 0.
  size_t needed = 0;
  std::string_view reply;  // kReply: the whole reply line
  std::string_view user;
  std::string_view password;
};

// memcached's bounds: MIN_AUTH_REQ_LEN, MAX_AUTH_REQ_LEN and the 2048 bytes it waits for a line.
inline constexpr size_t kMinAuthLine = 6;
inline constexpr uint32_t kMaxToken = 16384;
inline constexpr size_t kMaxLineWait = 2048;

// memcached's answers to a handshake that fails.
inline constexpr std::string_view kUnauthenticated = "CLIENT_ERROR unauthenticated\r\n";
inline constexpr std::string_view kAuthTokenTooLong = "CLIENT_ERROR auth token too long\r\n";
inline constexpr std::string_view kAuthBadTermination =
    "CLIENT_ERROR bad command line termination\r\n";
inline constexpr std::string_view kAuthBadFormat =
    "CLIENT_ERROR bad authentication token format\r\n";
inline constexpr std::string_view kAuthFailure = "CLIENT_ERROR authentication failure\r\n";
inline constexpr std::string_view kAuthStored = "STORED\r\n";

[[nodiscard]] AsciiAuthRequest ParseAsciiAuth(std::string_view input);

}  // namespace mnemo::protocol
