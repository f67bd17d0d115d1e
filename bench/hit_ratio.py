#!/usr/bin/env python3
"""Hit ratio: the miss ratio of each server under one seeded Zipf(0.99) look-aside stream.

Look-aside is what a web tier does: get the key; on a miss, set it. The key ranks are drawn from
Zipf(alpha) over a working set whose raw key and value bytes are --working-set times -m (by
default ten times: with -m 64 and 100-byte values, 5,938,424 keys), so no server can hold it all
and the eviction policy decides the miss ratio. Every server gets the same stream at the same -m:
a warm-up part that fills the cache, then a measured part. Misses are counted by the client and
cross-checked against the server's get_hits/get_misses, which must agree exactly.

Requests go in batches of --batch consecutive stream entries, two round trips each:
  1. one get for each distinct key of the batch (the previous batch's late sets ahead of them);
  2. sets (noreply) for the misses, then a get for every repeated entry of the batch.
A repeated key therefore sees the set of its first miss, as it would one request at a time; the
only reordering is that repeats move behind the first gets of their own batch, which on a cache
of hundreds of thousands of items changes nothing measurable, and is the same for every server.
"""

import collections
import itertools
import math
import random
import re
import time

import common

VALUE_POOL = 1024
KEYS_PER_GET = 100
VALUE_KEY = re.compile(rb"VALUE (\S+) ")


def zipf_stream(n_keys, alpha, length, seed):
    """`length` key ids, ranks drawn from Zipf(alpha) over n_keys by inverse CDF (random.choices
    bisects the cumulative weights), then scattered over the id space so that popular keys are
    not neighbours: id = rank * stride mod n_keys, a bijection since gcd(stride, n_keys) == 1."""
    rng = random.Random(seed)
    cumulative = list(itertools.accumulate(r**-alpha for r in range(1, n_keys + 1)))
    ranks = rng.choices(range(n_keys), cum_weights=cumulative, k=length)
    stride = 2654435761  # Knuth's multiplicative hash constant
    while math.gcd(stride, n_keys) != 1:
        stride += 1
    return [rank * stride % n_keys for rank in ranks]


class LookAside:
    """Replays a stream on one connection and counts the client's hits and misses."""

    def __init__(self, conn, value_len, values):
        self.conn = conn
        self.value_len = value_len
        self.values = values
        self.set_tail = b" 0 0 %d noreply\r\n" % value_len
        self.pending_sets = b""  # sets for repeats that missed, sent ahead of the next batch
        self.hits = 0
        self.misses = 0

    def _sets(self, keys):
        return b"".join([b"set " + key + self.set_tail
                         + self.values[common.key_id(key) % VALUE_POOL] + b"\r\n" for key in keys])

    def _gets(self, prefix, keys):
        """Sends `prefix` then gets for `keys` and returns the keys of the values returned."""
        commands, ends = common.get_commands(keys, KEYS_PER_GET)
        self.conn.send(prefix + commands)
        reply = self.conn.read_ends(ends)
        found = VALUE_KEY.findall(reply)
        if len(reply) != common.get_reply_length(len(found), ends, self.value_len):
            raise ValueError(f"get reply of unexpected length: {reply[:200]!r}")
        return found

    def run(self, key_ids, batch):
        for start in range(0, len(key_ids), batch):
            counts = collections.Counter(
                common.key_bytes(i) for i in key_ids[start:start + batch])
            firsts = list(counts)
            found = set(self._gets(self.pending_sets, firsts))
            missed = [key for key in firsts if key not in found]
            repeats = [key for key, n in counts.items() for _ in range(n - 1)]
            self.hits += len(found)
            self.misses += len(missed)
            if repeats:
                found_repeats = collections.Counter(self._gets(self._sets(missed), repeats))
                self.hits += sum(found_repeats.values())
                late = [key for key, n in counts.items() if n > 1 and found_repeats[key] < n - 1]
                self.misses += sum(counts[key] - 1 - found_repeats[key] for key in late)
                self.pending_sets = self._sets(late)
            else:
                self.pending_sets = self._sets(missed)
        self.conn.send(self.pending_sets)
        self.pending_sets = b""
        self.conn.sync()


def measure(spec, args, stream, values):
    with common.Server(spec, args.memory_mb) as server:
        conn = common.Connection(server.port)
        client = LookAside(conn, args.value_size, values)
        began = time.monotonic()
        client.run(stream[:args.warmup], args.batch)
        before = conn.stats()
        client.hits = client.misses = 0
        client.run(stream[args.warmup:], args.batch)
        seconds = time.monotonic() - began
        after = conn.stats()
        rss_kib, _ = server.memory_kib()
        conn.note_unexpected(spec.name)
        conn.close()
    server_hits = after["get_hits"] - before["get_hits"]
    server_misses = after["get_misses"] - before["get_misses"]
    if (server_hits, server_misses) != (client.hits, client.misses):
        common.note(f"{spec.name}: server counted {server_hits} hits and {server_misses} misses,"
                    f" the client {client.hits} and {client.misses}")
    requests = client.hits + client.misses
    return {"requests": requests, "misses": client.misses,
            "miss_ratio": client.misses / requests, "server_get_hits": server_hits,
            "server_get_misses": server_misses, "curr_items": after.get("curr_items"),
            "evictions": after.get("evictions"), "rss_kib": rss_kib,
            "seconds": round(seconds, 1), "unexpected_reply_bytes": len(conn.unexpected)}


def report(results, specs, baselines, markdown, n_keys):
    names = [s.name for s in specs]
    first = results[names[0]][0]
    lines = [f"{first['requests']:,} measured requests over {n_keys:,} keys; "
             f"{len(results[names[0]])} rounds, median [min–max]", ""]
    rows = []
    for name in names:
        runs = results[name]
        agree = all((r["server_get_hits"] + r["server_get_misses"], r["server_get_misses"])
                    == (r["requests"], r["misses"]) for r in runs)
        rows.append([name, common.summarize([r["miss_ratio"] * 100 for r in runs]).format("{:.2f}"),
                     common.summarize([r["curr_items"] for r in runs]).format("{:,.0f}"),
                     common.summarize([r["rss_kib"] / 1024 for r in runs]).format("{:.1f}"),
                     "yes" if agree else "NO"])
    lines.append(common.format_table(
        ["server", "miss ratio %", "curr_items at end", "RSS MiB", "stats agree"], rows, markdown))
    pairs = common.ratio_pairs(names, baselines)
    if pairs:
        rows = [[f"{subject} / {base}",
                 common.summarize(common.round_ratios(results, subject, base, "miss_ratio"))
                 .format("{:.3f}")]
                for subject, base in pairs]
        lines += ["", common.format_table(["ratio", "miss ratio"], rows, markdown)]
    return "\n".join(lines)


def main():
    parser = common.argument_parser(__doc__)
    parser.add_argument("--memory-mb", type=int, default=64, help="-m of every server")
    parser.add_argument("--value-size", type=int, default=100)
    parser.add_argument("--working-set", type=float, default=10.0,
                        help="key and value bytes of all keys, as a multiple of -m (default 10)")
    parser.add_argument("--alpha", type=float, default=0.99, help="Zipf exponent")
    parser.add_argument("--warmup", type=int, default=5_000_000, help="requests before measuring")
    parser.add_argument("--requests", type=int, default=3_000_000, help="measured requests")
    parser.add_argument("--batch", type=int, default=2000, help="stream entries per batch")
    args, specs, baselines = common.parse_arguments(parser)
    n_keys = int(args.working_set * args.memory_mb * 2**20 // (common.KEY_LEN + args.value_size))
    common.note(f"drawing {args.warmup + args.requests:,} requests over {n_keys:,} keys")
    stream = zipf_stream(n_keys, args.alpha, args.warmup + args.requests, args.seed)
    values = common.random_values(args.value_size, VALUE_POOL, args.seed)
    results = common.run_rounds(specs, args.rounds,
                                lambda spec: measure(spec, args, stream, values))
    print(report(results, specs, baselines, args.markdown, n_keys), flush=True)
    if args.json:
        common.write_json(args.json, {
            "benchmark": "hit_ratio", "memory_mb": args.memory_mb,
            "value_size": args.value_size, "keys": n_keys, "alpha": args.alpha,
            "warmup": args.warmup, "requests": args.requests, "batch": args.batch,
            "seed": args.seed, "servers": common.describe_servers(specs),
            "flags": list(common.COMMON_FLAGS), "results": results})


if __name__ == "__main__":
    main()
