#!/usr/bin/python3
"""Records where libmemcached's and nutcracker's ketama put keys, as ground truth for
src/cluster/ketama_test.cc.

For each scenario (a server list with weights, and for nutcracker optional server names and
servers that are down), starts one memcached per server on 127.0.0.1 at the scenario's ports,
writes keys "key:0".."key:N-1" through the client under test, then asks every server directly
which keys it holds. The clients are pylibmc with behaviors={"ketama_weighted": True}
(libmemcached's MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED) and nutcracker with `distribution: ketama`,
`hash: md5`; a nutcracker scenario with a server down shows the ring it rebuilds from the live
servers once it has ejected that one (auto_eject_hosts).

Prints one line per scenario: its client, its servers, and for each key the index (in the
scenario's server list) of the server that holds it. The ports are part of the ring (points are
named "host:port-i", or "host-i" on port 11211), so they must be free when this runs.

Usage: /usr/bin/python3 tools/cluster/ketama_ground_truth.py [--keys N] [--memcached PATH]
                                                             [--nutcracker PATH]
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

import pylibmc

HOST = "127.0.0.1"

# (client, servers): a server is (port, weight, name or None, up).
SCENARIOS = (
    ("pylibmc", ((31001, 1, None, True), (31002, 1, None, True), (31003, 1, None, True))),
    ("pylibmc", ((31001, 1, None, True), (31002, 2, None, True), (31003, 3, None, True))),
    ("pylibmc", ((11211, 1, None, True), (31002, 1, None, True), (31003, 5, None, True))),
    ("nutcracker", ((31001, 1, None, True), (31002, 2, None, True), (31003, 3, None, True))),
    ("nutcracker", ((11211, 1, None, True), (31002, 1, None, True), (31003, 5, None, True))),
    ("nutcracker", ((31001, 1, "alpha", True), (31002, 2, "beta", True),
                    (31003, 1, "gamma", True))),
    ("nutcracker", ((31001, 1, None, True), (31002, 1, None, True), (31003, 1, None, False),
                    (31004, 2, None, True))),
)


def wait_listening(port, deadline):
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on port {port}")


def request(port, data, terminators):
    with socket.create_connection((HOST, port), timeout=5) as s:
        s.sendall(data)
        reply = b""
        while not reply.endswith(terminators):
            chunk = s.recv(4096)
            if not chunk:
                raise RuntimeError(f"port {port} closed the connection after {reply!r}")
            reply += chunk
        return reply


def holds(port, key):
    return request(port, b"get " + key.encode() + b"\r\n", (b"END\r\n",)).startswith(b"VALUE ")


def write_through_pylibmc(servers, keys):
    client = pylibmc.Client([f"{HOST}:{port}:{weight}" for port, weight, _, _ in servers],
                            behaviors={"ketama_weighted": True})
    for key in keys:
        client.set(key, "x")


def write_through_nutcracker(servers, keys, nutcracker, workdir):
    proxy_port, stats_port = 31100, 31101
    lines = []
    for port, weight, name, _ in servers:
        lines.append(f"   - {HOST}:{port}:{weight}" + (f" {name}" if name else ""))
    config = os.path.join(workdir, "nutcracker.yml")
    with open(config, "w") as f:
        f.write(f"ground_truth:\n  listen: {HOST}:{proxy_port}\n  hash: md5\n"
                "  distribution: ketama\n  auto_eject_hosts: true\n  server_failure_limit: 1\n"
                "  server_retry_timeout: 600000\n  timeout: 2000\n  servers:\n" +
                "\n".join(lines) + "\n")
    proc = subprocess.Popen([nutcracker, "-c", config, "-s", str(stats_port), "-a", HOST,
                             "-o", os.path.join(workdir, "nutcracker.log")])
    try:
        wait_listening(proxy_port, time.monotonic() + 5)
        for key in keys:
            # A key bound for a server that is down fails once, ejecting the server; the retry
            # goes where the ring of the live servers puts it.
            for _ in range(2):
                reply = request(proxy_port, f"set {key} 0 0 1\r\nx\r\n".encode(), (b"\r\n",))
                if reply == b"STORED\r\n":
                    break
            else:
                raise RuntimeError(f"nutcracker did not store {key}: {reply!r}")
    finally:
        proc.terminate()
        proc.wait()


def placement(client, servers, keys, args, workdir):
    procs = [subprocess.Popen([args.memcached, "-l", HOST, "-U", "0", "-u", "root", "-p",
                               str(port)])
             for port, _, _, up in servers if up]
    try:
        for port, _, _, up in servers:
            if up:
                wait_listening(port, time.monotonic() + 5)
        if client == "pylibmc":
            write_through_pylibmc(servers, keys)
        else:
            write_through_nutcracker(servers, keys, args.nutcracker, workdir)
        out = []
        for key in keys:
            owners = [n for n, (port, _, _, up) in enumerate(servers) if up and holds(port, key)]
            if len(owners) != 1:
                raise RuntimeError(f"{key} is on servers {owners}")
            out.append(str(owners[0]))
        return "".join(out)
    finally:
        for p in procs:
            p.terminate()
            p.wait()


def describe(servers):
    return " ".join(f"{HOST}:{port}:{weight}" + (f"/{name}" if name else "") +
                    ("" if up else "(down)") for port, weight, name, up in servers)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=400)
    parser.add_argument("--memcached", default="/usr/bin/memcached")
    parser.add_argument("--nutcracker", default="/usr/sbin/nutcracker")
    args = parser.parse_args()
    keys = [f"key:{i}" for i in range(args.keys)]
    with tempfile.TemporaryDirectory() as workdir:
        for client, servers in SCENARIOS:
            print(client, describe(servers), placement(client, servers, keys, args, workdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
