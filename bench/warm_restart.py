#!/usr/bin/env python3
"""Issue 18's warm-restart figures (-e, docs/warm-restart.md), side by side with memcached 1.6.45.

For each server and round: start with `-e FILE` on an empty file (a cold start), fill ITEMS keys of
VALUE bytes, stop with SIGUSR1 (timing the save), start again with the same file (a warm start),
count the keys that come back with their exact value, then start once more without -e at all. The
start times are from the exec to the first reply to `version` on a new connection.

    bench/warm_restart.py [--items 500000] [--value-size 1024] [--memory 1024] [--rounds 3]

Servers: mnemod from build/, and memcached 1.6.45 from $MNEMO_REFERENCE if set. The memory file
goes in --dir (default /dev/shm: tmpfs, where memcached's docs put it). A benchmark, never a test.
"""

import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

BATCH = 100


# Random bytes, so that values are stored as they came (mnemod compresses what compresses well).
NOISE = random.Random(18).randbytes(1 << 20)


def value_of(i, size):
    at = (i * 7919) % (len(NOISE) - size)
    return (b"%012d" % i + NOISE[at:at + size])[:size]


def start(binary, flags, port):
    """Starts the server; returns (process, seconds from exec to the first reply)."""
    begin = time.monotonic()
    proc = subprocess.Popen([binary, *common.COMMON_FLAGS, "-p", str(port), *flags],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while True:
        if proc.poll() is not None:
            raise RuntimeError("%s exited: %s" % (binary, proc.stderr.read().decode()))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
                sock.sendall(b"version\r\n")
                if sock.recv(100).startswith(b"VERSION"):
                    return proc, time.monotonic() - begin
        except OSError:
            time.sleep(0.001)


def fill(port, items, size):
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for first in range(0, items, 1000):
            chunk = b"".join(b"set %s 0 0 %d noreply\r\n%s\r\n" % (common.key_bytes(i), size,
                                                                    value_of(i, size))
                             for i in range(first, min(first + 1000, items)))
            sock.sendall(chunk)
        sock.sendall(b"version\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            reply += sock.recv(100)


def count_hits(port, items, size):
    """Keys that hit with exactly their value."""
    hits = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for first in range(0, items, BATCH):
            ids = range(first, min(first + BATCH, items))
            sock.sendall(b"get " + b" ".join(common.key_bytes(i) for i in ids) + b"\r\n")
            reply = b""
            while not reply.endswith(b"END\r\n"):
                reply += sock.recv(1 << 20)
            for i in ids:
                entry = b"VALUE %s 0 %d\r\n%s\r\n" % (common.key_bytes(i), size, value_of(i, size))
                hits += entry in reply
    return hits


def stop(proc, sig):
    begin = time.monotonic()
    proc.send_signal(sig)
    stderr = proc.communicate(timeout=120)[1].decode()
    return time.monotonic() - begin, stderr


def run_round(name, binary, args, port):
    path = os.path.join(args.dir, "warm-restart-bench-%s.mem" % name)
    for stale in (path, path + ".meta", path + ".index"):
        if os.path.exists(stale):
            os.unlink(stale)
    memory = ["-m", str(args.memory)]
    row = {}
    proc, row["cold start, -e (s)"] = start(binary, memory + ["-e", path], port)
    fill(port, args.items, args.value_size)
    row["save on SIGUSR1 (s)"], _ = stop(proc, signal.SIGUSR1)
    # memcached refuses metadata saved in the second it starts in (its stop_time check).
    time.sleep(1.1)
    proc, row["warm start (s)"] = start(binary, memory + ["-e", path], port)
    row["keys that hit"] = count_hits(port, args.items, args.value_size)
    _, stderr = stop(proc, signal.SIGTERM)
    row["log"] = " | ".join(line for line in stderr.splitlines() if "restart" in line)
    proc, row["cold start, no -e (s)"] = start(binary, memory, port)
    stop(proc, signal.SIGTERM)
    for stale in (path, path + ".meta", path + ".index"):
        if os.path.exists(stale):
            os.unlink(stale)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500000)
    parser.add_argument("--value-size", type=int, default=1024)
    parser.add_argument("--memory", type=int, default=1024, help="-m, megabytes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default="/dev/shm")
    args = parser.parse_args()
    servers = [("mnemod", os.path.join(common.REPO, "build", "mnemod"))]
    if os.environ.get(common.REFERENCE_VARIABLE):
        servers.append(("memcached-1.6.45", os.environ[common.REFERENCE_VARIABLE]))
    results = {name: [] for name, _ in servers}
    for _ in range(args.rounds):
        for name, binary in servers:
            row = run_round(name, binary, args, common.free_port())
            print(name, row, flush=True)
            results[name].append(row)
    print("\nmedians over %d rounds, %d keys of %d bytes, -m %d:" % (
        args.rounds, args.items, args.value_size, args.memory))
    for name, rows in results.items():
        summary = {key: statistics.median(row[key] for row in rows)
                   for key in rows[0] if key != "log"}
        print(name, {k: round(v, 3) for k, v in summary.items()})


if __name__ == "__main__":
    main()
