#!/usr/bin/env python3
"""Issue 11's two figures, measured with memtier_benchmark: servers side by side, alternately.

For each round and each server (A B C A B C ...): start it fresh with BENCHMARKING.md's flags
(`-l 127.0.0.1 -U 0 -t 2 -m 1024 -c 4096`), write memtier's keys memtier-0 .. memtier-100000 once
(mnemo-bench --preload), read the server's CPU time from /proc/PID/stat, run memtier_benchmark,
read the CPU time again, check that no get missed, stop the server. Two loads:

  --load pipelined  --threads 2 --clients 25 --pipeline 16 --ratio 1:10 (saturated throughput)
  --load rate       --threads 2 --clients 25 --pipeline 1 --ratio 1:10 --rate-limiting 1000
                    (50 connections x 1,000 requests/s = 50k requests/s, not pipelined)

both with --data-size N, --key-pattern R:R --key-maximum 100000 --test-time S, over the text
protocol unless --protocol memcache_binary asks for the binary one. With --tls, every server runs
with -Z and a self-signed certificate made here (openssl), memtier talks TLS (--tls
--tls-skip-verify), and the preload goes through memtier too (--ratio 1:0 --key-pattern P:P
--requests allkeys), since mnemo-bench speaks plain TCP. Prints, per
server, median [min–max] over rounds of throughput, p50, p99 and server CPU per request (user +
system, and the system part alone), then each server's per-round ratios to each reference.

  bench/memtier_side_by_side.py --load rate --value-size 32 --rounds 5 --markdown

memtier_benchmark is --memtier, else $MNEMO_MEMTIER, else memtier_benchmark on PATH; memcached
1.6.45 is $MNEMO_REFERENCE (see bench/common.py).

A benchmark, never a pass/fail test; bench/RESULTS.md records what it printed.
"""

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile

import common

KEY_MAXIMUM = 100000
LOADS = {
    "pipelined": ["--pipeline", "16"],
    "rate": ["--pipeline", "1", "--rate-limiting", "1000"],
}
FIELDS = (("throughput", "throughput (req/s)", "{:,.0f}"), ("p50", "p50 (µs)", "{:,.0f}"),
          ("p99", "p99 (µs)", "{:,.0f}"), ("cpu", "server CPU (µs/req)", "{:.2f}"),
          ("sys", "of which system (µs/req)", "{:.2f}"))


def cpu_seconds(pid):
    """(utime + stime, stime) of process `pid` and all its threads, in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    ticks = os.sysconf("SC_CLK_TCK")
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / ticks, stime / ticks


def with_tls(specs, directory):
    """`specs` with -Z and a self-signed certificate made in `directory`."""
    cert, key = os.path.join(directory, "server.crt"), os.path.join(directory, "server.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", cert, "-days", "2", "-subj", "/CN=bench"],
                   check=True, capture_output=True)
    flags = ("-Z", "-o", f"ssl_chain_cert={cert},ssl_key={key}")
    return [dataclasses.replace(spec, extra=spec.extra + flags) for spec in specs]


def measure(args, memtier, spec):
    tls = ["--tls", "--tls-skip-verify"] if args.tls else []
    with common.Server(spec, 1024) as server:
        if args.tls:
            subprocess.run([memtier, "-s", "127.0.0.1", "-p", str(server.port), *tls,
                            "--protocol=" + args.protocol, "--threads", "1", "--clients", "1",
                            "--ratio", "1:0", "--key-pattern", "P:P", "--requests", "allkeys",
                            "--key-maximum", str(args.key_maximum),
                            "--data-size", str(args.value_size), "--hide-histogram"],
                           check=True, capture_output=True)
        else:
            subprocess.run([args.mnemo_bench, "--server", f"127.0.0.1:{server.port}", "--preload",
                            "--key-prefix", "memtier-", "--key-space", str(args.key_maximum + 1),
                            "--value-size", str(args.value_size), "--requests", "1"],
                           check=True, capture_output=True)
        cpu_before, sys_before = cpu_seconds(server.proc.pid)
        out = subprocess.run(
            [memtier, "-s", "127.0.0.1", "-p", str(server.port), *tls,
             "--protocol=" + args.protocol, "--threads", "2", "--clients", "25", "--ratio", args.ratio,
             "--data-size", str(args.value_size), "--key-pattern", "R:R",
             "--key-maximum", str(args.key_maximum), "--test-time", str(args.duration),
             "--hide-histogram", "--print-percentiles", "50,99", *LOADS[args.load],
             *(["--random-data"] if args.random_data else [])],
            check=True, capture_output=True, text=True).stdout
        cpu_after, sys_after = cpu_seconds(server.proc.pid)
        if args.tls:
            misses = 0  # memtier's own count below: `stats` would need a TLS client here
        else:
            conn = common.Connection(server.port)
            misses = conn.stats()["get_misses"]
            conn.close()
    # Totals <ops/s> <hits/s> <misses/s> <avg ms> <p50 ms> <p99 ms> <KB/s>
    totals = next(line.split() for line in out.splitlines() if line.startswith("Totals"))
    misses = misses or float(totals[3])
    if misses:
        sys.exit(f"{spec.name} missed {misses} gets: the preload did not take")
    requests = float(totals[1]) * args.duration
    return {"throughput": float(totals[1]), "p50": float(totals[5]) * 1e3,
            "p99": float(totals[6]) * 1e3, "cpu": (cpu_after - cpu_before) * 1e6 / requests,
            "sys": (sys_after - sys_before) * 1e6 / requests}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", action="append", type=common.parse_server_spec,
                        help="name=path[:extra flags]; default: /usr/bin/memcached as memcached "
                        "1.6.18, $MNEMO_REFERENCE as 1.6.45, mnemod")
    parser.add_argument("--load", choices=sorted(LOADS), required=True)
    parser.add_argument("--value-size", type=int, default=32)
    parser.add_argument("--protocol", choices=["memcache_text", "memcache_binary"],
                        default="memcache_text", help="memtier's protocol")
    parser.add_argument("--ratio", default="1:10", help="memtier's set:get ratio (0:1, gets only)")
    parser.add_argument("--key-maximum", type=int, default=KEY_MAXIMUM,
                        help="keys memtier-0 .. memtier-N; keep N x value size within -m 1024")
    parser.add_argument("--random-data", action="store_true",
                        help="memtier's --random-data: sets write incompressible values (the "
                        "preload's random letters are incompressible already)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--mnemo-bench", default=os.path.join(common.REPO, "build", "mnemo-bench"))
    parser.add_argument("--memtier", help="memtier_benchmark binary (default: $MNEMO_MEMTIER, else "
                        "memtier_benchmark on PATH)")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--tls", action="store_true",
                        help="every server with -Z (a self-signed certificate made here), memtier "
                        "with --tls; the servers must be built with TLS")
    args = parser.parse_args()
    memtier = common.memtier_binary(args.memtier)
    specs = args.server or common.default_servers()
    certs = tempfile.TemporaryDirectory(prefix="mnemo-bench-tls-")
    if args.tls:
        specs = with_tls(specs, certs.name)

    results = common.run_rounds(specs, args.rounds, lambda spec: measure(args, memtier, spec))
    names = [spec.name for spec in specs]
    print(f"memtier_benchmark, --load {args.load}, --protocol {args.protocol}, "
          f"{'TLS (-Z; memtier --tls), ' if args.tls else ''}"
          f"{args.value_size}-byte values, {args.rounds} "
          f"alternating rounds of {args.duration} s; median [min–max]; load average "
          f"{open('/proc/loadavg').read().split()[0]} at the end\n")
    rows = [[label, *(common.summarize([r[key] for r in results[n]]).format(fmt) for n in names)]
            for key, label, fmt in FIELDS]
    print(common.format_table(["figure", *names], rows, args.markdown))
    pairs = common.ratio_pairs(names, names)
    rows = [[f"{subject} / {base}",
             *(common.summarize(common.round_ratios(results, subject, base, key)).format("{:.3f}")
               for key, _, _ in FIELDS)] for subject, base in pairs]
    print()
    print(common.format_table(["ratio (per round)", *(label for _, label, _ in FIELDS)], rows,
                              args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
