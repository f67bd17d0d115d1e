// RecordEncoder turns a change of the cache (storage::Change) into the record that replicates it:
// memcached commands a peer applies through its ordinary dispatchers, answering nothing on success
// (docs/design/replication.md, "The wire"):
//
//   a store   ms <key> <length> T<expires at> F<flags> q\r\n<value>\r\n
//   a removal md <key> q\r\n
//   a touch   touch <key> <expires at> noreply\r\n
//   a flush   flush_all [<delay>] noreply\r\n
//   a copy    ms <key> <length> T<expires at> F<flags> MS q\r\n<value>\r\n
//
// A copy is an item a move sends to a node that gained its key (docs/design/partitioning.md): the
// explicit set mode (MS, which no other record carries) tells the receiver it is a copy, applied
// only if nothing else changed the key there since the move began (move_guard.h).
//
// Times are absolute Unix times (memcached reads an exptime above 30 days as one; 0 never
// expires), so that a record means the same whenever it is applied. A key the text protocol cannot
// carry (a space or a control byte, which the binary protocol allows) or that came base64-encoded
// goes base64-encoded with the meta flag b; its touch is then `mg <key> b T<expires at> q`, which
// answers HD on a hit. A removal of a key the peer lacks answers NF (memcached's md q does); the
// sender skips every reply but MN.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "storage/change_observer.h"

namespace mnemo::replication {

// Whether `key` can be sent as it is in a text command: no byte at or below a space, nor DEL.
bool TextSafeKey(std::string_view key);

// Appends the record of `change` to `out`. A store's value is read through change.item.
// Returns false (appending nothing) if the item's value cannot be read (a corrupt block).
[[nodiscard]] bool AppendRecord(const storage::Change& change, std::string* out);

// Appends the copy record of the item `change` stores (a kStore) for the move to the node list
// whose fingerprint is `move` (never 0): the explicit set mode (MS) marks a copy, and the opaque
// token (O<move>) says which move it belongs to; false as AppendRecord.
[[nodiscard]] bool AppendCopyRecord(const storage::Change& change, uint64_t move, std::string* out);

// The record that ends a batch: its reply, MN, says that everything before it was applied.
inline constexpr std::string_view kBatchEnd = "mn\r\n";

}  // namespace mnemo::replication
