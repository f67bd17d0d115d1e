#!/usr/bin/env python3
"""Memory efficiency: how many items each server still holds after a fill well past eviction.

Every server is started with the same -m, then filled with sequential 13-byte keys and values
of one size (pipelined `set ... noreply`) until the key and value bytes written reach
--fill-factor times -m. Then the benchmark counts how many of the written keys a `get` still
returns, and reads the process RSS (/proc/PID/status) and `stats` (curr_items, bytes,
evictions). Servers run alternately, --rounds times; the item count is nearly deterministic,
RSS less so. See bench/README.md and BENCHMARKING.md ("Memory efficiency").

Value kinds: an integer N (N incompressible bytes, e.g. 32 or 1024) or `json4k`, 4096-byte
compressible JSON-like documents for server-side compression.
"""

import json
import math
import random
import time

import common

VALUE_POOL = 1024  # distinct values cycled over the keys; enough that no two neighbours match
SETS_PER_SEND = 2000
KEYS_PER_GET = 100
GETS_PER_SEND = 20
JSON4K_LEN = 4096


def json4k_bodies(count, seed):
    """JSON-like documents, compact (no spaces: common invariant 1), drawn from a small
    vocabulary as real API payloads are, so they compress about as well as such payloads.
    Each body completes `{"id":"NNNNNNNNN",` to exactly JSON4K_LEN bytes."""
    rng = random.Random(seed)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
             "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo"]
    pages = ["/home", "/cart", "/checkout", "/search", "/account", "/products", "/help"]
    prefix_len = len(b'{"id":"000000000",')
    bodies = []
    for _ in range(count):
        user = {"name": rng.choice(words).title() + "_" + rng.choice(words),
                "country": rng.choice(["de", "fr", "us", "jp", "br"]),
                "plan": rng.choice(["free", "pro", "team"])}
        events = []
        while True:
            event = {"type": rng.choice(["view", "click", "scroll", "purchase"]),
                     "ts": 1700000000 + rng.randrange(10**7),
                     "page": rng.choice(pages) + "/" + str(rng.randrange(1000)),
                     "tag": rng.choice(words), "ok": rng.random() < 0.9}
            text = json.dumps({"user": user, "events": events + [event]}, separators=(",", ":"))
            if prefix_len + len(text) + len(',"pad":""') > JSON4K_LEN:
                break
            events.append(event)
        # The body without its opening brace, padded to the exact length with a last field.
        text = json.dumps({"user": user, "events": events}, separators=(",", ":"))[1:-1]
        pad = JSON4K_LEN - prefix_len - len(text) - len(',"pad":""}')
        bodies.append((text + ',"pad":"' + "x" * pad + '"}').encode())
    return bodies


def value_source(kind, seed):
    """(value length, value_of(key_id)) for a --values kind."""
    if kind == "json4k":
        bodies = json4k_bodies(VALUE_POOL, seed)
        return JSON4K_LEN, lambda i: b'{"id":"%09d",' % i + bodies[i % VALUE_POOL]
    length = int(kind)
    pool = common.random_values(length, VALUE_POOL, seed)
    return length, lambda i: pool[i % VALUE_POOL]


def fill(conn, n_keys, value_len, value_of):
    tail = b" 0 0 %d noreply\r\n" % value_len
    for start in range(0, n_keys, SETS_PER_SEND):
        conn.send(b"".join([b"set " + common.key_bytes(i) + tail + value_of(i) + b"\r\n"
                            for i in range(start, min(start + SETS_PER_SEND, n_keys))]))
        conn.drain_unexpected()
    conn.sync()


def count_retrievable(conn, n_keys, value_len):
    keys_per_send = KEYS_PER_GET * GETS_PER_SEND
    found = 0
    for start in range(0, n_keys, keys_per_send):
        keys = [common.key_bytes(i) for i in range(start, min(start + keys_per_send, n_keys))]
        commands, ends = common.get_commands(keys, KEYS_PER_GET)
        conn.send(commands)
        reply = conn.read_ends(ends)
        hits = reply.count(b"VALUE ")
        if len(reply) != common.get_reply_length(hits, ends, value_len):
            raise ValueError(f"get reply of unexpected length near key {start}: {reply[:200]!r}")
        found += hits
    return found


def measure(spec, args, kind, value_len, value_of):
    n_keys = math.ceil(args.fill_factor * args.memory_mb * 2**20 / (common.KEY_LEN + value_len))
    with common.Server(spec, args.memory_mb) as server:
        conn = common.Connection(server.port)
        began = time.monotonic()
        fill(conn, n_keys, value_len, value_of)
        fill_seconds = time.monotonic() - began
        rss_kib, hwm_kib = server.memory_kib()
        stats = conn.stats()
        found = count_retrievable(conn, n_keys, value_len)
        conn.note_unexpected(spec.name)
        conn.close()
    return {"values": kind, "written": n_keys, "items": found,
            "curr_items": stats.get("curr_items"), "bytes": stats.get("bytes"),
            "evictions": stats.get("evictions"), "limit_maxbytes": stats.get("limit_maxbytes"),
            "rss_kib": rss_kib, "hwm_kib": hwm_kib, "fill_seconds": round(fill_seconds, 2),
            "unexpected_reply_bytes": len(conn.unexpected)}


def report(kind, results, specs, baselines, markdown):
    names = [s.name for s in specs]
    first = results[names[0]][0]
    rounds = len(results[names[0]])
    lines = [f"values {kind}: {first['written']:,} keys written, limit_maxbytes "
             f"{first['limit_maxbytes']:,}; {rounds} rounds, median [min–max]", ""]
    rows = []
    for name in names:
        runs = results[name]
        items = common.summarize([r["items"] for r in runs])
        rss = common.summarize([r["rss_kib"] / 1024 for r in runs])
        per_item = common.summarize([r["rss_kib"] * 1024 / r["items"] for r in runs])
        rows.append([name, items.format("{:,.0f}"), rss.format("{:.1f}"),
                     per_item.format("{:.1f}"),
                     common.summarize([r["curr_items"] for r in runs]).format("{:,.0f}"),
                     common.summarize([r["evictions"] for r in runs]).format("{:,.0f}")])
    lines.append(common.format_table(
        ["server", "items retrievable", "RSS MiB", "RSS B/item", "curr_items", "evictions"],
        rows, markdown))
    pairs = common.ratio_pairs(names, baselines)
    if pairs:
        rows = [[f"{subject} / {base}",
                 common.summarize(common.round_ratios(results, subject, base, "items"))
                 .format("{:.3f}"),
                 common.summarize(common.round_ratios(results, subject, base, "rss_kib"))
                 .format("{:.3f}")]
                for subject, base in pairs]
        lines += ["", common.format_table(["ratio", "items", "RSS"], rows, markdown)]
    return "\n".join(lines)


def main():
    parser = common.argument_parser(__doc__)
    parser.add_argument("--values", default="32,1024",
                        help="comma-separated value kinds: byte counts and/or json4k "
                        "(default 32,1024)")
    parser.add_argument("--memory-mb", type=int, default=64, help="-m of every server")
    parser.add_argument("--fill-factor", type=float, default=3.0,
                        help="write keys and values totalling this many times -m (default 3)")
    args, specs, baselines = common.parse_arguments(parser)
    document = {"benchmark": "memory_fill", "memory_mb": args.memory_mb,
                "fill_factor": args.fill_factor, "rounds": args.rounds,
                "servers": common.describe_servers(specs), "flags": list(common.COMMON_FLAGS),
                "results": {}}
    for kind in args.values.split(","):
        value_len, value_of = value_source(kind, args.seed)
        results = common.run_rounds(
            specs, args.rounds, lambda spec: measure(spec, args, kind, value_len, value_of))
        document["results"][kind] = results
        print(report(kind, results, specs, baselines, args.markdown), end="\n\n", flush=True)
    if args.json:
        common.write_json(args.json, document)


if __name__ == "__main__":
    main()
