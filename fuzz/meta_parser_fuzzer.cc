// libFuzzer target for ParseMetaCommand, routed with ParseTextCommand as a connection routes
// them. It checks the invariants of meta_parser.h and text_parser.h on every call
// (MetaTranscript copies each input into an exact-size heap buffer, so AddressSanitizer catches a
// read past it) and that a stream parses to the same results whole, cut in two at a point the
// fuzzer picks, and cut into small chunks.
//
// Input: byte 0 picks the two-way cut (as a fraction of the stream), byte 1 the chunk size (bits
// 1-5) and the limits (bit 0: small ones, so that short inputs reach the line and size limits);
// the rest is the stream.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/meta_transcript.h"
#include "protocol/text_parser.h"

namespace {

using mnemo::protocol::MetaTranscriptOf;
using mnemo::protocol::ParserLimits;

ParserLimits SmallLimits() {
  ParserLimits limits;
  limits.item_size_max = 32;
  limits.max_line = 48;
  limits.max_retrieval_line = 200;
  return limits;
}

void Report(std::string_view what, const std::vector<std::string>& expected,
            const std::vector<std::string>& actual) {
  std::fprintf(stderr, "%.*s\n--- whole stream:\n", static_cast<int>(what.size()), what.data());
  for (const std::string& line : expected) std::fprintf(stderr, "  %s\n", line.c_str());
  std::fprintf(stderr, "--- cut stream:\n");
  for (const std::string& line : actual) std::fprintf(stderr, "  %s\n", line.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const std::string_view stream(reinterpret_cast<const char*>(data + 2), size - 2);
  const ParserLimits limits = (data[1] & 1) != 0 ? SmallLimits() : ParserLimits{};
  const size_t cut = stream.size() * data[0] / 255;
  const size_t chunk = ((data[1] >> 1) & 31) + 1;
  std::vector<size_t> chunk_cuts;
  for (size_t at = chunk; at < stream.size(); at += chunk) chunk_cuts.push_back(at);

  std::vector<std::string> violations;
  const auto whole = MetaTranscriptOf(stream, {}, limits, &violations);
  const auto two_pieces = MetaTranscriptOf(stream, {cut}, limits, &violations);
  const auto chunked = MetaTranscriptOf(stream, chunk_cuts, limits, &violations);
  if (!violations.empty()) Report(violations.front(), whole, whole);
  if (two_pieces != whole) Report("cut in two at " + std::to_string(cut), whole, two_pieces);
  if (chunked != whole) Report("cut every " + std::to_string(chunk) + " bytes", whole, chunked);
  return 0;
}
