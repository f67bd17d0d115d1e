// libFuzzer target for ParseTextCommand, seeded with text-protocol streams
// (fuzz/corpus/text_parser/, fuzz/text_parser.dict). What it checks: transcript_fuzzer.h.
#include <cstddef>
#include <cstdint>

#include "fuzz/transcript_fuzzer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return mnemo::fuzz::FuzzTranscript(data, size);
}
