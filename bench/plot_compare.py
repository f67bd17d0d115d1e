#!/usr/bin/env python3
"""Draws a mnemo-bench comparison side by side: throughput, latency percentiles and server CPU
per request of each server, as the median over rounds with a bar from the fastest to the slowest
round.

    mnemo-bench compare --json --server-cmd 'a=...' --server-cmd 'b=...' > compare.json
    bench/plot_compare.py compare.json -o compare.png

Reads the JSON that `mnemo-bench compare --json` prints (see tools/bench/report.h); needs
python3-matplotlib.
"""

import argparse
import json
import statistics
import sys

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt  # noqa: E402  (must follow the backend choice)
from matplotlib.ticker import FuncFormatter  # noqa: E402

PERCENTILES = (("p50", "p50"), ("p90", "p90"), ("p99", "p99"), ("p99_9", "p99.9"))


def spread(values):
    """(median, distance down to the min, distance up to the max), for an error bar."""
    median = statistics.median(values)
    return median, median - min(values), max(values) - median


def describe(config):
    pattern = config["key_pattern"]
    if pattern == "zipf":
        pattern += "(%g)" % config["zipf_exponent"]
    text = ("%d threads x %d conns, pipeline %d, %s set:get, %d keys %s, %s B values, %s, %d rounds"
            % (config["threads"], config["connections"], config["pipeline"], config["ratio"],
               config["key_space"], pattern, config["value_size"], config["protocol"],
               config["rounds"]))
    if config["rate"]:
        text += ", %.0f req/s fixed rate" % config["rate"]
    return text


def label(value):
    """A short number for a bar or an axis: 1.23M, 766k, 3.06."""
    if value >= 1e6:
        return "%.2fM" % (value / 1e6)
    if value >= 1e4:
        return "%.0fk" % (value / 1e3)
    return "%.3g" % value


def bars(ax, names, stats):
    """One bar per server, in the server's colour, labelled with its median."""
    medians = [s[0] for s in stats]
    errors = [[s[1] for s in stats], [s[2] for s in stats]]
    colors = ["C%d" % i for i in range(len(names))]
    ax.bar(names, medians, yerr=errors, capsize=4, color=colors)
    for x, m in enumerate(medians):
        ax.annotate(label(m), (x, m / 2), ha="center", va="center", color="white",
                    fontweight="bold")


def plot(report, out_path):
    servers = report["servers"]
    names = [s["name"] for s in servers]
    fig, (ax_tput, ax_lat, ax_cpu) = plt.subplots(1, 3, figsize=(15, 5))

    bars(ax_tput, names, [spread([r["throughput"] for r in s["rounds"]]) for s in servers])
    ax_tput.set_title("throughput")
    ax_tput.set_ylabel("requests / s")
    ax_tput.yaxis.set_major_formatter(FuncFormatter(lambda value, _: label(value)))

    width = 0.8 / len(servers)
    for i, server in enumerate(servers):
        stats = [spread([r["latency_us"][key] for r in server["rounds"]]) for key, _ in PERCENTILES]
        xs = [p + (i - (len(servers) - 1) / 2) * width for p in range(len(PERCENTILES))]
        ax_lat.bar(xs, [s[0] for s in stats], width, label=server["name"], color="C%d" % i,
                   yerr=[[s[1] for s in stats], [s[2] for s in stats]], capsize=3)
    ax_lat.set_xticks(range(len(PERCENTILES)), [label for _, label in PERCENTILES])
    ax_lat.set_yscale("log")
    ax_lat.set_title("latency percentiles")
    ax_lat.set_ylabel("microseconds (log scale)")
    ax_lat.legend()

    bars(ax_cpu, names,
         [spread([r["server_cpu_us_per_request"] for r in s["rounds"]]) for s in servers])
    ax_cpu.set_title("server CPU per request")
    ax_cpu.set_ylabel("microseconds")

    fig.suptitle("mnemo-bench compare: " + describe(report["config"]) +
                 "\nbars: median over rounds; whiskers: min to max", fontsize=10)
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("input", help="JSON from mnemo-bench compare --json ('-': stdin)")
    parser.add_argument("-o", "--output", default="compare.png", help="PNG to write")
    args = parser.parse_args()
    with (sys.stdin if args.input == "-" else open(args.input)) as f:
        report = json.load(f)
    if report.get("mode") != "compare":
        parser.error("%s is not the output of mnemo-bench compare --json" % args.input)
    plot(report, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
