// MetaCommand is one parsed request of memcached's meta protocol: mg, ms, md, ma, mn, me. It
// holds what the dispatcher needs to run the command and to write its reply without looking at
// the request text again: the key (decoded when base64), every flag letter in request order, and
// each flag's token already read as a number. Views point into the connection's read buffer and
// stay valid until the parser's `consumed` bytes are dropped from it; a decoded key lives in the
// command itself, so copies of a MetaCommand stay valid too.
//
// Invariants, after a parse that returned kOk (and for kTooLarge and kBadDataChunk):
//  (1) Key() is 1 to 250 bytes for mg, ms, md, ma and me, and empty for mn. Without 'b' it is
//      the key token as sent, which holds no control byte; with 'b' it is that token decoded.
//  (2) Each flag letter appears at most once; letters() lists them in request order, 'P' and 'L'
//      (proxy hints, ignored) left out. A letter's token, if it takes one, is in the field named
//      beside it below, and that field is meaningful only when Has() the letter.
//  (3) Only the letters of kMetaFlagLetters occur; a command may carry letters it does not use
//      (memcached accepts any known flag on any meta command and ignores the rest).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocol/base64.h"
#include "protocol/command.h"

namespace mnemo::protocol {

// Every flag letter memcached's meta commands know.
inline constexpr std::string_view kMetaFlagLetters = "bcfhklqstuvxCDEFIJLMNOPRT";

// memcached 1.6.45 refuses a meta command of more than 20 tokens (command and key included), so a
// command carries at most 18 flags (ms: 17, after its data length).
inline constexpr size_t kMaxMetaTokens = 20;
inline constexpr size_t kMaxMetaFlags = kMaxMetaTokens - 2;

// The longest opaque ('O') token memcached echoes, the 'O' not counted.
inline constexpr size_t kMaxOpaqueLength = 31;

// A base64 key token is at most kMaxKeyLength bytes, so its decoding is at most this long.
inline constexpr size_t kMaxBinaryKeyLength = Base64DecodedCapacity(kMaxKeyLength);

enum class MetaCommandType : uint8_t {
  kGet,         // mg
  kSet,         // ms
  kDelete,      // md
  kArithmetic,  // ma
  kNoop,        // mn
  kDebug,       // me
};

// ms's M token.
enum class MetaSetMode : uint8_t {
  kSet,      // 'S', the default
  kAdd,      // 'E'
  kReplace,  // 'R'
  kAppend,   // 'A'
  kPrepend,  // 'P'
};

// ma's M token.
enum class MetaArithMode : uint8_t {
  kIncrement,  // 'I' or '+', the default
  kDecrement,  // 'D' or '-'
};

// A set of flag letters ('A' to 'z').
class MetaFlagSet {
 public:
  bool Has(char letter) const { return (bits_ & Bit(letter)) != 0; }
  void Add(char letter) { bits_ |= Bit(letter); }

 private:
  // REQUIRES: 'A' <= letter <= 'z'.
  static uint64_t Bit(char letter) { return uint64_t{1} << (letter - 'A'); }

  uint64_t bits_ = 0;
};

struct MetaCommand {
  MetaCommandType type = MetaCommandType::kNoop;

  // The key to look up: the decoded bytes with 'b', else the key token as sent.
  std::string_view Key() const {
    return key_binary ? std::string_view(binary_key, binary_key_size) : key_token;
  }
  bool Has(char letter) const { return flags.Has(letter); }
  // The flag letters in request order, for replies that echo flags in that order.
  std::string_view letters() const { return std::string_view(letter_order, letter_count); }

  std::string_view key_token;  // the key as sent (base64 with 'b')
  bool key_binary = false;     // 'b': replies that show the key must encode it again
  MetaFlagSet flags;

  // Tokens of the flags that take one. Times are exptimes as memcached reads them (32 bits;
  // above 30 days a Unix time; negative: expired), for the dispatcher to convert.
  std::string_view opaque;                   // 'O': the token after the 'O', echoed as " O<opaque>"
  int64_t ttl = 0;                           // 'T'
  int64_t vivify_ttl = 0;                    // 'N'
  int64_t recache_ttl = 0;                   // 'R'
  uint32_t client_flags = 0;                 // 'F' (0 when absent, as ms stores it)
  uint64_t compare_cas = 0;                  // 'C'
  uint64_t new_cas = 0;                      // 'E'
  uint64_t delta = 1;                        // 'D' (ma: 1 when absent)
  uint64_t initial = 0;                      // 'J' (ma: 0 when absent)
  MetaSetMode set_mode = MetaSetMode::kSet;  // 'M' on ms
  MetaArithMode arith_mode = MetaArithMode::kIncrement;  // 'M' on ma

  std::string_view value;  // ms: the data block, without its "\r\n"

  char letter_order[kMaxMetaFlags] = {};
  uint8_t letter_count = 0;
  uint8_t binary_key_size = 0;
  char binary_key[kMaxBinaryKeyLength] = {};
};

}  // namespace mnemo::protocol
