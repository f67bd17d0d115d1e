#!/usr/bin/python3
"""Records where libmemcached's weighted ketama puts keys, as ground truth for ketama_test.cc.

For each scenario (a server list with weights), starts one memcached per server on 127.0.0.1 at
the scenario's ports, writes keys "key:0".."key:N-1" through pylibmc with
behaviors={"ketama_weighted": True} (libmemcached's MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED), then asks
every server directly which keys it holds. Prints one line per scenario: the servers, and for each
key the index of the server that holds it. The ports are part of the ring (points are named
"host:port-i", or "host-i" on port 11211), so they must be free when this runs.

Usage: /usr/bin/python3 tools/bench/ketama_ground_truth.py [--keys N] [--memcached PATH]
"""

import argparse
import socket
import subprocess
import sys
import time

import pylibmc

SCENARIOS = (
    (("127.0.0.1", 31001, 1), ("127.0.0.1", 31002, 1), ("127.0.0.1", 31003, 1)),
    (("127.0.0.1", 31001, 1), ("127.0.0.1", 31002, 2), ("127.0.0.1", 31003, 3)),
    (("127.0.0.1", 11211, 1), ("127.0.0.1", 31002, 1), ("127.0.0.1", 31003, 5)),
)


def wait_listening(port, deadline):
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"memcached on port {port} did not start")


def holds(port, key):
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"get " + key.encode() + b"\r\n")
        reply = b""
        while not reply.endswith(b"END\r\n"):
            chunk = s.recv(4096)
            if not chunk:
                raise RuntimeError(f"port {port} closed the connection")
            reply += chunk
        return reply.startswith(b"VALUE ")


def placement(servers, keys, memcached):
    procs = [subprocess.Popen([memcached, "-l", "127.0.0.1", "-U", "0", "-u", "root", "-p", str(port)])
             for _, port, _ in servers]
    try:
        for _, port, _ in servers:
            wait_listening(port, time.monotonic() + 5)
        client = pylibmc.Client([f"{h}:{p}:{w}" for h, p, w in servers],
                                behaviors={"ketama_weighted": True})
        for i in range(keys):
            client.set(f"key:{i}", "x")
        out = []
        for i in range(keys):
            owners = [n for n, (_, port, _) in enumerate(servers) if holds(port, f"key:{i}")]
            if len(owners) != 1:
                raise RuntimeError(f"key:{i} is on servers {owners}")
            out.append(str(owners[0]))
        return "".join(out)
    finally:
        for p in procs:
            p.terminate()
            p.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=400)
    parser.add_argument("--memcached", default="/usr/bin/memcached")
    args = parser.parse_args()
    for servers in SCENARIOS:
        print(" ".join(f"{h}:{p}:{w}" for h, p, w in servers), placement(servers, args.keys,
                                                                     args.memcached))
    return 0


if __name__ == "__main__":
    sys.exit(main())
