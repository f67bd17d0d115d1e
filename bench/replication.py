#!/usr/bin/env python3
"""Issue 19's throughput figure: a cluster with replicas against the same cluster without.

Starts two clusters with tools/cluster/mnemo-cluster, each of --nodes mnemod nodes (`-t 1 -m 256`
each by default: two cores run eight nodes) behind its own nutcracker, one with --replicas 1 and
one with --replicas N (and --replication MODE if given), preloads each through its proxy
(mnemo-bench --preload), then runs the same mnemo-bench load against each proxy in alternating
rounds (A B A B ...; both clusters run throughout, only one is loaded at a time):

  --pipeline 16 --ratio 1:10 --value-size 32 (or --value-size 1024), uniform keys over 100,000

With --direct, mnemo-bench loads the nodes themselves, placing keys as nutcracker does, so
that the nodes, not the single-threaded proxy, bound the throughput: the cost of replication to
the nodes shows undiluted (the proxy's CPU column is then about 0).

Prints per round the throughput of each and their ratio, then a table: median [min–max] over the
rounds of throughput, hit ratio, p50, p99, the CPU the nodes and the proxy spent per request, and
the records the replicating nodes sent per set (from their repl_* stats: records reached the
replicas, so the load did replicate); and the per-round ratios.

  bench/replication.py --rounds 5 --duration 10 --markdown

The server is --mnemod (default: build/mnemod); mnemo-bench --mnemo-bench (build/mnemo-bench).
A benchmark, never a pass/fail test; bench/RESULTS.md records what it printed.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import common

TOOL = os.path.join(common.REPO, "tools", "cluster", "mnemo-cluster")
FIELDS = (("throughput", "throughput (req/s)", "{:,.0f}"), ("hit_ratio", "hit ratio", "{:.4f}"),
          ("p50", "p50 (µs)", "{:,.0f}"), ("p99", "p99 (µs)", "{:,.0f}"),
          ("node_cpu", "nodes' CPU (µs/req)", "{:.2f}"),
          ("proxy_cpu", "proxy CPU (µs/req)", "{:.2f}"),
          ("records_per_set", "records sent per set", "{:.2f}"))


def cpu_seconds(pid):
    """utime + stime of process `pid` and all its threads, in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Cluster:
    """A cluster run by mnemo-cluster in a directory of its own."""

    def __init__(self, name, directory, args, replicas):
        self.name = name
        self.dir = directory
        self.args = args
        self.replicas = replicas
        self.state = None

    def tool(self, *argv):
        env = dict(os.environ, MNEMO_SERVER=self.args.mnemod)
        if self.args.ring:
            env["MNEMO_RING"] = self.args.ring
        return subprocess.run([sys.executable, TOOL, "--dir", self.dir, *argv], check=True,
                              capture_output=True, text=True, env=env).stdout

    def start(self):
        extra = ["--replication", self.args.replication] if (
            self.replicas > 1 and self.args.replication) else []
        # A long timeout: a loaded machine must not make nutcracker eject a node mid-run.
        self.tool("start", "--nodes", str(self.args.nodes), "--replicas", str(self.replicas),
                  *extra, "--timeout", "10000", "--", "-t", str(self.args.node_threads),
                  "-m", str(self.args.node_memory_mb))
        with open(os.path.join(self.dir, "state.json")) as f:
            self.state = json.load(f)

    def stop(self):
        if self.state is not None:
            self.tool("stop")
            self.state = None

    @property
    def proxy(self):
        return f"127.0.0.1:{self.state['proxy']['port']}"

    @property
    def nodes(self):
        """The nodes as mnemo-bench's --server takes them: it places keys as nutcracker does."""
        return [f"127.0.0.1:{n['port']}:{n['weight']}" for n in self.state["nodes"]]

    def node_cpu(self):
        return sum(cpu_seconds(n["process"]["pid"]) for n in self.state["nodes"])

    def proxy_cpu(self):
        return cpu_seconds(self.state["proxy"]["process"]["pid"])

    def records_sent(self):
        """The sum of the nodes' repl_records_sent; 0 without replicas."""
        if self.replicas == 1:
            return 0
        status = json.loads(self.tool("status", "--json"))
        total = 0
        for node in status["nodes"]:
            repl = node.get("replication")
            if not repl or "repl_records_sent" not in repl:
                sys.exit(f"{self.name}: node {node['index']} reports no repl_records_sent: "
                         f"{repl!r}")
            total += repl["repl_records_sent"]
        return total


def bench(args, cluster, *extra):
    targets = cluster.nodes if args.direct else [cluster.proxy]
    out = subprocess.run(
        [args.mnemo_bench, *(a for t in targets for a in ("--server", t)),
         "--threads", str(args.bench_threads),
         "--connections", str(args.connections), "--pipeline", str(args.pipeline),
         "--ratio", "1:10", "--value-size", str(args.value_size),
         "--key-space", str(args.key_space), "--json", *extra],
        check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def measure(args, cluster):
    nodes_before, proxy_before = cluster.node_cpu(), cluster.proxy_cpu()
    records_before = cluster.records_sent()
    run = bench(args, cluster, "--duration", str(args.duration))
    nodes_after, proxy_after = cluster.node_cpu(), cluster.proxy_cpu()
    records = cluster.records_sent() - records_before
    if run["errors"] or run["unanswered"]:
        sys.exit(f"{cluster.name}: {run['errors']} errors, {run['unanswered']} unanswered")
    requests = run["requests"]
    return {"throughput": run["throughput"], "hit_ratio": run["hit_ratio"],
            "p50": run["latency_us"]["p50"], "p99": run["latency_us"]["p99"],
            "node_cpu": (nodes_after - nodes_before) * 1e6 / requests,
            "proxy_cpu": (proxy_after - proxy_before) * 1e6 / requests,
            "records_per_set": records / run["sets"] if run["sets"] else 0.0}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--replicas", type=int, default=2, help="the replicating cluster's")
    parser.add_argument("--replication", choices=("async", "sync"),
                        help="passed to the replicating cluster when given")
    parser.add_argument("--node-threads", type=int, default=1, help="each node's -t")
    parser.add_argument("--node-memory-mb", type=int, default=256, help="each node's -m")
    parser.add_argument("--value-size", type=int, default=32)
    parser.add_argument("--key-space", type=int, default=100000)
    parser.add_argument("--pipeline", type=int, default=16)
    parser.add_argument("--bench-threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=25, help="per mnemo-bench thread")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--mnemod", default=os.path.join(common.REPO, "build", "mnemod"))
    parser.add_argument("--ring", help="mnemo-ring (default: mnemo-cluster's own search)")
    parser.add_argument("--mnemo-bench", default=os.path.join(common.REPO, "build", "mnemo-bench"))
    parser.add_argument("--direct", action="store_true",
                        help="load the nodes straight, mnemo-bench hashing the keys as the proxy "
                        "does, so that the nodes rather than nutcracker bound the throughput")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--json", metavar="FILE", help="also write every round's numbers here")
    args = parser.parse_args()
    if not 2 <= args.replicas <= args.nodes:
        parser.error("--replicas takes 2 to --nodes")

    with tempfile.TemporaryDirectory(prefix="mnemo-replication-bench-") as tmp:
        clusters = [Cluster("replicas-1", os.path.join(tmp, "one"), args, 1),
                    Cluster(f"replicas-{args.replicas}", os.path.join(tmp, "many"), args,
                            args.replicas)]
        try:
            for cluster in clusters:
                cluster.start()
                bench(args, cluster, "--preload", "--requests", "1")
            results = {c.name: [] for c in clusters}
            for round_no in range(1, args.rounds + 1):
                for cluster in clusters:
                    results[cluster.name].append(measure(args, cluster))
                ratio = (results[clusters[1].name][-1]["throughput"] /
                         results[clusters[0].name][-1]["throughput"])
                common.note("round %d/%d: %s %s req/s, %s %s req/s, ratio %.3f" % (
                    round_no, args.rounds,
                    clusters[0].name, f"{results[clusters[0].name][-1]['throughput']:,.0f}",
                    clusters[1].name, f"{results[clusters[1].name][-1]['throughput']:,.0f}",
                    ratio))
        finally:
            for cluster in clusters:
                cluster.stop()

    names = [c.name for c in clusters]
    print(f"{args.nodes} nodes (-t {args.node_threads} -m {args.node_memory_mb}) "
          f"{'loaded straight (mnemo-bench hashing)' if args.direct else 'behind nutcracker'}; "
          f"mnemo-bench --pipeline {args.pipeline} --ratio 1:10 --value-size "
          f"{args.value_size} --key-space {args.key_space}, {args.bench_threads} threads x "
          f"{args.connections} connections; {args.rounds} alternating rounds of "
          f"{args.duration} s; replication {args.replication or 'as the nodes default'}; "
          f"median [min–max]; load average {open('/proc/loadavg').read().split()[0]} at the "
          f"end\n")
    rows = [[label, *(common.summarize([r[key] for r in results[n]]).format(fmt) for n in names)]
            for key, label, fmt in FIELDS]
    print(common.format_table(["figure", *names], rows, args.markdown))
    print()
    ratios = [[str(i + 1), *(f"{c[key] / b[key]:.3f}" if b[key] else "-"
                             for key in ("throughput", "p99", "node_cpu"))]
              for i, (b, c) in enumerate(zip(results[names[0]], results[names[1]]))]
    summary = ["median [min–max]", *(
        common.summarize(common.round_ratios(results, names[1], names[0], key)).format("{:.3f}")
        for key in ("throughput", "p99", "node_cpu"))]
    print(common.format_table([f"round: {names[1]} / {names[0]}", "throughput", "p99",
                               "nodes' CPU per request"], ratios + [summary], args.markdown))
    if args.json:
        common.write_json(args.json, {"config": vars(args), "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
