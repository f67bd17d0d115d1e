"""Differential testing: the same random, pipelined command stream goes to Debian's memcached and
to the server under test, each split at its own random byte boundaries, and the replies must be
the same bytes once normalised: CAS tokens (each server numbers its own way) and the padding of
numbers after incr and decr (see normalise()).

Streams are valid commands only, drawn from a seed so that a failure can be replayed:

    python3 tests/differential.py --seeds 1000 --commands 2000

Valid also means steering clear of what is known to differ on purpose: `version` and `stats`
(values of their own), and short exptimes (the two servers' clocks tick at different moments).
"""

import argparse
import random
import re
import sys
import time

import harness

REFERENCE = "/usr/bin/memcached"
_PADDED_NUMBER = re.compile(rb"\d+ +")


def normalise(replies):
    """`replies` with what may rightly differ between two servers, or two runs, made equal: the
    CAS token of each VALUE line becomes 'CAS', and a number padded with spaces loses them.
    (memcached pads the result of an incr or decr that shortens a number in place, but writes
    a new, unpadded item when a reply still in flight holds the old one: that depends on how
    the requests were batched.)"""
    out = []
    at = 0
    while at < len(replies):
        end = replies.find(b"\r\n", at)
        if end < 0:
            break
        line = replies[at:end]
        at = end + 2
        fields = line.split(b" ")
        if fields[0] != b"VALUE" or len(fields) not in (4, 5) or not fields[3].isdigit():
            out.append(line + b"\r\n")
            continue
        data = replies[at:at + int(fields[3])]
        at += len(data) + 2
        if _PADDED_NUMBER.fullmatch(data):
            data = data.rstrip(b" ")
        fields[3:] = [b"%d" % len(data)] + [b"CAS"] * (len(fields) - 4)
        out.append(b" ".join(fields) + b"\r\n" + data + b"\r\n")
    return b"".join(out) + replies[at:]


class StreamGenerator:
    """Random valid text-protocol commands over a small key space, so that hits, misses,
    NOT_STORED, EXISTS and the like all occur."""

    def __init__(self, seed, keys=40, large_values=True):
        self.rng = random.Random(seed)
        self.large_values = large_values
        self.keys = [b"key:%d" % i for i in range(keys - 2)] + [b"k" * 250, b"\xc3\xa9t\xc3\xa9"]
        # incr and decr use only these, and append and prepend never do: after memcached has
        # padded a number or not (see normalise()), an append would make the two differ.
        self.counters = [b"num:%d" % i for i in range(8)]

    def key(self, pool=None):
        return self.rng.choice(pool or self.keys + self.counters)

    def noreply(self):
        return b" noreply" if self.rng.random() < 0.15 else b""

    def exptime(self):
        # 0, far away, or already past: never a time that runs out while the stream runs.
        return self.rng.choice([b"0", b"0", b"1000", b"2592000", b"-1"])

    def value(self, may_be_large):
        roll = self.rng.random()
        if roll < 0.3:
            return b"%d" % self.rng.randrange(0, 1 << self.rng.choice([8, 32, 64]))
        if roll < 0.4:
            return b""
        if roll < 0.98 or not (may_be_large and self.large_values):
            size = self.rng.randrange(1, 300)
        else:
            size = self.rng.randrange(10_000, 200_000)
        alphabet = b"abcxyz \r\n\x00\xff0123456789"
        return bytes(self.rng.choice(alphabet) for _ in range(min(size, 300))) * (size // 300 + 1)

    def command(self):
        rng = self.rng
        kind = rng.choices(
            ["set", "add", "replace", "append", "prepend", "cas", "get", "gets", "gat", "gats",
             "delete", "incr", "decr", "touch", "flush_all", "verbosity"],
            weights=[20, 6, 6, 5, 5, 4, 20, 8, 3, 3, 6, 6, 5, 3, 1, 1])[0]
        name = kind.encode()
        if kind in ("set", "add", "replace", "append", "prepend", "cas"):
            # Large values only replace others, so that appends never reach the size limit,
            # where each server's overhead per item decides.
            value = self.value(may_be_large=kind in ("set", "add", "replace", "cas"))
            cas = b" %d" % rng.randrange(1, 1000) if kind == "cas" else b""
            key = self.key(self.keys if kind in ("append", "prepend") else None)
            return b"%s %s %d %s %d%s%s\r\n%s\r\n" % (
                name, key, rng.choice([0, 1, 4294967295, rng.randrange(1 << 32)]),
                self.exptime(), len(value), cas, self.noreply(), value)
        if kind in ("get", "gets"):
            return name + b" " + b" ".join(self.key() for _ in range(rng.randrange(1, 8))) + b"\r\n"
        if kind in ("gat", "gats"):
            return b"%s %s %s\r\n" % (name, self.exptime(),
                                       b" ".join(self.key() for _ in range(rng.randrange(1, 4))))
        if kind == "delete":
            return b"delete %s%s\r\n" % (self.key(), self.noreply())
        if kind in ("incr", "decr"):
            delta = rng.choice([0, 1, 7, 1 << 32, (1 << 64) - 1])
            return b"%s %s %d%s\r\n" % (name, self.key(self.counters), delta, self.noreply())
        if kind == "touch":
            return b"touch %s %s%s\r\n" % (self.key(), self.exptime(), self.noreply())
        if kind == "flush_all":
            return b"flush_all%s\r\n" % self.noreply()
        return b"verbosity %d%s\r\n" % (rng.randrange(2), self.noreply())

    def stream(self, commands):
        return [self.command() for _ in range(commands)]


def split_randomly(data, rng, max_piece=64):
    """`data` cut at random byte boundaries into pieces of 1..max_piece bytes."""
    pieces = []
    at = 0
    while at < len(data):
        size = rng.randrange(1, max_piece + 1)
        pieces.append(data[at:at + size])
        at += size
    return pieces


def run(server, pieces, pause_every=50):
    """Sends the pieces one by one (with a short pause now and then, so that the server reads
    some of them apart) and returns every reply they got."""
    with server.connect(timeout=60) as c:
        for i, piece in enumerate(pieces):
            c.send(piece)
            if i % pause_every == pause_every - 1:
                time.sleep(0.001)
        c.send(harness.SENTINEL)
        return c.read_sentinel_reply()


def first_difference(a, b, context=120):
    at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    start = max(0, at - context)
    return "first difference at byte %d:\n  reference: %r\n  tested:    %r" % (
        at, a[start:at + context], b[start:at + context])


def history(commands, key, limit=8):
    """The last commands before these that name `key`, to show how its value came about."""
    named = [c for c in commands if key in c.split(b"\r\n", 1)[0].split(b" ")[1:]]
    return "".join("\n    %r" % c[:200] for c in named[-limit:])


def differing_key(command, expected, got):
    """The key of the VALUE block where two replies part, else the command's last word."""
    at = next((i for i, (x, y) in enumerate(zip(expected, got)) if x != y),
              min(len(expected), len(got)))
    header = expected.rfind(b"VALUE ", 0, at + 1)
    if header >= 0:
        return expected[header:].split(b" ", 2)[1]
    return command.split(b"\r\n", 1)[0].split(b" ")[-1]


def explain(commands, reference, tested):
    """Replays `commands` one at a time on two fresh servers and names the first command whose
    replies differ, with the earlier commands on its key."""
    with reference.connect(timeout=60) as r, tested.connect(timeout=60) as t:
        for i, command in enumerate(commands):
            expected, got = normalise(r.call(command)), normalise(t.call(command))
            if expected != got:
                key = differing_key(command, expected, got)
                return ("command %d: %r\n  reference: %r\n  tested:    %r\n  before it, on %r:%s"
                        % (i, command[:200], expected[:300], got[:300], key[:40],
                           history(commands[:i], key)))
    return "sent one at a time, every command gets the same replies: the difference depends " \
           "on how the stream was cut"


def compare(seed, count, start_reference, start_tested):
    """Runs one seeded stream on a server from each start function; None if the replies agree,
    else a report of the difference."""
    commands = StreamGenerator(seed).stream(count)
    stream = b"".join(commands)
    rng = random.Random(seed ^ 0x5EED)
    expected = normalise(run(start_reference(), split_randomly(stream, rng)))
    got = normalise(run(start_tested(), split_randomly(stream, rng)))
    if expected == got:
        return None
    return "seed %d, %d commands: replies differ (%d vs %d bytes); %s\n%s" % (
        seed, count, len(expected), len(got), first_difference(expected, got),
        explain(commands, start_reference(), start_tested()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20, help="how many streams")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--commands", type=int, default=500, help="commands per stream")
    parser.add_argument("--reference", default=REFERENCE)
    parser.add_argument("--server", default=harness.server_binary())
    args = parser.parse_args()
    failures = 0
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        servers = []

        def starter(binary):
            def start():
                servers.append(harness.Server(binary=binary))
                return servers[-1].start()
            return start

        try:
            report = compare(seed, args.commands, starter(args.reference), starter(args.server))
        finally:
            complaints = [c for c in (s.stop() for s in servers) if c]
        for problem in ([report] if report else []) + complaints:
            failures += 1
            print(problem, file=sys.stderr)
    print("%d of %d streams differ" % (failures, args.seeds))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
