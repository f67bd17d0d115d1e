#!/usr/bin/env python3
"""Issue 18's kill -9 drill (-e, docs/warm-restart.md): what a restart after a crash serves.

For each round: start mnemod with `-e FILE` on an empty file, start the write load of
tests/crash_load.py (sets, overwrites, deletes, incr, a flush_all, with a model of what was
acknowledged), fill ITEMS keys of VALUE bytes once its flush_all is done, go on with the load for
LOAD more seconds, kill -9 the server in the middle of it, and start it again with the same file (timed from the exec to the first reply to `version`). Then count: the
bulk keys that hit with their exact value (none was written in the last second); of the load's
keys live and not written in the last second, those that hit; and the keys served with a value
the model says is gone or older (stale: must be 0). A cold start without -e is timed too.

    bench/crash_restart.py [--items 500000] [--value-size 1024] [--memory 1024] [--load 3]
                           [--rounds 3]

The memory file goes in --dir (default /dev/shm). A benchmark, never a test.
"""

import argparse
import os
import signal
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
import common  # noqa: E402
import warm_restart  # noqa: E402
from crash_load import Load, check  # noqa: E402
from pymemcache.client.base import Client  # noqa: E402


def remove(path):
    for stale in (path, path + ".meta", path + ".index"):
        if os.path.exists(stale):
            os.unlink(stale)


def run_round(binary, args, port):
    path = os.path.join(args.dir, "crash-restart-bench.mem")
    remove(path)
    memory = ["-m", str(args.memory)]
    row = {}
    proc, _ = warm_restart.start(binary, memory + ["-e", path], port)
    load = Load("127.0.0.1", port)
    load.start()
    # The bulk after the load's flush_all, while its writes go on.
    load.refilled.wait(60)
    warm_restart.fill(port, args.items, args.value_size)
    time.sleep(args.load)
    killed_at = time.monotonic()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    load.finish()
    row["load ops acknowledged"] = load.ops
    proc, row["start after kill -9 (s)"] = warm_restart.start(binary, memory + ["-e", path], port)
    row["bulk keys that hit (%)"] = 100.0 * warm_restart.count_hits(
        port, args.items, args.value_size) / args.items
    client = Client(("127.0.0.1", port), timeout=60)
    stale, hit, eligible = check(load, client, killed_at)
    client.close()
    row["load keys that hit (%)"] = 100.0 * hit / max(eligible, 1)
    row["stale"] = len(stale)
    _, stderr = warm_restart.stop(proc, signal.SIGTERM)
    row["log"] = " | ".join(line for line in stderr.splitlines() if "restart" in line)
    proc, row["cold start, no -e (s)"] = warm_restart.start(binary, memory, port)
    warm_restart.stop(proc, signal.SIGTERM)
    remove(path)
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=500000)
    parser.add_argument("--value-size", type=int, default=1024)
    parser.add_argument("--memory", type=int, default=1024, help="-m, megabytes")
    parser.add_argument("--load", type=float, default=3.0, help="seconds of write load")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default="/dev/shm")
    args = parser.parse_args()
    binary = os.path.join(common.REPO, "build", "mnemod")
    rows = []
    for _ in range(args.rounds):
        row = run_round(binary, args, common.free_port())
        print(row, flush=True)
        rows.append(row)
    print("\nmedians over %d rounds, %d keys of %d bytes, -m %d, %.1f s of load:" % (
        args.rounds, args.items, args.value_size, args.memory, args.load))
    print({key: round(statistics.median(row[key] for row in rows), 3)
           for key in rows[0] if key != "log"})


if __name__ == "__main__":
    main()
