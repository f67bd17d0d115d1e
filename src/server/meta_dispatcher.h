// MetaDispatcher runs the meta protocol's commands (mg, ms, md, ma, mn, me) against the cache,
// counts them in memcached's stats, and appends their replies. The Dispatcher owns one and hands
// it every command that ParseMetaCommand recognised, so text and meta commands share one
// connection, one cache and one set of items: a value stored by `set` is read by `mg`, and `gets`
// and `mg c` show the same CAS.
//
// Replies are memcached 1.6.45's, byte for byte: the status code, then the return flags in the
// order the request gave them (s t c f l h O k for mg; O k c s for ms; O k for md; c t O k for
// ma; a key echoed with 'k' is base64 again when it came so, followed by " b"), then, for mg,
// Z, X and W. 't' reports the TTL as of its place in the request: T (and N on an item the command
// created) change it where they stand, as memcached applies flags in order.
//
// What the q flag hides, as 1.6.45 does: mg's EN (a hit's HD is still sent), ms's HD, md's HD,
// and ma's HD or VA, whether the item existed or N created it (1.6.18 sent the latter); not NF or
// EX. Errors are never hidden.
//
// Where mnemo deliberately differs from 1.6.45:
//  - A key named in base64 by mg N, ma N or an append is echoed in base64 later (memcached
//    records that only for ms's other modes, and echoes such a key raw).
//  - ms I: a token counts as older than the item's CAS by the rule of storage::WriteRequest
//    (mnemo's CAS does not grow with time), not by being lower.
//  - me's size is what the item costs in mnemo's item memory; la (and mg's l) come from the
//    item's segment (storage::ItemMeta), and h is whether the item's access counter is above 0.
//
// Invariants:
//  (1) Each call appends at most one reply, the whole of it, and at least the reply to an error.
//  (2) A value is copied at most once, from item memory into the output, while the cache holds
//      the item; one of 4 KiB and more stored as it came is not copied at all (ValueWriter).
// Thread safety: one per worker thread, used only by that thread (as Dispatcher).
#pragma once

#include "net/io_buffer.h"
#include "net/output_queue.h"
#include "protocol/meta_command.h"
#include "protocol/meta_parser.h"
#include "server/copy_budget.h"
#include "server/hot_keys.h"
#include "server/server_context.h"
#include "server/stats.h"
#include "server/value_writer.h"
#include "server/watch_lines.h"
#include "storage/cache.h"

namespace mnemo::server {

class MetaDispatcher {
 public:
  // REQUIRES: `context` is the calling thread's own, and outlives the dispatcher.
  MetaDispatcher(ServerContext& server, storage::Cache::Context& context, ThreadStats& stats,
                 CopyBudget copy_budget = CopyBudget());

  enum class Outcome : uint8_t {
    kDone,
    // mg's value waits for connection memory (a compressed value the budget cannot take
    // decoded): call again with the same arguments once there is room, and the value goes out
    // then; the command itself is not run again.
    kNeedMemory,
    // mg's key is on flash, its bytes not in the page cache: nothing was answered or counted;
    // call again with the same arguments once they are read (Dispatcher::Outcome::kNeedFlash).
    kNeedFlash,
  };

  // Answers one result of ParseMetaCommand into `queue`, with `values` the connection's own writer
  // of retrieved values. REQUIRES: result.status is neither kNeedMore nor kClose.
  [[nodiscard]] Outcome Dispatch(const protocol::MetaParseResult& result,
                                 const protocol::MetaCommand& cmd, net::OutputQueue& queue,
                                 ValueWriter& values);

 private:
  Outcome Get(const protocol::MetaCommand& cmd, net::OutputQueue& queue, ValueWriter& values);
  // Finishes the value `values` holds (ValueWriter::Finish), answering a corrupt one with an
  // error; false if it waits for memory.
  bool FinishValue(net::IoBuffer& out, ValueWriter& values);
  void Set(const protocol::MetaCommand& cmd, net::IoBuffer& out);
  void Delete(const protocol::MetaCommand& cmd, net::IoBuffer& out);
  void Arithmetic(const protocol::MetaCommand& cmd, net::IoBuffer& out);
  void Debug(const protocol::MetaCommand& cmd, net::IoBuffer& out);

  // server::PeekIfWatched (watch_lines.h) for this connection.
  WatchedItem PeekIfWatched(std::string_view key, uint16_t flags);

  storage::Cache& cache_;
  HotKeys& hot_keys_;
  storage::Cache::Context& context_;
  ThreadStats& stats_;
  const CopyBudget copy_budget_;
  WatchLog& watch_log_;
  int fd_ = -1;  // the connection of the command being answered: its watch lines' cfd
};

}  // namespace mnemo::server
