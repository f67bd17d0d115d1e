// libFuzzer target for ParseMetaCommand, routed with ParseTextCommand as a connection routes
// them, seeded with streams of both protocols (fuzz/corpus/meta_parser/, fuzz/meta_parser.dict).
// What it checks: transcript_fuzzer.h.
#include <cstddef>
#include <cstdint>

#include "fuzz/transcript_fuzzer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return mnemo::fuzz::FuzzTranscript(data, size);
}
