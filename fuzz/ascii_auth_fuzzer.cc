// libFuzzer target for ParseAsciiAuth (protocol/ascii_auth.h), the -Y handshake's parser, seeded
// from fuzz/corpus/ascii_auth/. Each input is what an unauthenticated text connection has
// buffered; the parser gets an exact-size heap copy (so AddressSanitizer catches a read past it)
// and every promise of its header is checked: a kNeedMore consumes nothing and, once it names
// the bytes it needs, needs more than it has; nothing else consumes more than it was given; a
// reply is one of memcached's lines; user and password lie inside the data block, which ends
// with "\r\n". Input growing a byte at a time must give the same answer once the handshake is
// whole. A broken promise aborts, which libFuzzer reports as a crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

#include "protocol/ascii_auth.h"

namespace {

using mnemo::protocol::AsciiAuthRequest;
using mnemo::protocol::ParseAsciiAuth;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "broken promise: %s\n", what);
  std::abort();
}

AsciiAuthRequest Check(std::string_view input) {
  const std::unique_ptr<char[]> copy(new char[input.size() + 1]);
  std::memcpy(copy.get(), input.data(), input.size());
  const std::string_view exact(copy.get(), input.size());
  const AsciiAuthRequest request = ParseAsciiAuth(exact);
  if (request.consumed > exact.size()) Fail("consumed more than given");
  const char* const begin = exact.data();
  const char* const end = begin + exact.size();
  switch (request.kind) {
    case AsciiAuthRequest::Kind::kNeedMore:
      if (request.consumed != 0) Fail("kNeedMore consumed bytes");
      if (request.needed != 0 && request.needed <= exact.size()) Fail("needs what it has");
      break;
    case AsciiAuthRequest::Kind::kClose:
      break;
    case AsciiAuthRequest::Kind::kReply:
      if (request.consumed == 0) Fail("a reply consumed nothing");
      if (request.reply != mnemo::protocol::kUnauthenticated &&
          request.reply != mnemo::protocol::kAuthTokenTooLong &&
          request.reply != mnemo::protocol::kAuthBadTermination &&
          request.reply != mnemo::protocol::kAuthBadFormat) {
        Fail("a reply that is not memcached's");
      }
      break;
    case AsciiAuthRequest::Kind::kCredentials:
      if (request.user.data() < begin || request.password.data() + request.password.size() > end ||
          request.user.data() + request.user.size() >= request.password.data()) {
        Fail("credentials outside the data block");
      }
      if (exact.substr(request.consumed - 2, 2) != "\r\n") Fail("a block not ended by CRLF");
      break;
  }
  return request;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const AsciiAuthRequest whole = Check(input);
  // The same bytes arriving one at a time: the first answer that is not kNeedMore is the whole
  // input's (a kNeedMore of the whole input has no such answer), but for a line that has not
  // ended within kMaxLineWait bytes, which closes whatever follows (as in memcached).
  for (size_t n = 0; n <= size; ++n) {
    const std::string_view prefix = input.substr(0, n);
    const AsciiAuthRequest part = Check(prefix);
    if (part.kind == AsciiAuthRequest::Kind::kNeedMore) continue;
    if (part.kind == AsciiAuthRequest::Kind::kClose &&
        prefix.find('\n') == std::string_view::npos) {
      break;
    }
    if (part.kind != whole.kind || part.consumed != whole.consumed || part.reply != whole.reply) {
      Fail("a prefix answered differently from the whole");
    }
    break;
  }
  return 0;
}
