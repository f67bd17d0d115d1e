// Endpoint is a server's resolved socket address, and the one way mnemo-bench opens a
// connection to it: TCP_NODELAY on (requests are batched by the writer, never by Nagle), and
// non-blocking once connected.
//
// Thread safety: Endpoint is a plain value; the functions may be called from any thread.
#pragma once

#include <sys/socket.h>

#include <string>

#include "base/status.h"
#include "cluster/server_address.h"

namespace mnemo::bench {

struct Endpoint {
  std::string name;  // "host:port", for messages
  sockaddr_storage address{};
  socklen_t address_length = 0;
};

// Resolves `server` (a name or a numeric address) to its first TCP address.
Status ResolveEndpoint(const cluster::ServerAddress& server, Endpoint* out);

// Connects to `endpoint` (blocking until connected or refused) and returns the socket, set
// non-blocking with TCP_NODELAY, in *fd.
Status ConnectTo(const Endpoint& endpoint, int* fd);

}  // namespace mnemo::bench
