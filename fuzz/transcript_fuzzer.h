// The body of the parser fuzz targets. Each input is a byte stream that ParseTranscript
// (testing/protocol/parse_transcript.h) parses as a connection does, through AsciiParser; every
// invariant of ascii_parser.h, text_parser.h and meta_parser.h is checked on every call (each call
// reads an exact-size heap copy, so AddressSanitizer catches a read past it), and the stream must
// parse to the same results whole, cut in two at a point the fuzzer picks, and cut into small
// chunks. A broken invariant is printed and aborts, which libFuzzer reports as a crash.
//
// Input: byte 0 picks the two-way cut (as a fraction of the stream), byte 1 the chunk size (bits
// 1-5) and the limits (bit 0: small ones, so that short inputs reach the line and size limits);
// the rest is the stream.
//
// The targets differ only in their seed corpus and dictionary, which steer the fuzzer towards
// one protocol or the other. A header, not a .cc: scripts/fuzz.sh takes every fuzz/*_fuzzer.cc
// for a target.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "protocol/text_parser.h"
#include "testing/protocol/parse_transcript.h"

namespace mnemo::fuzz {

inline protocol::ParserLimits SmallLimits() {
  protocol::ParserLimits limits;
  limits.item_size_max = 32;
  limits.max_line = 48;
  return limits;
}

// What LLVMFuzzerTestOneInput does; returns 0 (the input may join the corpus).
inline int FuzzTranscript(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);
  const protocol::ParserLimits limits =
      (data[1] & 1) != 0 ? SmallLimits() : protocol::ParserLimits{};
  const size_t cut = stream.size() * data[0] / 255;
  const size_t chunk = ((data[1] >> 1) & 31) + 1;
  const std::string problems = protocol::CutProblems(
      stream, {protocol::InTwoAt(cut), protocol::EveryNBytes(stream.size(), chunk)}, limits);
  if (!problems.empty()) {
    std::fputs(problems.c_str(), stderr);
    std::abort();
  }
  return 0;
}

}  // namespace mnemo::fuzz
