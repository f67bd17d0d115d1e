// Dispatcher is the one place where the protocol meets storage: it executes a parsed command
// against the cache, counts it, and appends its reply to a connection's output. Meta commands go
// to its MetaDispatcher. Storage and
// protocol know nothing of each other; result enums cross here and become wire text through
// replies.h.
//
// A retrieval copies a small value once, from item memory into the output buffer, under the
// cache's lock; a larger one goes to the socket straight from item memory, held by the output
// until sent (ValueWriter). A retrieval with many keys stops when the
// output passes kOutputSoftLimit and resumes where it stopped once the client has read it, so a
// client that asks for more than it reads cannot make the server hold unbounded replies.
//
// Invariants:
//  (1) A command with noreply appends nothing, errors included.
//  (2) Each call either answers the command whole, or (kSuspended, kNeedMemory, kNeedFlash)
//      answers a prefix of its keys and leaves the rest in cmd->keys; at least one key is answered
//      per call, but for kNeedFlash, which may answer none.
//  (3) A retrieval never waits for a flash device: a key whose bytes are not in the page cache
//      ends the call kNeedFlash, having counted and answered nothing for that key. A dump (stats
//      cachedump, lru_crawler metadump|mgdump) is answered a chunk per call, its progress kept
//      in the connection's ItemDump. A retrieval whose
//      line goes on (cmd->more_keys: a piece of a long line) answers its keys without the END.
// Thread safety: one Dispatcher per worker thread, used only by that thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/logging.h"
#include "net/io_buffer.h"
#include "net/output_queue.h"
#include "protocol/command.h"
#include "protocol/meta_command.h"
#include "protocol/meta_parser.h"
#include "protocol/text_parser.h"
#include "server/copy_budget.h"
#include "server/item_dump.h"
#include "server/meta_dispatcher.h"
#include "server/server_context.h"
#include "server/stats.h"
#include "server/value_writer.h"
#include "server/watch_lines.h"
#include "storage/cache.h"

namespace mnemo::server {

class Dispatcher {
 public:
  // Output beyond which a connection stops taking more requests until its client reads.
  static constexpr size_t kOutputSoftLimit = size_t{1} << 20;
  // A dump's output per call: between chunks the connection sends, and its worker serves others.
  static constexpr size_t kDumpChunk = size_t{64} << 10;

  enum class Outcome : uint8_t {
    kDone,        // answered (or, with noreply, silently done)
    kSuspended,   // the output is full mid-retrieval: call again with the same arguments once
                  // the output has drained below kOutputSoftLimit
    kNeedMemory,  // mid-retrieval, the connection memory budget cannot take the next copy: call
                  // again with the same arguments once it has room
    kNeedFlash,   // a retrieval's next key is on flash, its bytes not in the page cache: the keys
                  // before it are answered, the rest left in cmd->keys (a binary or meta get
                  // answered nothing); read the bytes storage::Cache::TakeFlashWait names, then
                  // call again with the same arguments (or call BlockOnFlashWait first)
    kQuit,        // close once the replies already queued are sent
    kClose,       // close without a reply
  };

  // REQUIRES: `context` is the calling thread's own, and outlives the dispatcher.
  Dispatcher(ServerContext& server, storage::Cache::Context& context, ThreadStats& stats,
             CopyBudget copy_budget = CopyBudget());

  // Answers one result of the parser, with `values` the connection's own writer of retrieved
  // values (a value waiting for memory stays in it). REQUIRES: result.status != kNeedMore.
  // `dump` is the connection's own ItemDump: stats cachedump and lru_crawler metadump|mgdump
  // answer through it, a chunk per call (kSuspended until the dump ends), and a call while it is
  // active goes on with it. Without one they are answered as commands the server lacks.
  [[nodiscard]] Outcome Dispatch(const protocol::ParseResult& result, protocol::Command* cmd,
                                 net::OutputQueue& out, ValueWriter& values,
                                 ItemDump* dump = nullptr);
  // Answers one result of the meta parser (MetaDispatcher), with `values` as for Dispatch: kDone,
  // kNeedMemory (mg's value waits for memory: call again with the same arguments) or kClose;
  // never kSuspended. REQUIRES: result.status is not kNeedMore.
  // Under -vv: the reply that the last Dispatch did not send because its command said noreply
  // (memcached prints it as ">FD NOREPLY <reply>"); empty if there was none.
  std::string_view withheld_reply() const { return withheld_; }

  [[nodiscard]] Outcome DispatchMeta(const protocol::MetaParseResult& result,
                                     const protocol::MetaCommand& cmd, net::OutputQueue& out,
                                     ValueWriter& values);

  // Whether the changes the commands make are a peer's, applied here, and so not to be
  // replicated again (storage::Cache::SuppressChanges).
  void SetApplyingPeer(bool applying) { cache_.SuppressChanges(context_, applying); }
  // The calling thread's cache context, for a move's copies (replication::Replication::ApplyCopy).
  storage::Cache::Context& cache_context() { return context_; }

  // For a caller that cannot wait for flash (UDP): after kNeedFlash, makes the next call read the
  // bytes it needed from the device, blocking.
  void BlockOnFlashWait() { cache_.SetFlashWaitServed(context_, cache_.TakeFlashWait(context_)); }

 private:
  Outcome Execute(protocol::Command* cmd);
  Outcome Retrieve(protocol::Command* cmd, bool with_cas, bool touch);
  // Whether `bytes` more may be copied into the output now (CopyBudget).
  bool MayCopy(size_t bytes) const;
  // server::PeekIfWatched (watch_lines.h) for this connection.
  WatchedItem PeekIfWatched(std::string_view key, uint16_t flags);
  // A storage command refused as too large, as memcached logs it for a watcher.
  void LogTooLarge(const protocol::Command& cmd);
  void Store(const protocol::Command& cmd, storage::StoreMode mode);
  void Delete(const protocol::Command& cmd);
  void Arithmetic(const protocol::Command& cmd, bool increment);
  void Touch(const protocol::Command& cmd);
  void FlushAll(const protocol::Command& cmd);
  void CacheMemlimit(const protocol::Command& cmd);
  // refresh_certs: reloads the TLS certificates (net::TlsContext::Reload).
  void RefreshCerts();
  Outcome Shutdown(const protocol::Command& cmd);
  // Returns kSuspended when it starts a cachedump that goes on.
  Outcome Stats(const protocol::Command& cmd);
  Outcome Cachedump(protocol::KeyList words);
  // lru_crawler: a metadump or mgdump starts a dump; the rest are MaintenanceCommands'.
  Outcome LruCrawler(const protocol::Command& cmd);
  // Answers the next chunk of the connection's dump.
  Outcome ContinueDump();
  void StatsDetail(protocol::KeyList* words);

  // Appends `text` unless the command asked for no reply; then, under -vv, keeps it for
  // withheld_reply().
  void Reply(std::string_view text) {
    if (!quiet_) {
      out_->Append(text);
    } else if (g_verbosity.load(std::memory_order_relaxed) >= 2) {
      withheld_.assign(text);
    }
  }

  ServerContext& server_;
  storage::Cache& cache_;
  storage::Cache::Context& context_;
  ThreadStats& stats_;
  MetaDispatcher meta_;
  const CopyBudget copy_budget_;
  // Per call: where replies go (the connection's output, and its copied bytes), the connection's
  // writer of values, and whether replies are suppressed.
  net::OutputQueue* queue_ = nullptr;
  net::IoBuffer* out_ = nullptr;
  ValueWriter* values_ = nullptr;
  ItemDump* dump_ = nullptr;
  bool quiet_ = false;
  std::string withheld_;  // withheld_reply()
};

}  // namespace mnemo::server
