// libFuzzer target for BinaryParser (protocol/binary_parser.h), seeded with binary-protocol
// streams (fuzz/corpus/binary_parser/, fuzz/binary_parser.dict). Each input is a byte stream
// parsed as a connection parses it: every call gets an exact-size heap copy of the bytes buffered
// so far (so AddressSanitizer catches a read past them), every invariant of binary_parser.h is
// checked on every call, and the stream must parse to the same requests whole, cut in two at a
// point the fuzzer picks, and cut into small chunks. A broken invariant is printed and aborts,
// which libFuzzer reports as a crash.
//
// Input: byte 0 picks the two-way cut (as a fraction of the stream), byte 1 the chunk size (bits
// 1-5) and the limits (bit 0: a small item_size_max, so that short inputs reach it); the rest is
// the stream.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/binary_parser.h"

namespace {

using mnemo::protocol::BinaryCommand;
using mnemo::protocol::BinaryError;
using mnemo::protocol::BinaryParser;
using mnemo::protocol::BinaryRequest;
using mnemo::protocol::ParserLimits;

[[noreturn]] void Fail(const std::string& what, const std::vector<size_t>& cuts) {
  std::fprintf(stderr, "broken invariant: %s (stream cut at", what.c_str());
  for (const size_t cut : cuts) std::fprintf(stderr, " %zu", cut);
  std::fprintf(stderr, ")\n");
  std::abort();
}

// The requests `stream` parses to when its bytes arrive in pieces ending at `cuts` (and at its
// end), one line per request; discards are left out, as their pieces may differ.
std::string Transcript(std::string_view stream, const std::vector<size_t>& cuts,
                       const ParserLimits& limits) {
  BinaryParser parser(limits);
  std::string out;
  std::string buffer;
  size_t arrived = 0;
  size_t next_cut = 0;
  for (;;) {
    // An exact-size copy: a read past what has arrived is a heap overflow.
    const std::unique_ptr<char[]> copy(new char[buffer.size() + 1]);
    std::memcpy(copy.get(), buffer.data(), buffer.size());
    const std::string_view input(copy.get(), buffer.size());
    BinaryCommand cmd;
    const BinaryRequest request = parser.Parse(input, &cmd);
    if (request.consumed > input.size()) Fail("consumed more than given", cuts);
    if (request.kind == BinaryRequest::Kind::kNeedMore) {
      if (request.consumed != 0) Fail("kNeedMore consumed bytes", cuts);
      if (request.needed != 0 && request.needed <= input.size()) {
        Fail("kNeedMore with the bytes it needs buffered", cuts);
      }
      if (request.needed >
          mnemo::protocol::binary::kHeaderSize + 255 + 65535 + limits.item_size_max) {
        Fail("needs more than a header, extras, key and a value of item_size_max", cuts);
      }
      if (arrived == stream.size()) break;
      const size_t end = next_cut < cuts.size() ? cuts[next_cut++] : stream.size();
      if (end < arrived) Fail("cuts out of order", cuts);
      buffer.append(stream.substr(arrived, end - arrived));
      arrived = end;
      continue;
    }
    if (request.kind == BinaryRequest::Kind::kDiscard) {
      if (request.consumed == 0) Fail("kDiscard of nothing", cuts);
      buffer.erase(0, request.consumed);
      continue;
    }
    if (request.kind == BinaryRequest::Kind::kClose) {
      out += "close\n";
      break;
    }
    if (request.consumed == 0) Fail("a request of no bytes", cuts);
    if (request.error == BinaryError::kNone && cmd.value.size() > limits.item_size_max) {
      Fail("a value over item_size_max", cuts);
    }
    for (const std::string_view view : {cmd.key, cmd.value}) {
      if (!view.empty() && (view.data() < input.data() ||
                            view.data() + view.size() > input.data() + request.consumed)) {
        Fail("a view outside the request's bytes", cuts);
      }
    }
    char line[160];
    std::snprintf(line, sizeof(line),
                  "err=%d op=%d base=%d q=%d opaque=%u cas=%llu flags=%u "
                  "exp=%u delta=%llu initial=%llu ",
                  static_cast<int>(request.error), cmd.opcode, static_cast<int>(cmd.base),
                  cmd.quiet ? 1 : 0, cmd.opaque, static_cast<unsigned long long>(cmd.cas),
                  cmd.flags, cmd.exptime, static_cast<unsigned long long>(cmd.delta),
                  static_cast<unsigned long long>(cmd.initial));
    out += line;
    out.append(cmd.key).append(" | ").append(cmd.value).append("\n");
    // Invariant (4): a header that closes ends the stream.
    if (request.error == BinaryError::kBadLengths || request.error == BinaryError::kBodyTooLarge ||
        request.error == BinaryError::kInvalid) {
      break;
    }
    buffer.erase(0, request.consumed);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);
  ParserLimits limits;
  if ((data[1] & 1) != 0) limits.item_size_max = 32;
  const size_t cut = stream.size() * data[0] / 255;
  const size_t chunk = ((data[1] >> 1) & 31) + 1;
  std::vector<size_t> chunks;
  for (size_t at = chunk; at < stream.size(); at += chunk) chunks.push_back(at);
  const std::string whole = Transcript(stream, {}, limits);
  if (Transcript(stream, {cut}, limits) != whole) Fail("a cut in two changed the requests", {cut});
  if (Transcript(stream, chunks, limits) != whole) {
    Fail("cutting into chunks of " + std::to_string(chunk) + " changed the requests", chunks);
  }
  return 0;
}
