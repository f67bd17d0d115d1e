#include "protocol/binary_parser.h"

#include <algorithm>
#include <cstring>

namespace mnemo::protocol {
namespace {

using binary::Opcode;

// What an opcode is: its form without quiet, whether it is quiet, and whether memcached knows it.
struct OpcodeInfo {
  Opcode base;
  bool quiet;
  bool known;
};

OpcodeInfo Describe(uint8_t raw) {
  const auto op = static_cast<Opcode>(raw);
  switch (op) {
    case Opcode::kGetQ:
      return {Opcode::kGet, true, true};
    case Opcode::kGetKQ:
      return {Opcode::kGetK, true, true};
    case Opcode::kSetQ:
      return {Opcode::kSet, true, true};
    case Opcode::kAddQ:
      return {Opcode::kAdd, true, true};
    case Opcode::kReplaceQ:
      return {Opcode::kReplace, true, true};
    case Opcode::kDeleteQ:
      return {Opcode::kDelete, true, true};
    case Opcode::kIncrementQ:
      return {Opcode::kIncrement, true, true};
    case Opcode::kDecrementQ:
      return {Opcode::kDecrement, true, true};
    case Opcode::kQuitQ:
      return {Opcode::kQuit, true, true};
    case Opcode::kFlushQ:
      return {Opcode::kFlush, true, true};
    case Opcode::kAppendQ:
      return {Opcode::kAppend, true, true};
    case Opcode::kPrependQ:
      return {Opcode::kPrepend, true, true};
    case Opcode::kGatQ:
      return {Opcode::kGat, true, true};
    case Opcode::kGatKQ:
      return {Opcode::kGatK, true, true};
    case Opcode::kGet:
    case Opcode::kGetK:
    case Opcode::kSet:
    case Opcode::kAdd:
    case Opcode::kReplace:
    case Opcode::kDelete:
    case Opcode::kIncrement:
    case Opcode::kDecrement:
    case Opcode::kQuit:
    case Opcode::kFlush:
    case Opcode::kNoop:
    case Opcode::kVersion:
    case Opcode::kAppend:
    case Opcode::kPrepend:
    case Opcode::kStat:
    case Opcode::kTouch:
    case Opcode::kGat:
    case Opcode::kGatK:
    case Opcode::kSaslListMechs:
    case Opcode::kSaslAuth:
    case Opcode::kSaslStep:
      return {op, false, true};
  }
  return {op, false, false};
}

// Whether the lengths are ones dispatch_bin_command accepts for `base`.
bool LengthsFit(Opcode base, uint8_t extras, uint16_t key, uint32_t body) {
  switch (base) {
    case Opcode::kVersion:
    case Opcode::kNoop:
    case Opcode::kQuit:
    case Opcode::kSaslListMechs:
      return extras == 0 && key == 0 && body == 0;
    case Opcode::kFlush:
      return key == 0 && body == extras && (extras == 0 || extras == 4);
    case Opcode::kSet:
    case Opcode::kAdd:
    case Opcode::kReplace:
      return extras == 8 && key != 0 && body >= uint32_t{key} + 8;
    case Opcode::kGet:
    case Opcode::kGetK:
    case Opcode::kDelete:
      return extras == 0 && key != 0 && body == key;
    case Opcode::kIncrement:
    case Opcode::kDecrement:
      return extras == 20 && key != 0 && body == uint32_t{key} + 20;
    case Opcode::kAppend:
    case Opcode::kPrepend:
      return extras == 0 && key != 0;
    case Opcode::kStat:
      return extras == 0;
    case Opcode::kSaslAuth:
    case Opcode::kSaslStep:
      return extras == 0 && key != 0;
    case Opcode::kTouch:
    case Opcode::kGat:
    case Opcode::kGatK:
      return extras == 4 && key != 0;
    default:
      return false;  // quiet forms never reach here; Describe maps them to their base
  }
}

// Whether the request's body after its extras and key is a value to hand out whole.
bool HasValue(Opcode base) {
  return base == Opcode::kSet || base == Opcode::kAdd || base == Opcode::kReplace ||
         base == Opcode::kAppend || base == Opcode::kPrepend || base == Opcode::kSaslAuth ||
         base == Opcode::kSaslStep;
}

}  // namespace

BinaryRequest BinaryParser::Parse(std::string_view input, BinaryCommand* cmd) {
  BinaryRequest request;
  if (skip_ > 0) {
    if (input.empty()) return request;
    request.kind = BinaryRequest::Kind::kDiscard;
    request.consumed = static_cast<size_t>(std::min<uint64_t>(skip_, input.size()));
    skip_ -= request.consumed;
    return request;
  }
  if (input.size() < binary::kHeaderSize) return request;
  const char* const header = input.data();
  if (static_cast<unsigned char>(header[0]) != binary::kRequestMagic) {
    request.kind = BinaryRequest::Kind::kClose;
    return request;
  }
  const uint8_t raw_opcode = static_cast<uint8_t>(header[1]);
  const uint16_t key_length = binary::Load16(header + 2);
  const uint8_t extras_length = static_cast<uint8_t>(header[4]);
  const uint32_t body_length = binary::Load32(header + 8);
  const size_t head = binary::kHeaderSize + extras_length + key_length;
  if (input.size() < head) {
    request.needed = head;
    return request;
  }

  const OpcodeInfo info = Describe(raw_opcode);
  *cmd = BinaryCommand();
  cmd->opcode = raw_opcode;
  cmd->base = info.base;
  cmd->quiet = info.quiet;
  std::memcpy(&cmd->opaque, header + 12, 4);
  cmd->cas = binary::Load64(header + 16);
  const char* const extras = header + binary::kHeaderSize;
  cmd->key = std::string_view(extras + extras_length, key_length);

  request.kind = BinaryRequest::Kind::kCommand;
  request.consumed = head;
  if (key_length > body_length || uint32_t{key_length} + extras_length > body_length) {
    request.error = BinaryError::kBadLengths;
    return request;
  }
  if (body_length > kMaxBody) {
    request.error = BinaryError::kBodyTooLarge;
    return request;
  }
  if (key_length > kMaxKeyLength ||
      (info.known && !LengthsFit(info.base, extras_length, key_length, body_length))) {
    request.error = BinaryError::kInvalid;
    return request;
  }
  const uint32_t rest = body_length - extras_length - key_length;
  if (!info.known) {
    request.error = BinaryError::kUnknownCommand;
    skip_ = rest;
    return request;
  }
  if (HasValue(info.base)) {
    if (rest > limits_.item_size_max) {
      request.error = BinaryError::kTooLarge;
      skip_ = rest;
    } else if (input.size() - head < rest) {
      request.kind = BinaryRequest::Kind::kNeedMore;
      request.consumed = 0;
      request.needed = head + rest;
      return request;
    } else {
      cmd->value = input.substr(head, rest);
      request.consumed = head + rest;
    }
    if (extras_length == 8) {
      cmd->flags = binary::Load32(extras);
      cmd->exptime = binary::Load32(extras + 4);
    }
    return request;
  }
  skip_ = rest;
  switch (info.base) {
    case Opcode::kIncrement:
    case Opcode::kDecrement:
      cmd->delta = binary::Load64(extras);
      cmd->initial = binary::Load64(extras + 8);
      cmd->exptime = binary::Load32(extras + 16);
      break;
    case Opcode::kFlush:
    case Opcode::kTouch:
    case Opcode::kGat:
    case Opcode::kGatK:
      if (extras_length == 4) cmd->exptime = binary::Load32(extras);
      break;
    default:
      break;
  }
  return request;
}

}  // namespace mnemo::protocol
