// BinaryDispatcher answers the requests of memcached's binary protocol (protocol/binary_parser.h)
// as memcached 1.6.45's proto_bin.c answers them: the same status codes and error texts, quiet
// forms that answer only failures (and a quiet get only its hits), a connection closed after a
// header it cannot trust. It makes the same Cache requests the text Dispatcher makes, so an item
// has the same value, flags, CAS and expiry seen from either protocol, and counts them in the
// same statistics, where memcached counts a binary command as it counts its text form (with
// memcached's exceptions: a value too large or refused for want of memory counts in no
// statistic, and an incr or decr that creates its item counts as neither hit nor miss).
//
// A hit goes out as a text retrieval's does (ValueWriter): a small value copied under the
// cache's lock, a larger one sent straight from item memory.
//
// flush, version and stat run the text protocol's command through the text Dispatcher and turn
// its reply into binary packets, so that `stats` and its sub-commands are produced in one place
// for both protocols, and a flush has one meaning.
//
// Under -S (SASL), a connection that has not authenticated is answered "Auth failure." to
// anything but SASL and version requests, then closed, as memcached's dispatch_bin_command
// answers it (after its checks of the body's size, before all others).
//
// Invariants:
//  (1) Every request is answered by whole packets, each with the request's opcode and opaque.
//  (2) A quiet request that succeeds appends nothing.
//  (3) Under -S, nothing reads or changes the cache for a connection not authenticated.
// Thread safety: one BinaryDispatcher per worker thread, used only by that thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "net/buffer_pool.h"
#include "net/io_buffer.h"
#include "net/output_queue.h"
#include "protocol/binary_parser.h"
#include "protocol/binary_protocol.h"
#include "server/dispatcher.h"
#include "server/hot_keys.h"
#include "server/sasl.h"
#include "server/server_context.h"
#include "server/stats.h"
#include "server/value_writer.h"
#include "storage/cache.h"

namespace mnemo::server {

class BinaryDispatcher {
 public:
  // REQUIRES: `context` and `text` are the calling thread's own, and outlive the dispatcher;
  // `pool` is the thread's buffer pool (stat, version and flush borrow a buffer from it).
  BinaryDispatcher(ServerContext& server, storage::Cache::Context& context, ThreadStats& stats,
                   Dispatcher& text, net::BufferPool& pool, CopyBudget copy_budget = CopyBudget());

  // Answers one kCommand request of the parser, with `values` the connection's own writer of
  // retrieved values, and `sasl` its SASL exchange under -S (null where SASL is off: without -S,
  // and over UDP, which -S refuses). Returns kDone, kNeedMemory (a hit waits for connection
  // memory: call again with the same arguments once there is room), kQuit (close once the
  // replies are sent: quit, a header that closes, or a request before authentication) or kClose.
  [[nodiscard]] Dispatcher::Outcome Dispatch(const protocol::BinaryRequest& request,
                                             const protocol::BinaryCommand& cmd,
                                             net::OutputQueue& out, ValueWriter& values,
                                             SaslExchange* sasl = nullptr);

 private:
  Dispatcher::Outcome Retrieve(bool touch, bool with_key, bool with_value);
  void Store();
  void Delete();
  void Arithmetic(bool increment);
  void Flush();
  void Version();
  void Stat();
  // SASL list mechs, auth and step under -S (memcached's bin_list_sasl_mechs and
  // process_bin_complete_sasl_auth).
  void SaslListMechanisms();
  void SaslAuthenticate(SaslExchange& sasl, bool too_large);

  bool MayCopy(size_t bytes) const;
  // The reply the text protocol gives `command`.
  std::string RunText(protocol::Command command);
  // Appends a packet answering the request: `extras`, `key` and `value` in its body.
  void Respond(protocol::binary::Status status, std::string_view extras, std::string_view key,
               std::string_view value, uint64_t cas = 0);
  // Appends the success packet unless the request is quiet.
  void Succeed(uint64_t cas = 0);
  // Appends an error packet, with memcached's text for `status` unless `text` is given.
  void Fail(protocol::binary::Status status, std::string_view text = {});

  storage::Cache& cache_;
  const CredentialStore* const sasl_credentials_;  // -S; null without
  PrefixStats& prefix_stats_;  // `stats detail`, counted as memcached counts binary commands
  HotKeys& hot_keys_;
  storage::Cache::Context& context_;
  ThreadStats& stats_;
  Dispatcher& text_;
  net::BufferPool& pool_;
  const CopyBudget copy_budget_;
  ValueWriter text_values_;  // the text dispatcher's writer for RunText, which retrieves nothing
  // Per call: the request, and where its replies go.
  const protocol::BinaryCommand* cmd_ = nullptr;
  net::OutputQueue* queue_ = nullptr;
  net::IoBuffer* out_ = nullptr;
  ValueWriter* values_ = nullptr;
};

}  // namespace mnemo::server
