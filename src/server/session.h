// Session serves one client connection, from accept to close, on the worker thread that owns it:
// it reads requests, parses them in place, dispatches them and sends the replies.
//
// The connection's protocol is chosen once, from the first byte it receives, as memcached's
// try_read_command_negotiate chooses it (negotiation.h), unless -B binds every connection to one;
// an ascii connection parses its requests through its AsciiParser and answers them through the
// Dispatcher, a binary one through its BinaryParser and the BinaryDispatcher. One pass (Drive)
// reads what the socket has, runs every complete command in the input (pipelining), and sends all
// their replies with one send: one read and one write per batch. Commands split at any byte wait in
// the input buffer until complete. A refused command's data block is discarded as it streams in,
// never buffered; a long multi-get line is answered piece by piece as it streams in
// (ascii_parser.h). When the unsent output passes Dispatcher::kOutputSoftLimit the session stops
// taking requests until the client reads, so a client that never reads holds a bounded amount of
// memory. As memcached does, it reads nothing while its replies wait for the client to read (the
// socket's send buffer full), and then listens for writability alone (WatchInput; TLS aside), so
// that requests arriving meanwhile do not wake its worker one by one: they are read together once
// the replies are out, when it listens for input again and epoll reports what came meanwhile.
//
// -R (reqs_per_event) is applied and counted as memcached applies and counts it: memcached's
// drive_machine takes reqs_per_event steps per event, a step being a command run, a reply batch
// sent, or the start of an event that follows a yield; a read begins a new event. Once the steps
// run out with no reply left to send, the connection yields to the other connections of its
// worker and conn_yields counts it, even when it had nothing more to do. Besides, a session yields
// (uncounted) after reqs_per_event reads in one wake-up, so that a client streaming small batches
// cannot hold its worker.
//
// Connection memory is shared by all connections (net::MemoryBudget). Each connection may always
// use one pool block for its input and one for its output, so a small request is served whatever
// other clients do; to grow past that while the budget is exhausted, it waits (stops running
// commands or reading) until its owner resumes it. An input that outgrows its pool block grows
// at once to hold the whole command when its line declares the size (a data block), so a
// connection holding more than its allowance reads its command to the end, and sees its client
// hang up, without waiting for memory. Grown by doubling instead, every connection holding the
// budget could be waiting for more of it, each behind a client that left with bytes unsent (its
// hang-up queued behind them, unseen until they are read), and nothing would free before
// conn_stuck_timeout. A connection that makes no progress (no byte read or sent) for
// conn_stuck_timeout seconds while it waits, or holds more than its allowance with the budget
// exhausted, or has replies from item memory unsent (pinning that memory), is closed and counted
// in read_buf_oom or response_obj_oom.
//
// A retrieval never waits for a flash device on the worker's thread: one that needs bytes of flash
// the page cache does not hold suspends its command (Dispatcher::Outcome::kNeedFlash) as a full
// output does, the owner reads them asynchronously, and the session runs the command again, from
// the key that waited, once they are read; meanwhile it runs nothing and reads nothing, and its
// worker serves the other connections. Pipelined commands behind it keep their order.
//
// With -Z the connection speaks TLS (net::Connection::SetTls): the handshake runs inside its first
// reads, the session sees only decrypted bytes, and a connection whose handshake or records fail
// is closed and counted (ssl_handshake_errors, ssl_proto_errors) without touching any other.
//
// While a move brings this node keys (docs/design/partitioning.md), a text get/gets or an mg of a
// key it gained and does not hold yet first fetches the key from its previous owner: the session
// waits as a sync write does (nothing more runs or is read; other connections go on), up to
// repl_timeout_ms, then runs the command with what came.
//
// With -o replication=sync, a client command that changed the cache is answered only once the live
// members of its keys' replica sets acknowledged its records (replication/sync_wait.h; without
// sync, a write of a key that another live node owns waits for that owner alone): its reply
// is taken back out of the output and held, the session runs and reads nothing more meanwhile (so
// no later reply overtakes it, noreply commands included), and its owner resumes it when the wait
// is settled, with the reply, or once repl_timeout_ms passed, with SERVER_ERROR replication timed
// out instead (a binary request: status 0x86, temporary failure; a noreply one: nothing). A
// command whose reply carries a value by reference (gat, gats, mg with T: a touch) is not held.
//
// While the node is returning after a stall, a partition or a start (docs/design/replication.md,
// "Rejoin without stale reads"), a client's request is left in the input unserved, and nothing
// more is read, until the node caught up; the owner resumes the session then. Peers' links are
// served throughout: the node catches up through them. A client connection opened before a lapse
// (a stall, a partition) is closed, unserved, at its next request, whenever that comes: it may
// be a write the proxy gave up on, which applied now would replace newer values written
// elsewhere.
//
// With -Y (ascii authentication), a text connection is answered by the handshake's parser
// (protocol/ascii_auth.h) until it authenticates: nothing it sends before reaches the
// dispatchers. With -S, the BinaryDispatcher refuses and closes a binary connection that has not
// authenticated by SASL (sasl.h). Each attempt that ends is counted in auth_cmds, and one refused
// in auth_errors too.
//
// Invariants:
//  (1) While suspended_, the input holds the suspended command's bytes unchanged: nothing is read
//      until the command finishes, so the views in cmd_ stay valid.
//  (2) The socket is read only while the input holds no complete command and no suspended one.
//  (3) Once closed_, the session does nothing more; its owner frees it after the round.
// Thread safety: none; all calls come from the owning worker's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "net/buffer_pool.h"
#include "net/connection.h"
#include "net/event_loop.h"
#include "net/tls_context.h"
#include "protocol/ascii_auth.h"
#include "protocol/ascii_parser.h"
#include "protocol/binary_parser.h"
#include "protocol/command.h"
#include "protocol/meta_command.h"
#include "protocol/negotiation.h"
#include "protocol/text_parser.h"
#include "replication/lease_fence.h"
#include "replication/replication.h"
#include "server/binary_dispatcher.h"
#include "server/connection_registry.h"
#include "server/credentials.h"
#include "server/dispatcher.h"
#include "server/item_dump.h"
#include "server/sasl.h"
#include "server/stats.h"
#include "server/value_writer.h"
#include "server/watch_lines.h"
#include "server/watch_log.h"

namespace mnemo::server {

class Session;

// What a session needs from the worker that owns it.
class SessionOwner {
 public:
  // The session stopped with input still waiting in its socket; drive it again after the round.
  virtual void OnSessionYield(Session* session) = 0;
  // The session closed; free it once the round is over.
  virtual void OnSessionClosed(Session* session) = 0;
  // The session stopped until connection memory frees up; Resume() it once the budget has room.
  virtual void OnSessionWaitingForMemory(Session* session) = 0;
  // The session's command needs bytes of flash that are not in the page cache
  // (storage::Cache::TakeFlashWait): read them, then ResumeAfterFlash() it.
  virtual void OnSessionWaitingForFlash(Session* session) = 0;
  // The session holds a reply until its replicas acknowledged the write (-o replication=sync):
  // ResumeAfterReplication() it once ReplicationSettled() or past its ReplicationDeadline().
  virtual void OnSessionWaitingForReplication(Session* session) = 0;
  // The node is returning (replication::Replication::HoldsClients): ResumeAfterRejoin() the
  // session once it no longer is.
  virtual void OnSessionWaitingForRejoin(Session* session) = 0;

 protected:
  ~SessionOwner() = default;
};

// The worker's services that its sessions share.
struct SessionServices {
  net::BufferPool& pool;
  net::EventLoop& loop;
  Dispatcher& dispatcher;
  BinaryDispatcher& binary_dispatcher;
  ThreadStats& stats;
  ConnectionRegistry& registry;
  SessionOwner& owner;
  protocol::ParserLimits limits;
  int reqs_per_event;  // -R
  // -B: the protocol every connection speaks; unset, each chooses from its first byte.
  std::optional<protocol::WireProtocol> binding_protocol;
  // With a node list (-o cluster_file): takes peers' replication links (mn_peer). Null without.
  replication::Replication* replication = nullptr;
  // -Z: every connection speaks TLS made from this context, encrypting its output in the worker's
  // tls_write_buffer (ssl_wbuf_size); null: plain.
  net::TlsContext* tls = nullptr;
  std::span<char> tls_write_buffer;
  // -S: binary connections authenticate by SASL first (BinaryDispatcher checks the password
  // database). -Y: text connections send the handshake of protocol/ascii_auth.h first, checked
  // against this file's credentials; null without -Y.
  bool sasl = false;
  const CredentialStore* ascii_auth = nullptr;
  // `watch` (watch_log.h): where connection events are logged and watchers go; null with -W.
  WatchLog* watch_log = nullptr;
};

class Session final : public net::EventLoop::Handler {
 public:
  // Takes ownership of `fd`, a non-blocking accepted socket.
  // `lapses_at_accept`: Replication::lapses() read before the connection was accepted (0 without
  // replication); a request of a connection taken before a lapse is not served (see above).
  Session(int fd, const SessionServices& services, uint64_t lapses_at_accept);
  // REQUIRES: closed() (the owner closes every session before freeing it).
  ~Session() = default;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Registers with the event loop and the connection registry. With -Z (services.tls), the
  // connection speaks TLS unless `tls_mode` is kOff (its listener's -l prefix).
  Status Open(net::TlsMode tls_mode = net::TlsMode::kConfigured);

  void OnEvents(uint32_t events) override;
  // Continues after a yield or a wait for memory.
  void Resume() {
    waiting_for_memory_ = false;
    Drive();
  }
  // Continues once the flash bytes its command waited for have been read.
  void ResumeAfterFlash() {
    waiting_for_flash_ = false;
    Drive();
  }
  // Sync replication: whether the held reply's records are all acknowledged (or need no waiting),
  // and when it stops waiting (replication::SteadyMillis).
  bool ReplicationSettled() const {
    return repl_wait_.Settled() &&
           (fetch_ == nullptr || fetch_->pending.load(std::memory_order_acquire) == 0);
  }
  int64_t ReplicationDeadline() const { return repl_wait_.deadline_ms; }
  // Goes on once the node caught up (see OnSessionWaitingForRejoin).
  void ResumeAfterRejoin();
  // Sends the held reply, or the timeout's error if `timed_out`, and goes on.
  void ResumeAfterReplication(bool timed_out);
  // Closes the connection if its last command is older than `idle_seconds`. Returns true if it
  // did.
  bool CloseIfIdle(uint32_t now, uint32_t idle_seconds);
  // Closes the connection if it has been stuck holding memory (see above) for longer than
  // `stuck_seconds`, counting it. Returns true if it did.
  bool CloseIfStuck(uint32_t now, uint32_t stuck_seconds);
  // Closes the connection without a word (server shutdown).
  void Close() { CloseFor(CloseReason::kShutdown); }

  bool closed() const { return closed_; }
  int fd() const { return conn_.fd(); }

  // The owner's bookkeeping: where the session sits in its list of sessions, and whether it is
  // in its list of yielded ones.
  size_t owner_index = 0;
  bool yielded = false;
  bool waiting = false;         // in the owner's list of sessions waiting for memory
  uint64_t flash_read = 0;      // the owner's id of the read of flash it waits for; 0: none
  bool repl_waiting = false;    // in the owner's list of sessions waiting for replicas
  bool rejoin_waiting = false;  // in the owner's list of sessions waiting for the rejoin

 private:
  enum class Progress : uint8_t {
    kNeedInput,     // every complete command has run
    kOutputFull,    // the output reached the soft limit
    kNeedMemory,    // a retrieval waits for connection memory to copy its next value
    kNeedFlash,     // a retrieval waits for a read of flash
    kNeedReplicas,  // a write's reply waits for its replicas (sync replication)
    kNeedRejoin,    // the node is returning: no client request is served until it caught up
    kQuit,          // the client said quit
    kClose,         // close now
    kYield,         // the event's steps (requests_left_) ran out
  };

  // What a protocol's parser found at the front of the input.
  struct Parsed {
    enum class Kind : uint8_t {
      kCommand,   // a request to answer, of `bytes` bytes
      kNeedMore,  // none is complete; `bytes`: the incomplete one's size in all, if known, else 0
      kDiscard,   // nothing to answer: drop `bytes`
      kClose,     // not a request of the protocol: close
    };
    Kind kind;
    size_t bytes = 0;
  };

  void Drive();
  // Chooses the protocol from the first byte, then runs the commands of that protocol.
  Progress RunCommands();
  // Runs every complete command in the input (pipelining), and a suspended one first, with the
  // protocol's two steps: kParse reads the next request from the input into the session, and
  // kDispatch answers the request last parsed (again, after a suspension). A template, so that
  // the steps are called directly on the request path.
  template <Parsed (Session::*kParse)(std::string_view),
            Dispatcher::Outcome (Session::*kDispatch)(net::OutputQueue&)>
  Progress RunCommandsWith();
  Parsed ParseAscii(std::string_view input);
  Dispatcher::Outcome DispatchAscii(net::OutputQueue& out);
  // -Y: answers the handshake last parsed (or what stood in its place).
  Dispatcher::Outcome DispatchAsciiAuth(net::OutputQueue& out);
  // mn_peer: the connection becomes a peer's replication link (replication/replication.h).
  Dispatcher::Outcome OpenPeerLink(net::OutputQueue& out);
  // A client's delete while a move brings this node keys: no copy of the key lands after it.
  void NoteDeleteForMove();
  // Read-through: asks the previous owners for the keys of the retrieval just parsed that a move
  // has not brought yet; true if it must wait for them (kNeedReplicas, resumed as a sync write
  // is, then run). Once resumed, false: the command runs with what came.
  bool FetchForMove();
  std::shared_ptr<replication::Replication::FetchTicket> fetch_;
  bool fetched_ = false;  // the current command's fetches are done
  // A record of a peer's link: applied with the observer suppressed, and counted, unless a newer
  // link of the peer superseded this one (the connection then closes).
  Dispatcher::Outcome ApplyPeerRecord(net::OutputQueue& out);
  Dispatcher::Outcome ApplyPeerRecordOnCurrentLink(net::OutputQueue& out);
  Parsed ParseBinary(std::string_view input);
  Dispatcher::Outcome DispatchBinary(net::OutputQueue& out);
  // watch: the connection becomes a watcher of the log, which takes its socket; the session then
  // closes (kClose) without closing the client's connection.
  Dispatcher::Outcome BecomeWatcher(net::OutputQueue& out);
  // Closes the connection, logging why for watchers of connection events.
  void CloseFor(CloseReason reason);
  // Sends pending output unless the socket is known to be full. Returns false (having closed the
  // session) if the connection broke.
  bool Flush();
  // Listens for input events too (`watch`), or only for writability: a session whose replies
  // wait for the client to read is not woken by each request that arrives meanwhile (on a loaded
  // machine a wake-up costs more than the epoll_ctl). Returns false (having closed the session)
  // if the registration could not be changed.
  bool WatchInput(bool watch);
  // Whether the output holds more than its allowance of heap while the budget is exhausted.
  bool OutputOverBudget() const;
  // Stops until connection memory frees up.
  void WaitForMemory();
  // TLS: the socket edges that let a stalled direction go on (a read that must send, a write
  // that must receive), added to `events`.
  uint32_t TlsEvents(uint32_t events) const;
  // TLS: counts why the connection's last read or send failed (ssl_handshake_errors,
  // ssl_proto_errors), and says it under -v.
  void CountTlsFailure();
  void PublishState();
  // -vv: prints the command line at the front of `input`, as memcached does.
  void LogCommandLine(std::string_view input) const;
  // -vv: prints the reply to a command as memcached 1.6.45's does (">FD reply"). memcached prints
  // what its out_string sends, one-line replies, and a retrieval's END (ValueWriter prints its
  // keys); it prints no multi-line reply, and no reply of the commands it answers without
  // out_string (delete, incr, decr, touch, the meta commands but mn).
  enum class TraceKind : uint8_t { kLine, kRetrieval, kMeta, kNone };
  static TraceKind TraceKindOf(const protocol::AsciiRequest& request, protocol::CommandType type);
  // `appended` is what the command added to the copied output (empty for a resumed retrieval).
  void LogReply(std::string_view appended, TraceKind kind) const;
  // -vv: prints the one-line reply a noreply command withheld, as memcached's out_string does
  // (">FD NOREPLY reply").
  void LogWithheldReply(std::string_view reply) const;

  const SessionServices& services_;
  net::Connection conn_;
  ConnectionEntry entry_;
  bool negotiated_ = false;  // protocol_ has been chosen
  protocol::WireProtocol protocol_ = protocol::WireProtocol::kAscii;
  // The request last parsed, kept while it is suspended (invariant 1).
  protocol::AsciiParser parser_;
  protocol::AsciiRequest request_;
  protocol::Command cmd_;
  protocol::MetaCommand meta_;
  protocol::BinaryParser binary_parser_;
  protocol::BinaryRequest binary_request_;
  protocol::BinaryCommand binary_cmd_;
  // Authentication: -Y's handshake last parsed and whether it succeeded; -S's exchange.
  protocol::AsciiAuthRequest auth_request_;
  bool ascii_authenticated_ = false;
  size_t auth_reply_bytes_ = 0;  // the handshake's last reply, at the output's end, unsent
  SaslExchange sasl_;
  size_t request_size_ = 0;     // its bytes in the input, dropped once it is answered
  ValueWriter values_;          // its retrievals' values, one of them perhaps waiting for memory
  ItemDump dump_;               // its dump of the cache's items, while one goes on
  size_t copied_before_ = 0;    // -vv: the copied output's size before the current command
  size_t input_wanted_ = 0;     // the incomplete command's size in all, once its line says it
  bool suspended_ = false;      // the request is a retrieval or dump stopped by a full output or
                                // for memory
  bool readable_ = true;        // the socket may hold unread bytes (edge-triggered bookkeeping)
  bool watching_input_ = true;  // registered for input too; while not, input comes unnoted in
                                // readable_, and is reported when it is again
  bool write_blocked_ = false;  // the socket's send buffer was full; wait for a writable edge
  bool eof_ = false;            // the client closed its side, and everything before it was read
  bool hung_up_ = false;        // the socket reported the client's side closed
  bool quitting_ = false;       // close once the output is sent
  bool closed_ = false;
  bool watcher_ = false;             // the watch log took the connection: closing logs nothing
  bool waiting_for_memory_ = false;  // stopped by an exhausted budget; the owner resumes it
  bool waiting_for_flash_ = false;   // its suspended command waits for a read of flash
  // Sync replication: the records the last command's reply waits for, the reply held meanwhile,
  // and what to answer should the wait time out.
  replication::SyncWait repl_wait_;
  bool waiting_for_replicas_ = false;
  std::string held_reply_;
  std::string timeout_reply_;
  // Takes the reply of the command just run (appended from `reply_start` on) out of `out` if its
  // records must be waited for; true if it did.
  bool HoldForReplicas(net::OutputQueue& out, size_t reply_start, size_t external_before);
  // What the node's rejoin says of the client request at the front of `input`: serve it, hold it
  // (the node is returning), or close the connection (opened before a lapse).
  enum class RejoinGate : uint8_t { kServe, kHold, kClose };
  RejoinGate CheckRejoin(std::string_view input);
  bool waiting_for_rejoin_ = false;
  // A peer's replication link, once mn_peer opened it: who the peer is, in which run, and how
  // many of its records this link has applied in all (counting from where the link resumed).
  struct PeerLinkState {
    std::string name;
    std::string run_id;
    uint64_t applied = 0;
    std::shared_ptr<replication::InboundLink> link;
    replication::LeaseFence fence;
    int64_t opened_ms = 0;  // SteadyMillis at the handshake
  };
  std::unique_ptr<PeerLinkState> peer_;
  uint32_t last_progress_;   // when a byte was last read or sent (MonotonicSeconds)
  int requests_left_ = 0;    // memcached's nreqs: steps left in this event (see above)
  uint64_t lapses_at_open_;  // the node's lease lapses when the connection opened (see above)
};

}  // namespace mnemo::server
