#!/usr/bin/env python3
"""Issue 20's figures: the hit ratio over time while `mnemo-cluster add` and `remove` change the
ring, and how long the nodes' move takes.

Starts a cluster with tools/cluster/mnemo-cluster (--nodes mnemod nodes, `-t 1 -m 256` each,
behind nutcracker), writes --keys keys through the proxy, then reads them all through the proxy
in a loop (pipelined gets, --batch per round trip, one connection; a request lost to the proxy's
restart is sent again on a new connection) while it runs, one after the other, with --settle
seconds between:

  mnemo-cluster add          (a node joins: ketama gives it about 1/(nodes+1) of the keys)
  mnemo-cluster remove 1     (node 1 leaves: its keys go to the others)

Prints the hit ratio of every --bin-ms interval from 0.5 s before each command to --settle
seconds after it, the command's own summary (the proxy's gap, the move's duration, keys sent and
their rate) and a table per command: the reads while it ran, and after it. With --contrast the
same runs again on nodes without the node list (--no-node-list: ketama alone, as memcached).

  bench/partitioning.py --markdown
  bench/partitioning.py --replicas 2 --markdown

The server is --mnemod (default: build/mnemod). A benchmark, never a pass/fail test;
bench/RESULTS.md records what it printed.
"""

import argparse
import collections
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import common

TOOL = os.path.join(common.REPO, "tools", "cluster", "mnemo-cluster")


class Reader(threading.Thread):
    """Reads the keys through the proxy in a loop, logging (time, hits, reads) per batch."""

    def __init__(self, port, keys, batch):
        super().__init__(daemon=True)
        self.port = port
        self.requests = [b"get %s\r\n" % k for k in keys]
        self.batch = batch
        self.log = []  # (monotonic time the batch was answered, hits, reads)
        self.errors = 0  # requests sent again after a lost connection or a SERVER_ERROR
        self.kinds = collections.Counter()  # why, by kind
        self.stopping = threading.Event()

    def run(self):
        sock, buf = None, b""
        at = 0
        while not self.stopping.is_set():
            batch = self.requests[at:at + self.batch]
            at = (at + self.batch) % len(self.requests)
            while True:
                try:
                    if sock is None:
                        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
                        buf = b""
                    sock.sendall(b"".join(batch))
                    hits, buf = self.read(sock, buf, len(batch))
                    break
                except OSError as e:
                    self.errors += len(batch)
                    self.kinds[str(e)] += 1
                    if sock is not None:
                        sock.close()
                    sock = None
                    time.sleep(0.001)
            self.log.append((time.monotonic(), hits, len(batch)))
        if sock is not None:
            sock.close()

    @staticmethod
    def read(sock, buf, count):
        """Reads `count` get replies; returns (hits, what is left in the buffer)."""
        hits = 0
        for _ in range(count):
            while True:
                end = buf.find(b"\r\n")
                if end >= 0:
                    line = buf[:end]
                    if not line.startswith(b"VALUE "):
                        break
                    size = int(line.split()[3])
                    whole = end + 2 + size + 2 + 5  # the data, its CRLF, "END\r\n"
                    if len(buf) >= whole:
                        break
                chunk = sock.recv(1 << 20)
                if not chunk:
                    raise ConnectionResetError("closed")
                buf += chunk
            if line.startswith(b"VALUE "):
                hits += 1
                buf = buf[whole:]
            elif line == b"END":
                buf = buf[end + 2:]
            else:
                raise ConnectionResetError(line.decode(errors="replace"))  # asked again
        return hits, buf

    def ratio(self, start, end):
        hits = sum(h for t, h, _ in self.log if start <= t < end)
        reads = sum(n for t, _, n in self.log if start <= t < end)
        return (hits / reads if reads else float("nan")), reads


def tool(args, directory, *argv):
    env = dict(os.environ, MNEMO_SERVER=args.mnemod)
    if args.ring:
        env["MNEMO_RING"] = args.ring
    return subprocess.run([sys.executable, TOOL, "--dir", directory, *argv], check=True,
                          capture_output=True, text=True, env=env).stdout.strip()


def write_keys(port, keys, value):
    """Sets every key through the proxy, 1,000 pipelined per round trip, each acknowledged."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        for start in range(0, len(keys), 1000):
            batch = keys[start:start + 1000]
            sock.sendall(b"".join(b"set %s 0 0 %d\r\n%s\r\n" % (k, len(value), value)
                                  for k in batch))
            reply = b""
            while reply.count(b"\r\n") < len(batch):
                chunk = sock.recv(1 << 20)
                if not chunk:
                    sys.exit("the proxy closed the connection while the keys were written")
                reply += chunk
            if reply != b"STORED\r\n" * len(batch):
                sys.exit("a set through the proxy failed: %r" % reply[:200])


def run(args, label, start_flags):
    """One cluster: add, then remove 1. Returns [(command, output, started, ended)] and the
    reader."""
    with tempfile.TemporaryDirectory(prefix="mnemo-partitioning-bench-") as tmp:
        directory = os.path.join(args.keep or tmp, label.split()[0])
        tool(args, directory, "start", "--nodes", str(args.nodes), "--timeout", "2000",
             *start_flags, "--", "-t", "1", "-m", "256", *args.node_args)
        try:
            with open(os.path.join(directory, "state.json")) as f:
                port = json.load(f)["proxy"]["port"]
            keys = [b"bench:%d" % i for i in range(args.keys)]
            write_keys(port, keys, b"x" * args.value_size)
            reader = Reader(port, keys, args.batch)
            reader.start()
            time.sleep(1.0)
            events = []
            for command in (["add"], ["remove", "1"]):
                started = time.monotonic()
                out = tool(args, directory, *command)
                ended = time.monotonic()
                events.append((" ".join(command), out, started, ended))
                common.note("%s: %s: %s" % (label, " ".join(command), out.replace("\n", "; ")))
                time.sleep(args.settle)
            reader.stopping.set()
            reader.join()
        finally:
            tool(args, directory, "stop")
    return events, reader


def report(args, label, events, reader):
    print("### %s\n" % label)
    for command, out, started, ended in events:
        print("`mnemo-cluster %s`: %s\n" % (command, out.replace("\n", "; ")))
        rows = []
        t = started - 0.5
        while t < ended + args.settle - 1e-9:
            ratio, reads = reader.ratio(t, t + args.bin_ms / 1000)
            phase = "before" if t + args.bin_ms / 1000 <= started else (
                "during" if t < ended else "after")
            rows.append(["%+.2f" % (t - started), phase, "%.4f" % ratio, str(reads)])
            t += args.bin_ms / 1000
        print(common.format_table(["t (s from the command)", "phase", "hit ratio", "reads"],
                                  rows, args.markdown))
        during, during_reads = reader.ratio(started, ended)
        after, after_reads = reader.ratio(ended, ended + args.settle)
        print()
        print(common.format_table(
            ["reads", "hit ratio", "reads counted"],
            [["while the command ran (%.2f s)" % (ended - started), "%.4f" % during,
              str(during_reads)],
             ["in the %.0f s after it" % args.settle, "%.4f" % after, str(after_reads)]],
            args.markdown))
        print()
    print("requests sent again (their connection lost, a connect refused, an error): %d; batches "
          "sent again, by cause: %s\n" % (reader.errors, dict(reader.kinds)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--keys", type=int, default=100000)
    parser.add_argument("--value-size", type=int, default=100)
    parser.add_argument("--batch", type=int, default=200, help="gets pipelined per round trip")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds of reads after each command")
    parser.add_argument("--bin-ms", type=int, default=250)
    parser.add_argument("--contrast", action="store_true",
                        help="also run on nodes without the node list (ketama alone)")
    parser.add_argument("--mnemod", default=os.path.join(common.REPO, "build", "mnemod"))
    parser.add_argument("--ring", help="mnemo-ring (default: mnemo-cluster's own search)")
    parser.add_argument("--move-rate", type=int, metavar="KEYS",
                        help="the nodes' -o move_rate_keys (items a second a move walks; the "
                        "nodes' default otherwise)")
    parser.add_argument("--lease-ms", type=int, metavar="MS",
                        help="the nodes' -o repl_lease_ms, with --replicas (the nodes' default, "
                        "200, lapses on a machine loaded past its cores)")
    parser.add_argument("--keep", metavar="DIR",
                        help="run each cluster in a directory under DIR and keep its logs")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    args.node_args = ["-o", "move_rate_keys=%d" % args.move_rate] if args.move_rate else []
    if args.lease_ms:
        args.node_args += ["-o", "repl_lease_ms=%d" % args.lease_ms]

    runs = [("nodes moving keys", ["--replicas", str(args.replicas)])]
    if args.contrast:
        runs.append(("ketama alone (--no-node-list)", ["--no-node-list"]))
        if args.node_args:
            parser.error("--move-rate, --lease-ms and --contrast: the contrast's nodes take "
                         "neither")
    print("%d nodes (-t 1 -m 256%s) behind nutcracker, %d keys of %d bytes, replicas %d; one "
          "reader, gets pipelined %d per round trip; hit ratio per %d ms; load average %s at "
          "the start\n" % (args.nodes, "".join(" " + a for a in args.node_args), args.keys,
                           args.value_size, args.replicas, args.batch, args.bin_ms,
                           open("/proc/loadavg").read().split()[0]))
    for label, flags in runs:
        events, reader = run(args, label, flags)
        report(args, label, events, reader)
    return 0


if __name__ == "__main__":
    sys.exit(main())
