#include "server/session.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <utility>

#include "base/clock.h"
#include "base/logging.h"
#include "protocol/binary_protocol.h"
#include "protocol/meta_command.h"
#include "server/replies.h"

namespace mnemo::server {

namespace {

constexpr uint32_t kInputAndOutputEvents = EPOLLIN | EPOLLOUT | EPOLLRDHUP;

}  // namespace

Session::Session(int fd, const SessionServices& services, uint64_t lapses_at_accept)
    : services_(services),
      conn_(fd, services.pool),
      entry_(fd, ConnectionState::kWaiting, MonotonicSeconds()),
      parser_(services.limits),
      binary_parser_(services.limits),
      values_(fd),
      last_progress_(MonotonicSeconds()),
      lapses_at_open_(lapses_at_accept) {
  if (services.binding_protocol.has_value()) {
    protocol_ = *services.binding_protocol;
    negotiated_ = true;
  }
}

Status Session::Open(net::TlsMode tls_mode) {
  if (services_.tls != nullptr && tls_mode != net::TlsMode::kOff) {
    std::unique_ptr<net::TlsStream> stream = services_.tls->NewStream(conn_.fd(), tls_mode);
    if (stream == nullptr) {
      closed_ = true;
      return Status::Error("Failed to created the SSL object");  // memcached's words
    }
    conn_.SetTls(std::move(stream), services_.tls_write_buffer);
  }
  Status status = services_.loop.AddEdgeTriggered(conn_.fd(), kInputAndOutputEvents, this);
  if (!status.ok()) {
    closed_ = true;  // never registered anywhere: nothing to undo
    return status;
  }
  services_.registry.Add(&entry_);
  MNEMO_LOG(2, "<%d new client connection\n", conn_.fd());
  if (services_.watch_log != nullptr && services_.watch_log->Watching(kWatchConnEvents)) {
    LogConnNew(*services_.watch_log, conn_.fd());
  }
  return Status::Ok();
}

void Session::OnEvents(uint32_t events) {
  if (closed_) return;  // closed earlier in this round; its events were already collected
  // A new event, unless the session yielded and waits to be driven again (Resume).
  if (!yielded) requests_left_ = services_.reqs_per_event;
  if (conn_.tls() != nullptr) [[unlikely]]
    events = TlsEvents(events);
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) readable_ = true;
  if ((events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) hung_up_ = true;
  if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0) write_blocked_ = false;
  Drive();
}

void Session::Drive() {
  int reads = 0;
  for (;;) {
    if (!Flush()) return;
    if (requests_left_ < 0) {
      if (!conn_.output_empty()) break;  // the writable edge starts a new event
      services_.stats.Add(Stat::kConnYields);
      // The event that drives it again starts with a step, as memcached's starts in conn_new_cmd.
      requests_left_ = services_.reqs_per_event - 1;
      services_.owner.OnSessionYield(this);
      break;
    }
    if (quitting_ || eof_) {
      if (conn_.output_empty()) CloseFor(CloseReason::kNormal);
      return;  // else the writable edge brings us back to send the rest
    }
    if (waiting_for_flash_) break;     // its owner resumes it once the read is done
    if (waiting_for_replicas_) break;  // likewise once its replicas acknowledged, or it timed out
    if (waiting_for_rejoin_) break;    // likewise once the node caught up with its peers
    if (conn_.output_size() >= Dispatcher::kOutputSoftLimit) break;  // wait for the client to read
    if (OutputOverBudget()) {
      WaitForMemory();  // or for the client to read, whichever comes first
      break;
    }
    const Progress progress = RunCommands();
    if (progress == Progress::kClose) {
      (void)Flush();  // replies to the commands before it, if the socket takes them
      if (!closed_) CloseFor(CloseReason::kError);
      return;
    }
    if (progress == Progress::kQuit) {
      quitting_ = true;
      continue;
    }
    if (progress == Progress::kOutputFull || progress == Progress::kYield) continue;
    if (progress == Progress::kNeedMemory) {
      // A client that hung up will not wait for memory to free to read its replies: its memory
      // (and the value it holds) goes now, as for a read waiting for memory below.
      if (hung_up_) {
        CloseFor(CloseReason::kError);
        return;
      }
      WaitForMemory();  // a retrieval's next copy: resumed when the budget has room
      break;
    }
    if (progress == Progress::kNeedRejoin) {
      waiting_for_rejoin_ = true;  // the replies before it go out meanwhile
      services_.owner.OnSessionWaitingForRejoin(this);
      break;
    }
    if (progress == Progress::kNeedReplicas) {
      waiting_for_replicas_ = true;  // the replies before it go out meanwhile
      services_.owner.OnSessionWaitingForReplication(this);
      break;
    }
    if (progress == Progress::kNeedFlash) {
      // The replies before it go out meanwhile (the Flush below).
      waiting_for_flash_ = true;
      services_.owner.OnSessionWaitingForFlash(this);
      break;
    }
    if (!readable_) {
      // Sending the replies is one of memcached's steps, which may run the event's out.
      if (conn_.output_empty() || write_blocked_) break;
      continue;
    }
    // As memcached does, nothing more is read while replies wait for the client to read: the
    // requests that come meanwhile are read together once they are out.
    if (write_blocked_) break;
    if (conn_.ReadNeedsGrowth() && services_.pool.budget().exhausted()) {
      // A client that hung up will not wait for memory to free: its unfinished command (whose
      // rest may sit in the socket) is dropped with the connection, and its memory freed.
      if (hung_up_) {
        CloseFor(CloseReason::kError);
        return;
      }
      WaitForMemory();
      break;
    }
    if (reads == services_.reqs_per_event) {
      services_.owner.OnSessionYield(this);  // fairness only: memcached counts no such yield
      break;
    }
    ++reads;
    uint64_t bytes = 0;
    const net::Connection::ReadStatus status = conn_.Read(&bytes, input_wanted_);
    services_.stats.Add(Stat::kBytesRead, bytes);
    if (conn_.tls() != nullptr) [[unlikely]] {
      services_.stats.Add(Stat::kSslNewSessions, conn_.tls()->TakeNewSessions());
    }
    if (bytes != 0) {
      last_progress_ = MonotonicSeconds();
      requests_left_ = services_.reqs_per_event;  // memcached reads at the start of an event
    }
    switch (status) {
      case net::Connection::ReadStatus::kFilled:
        break;
      case net::Connection::ReadStatus::kDrained:
        // After a hang-up no edge will come again: read on until the end of the stream.
        if (!hung_up_ || bytes == 0) readable_ = false;
        break;
      case net::Connection::ReadStatus::kEof:
        eof_ = true;  // what was read before it has run; a partial command is dropped
        break;
      case net::Connection::ReadStatus::kError:
        if (conn_.tls() != nullptr) CountTlsFailure();
        CloseFor(CloseReason::kError);
        return;
    }
  }
  if (!Flush()) return;
  if (!WatchInput(!write_blocked_)) return;
  // A suspended command's views point into the input: its bytes must not move (invariant 1).
  if (!suspended_) conn_.input().Shrink();
  PublishState();
}

Session::Progress Session::RunCommands() {
  auth_reply_bytes_ = 0;  // an earlier pass's reply may be partly sent: never taken back
  if (!negotiated_) {
    const std::string_view input = conn_.input().readable();
    if (input.empty()) return Progress::kNeedInput;
    protocol_ = protocol::NegotiateProtocol(input[0]);
    negotiated_ = true;
    const std::string_view name = protocol::WireProtocolName(protocol_);
    MNEMO_LOG(2, "%d: Client using the %.*s protocol\n", conn_.fd(), static_cast<int>(name.size()),
              name.data());
  }
  switch (protocol_) {
    case protocol::WireProtocol::kAscii:
      return RunCommandsWith<&Session::ParseAscii, &Session::DispatchAscii>();
    case protocol::WireProtocol::kBinary:
      return RunCommandsWith<&Session::ParseBinary, &Session::DispatchBinary>();
  }
  return Progress::kClose;
}

template <Session::Parsed (Session::*kParse)(std::string_view),
          Dispatcher::Outcome (Session::*kDispatch)(net::OutputQueue&)>
Session::Progress Session::RunCommandsWith() {
  net::IoBuffer& in = conn_.input();
  net::OutputQueue& out = conn_.output_queue();
  Progress progress = Progress::kNeedInput;
  bool ran = false;
  input_wanted_ = 0;
  for (;;) {
    if (requests_left_ < 0) {
      progress = Progress::kYield;
      break;
    }
    if (out.size() >= Dispatcher::kOutputSoftLimit || OutputOverBudget()) {
      progress = Progress::kOutputFull;
      break;
    }
    if (!suspended_ && peer_ == nullptr && services_.replication != nullptr) {
      const RejoinGate gate = CheckRejoin(in.readable());
      if (gate != RejoinGate::kServe) {
        progress = gate == RejoinGate::kClose ? Progress::kClose : Progress::kNeedRejoin;
        break;
      }
    }
    if (!suspended_) {
      const Parsed parsed = (this->*kParse)(in.readable());
      if (parsed.kind == Parsed::Kind::kNeedMore) {
        input_wanted_ = parsed.bytes;
        break;
      }
      if (parsed.kind == Parsed::Kind::kDiscard) {
        in.Consume(parsed.bytes);
        continue;
      }
      if (parsed.kind == Parsed::Kind::kClose) {
        progress = Progress::kClose;
        break;
      }
      request_size_ = parsed.bytes;
      if (!ran) entry_.state.store(ConnectionState::kParseCmd, std::memory_order_relaxed);
    }
    ran = true;
    // Read-through: a retrieval of keys a move has not brought yet waits for their fetch.
    if (!suspended_ && peer_ == nullptr && services_.replication != nullptr && FetchForMove()) {
      progress = Progress::kNeedReplicas;
      break;
    }
    // Sync replication: the records this command appends are collected (not for a peer's link).
    const bool collect = !suspended_ && peer_ == nullptr && services_.replication != nullptr &&
                         services_.replication->replicates();
    const size_t reply_start = out.copied().size();
    const size_t external_before = out.external_bytes();
    if (collect) {
      repl_wait_.Clear();
      services_.replication->CollectSyncWait(&repl_wait_);
    }
    const Dispatcher::Outcome outcome = (this->*kDispatch)(out);
    if (collect) services_.replication->CollectSyncWait(nullptr);
    if (outcome == Dispatcher::Outcome::kSuspended || outcome == Dispatcher::Outcome::kNeedMemory ||
        outcome == Dispatcher::Outcome::kNeedFlash) {
      suspended_ = true;
      progress = outcome == Dispatcher::Outcome::kSuspended    ? Progress::kOutputFull
                 : outcome == Dispatcher::Outcome::kNeedMemory ? Progress::kNeedMemory
                                                               : Progress::kNeedFlash;
      break;
    }
    suspended_ = false;
    if (outcome == Dispatcher::Outcome::kQuit) {
      progress = Progress::kQuit;
      break;
    }
    if (outcome == Dispatcher::Outcome::kClose) {
      progress = Progress::kClose;
      break;
    }
    const bool hold = collect && HoldForReplicas(out, reply_start, external_before);
    in.Consume(request_size_);
    --requests_left_;  // a command run: one of memcached's steps
    if (hold) {
      progress = Progress::kNeedReplicas;
      break;
    }
  }
  if (ran) entry_.last_command.store(MonotonicSeconds(), std::memory_order_relaxed);
  return progress;
}

namespace {

// A decimal token of a peer's control line or of a copy's opaque; false if `text` is not one.
bool ParseToken(std::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > 19) return false;
  uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  *out = value;
  return true;
}

}  // namespace

bool Session::HoldForReplicas(net::OutputQueue& out, size_t reply_start, size_t external_before) {
  if (repl_wait_.empty() || repl_wait_.Settled()) return false;
  // A reply with a value by reference (a touch by gat or mg T) cannot be taken back: not held.
  if (out.external_bytes() != external_before || out.copied().size() < reply_start) return false;
  const std::string_view copied = out.copied().readable();
  held_reply_.assign(copied.substr(reply_start));
  out.copied().DropBack(held_reply_.size());
  timeout_reply_.clear();
  if (protocol_ == protocol::WireProtocol::kBinary) {
    constexpr std::string_view kText = "replication timed out";
    protocol::binary::ResponseHeader header;
    header.opcode = binary_cmd_.opcode;
    header.status = protocol::binary::Status::kTemporaryFailure;
    header.body_length = static_cast<uint32_t>(kText.size());
    header.opaque = binary_cmd_.opaque;
    char bytes[protocol::binary::kHeaderSize];
    protocol::binary::WriteResponseHeader(header, bytes);
    timeout_reply_.assign(bytes, sizeof(bytes));
    timeout_reply_ += kText;
  } else if (request_.kind == protocol::AsciiRequest::Kind::kMeta || !cmd_.noreply) {
    timeout_reply_ = replies::kReplicationTimedOut;
  }
  repl_wait_.deadline_ms = replication::SteadyMillis() + services_.replication->timeout_ms();
  return true;
}

Session::RejoinGate Session::CheckRejoin(std::string_view input) {
  // A connection whose first bytes open a peer's link is never held (the node catches up
  // through them); nothing is held while nothing is asked.
  if (input.empty()) return RejoinGate::kServe;
  constexpr std::string_view kOpensLink = "mn_peer ";
  if (input.substr(0, kOpensLink.size()) == kOpensLink.substr(0, input.size())) {
    return RejoinGate::kServe;
  }
  const bool holds = services_.replication->HoldsClients();  // finds a lapse first
  // Opened before a lapse: what it asks may have waited through it (replication.h, lapses()).
  if (services_.replication->lapses() != lapses_at_open_) return RejoinGate::kClose;
  return holds ? RejoinGate::kHold : RejoinGate::kServe;
}

void Session::ResumeAfterRejoin() {
  waiting_for_rejoin_ = false;
  Drive();
}

bool Session::FetchForMove() {
  if (fetched_) {
    fetched_ = false;  // its fetches are answered (or given up on): the command runs now
    return false;
  }
  if (protocol_ != protocol::WireProtocol::kAscii || !services_.replication->ReadsThrough()) {
    return false;
  }
  auto ticket = std::make_shared<replication::Replication::FetchTicket>();
  storage::Cache::Context& context = services_.dispatcher.cache_context();
  if (request_.kind == protocol::AsciiRequest::Kind::kMeta) {
    if (request_.meta.status != protocol::MetaStatus::kOk ||
        meta_.type != protocol::MetaCommandType::kGet || meta_.key_binary) {
      return false;
    }
    (void)services_.replication->FetchIfGained(context, meta_.Key(), ticket);
  } else {
    if (request_.text.status != protocol::ParseStatus::kOk || cmd_.more_keys ||
        (cmd_.type != protocol::CommandType::kGet && cmd_.type != protocol::CommandType::kGets)) {
      return false;
    }
    protocol::KeyList keys = cmd_.keys;
    std::string_view key;
    while (keys.Next(&key)) (void)services_.replication->FetchIfGained(context, key, ticket);
  }
  if (ticket->pending.load(std::memory_order_acquire) == 0) return false;
  fetch_ = std::move(ticket);
  fetched_ = true;
  repl_wait_.Clear();
  repl_wait_.deadline_ms = replication::SteadyMillis() + services_.replication->timeout_ms();
  return true;
}

void Session::ResumeAfterReplication(bool timed_out) {
  if (fetch_ != nullptr) {
    // A read-through: the command was not run yet; it runs now, with what came.
    fetch_.reset();
    waiting_for_replicas_ = false;
    Drive();
    return;
  }
  waiting_for_replicas_ = false;
  if (timed_out) services_.replication->CountSyncTimeout();
  conn_.output_queue().copied().Append(timed_out ? timeout_reply_ : held_reply_);
  repl_wait_.Clear();
  Drive();
}

Session::Parsed Session::ParseAscii(std::string_view input) {
  if (services_.ascii_auth != nullptr && !ascii_authenticated_) {
    auth_request_ = protocol::ParseAsciiAuth(input);
    switch (auth_request_.kind) {
      case protocol::AsciiAuthRequest::Kind::kNeedMore:
        return {Parsed::Kind::kNeedMore, auth_request_.needed};
      case protocol::AsciiAuthRequest::Kind::kClose:
        // memcached closes without sending the reply it was preparing.
        conn_.output_queue().copied().DropBack(auth_reply_bytes_);
        auth_reply_bytes_ = 0;
        return {Parsed::Kind::kClose, 0};
      case protocol::AsciiAuthRequest::Kind::kReply:
      case protocol::AsciiAuthRequest::Kind::kCredentials:
        return {Parsed::Kind::kCommand, auth_request_.consumed};
    }
  }
  const bool line_start = parser_.at_line_start();
  request_ = parser_.Parse(input, &cmd_, &meta_);
  switch (request_.kind) {
    case protocol::AsciiRequest::Kind::kNeedMore:
      return {Parsed::Kind::kNeedMore, request_.needed};
    case protocol::AsciiRequest::Kind::kDiscard:
      return {Parsed::Kind::kDiscard, request_.consumed};
    case protocol::AsciiRequest::Kind::kText:
    case protocol::AsciiRequest::Kind::kMeta:
      break;
  }
  if (line_start && g_verbosity.load(std::memory_order_relaxed) >= 2) LogCommandLine(input);
  return {Parsed::Kind::kCommand, request_.consumed};
}

Dispatcher::Outcome Session::DispatchAsciiAuth(net::OutputQueue& out) {
  std::string_view reply = auth_request_.reply;
  if (auth_request_.kind == protocol::AsciiAuthRequest::Kind::kCredentials) {
    services_.stats.Add(Stat::kAuthCmds);
    if (services_.ascii_auth->Check(auth_request_.user, auth_request_.password)) {
      ascii_authenticated_ = true;
      reply = protocol::kAuthStored;
    } else {
      services_.stats.Add(Stat::kAuthErrors);
      LogAuthFailure("ascii", auth_request_.user);
      reply = protocol::kAuthFailure;
    }
  }
  // memcached writes each of these replies over the last one not yet sent (one response object
  // reused until it goes out): of a batch, the client sees only the last.
  out.copied().DropBack(auth_reply_bytes_);
  out.copied().Append(reply);
  auth_reply_bytes_ = ascii_authenticated_ ? 0 : reply.size();
  return Dispatcher::Outcome::kDone;
}

Dispatcher::Outcome Session::DispatchAscii(net::OutputQueue& out) {
  if (services_.ascii_auth != nullptr && !ascii_authenticated_) return DispatchAsciiAuth(out);
  if (peer_ != nullptr) return ApplyPeerRecord(out);
  if (services_.replication != nullptr && request_.kind == protocol::AsciiRequest::Kind::kText &&
      request_.text.status == protocol::ParseStatus::kOk &&
      cmd_.type == protocol::CommandType::kMnPeer) {
    return OpenPeerLink(out);
  }
  if (services_.replication != nullptr && !suspended_) NoteDeleteForMove();
  if (request_.kind == protocol::AsciiRequest::Kind::kText &&
      request_.text.status == protocol::ParseStatus::kOk &&
      cmd_.type == protocol::CommandType::kWatch) [[unlikely]] {
    return BecomeWatcher(out);
  }
  const bool trace = g_verbosity.load(std::memory_order_relaxed) >= 2;
  if (trace && !suspended_) copied_before_ = out.copied().size();
  const Dispatcher::Outcome outcome =
      request_.kind == protocol::AsciiRequest::Kind::kMeta
          ? services_.dispatcher.DispatchMeta(request_.meta, meta_, out, values_)
          : services_.dispatcher.Dispatch(request_.text, &cmd_, out, values_, &dump_);
  if (outcome == Dispatcher::Outcome::kSuspended || outcome == Dispatcher::Outcome::kNeedMemory ||
      outcome == Dispatcher::Outcome::kNeedFlash) {
    return outcome;
  }
  // A resumed retrieval's output may have been partly sent since it began: only its end counts.
  if (trace && g_verbosity.load(std::memory_order_relaxed) >= 2) {
    const std::string_view copied = out.copied().readable();
    const std::string_view appended =
        suspended_ ? std::string_view() : copied.substr(std::min(copied_before_, copied.size()));
    const TraceKind kind = TraceKindOf(request_, cmd_.type);
    if (appended.empty() && kind == TraceKind::kLine) {
      LogWithheldReply(services_.dispatcher.withheld_reply());
    } else {
      LogReply(appended, kind);
    }
  }
  return outcome;
}

void Session::NoteDeleteForMove() {
  // A delete of a key this node does not hold yet changes nothing (no ChangeObserver call), but
  // the key's copy, still on its way, must not bring the value back.
  if (request_.kind == protocol::AsciiRequest::Kind::kMeta) {
    if (request_.meta.status == protocol::MetaStatus::kOk &&
        meta_.type == protocol::MetaCommandType::kDelete) {
      services_.replication->NotePeerChange(meta_.Key());
    }
  } else if (request_.text.status == protocol::ParseStatus::kOk &&
             cmd_.type == protocol::CommandType::kDelete) {
    services_.replication->NotePeerChange(cmd_.key);
  }
}

// memcached 1.6.45's checks in its order: -W, replies of earlier commands still unsent, the
// words, the log's limit. The log takes a duplicate of the socket, so that the session closes
// as any other (its fd leaves the loop) while the client's connection stays open.
Dispatcher::Outcome Session::BecomeWatcher(net::OutputQueue& out) {
  if (services_.watch_log == nullptr) {
    out.copied().Append(replies::kWatchNotAllowed);
    return Dispatcher::Outcome::kDone;
  }
  if (!out.empty()) {
    out.copied().Append(replies::kWatchPipelined);
    return Dispatcher::Outcome::kDone;
  }
  uint16_t flags = 0;
  if (!ParseWatchFlags(cmd_.arguments, &flags)) {
    out.copied().Append(replies::kError);
    return Dispatcher::Outcome::kDone;
  }
  // The log writes to the socket itself; a TLS connection's records only its session can write.
  const int fd = conn_.tls() == nullptr ? dup(conn_.fd()) : -1;
  if (fd < 0) {
    out.copied().Append(replies::kWatcherFailed);
    return Dispatcher::Outcome::kDone;
  }
  switch (services_.watch_log->AddWatcher(fd, flags)) {
    case WatchLog::AddResult::kOk:
      watcher_ = true;
      return Dispatcher::Outcome::kClose;
    case WatchLog::AddResult::kTooMany:
      out.copied().Append(replies::kWatcherTooMany);
      break;
    case WatchLog::AddResult::kFailed:
      out.copied().Append(replies::kWatcherFailed);
      break;
  }
  close(fd);
  return Dispatcher::Outcome::kDone;
}

Dispatcher::Outcome Session::OpenPeerLink(net::OutputQueue& out) {
  // mn_peer <name> <run id> <applied>: the third is the peer's count of this node's records,
  // for the link this node opens to it, which resumes on its own handshake.
  protocol::KeyList words(cmd_.arguments);
  std::string_view name;
  std::string_view run_id;
  std::string_view applied;
  std::string_view extra;
  if (!words.Next(&name) || !words.Next(&run_id) || !words.Next(&applied) || words.Next(&extra)) {
    out.copied().Append(replies::ForParse(protocol::ParseStatus::kBadFormat));
    return Dispatcher::Outcome::kDone;
  }
  peer_ = std::make_unique<PeerLinkState>();
  peer_->name = std::string(name);
  peer_->run_id = std::string(run_id);
  peer_->opened_ms = replication::SteadyMillis();
  replication::Replication::OpenedPeer opened = services_.replication->OpenPeer(name, run_id);
  peer_->link = std::move(opened.link);
  peer_->applied = opened.applied;
  MNEMO_LOG(1, "<%d replication link from %s, resuming after record %llu\n", conn_.fd(),
            peer_->name.c_str(),
            static_cast<unsigned long long>(peer_->applied));  // NOLINT(google-runtime-int)
  std::string reply = "PEER ";
  reply += services_.replication->run_id();
  reply += ' ';
  reply += std::to_string(peer_->applied);
  reply += "\r\n";
  out.copied().Append(reply);
  return Dispatcher::Outcome::kDone;
}

Dispatcher::Outcome Session::ApplyPeerRecord(net::OutputQueue& out) {
  // The peer has opened a newer link since this one: what is left of this one is older than
  // what that one brings (replication/inbound_link.h).
  if (!peer_->link->BeginApply()) {
    MNEMO_LOG(1, "<%d replication link from %s superseded by a newer one: closed\n", conn_.fd(),
              peer_->name.c_str());
    return Dispatcher::Outcome::kClose;
  }
  const Dispatcher::Outcome outcome = ApplyPeerRecordOnCurrentLink(out);
  peer_->link->EndApply();
  return outcome;
}

Dispatcher::Outcome Session::ApplyPeerRecordOnCurrentLink(net::OutputQueue& out) {
  const bool mn_peer = request_.kind == protocol::AsciiRequest::Kind::kText &&
                       request_.text.status == protocol::ParseStatus::kOk &&
                       cmd_.type == protocol::CommandType::kMnPeer;
  protocol::KeyList words(mn_peer ? cmd_.arguments : std::string_view());
  std::string_view what;
  std::string_view token_text;
  uint64_t token = 0;
  const bool tokened =
      words.Next(&what) && words.Next(&token_text) && ParseToken(token_text, &token);
  // The peer's control lines, between its records (not records of its stream: uncounted): a
  // returning peer's request "mn_peer sync <token> <full|partial>", and the lease its next
  // records go out under, "mn_peer lease <now> <until>" (replication/lease_fence.h).
  std::string_view argument;
  if (tokened && what == "sync" && words.Next(&argument)) {
    services_.replication->OnSyncRequest(peer_->name, token, argument == "full");
    return Dispatcher::Outcome::kDone;
  }
  uint64_t until = 0;
  if (tokened && what == "lease" && words.Next(&argument) && ParseToken(argument, &until)) {
    peer_->fence.NoteLease(replication::SteadyMillis(), static_cast<int64_t>(token),
                           static_cast<int64_t>(until));
    return Dispatcher::Outcome::kDone;
  }
  const bool batch_end = request_.kind == protocol::AsciiRequest::Kind::kMeta &&
                         request_.meta.status == protocol::MetaStatus::kOk &&
                         meta_.type == protocol::MetaCommandType::kNoop;
  // A batch's mn changes nothing (and a ping's mn comes with no lease line before it).
  if (!batch_end && peer_->fence.Expired(replication::SteadyMillis()) &&
      services_.replication->wrote_in_place_ms() >= peer_->opened_ms &&
      !services_.replication->HoldsClients()) {
    // The peer was stalled or cut off past its lease after it checked it, and this node has
    // taken writes of keys other nodes own since the link opened (a proxy routed them here): a
    // newer one may be among them, so none is applied. What the peer still holds goes out on its
    // next link, under a lease checked again. (Without such writes, late records replace
    // nothing newer; read late because this node was stalled itself, they are applied: its own
    // lease lapsed, so it took no client write since, and it catches up as a returning node.)
    std::fprintf(stderr,
                 "replication: records from %s came after the lease they were sent under ran "
                 "out: not applied, link closed\n",
                 peer_->name.c_str());
    services_.stats.Add(Stat::kReplLinksFenced);
    return Dispatcher::Outcome::kClose;
  }
  if (batch_end) {
    // Everything before it has been applied: the peer may forget it (MN).
    services_.replication->NoteApplied(peer_->name, peer_->run_id, *peer_->link, peer_->applied);
  }
  if (tokened && what == "moved") {
    // A move's marker: the peer has sent this node everything of its walk.
    services_.replication->NoteMoved(peer_->name, token);
    ++peer_->applied;
    services_.stats.Add(Stat::kReplRecordsApplied);
    return Dispatcher::Outcome::kDone;
  }
  if (tokened && what == "synced") {
    // The marker of a rejoin this node asked for, a record of the peer's stream.
    std::string_view lost;
    services_.replication->NoteSynced(peer_->name, token, words.Next(&lost) && lost == "lost");
    ++peer_->applied;
    services_.stats.Add(Stat::kReplRecordsApplied);
    return Dispatcher::Outcome::kDone;
  }
  const bool meta_ok = request_.kind == protocol::AsciiRequest::Kind::kMeta &&
                       request_.meta.status == protocol::MetaStatus::kOk;
  if (meta_ok && meta_.type == protocol::MetaCommandType::kSet && meta_.Has('M') &&
      meta_.set_mode == protocol::MetaSetMode::kSet) {
    // A move's copy (replication/record_encoder.h): applied unless the key changed here since.
    services_.dispatcher.SetApplyingPeer(true);
    uint64_t move = 0;  // the move it belongs to (its opaque token); 0: not said
    (void)ParseToken(meta_.opaque, &move);
    services_.replication->ApplyCopy(services_.dispatcher.cache_context(), meta_.Key(),
                                     meta_.key_binary, meta_.value, meta_.client_flags, meta_.ttl,
                                     move);
    services_.dispatcher.SetApplyingPeer(false);
    ++peer_->applied;
    services_.stats.Add(Stat::kReplRecordsApplied);
    return Dispatcher::Outcome::kDone;
  }
  // Noted before it is applied: a copy stored meanwhile on another thread is taken out again.
  if (meta_ok && !batch_end) services_.replication->NotePeerChange(meta_.Key());
  if (request_.kind == protocol::AsciiRequest::Kind::kText &&
      request_.text.status == protocol::ParseStatus::kOk &&
      cmd_.type == protocol::CommandType::kFlushAll) {
    services_.replication->NotePeerFlush();
  }
  services_.dispatcher.SetApplyingPeer(true);
  const Dispatcher::Outcome outcome =
      request_.kind == protocol::AsciiRequest::Kind::kMeta
          ? services_.dispatcher.DispatchMeta(request_.meta, meta_, out, values_)
          : services_.dispatcher.Dispatch(request_.text, &cmd_, out, values_, &dump_);
  services_.dispatcher.SetApplyingPeer(false);
  if (!batch_end && outcome == Dispatcher::Outcome::kDone) {
    ++peer_->applied;
    services_.stats.Add(Stat::kReplRecordsApplied);
  }
  return outcome;
}

Session::Parsed Session::ParseBinary(std::string_view input) {
  binary_request_ = binary_parser_.Parse(input, &binary_cmd_);
  switch (binary_request_.kind) {
    case protocol::BinaryRequest::Kind::kNeedMore:
      return {Parsed::Kind::kNeedMore, binary_request_.needed};
    case protocol::BinaryRequest::Kind::kDiscard:
      return {Parsed::Kind::kDiscard, binary_request_.consumed};
    case protocol::BinaryRequest::Kind::kClose:
      MNEMO_LOG(1, "Invalid magic:  %x\n", static_cast<unsigned char>(input[0]));
      return {Parsed::Kind::kClose, 0};
    case protocol::BinaryRequest::Kind::kCommand:
      break;
  }
  return {Parsed::Kind::kCommand, binary_request_.consumed};
}

Dispatcher::Outcome Session::DispatchBinary(net::OutputQueue& out) {
  return services_.binary_dispatcher.Dispatch(binary_request_, binary_cmd_, out, values_,
                                              services_.sasl ? &sasl_ : nullptr);
}

void Session::LogCommandLine(std::string_view input) const {
  constexpr size_t kMaxLogged = 256;
  std::string_view line = input.substr(0, std::min(input.find('\n'), kMaxLogged));
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::fprintf(stderr, "<%d %.*s\n", conn_.fd(), static_cast<int>(line.size()), line.data());
}

Session::TraceKind Session::TraceKindOf(const protocol::AsciiRequest& request,
                                        protocol::CommandType type) {
  if (request.kind == protocol::AsciiRequest::Kind::kMeta) return TraceKind::kMeta;
  if (request.text.status != protocol::ParseStatus::kOk) return TraceKind::kLine;
  switch (type) {
    case protocol::CommandType::kGet:
    case protocol::CommandType::kGets:
    case protocol::CommandType::kGat:
    case protocol::CommandType::kGats:
      return TraceKind::kRetrieval;
    case protocol::CommandType::kDelete:
    case protocol::CommandType::kIncr:
    case protocol::CommandType::kDecr:
    case protocol::CommandType::kTouch:
      return TraceKind::kNone;  // memcached 1.6.45 answers these without out_string
    default:
      return TraceKind::kLine;
  }
}

void Session::LogReply(std::string_view appended, TraceKind kind) const {
  const int fd = conn_.fd();
  if (kind == TraceKind::kNone) return;
  if (kind == TraceKind::kRetrieval && (appended.empty() || appended.ends_with("END\r\n"))) {
    std::fprintf(stderr, ">%d END\n", fd);
    return;
  }
  // One line, as out_string sends: multi-line replies (stats, VALUE blocks) are not printed.
  const size_t end = appended.find("\r\n");
  if (end == std::string_view::npos || end + 2 != appended.size()) return;
  const std::string_view line = appended.substr(0, end);
  if (line == "END") return;  // an empty listing (stats items, stats slabs ...)
  if (kind == TraceKind::kMeta && line != "MN") return;  // the one meta reply out_string sends
  std::fprintf(stderr, ">%d %.*s\n", fd, static_cast<int>(line.size()), line.data());
}

void Session::LogWithheldReply(std::string_view reply) const {
  if (!reply.ends_with("\r\n")) return;
  reply.remove_suffix(2);
  std::fprintf(stderr, ">%d NOREPLY %.*s\n", conn_.fd(), static_cast<int>(reply.size()),
               reply.data());
}

bool Session::Flush() {
  if (conn_.output().failed()) {
    // A reply could not be queued for want of memory: the client cannot be answered.
    CloseFor(CloseReason::kError);
    return false;
  }
  if (conn_.output_empty() || write_blocked_) return true;
  uint64_t bytes = 0;
  uint64_t external_bytes = 0;
  const net::Connection::FlushStatus status = conn_.Flush(&bytes, &external_bytes);
  services_.stats.Add(Stat::kBytesWritten, bytes);
  if (bytes != 0) last_progress_ = MonotonicSeconds();
  if (external_bytes != 0) services_.stats.Add(Stat::kBytesWrittenZeroCopy, external_bytes);
  switch (status) {
    case net::Connection::FlushStatus::kDone:
      --requests_left_;  // a reply batch sent: one of memcached's steps
      break;
    case net::Connection::FlushStatus::kBlocked:
      write_blocked_ = true;
      break;
    case net::Connection::FlushStatus::kError:
      if (conn_.tls() != nullptr) CountTlsFailure();
      CloseFor(CloseReason::kError);
      return false;
  }
  return true;
}

bool Session::WatchInput(bool watch) {
  // A TLS write can wait for the socket to be readable (a renegotiation): it keeps both events.
  // Listening for input again also reports the socket writable: one more (idle) pass of Drive.
  if (watch == watching_input_ || conn_.tls() != nullptr) return true;
  const Status status = services_.loop.ChangeEdgeTriggered(
      conn_.fd(), watch ? kInputAndOutputEvents : EPOLLOUT, this);
  if (!status.ok()) {
    MNEMO_LOG(1, "%d: %s\n", conn_.fd(), status.message().c_str());
    CloseFor(CloseReason::kError);
    return false;
  }
  watching_input_ = watch;
  return true;
}

bool Session::OutputOverBudget() const {
  return conn_.output().size() > services_.pool.block_size() && services_.pool.budget().exhausted();
}

uint32_t Session::TlsEvents(uint32_t events) const {
  const net::TlsStream& tls = *conn_.tls();
  if ((events & EPOLLOUT) != 0 && tls.read_needs_writable()) events |= EPOLLIN;
  if ((events & EPOLLIN) != 0 && tls.write_needs_readable()) events |= EPOLLOUT;
  return events;
}

void Session::CountTlsFailure() {
  switch (conn_.tls_failure()) {
    case net::TlsStream::Result::kHandshakeError:
      services_.stats.Add(Stat::kSslHandshakeErrors);
      MNEMO_LOG(1, "%d: TLS handshake failed: %s\n", conn_.fd(), conn_.tls()->last_error());
      return;
    case net::TlsStream::Result::kProtocolError:
      services_.stats.Add(Stat::kSslProtoErrors);
      MNEMO_LOG(1, "%d: TLS error: %s\n", conn_.fd(), conn_.tls()->last_error());
      return;
    default:
      return;  // the socket failed, or memory ran out: not TLS's doing
  }
}

void Session::WaitForMemory() {
  if (waiting_for_memory_) return;
  waiting_for_memory_ = true;
  services_.owner.OnSessionWaitingForMemory(this);
}

void Session::PublishState() {
  ConnectionState state = ConnectionState::kWaiting;
  if (!conn_.output_empty()) {
    state = ConnectionState::kMwrite;
  } else if (parser_.discarding() || binary_parser_.discarding()) {
    state = ConnectionState::kSwallow;
  } else if (!conn_.input().empty()) {
    state = ConnectionState::kRead;
  }
  entry_.state.store(state, std::memory_order_relaxed);
}

bool Session::CloseIfIdle(uint32_t now, uint32_t idle_seconds) {
  const uint32_t last = entry_.last_command.load(std::memory_order_relaxed);
  if (closed_ || now < last || now - last <= idle_seconds) return false;
  MNEMO_LOG(1, "<%d idle timeout, closing\n", conn_.fd());
  CloseFor(CloseReason::kIdleTimeout);
  return true;
}

bool Session::CloseIfStuck(uint32_t now, uint32_t stuck_seconds) {
  if (closed_ || now < last_progress_ || now - last_progress_ <= stuck_seconds) return false;
  const size_t block = services_.pool.block_size();
  const bool over_allowance =
      services_.pool.budget().exhausted() &&
      (conn_.input().capacity() > block || conn_.output().capacity() > block);
  const bool pinning = conn_.output_external_bytes() != 0;
  if (!waiting_for_memory_ && !over_allowance && !pinning) return false;
  const bool replies_stuck = !conn_.output_empty();
  services_.stats.Add(replies_stuck ? Stat::kResponseObjOom : Stat::kReadBufOom);
  MNEMO_LOG(2, "<%d stuck for %u s holding %zu bytes of connection memory%s, closing\n", conn_.fd(),
            now - last_progress_, conn_.input().capacity() + conn_.output().capacity(),
            replies_stuck ? " with replies unread" : " with a partial command");
  CloseFor(CloseReason::kError);
  return true;
}

void Session::CloseFor(CloseReason reason) {
  closed_ = true;
  if (services_.watch_log != nullptr && !watcher_ &&
      services_.watch_log->Watching(kWatchConnEvents)) {
    LogConnClose(*services_.watch_log, conn_.fd(), reason);
  }
  // What a link applied after its last mn counts too, so that the peer resumes after it.
  if (peer_ != nullptr) {
    services_.replication->NoteApplied(peer_->name, peer_->run_id, *peer_->link, peer_->applied);
  }
  services_.loop.Remove(conn_.fd());
  services_.registry.Remove(&entry_);
  MNEMO_LOG(2, "<%d connection closed.\n", conn_.fd());
  services_.owner.OnSessionClosed(this);
}

}  // namespace mnemo::server
