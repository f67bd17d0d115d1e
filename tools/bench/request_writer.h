// The two requests mnemo-bench sends, appended to a connection's output buffer in the text or
// the meta protocol. Values are written as they are: callers pass keys without spaces or control
// characters (Options guarantees it), so a request never needs escaping.
//
//   text: "get <key>\r\n"      "set <key> 0 0 <bytes>\r\n<value>\r\n"
//   meta: "mg <key> v\r\n"     "ms <key> <bytes>\r\n<value>\r\n"
//
// Thread safety: pure functions of their arguments.
#pragma once

#include <string>
#include <string_view>

#include "options.h"

namespace mnemo::bench {

void AppendGet(Protocol protocol, std::string_view key, std::string* out);
void AppendSet(Protocol protocol, std::string_view key, std::string_view value, std::string* out);

}  // namespace mnemo::bench
