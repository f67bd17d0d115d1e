#!/usr/bin/python3
"""Cross-checks mnemo-bench against memtier_benchmark on one memcached-protocol server.

Starts the server (`-l 127.0.0.1 -U 0 -t 2 -m 1024 -c 4096`) on a free port, preloads memtier's
keys (memtier-0 .. memtier-100000), then runs, alternately and for --rounds rounds:
  memtier_benchmark --protocol=memcache_text --threads 2 --clients 25 --pipeline 16 --ratio 1:10
                    --data-size 32 --key-pattern R:R --key-maximum 100000 --test-time 10
  the same under `chrt --batch 0` (mnemo-bench's closed-loop threads run under SCHED_BATCH)
  mnemo-bench --threads 2 --connections 25 --pipeline 16 --ratio 1:10 --value-size 32
              --key-pattern uniform --key-space 100001 --key-prefix memtier- --duration 10
Each client's CPU time (user + system, from wait4) is divided by the requests it completed.
Prints a markdown table: median [min-max] over rounds of each figure, and the per-round ratios
of mnemo-bench to memtier_benchmark. Checks that the server never missed (get_misses 0).

Usage: tools/bench/memtier_crosscheck.py --server /usr/bin/memcached [--rounds 5] [--duration 10]
memtier_benchmark is --memtier, else $MNEMO_MEMTIER, else memtier_benchmark on PATH.
A benchmark, never a pass/fail test.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MEMTIER_VARIABLE = "MNEMO_MEMTIER"  # a memtier_benchmark binary
FIGURES = (("throughput", "throughput (req/s)"), ("p50", "p50 (µs)"), ("p90", "p90 (µs)"),
           ("p99", "p99 (µs)"), ("p99.9", "p99.9 (µs)"), ("cpu", "client CPU (µs/request)"))


def memtier_binary(explicit):
    """--memtier if given, else $MNEMO_MEMTIER, else memtier_benchmark on PATH; exits with a
    message naming the variable when none is found."""
    path = explicit or os.environ.get(MEMTIER_VARIABLE)
    if path:
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            source = "--memtier" if explicit else "$" + MEMTIER_VARIABLE
            sys.exit("%s=%s is not an executable file" % (source, path))
        return os.path.abspath(path)
    path = shutil.which("memtier_benchmark")
    if not path:
        sys.exit("no memtier_benchmark: set $%s (or pass --memtier) to a memtier_benchmark "
                 "binary, or put memtier_benchmark on PATH" % MEMTIER_VARIABLE)
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_measured(argv):
    """Runs argv; returns (stdout, CPU seconds of the child and its threads)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit("%s exited with %d" % (argv[0], proc.returncode))
    return out, usage.ru_utime + usage.ru_stime


def memtier_figures(argv, duration):
    out, cpu = run_measured(argv + [
        "--protocol=memcache_text", "--threads", "2", "--clients", "25", "--pipeline", "16",
        "--ratio", "1:10", "--data-size", "32", "--key-pattern", "R:R", "--key-maximum", "100000",
        "--test-time", str(duration), "--hide-histogram", "--print-percentiles", "50,90,99,99.9"])
    totals = next(line.split() for line in out.splitlines() if line.startswith("Totals"))
    # Totals <ops/s> <hits/s> <misses/s> <avg ms> <p50 ms> <p90 ms> <p99 ms> <p99.9 ms> <KB/s>
    ops = float(totals[1])
    return {"throughput": ops, "p50": float(totals[5]) * 1e3, "p90": float(totals[6]) * 1e3,
            "p99": float(totals[7]) * 1e3, "p99.9": float(totals[8]) * 1e3,
            "cpu": cpu * 1e6 / (ops * duration)}


def mnemo_figures(bench, port, duration):
    out, cpu = run_measured([
        bench, "--server", "127.0.0.1:%d" % port, "--threads", "2", "--connections", "25",
        "--pipeline", "16", "--ratio", "1:10", "--value-size", "32", "--key-pattern", "uniform",
        "--key-space", "100001", "--key-prefix", "memtier-", "--duration", str(duration), "--json"])
    report = json.loads(out)
    if report["errors"] or report["misses"] or report["unanswered"]:
        sys.exit("mnemo-bench saw errors, misses or unanswered requests: %s" % out)
    latency = report["latency_us"]
    return {"throughput": report["throughput"], "p50": latency["p50"], "p90": latency["p90"],
            "p99": latency["p99"], "p99.9": latency["p99_9"],
            "cpu": cpu * 1e6 / report["requests"]}


def server_stat(port, name):
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(b"stats\r\n")
        data = b""
        while not data.endswith(b"END\r\n"):
            data += s.recv(65536)
    for line in data.decode().split("\r\n"):
        fields = line.split()
        if len(fields) == 3 and fields[1] == name:
            return int(fields[2])
    raise KeyError(name)


def spread(values, key):
    text = (lambda v: "%.2f" % v) if key == "cpu" else (lambda v: "{:,.0f}".format(v))
    return "%s [%s–%s]" % (text(statistics.median(values)), text(min(values)), text(max(values)))


def ratio(numerators, denominators):
    r = [n / d for n, d in zip(numerators, denominators)]
    return "%.2f [%.2f–%.2f]" % (statistics.median(r), min(r), max(r))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="memcached-protocol server binary")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--mnemo-bench", default=os.path.join(REPO, "build", "mnemo-bench"))
    parser.add_argument("--memtier", help="memtier_benchmark binary (default: $MNEMO_MEMTIER, else "
                        "memtier_benchmark on PATH)")
    args = parser.parse_args()
    memtier = memtier_binary(args.memtier)

    port = free_port()
    flags = ["-l", "127.0.0.1", "-U", "0", "-t", "2", "-m", "1024", "-c", "4096", "-p", str(port)]
    if os.geteuid() == 0:
        flags += ["-u", "root"]
    server = subprocess.Popen([args.server] + flags)
    try:
        for _ in range(500):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.01)
        subprocess.run([args.mnemo_bench, "--server", "127.0.0.1:%d" % port, "--preload",
                        "--key-prefix", "memtier-", "--key-space", "100001", "--requests", "1"],
                       check=True, capture_output=True)
        clients = {"memtier_benchmark": lambda: memtier_figures(
                       [memtier, "-s", "127.0.0.1", "-p", str(port)], args.duration),
                   "memtier_benchmark (SCHED_BATCH)": lambda: memtier_figures(
                       ["chrt", "--batch", "0", memtier, "-s", "127.0.0.1", "-p", str(port)],
                       args.duration),
                   "mnemo-bench": lambda: mnemo_figures(args.mnemo_bench, port, args.duration)}
        results = {name: [] for name in clients}
        for r in range(args.rounds):
            for name, run in clients.items():
                results[name].append(run())
                print("round %d/%d %s: %.0f req/s" % (r + 1, args.rounds, name,
                                                        results[name][-1]["throughput"]),
                      file=sys.stderr)
        misses = server_stat(port, "get_misses")
    finally:
        server.terminate()
        server.wait()

    names = list(clients)
    print("%s, %d alternating rounds of %d s; median [min–max]; ratios per round; load average "
          "%s at the end" % (os.path.basename(args.server), args.rounds, args.duration,
                             open("/proc/loadavg").read().split()[0]))
    print("| figure | " + " | ".join(names) + " | mnemo-bench / memtier_benchmark | "
          "mnemo-bench / memtier_benchmark (SCHED_BATCH) |")
    print("|---|" + "---|" * (len(names) + 2))
    for key, label in FIGURES:
        cells = [spread([x[key] for x in results[n]], key) for n in names]
        mine = [x[key] for x in results["mnemo-bench"]]
        cells += [ratio(mine, [x[key] for x in results[n]]) for n in names[:2]]
        print("| %s | %s |" % (label, " | ".join(cells)))
    print("server get_misses: %d" % misses)
    return 0


if __name__ == "__main__":
    sys.exit(main())
