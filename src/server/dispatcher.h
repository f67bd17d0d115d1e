// Dispatcher is the one place where the protocol meets storage: it executes a parsed command
// against the cache, counts it, and appends its reply to a connection's output. Meta commands go
// to its MetaDispatcher. Storage and
// protocol know nothing of each other; result enums cross here and become wire text through
// replies.h.
//
// A retrieval copies each value once, from item memory straight into the output buffer, while the
// cache holds the item steady (ValueWriter, an ItemSink). A retrieval with many keys stops when the
// output passes kOutputSoftLimit and resumes where it stopped once the client has read it, so a
// client that asks for more than it reads cannot make the server hold unbounded replies.
//
// Invariants:
//  (1) A command with noreply appends nothing, errors included.
//  (2) Each call either answers the command whole, or (kSuspended) answers a prefix of its keys
//      and leaves the rest in cmd->keys; at least one key is answered per call. A retrieval whose
//      line goes on (cmd->more_keys: a piece of a long line) answers its keys without the END.
// Thread safety: one Dispatcher per worker thread, used only by that thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "net/io_buffer.h"
#include "protocol/command.h"
#include "protocol/meta_command.h"
#include "protocol/meta_parser.h"
#include "protocol/text_parser.h"
#include "server/meta_dispatcher.h"
#include "server/server_context.h"
#include "server/stats.h"
#include "storage/cache.h"

namespace mnemo::server {

class Dispatcher {
 public:
  // Output beyond which a connection stops taking more requests until its client reads.
  static constexpr size_t kOutputSoftLimit = size_t{4} << 20;

  enum class Outcome : uint8_t {
    kDone,       // answered (or, with noreply, silently done)
    kSuspended,  // the output is full mid-retrieval: call again with the same arguments once the
                 // output has drained below kOutputSoftLimit
    kQuit,       // close once the replies already queued are sent
    kClose,      // close without a reply
  };

  // REQUIRES: `context` is the calling thread's own, and outlives the dispatcher.
  Dispatcher(ServerContext& server, storage::Cache::Context& context, ThreadStats& stats);

  // Answers one result of the parser. REQUIRES: result.status != kNeedMore.
  [[nodiscard]] Outcome Dispatch(const protocol::ParseResult& result, protocol::Command* cmd,
                                 net::IoBuffer& out);
  // Answers one result of the meta parser (MetaDispatcher); never kSuspended.
  // REQUIRES: result.status is not kNeedMore.
  [[nodiscard]] Outcome DispatchMeta(const protocol::MetaParseResult& result,
                                     const protocol::MetaCommand& cmd, net::IoBuffer& out);

 private:
  Outcome Execute(protocol::Command* cmd);
  Outcome Retrieve(protocol::Command* cmd, bool with_cas, bool touch);
  void Store(const protocol::Command& cmd, storage::StoreMode mode);
  void Delete(const protocol::Command& cmd);
  void Arithmetic(const protocol::Command& cmd, bool increment);
  void Touch(const protocol::Command& cmd);
  void FlushAll(const protocol::Command& cmd);
  void CacheMemlimit(const protocol::Command& cmd);
  Outcome Shutdown(const protocol::Command& cmd);
  void Stats(const protocol::Command& cmd);

  // Appends `text` unless the command asked for no reply.
  void Reply(std::string_view text) {
    if (!quiet_) out_->Append(text);
  }

  ServerContext& server_;
  storage::Cache& cache_;
  storage::Cache::Context& context_;
  ThreadStats& stats_;
  MetaDispatcher meta_;
  // Per call: where replies go, and whether they are suppressed.
  net::IoBuffer* out_ = nullptr;
  bool quiet_ = false;
};

}  // namespace mnemo::server
