#include "storage/value_hold.h"

#include "storage/value_codec.h"

namespace mnemo::storage {
namespace {

void ReleaseHeld(void* pool, uint64_t segment) {
  static_cast<SegmentPool*>(pool)->Unhold(static_cast<uint32_t>(segment));
}

}  // namespace

bool ValueHold::Decode(char* out) const { return codec_->Decode(*ctx_, value_at_, header_, out); }

ValueHold::Token ValueHold::Detach() {
  Token token;
  token.release = &ReleaseHeld;
  token.owner = std::exchange(pool_, nullptr);
  token.token = segment_;
  return token;
}

}  // namespace mnemo::storage
