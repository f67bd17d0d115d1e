"""Differential testing of the meta protocol: the same random, pipelined streams of meta commands
(mixed with text commands on the same keys) go to memcached 1.6.45 (the reference,
harness.reference_binary()) and to the server under test, each split at its own random byte boundaries, and the replies must be the same bytes
once normalised (see normalise()). Streams come from a seed, so a failure can be replayed:

    python3 tests/differential_meta.py --seeds 1000 --commands 2000

The streams use these flags, on every meta command: mg b c f h k l O q s t u v C N R T; ms b c C
F I k O q s T M (E A P R S) and N with A or P; md b C I k O q T x; ma b c C D J k M (I + D -) N O
q t T v; mn; me (with b). A CAS token that a command must match (C) is the one the server under
test itself gave: the stream names it by a placeholder, filled in per server from a capture
(`mg <key> c O<tag>`) earlier in the stream, so both servers see the same command with their own
numbers.

Left out: E (a client-chosen CAS), which would let the two servers' CAS orders differ where ms I
compares them (mnemo's CAS does not grow with time: see storage::WriteRequest); md's x on a key
named in base64, since memcached then forgets that the key came in base64 (mnemo keeps it).
tests/test_meta.py checks E.

Left out on the counters that ma works on, because memcached (seen in 1.6.18) answers them
differently depending on how the stream was batched: when a reply still in flight holds the item,
its incr writes a new item instead of changing the number in place, and that new item loses the
old one's read mark, stale mark, win and base64-key mark, is not padded, and does not get ma's T
(memcached applies T to the old, unlinked item). So counters get no h, s, R, I (md or ms), b, x
or C on mg, and ma no T; me looks at other keys only. tests/test_meta.py checks each of these one
command at a time.

Also left out: naming a key in base64 (b) on a command that creates or appends (mg or ma with N,
ms with M A or P). memcached forgets that such a key came in base64 (only ms's other modes record
it), and later echoes it raw with k, which for a binary key can break the reply line; mnemo
records it for every write that names the key with b.

Accepted differences, made equal by normalise(), each with its reason:
  - CAS values (c<n> tokens, me's cas=): each server numbers its own way. c0 is kept as it is.
  - ms's s<n>: 1.6.18 never echoed it; mnemo echoes the stored size, as the protocol document
    says. Removed from every HD/NS/EX/NF line (mg's s on HD is the same on both).
  - t<n> and l<n>: seconds, read at slightly different moments by the two servers; t keeps
    whether the item expires (-1), l is dropped.
  - me's exp, la and size: seconds read at different moments (1.6.18 printed exp negated), and
    the size of each server's own item layout; the key and fetch= are compared.
  - a number padded with spaces after decr: memcached pads in place or writes a new item
    depending on whether a reply in flight holds the old one (see differential.py).
"""

import base64
import random
import re
import sys

import harness
from differential import (ONLY_IN_A_STREAM, argument_parser, compare_replies, normalise_value,
                          reply_lines, run_seeds, send_pieces, split_randomly, unpadded,
                          value_length)
from differential import REFERENCE  # noqa: F401 (test_meta_differential.py reads it from here)

_PLACEHOLDER = re.compile(rb"\{cap(\d+)\}")
_CAPTURE = re.compile(rb"(?:HD c(\d+)|EN) Ocap(\d+)")
# A CAS for a capture that missed: far from any value either server gives out in a test.
_NO_CAS = b"9999999999"
_STATUS = (b"HD", b"NS", b"EX", b"NF", b"EN")


def _normalise_flags(tokens, drop_size):
    out = []
    for token in tokens:
        if re.fullmatch(rb"c[1-9]\d*", token):
            token = b"cCAS"
        elif re.fullmatch(rb"t\d+", token):
            token = b"t+"
        elif re.fullmatch(rb"l\d+", token):
            token = b"l"
        elif drop_size and re.fullmatch(rb"s\d+", token):
            continue
        out.append(token)
    return out


def _block_length(fields):
    """The length of the data block after a VA or VALUE line (given as its fields), else None."""
    if fields[0] == b"VA" and len(fields) >= 2 and fields[1].isdigit():
        return int(fields[1])
    return value_length(fields)


def _normalise_line(line, block):
    """One reply line and its data block (None if it has none), normalised."""
    fields = line.split(b" ")
    if fields[0] == b"VA" and block is not None:
        data = unpadded(block)
        fields = [b"VA", b"%d" % len(data)] + _normalise_flags(fields[2:], False)
        return b" ".join(fields) + b"\r\n" + data + b"\r\n"
    if block is not None:
        return normalise_value(fields, block)
    if fields[0] in _STATUS:
        return b" ".join([fields[0]] + _normalise_flags(fields[1:], True)) + b"\r\n"
    if fields[0] == b"ME" and len(fields) >= 2:
        kept = [f for f in fields[2:] if f.startswith(b"fetch=")]
        return b" ".join([b"ME", fields[1]] + kept) + b"\r\n"
    return line + b"\r\n"


def normalise(replies):
    """`replies` with the accepted differences of the module docstring made equal."""
    out = []
    end = 0
    for line, block, end in reply_lines(replies, _block_length):
        out.append(_normalise_line(line, block))
    return b"".join(out) + replies[end:]


class MetaStreamGenerator:
    """Random valid meta (and some text) commands over a small key space, so that hits, misses,
    stale items, wins, CAS matches and mismatches all occur. Each command is bytes, possibly
    holding {capN} placeholders for the CAS that capture N read."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        # Keys as stored; the binary one can only be named in base64 (b).
        self.keys = [b"m%d" % i for i in range(8)] + [b"\x00\xff bin\r\n"]
        self.counters = [b"n%d" % i for i in range(4)]
        self.captures = []  # (tag, key) of the captures issued so far
        self.opaque = 0

    def pick(self, pool):
        return self.rng.choice(pool)

    def key_token(self, key, flags):
        """The key as a command names it: in base64 with b (always for the binary key). Never
        a counter: memcached's incr forgets that a key came in base64 when it writes a new item
        instead of changing the number in place, which depends on the batching (see mg)."""
        if key == self.keys[-1] or (key not in self.counters and self.rng.random() < 0.15):
            flags.append(b"b")
            return base64.b64encode(key)
        return key

    def text_key(self, pool):
        """A key of `pool` that can be named without b."""
        return self.pick([key for key in pool if key != self.keys[-1]])

    def ttl(self):
        # Never a TTL that runs out while the stream runs. R tokens (50, 200, 5000) are far from
        # every TTL, so that whether R wins does not depend on when each server's clock ticks.
        return self.rng.choice([b"0", b"100", b"1000", b"2592000", b"-1"])

    def opaque_flag(self):
        self.opaque += 1
        return b"O%d" % self.opaque

    def cas_flag(self, key):
        """C with the CAS of an earlier capture, of this key when there is one."""
        same = [tag for tag, k in self.captures if k == key]
        if same and self.rng.random() < 0.8:
            tag = same[-1] if self.rng.random() < 0.7 else self.pick(same)
        elif self.captures:
            tag = self.pick(self.captures)[0]
        else:
            return b"C" + _NO_CAS
        return b"C{cap%d}" % tag

    def some(self, optional):
        """A random subset of `optional` (byte strings, or callables returning one)."""
        chosen = [f() if callable(f) else f for f in optional if self.rng.random() < 0.3]
        return chosen

    def line(self, command, key_token, flags, extra=b""):
        self.rng.shuffle(flags)
        parts = [command, key_token] + ([extra] if extra else []) + flags
        return b" ".join(parts) + b"\r\n"

    def value(self, numeric=False):
        if numeric or self.rng.random() < 0.2:
            return b"%d" % self.rng.randrange(0, 1 << self.rng.choice([8, 32, 64]))
        size = self.rng.choice([0, 1, 5, 40, 300])
        alphabet = b"abcxyz \r\n\x000123456789\xff"
        return bytes(self.rng.choice(alphabet) for _ in range(size))

    def capture(self):
        key = self.pick(self.keys + self.counters)
        tag = len(self.captures)
        self.captures.append((tag, key))
        flags = []
        token = self.key_token(key, flags)
        return b" ".join([b"mg", token, b"c", b"Ocap%d" % tag] + flags) + b"\r\n"

    def mg(self):
        vivify = self.rng.random() < 0.3
        key = self.pick(self.keys + self.counters)
        flags = []
        if vivify:  # see the docstring: never with b
            key = self.text_key(self.keys + self.counters)
            token = key
            flags.append(b"N" + self.ttl())
        else:
            token = self.key_token(key, flags)
        # Not h on a counter: memcached's incr keeps an item's read mark when it changes the
        # number in place and drops it when it must write a new item (while a reply in flight
        # holds the old one), which depends on how the stream was batched.
        # For the same reason, no R (a win) on a counter, and no s: its value's size shows
        # whether decr padded it in place (normalise makes the value itself equal).
        per_key = [] if key in self.counters else [
            b"h", b"s", lambda: b"R" + self.pick([b"50", b"200", b"5000"]),
            lambda: self.cas_flag(key)]
        flags += self.some([b"v", b"t", b"c", b"f", b"l", b"k", self.opaque_flag, b"q", b"u",
                            lambda: b"T" + self.ttl()] + per_key)
        return self.line(b"mg", token, flags)

    def ms(self):
        counter = self.rng.random() < 0.2
        key = self.pick(self.counters if counter else self.keys)
        value = self.value(numeric=counter)
        # Counters are only ever set or incremented: padding after decr (see normalise) would
        # differ once appended to. Appends never name the key with b (see the docstring).
        mode = self.pick([b"S"] if counter else [b"S", b"E", b"A", b"P", b"R"])
        flags = []
        if mode in (b"A", b"P"):
            key = self.text_key(self.keys)
            token = key
        else:
            token = self.key_token(key, flags)
        flags += self.some([lambda: b"T" + self.ttl(),
                            lambda: b"F%d" % self.pick([0, 1, 4294967295]), b"c", b"k",
                            self.opaque_flag, b"q", b"s"])
        if mode != b"S" or self.rng.random() < 0.2:
            flags.append(b"M" + mode)
        if mode in (b"A", b"P") and self.rng.random() < 0.3:
            flags.append(b"N" + self.ttl())
        same_key = [tag for tag, k in self.captures if k == key]
        if same_key and not counter and self.rng.random() < 0.2:
            # I with an earlier CAS of the same key: older on both servers. Another key's CAS
            # is older or newer by each server's own numbering (see SegmentCache::Older).
            flags += [b"C{cap%d}" % self.pick(same_key), b"I"]
        elif self.rng.random() < 0.3:
            flags.append(self.cas_flag(key))
        return self.line(b"ms", token, flags, b"%d" % len(value)) + value + b"\r\n"

    def md(self):
        key = self.pick(self.keys + self.counters)
        flags = []
        token = self.key_token(key, flags)
        flags += self.some([b"q", b"k", self.opaque_flag, lambda: self.cas_flag(key),
                            lambda: b"T" + self.pick([b"3000", b"1000"])])
        # Invalidation more often than deletion, so that stale items are around; not of counters,
        # whose stale mark a new item from incr drops or not as the batching goes (see mg).
        if key not in self.counters and self.rng.random() < 0.6:
            flags.append(b"I")
        elif key not in self.counters and b"b" not in flags and self.rng.random() < 0.3:
            # Not on a key named in base64: memcached's x forgets that mark (see the docstring).
            flags.append(b"x")
        return self.line(b"md", token, flags)

    def ma(self):
        key = self.pick(self.counters)
        flags = []
        if self.rng.random() < 0.3:  # see the docstring: N never with b
            flags.append(b"N" + self.ttl())
            token = key
        else:
            token = self.key_token(key, flags)
        flags += self.some([lambda: b"J%d" % self.rng.randrange(1000),
                            lambda: b"D%d" % self.pick([0, 1, 7, (1 << 64) - 1]),
                            lambda: b"M" + self.pick([b"I", b"+", b"D", b"-"]),
                            self.opaque_flag, b"q", b"t", b"c", b"v", b"k",
                            lambda: self.cas_flag(key)])
        return self.line(b"ma", token, flags)

    def me(self):
        key = self.pick(self.keys)  # fetch= of a counter depends on batching (see mg)
        if key == self.keys[-1] or self.rng.random() < 0.2:
            return b"me " + base64.b64encode(key) + b" b\r\n"
        return b"me " + key + b"\r\n"

    def text(self):
        rng = self.rng
        key = self.pick(self.keys[:-1])
        kind = rng.choice(["set", "get", "gets", "delete", "touch", "incr"])
        if kind == "set":
            value = self.value()
            return b"set %s %d %s %d\r\n%s\r\n" % (key, rng.choice([0, 7]), self.ttl(), len(value),
                                                   value)
        if kind in ("get", "gets"):
            return b"%s %s\r\n" % (kind.encode(), b" ".join(rng.sample(self.keys[:-1], 3)))
        if kind == "delete":
            return b"delete %s\r\n" % key
        if kind == "touch":
            return b"touch %s %s\r\n" % (key, self.ttl())
        return b"incr %s 3\r\n" % self.pick(self.counters)

    def command(self):
        maker = self.rng.choices(
            [self.capture, self.mg, self.ms, self.md, self.ma, self.me, self.text,
             lambda: b"mn\r\n"],
            weights=[8, 30, 20, 10, 12, 3, 8, 2])[0]
        return maker()

    def stream(self, commands):
        return [self.command() for _ in range(commands)]


def _resolve(command, cas_by_tag):
    return _PLACEHOLDER.sub(lambda m: cas_by_tag[int(m.group(1))], command)


def run(server, commands, rng):
    """Sends `commands` pipelined and split at random points, in batches that end before a
    command whose placeholders are not known yet; returns every reply."""
    cas_by_tag = {}
    replies = []
    with server.connect(timeout=60) as conn:
        at = 0
        while at < len(commands):
            batch = []
            while at < len(commands):
                needed = [int(t) for t in _PLACEHOLDER.findall(commands[at])]
                if any(tag not in cas_by_tag for tag in needed):
                    if batch:
                        break
                    raise AssertionError("capture %r is not before its use" % needed)
                batch.append(_resolve(commands[at], cas_by_tag))
                at += 1
            send_pieces(conn, split_randomly(b"".join(batch), rng))
            conn.send(harness.SENTINEL)
            got = conn.read_sentinel_reply()
            replies.append(got)
            for cas, tag in _CAPTURE.findall(got):
                cas_by_tag[int(tag)] = cas or _NO_CAS
            for command in batch:
                match = re.match(rb"mg \S+ c Ocap(\d+)", command)
                if match and int(match.group(1)) not in cas_by_tag:
                    raise AssertionError("no reply to capture %r in %r" % (command, got[-300:]))
    return b"".join(replies)


def explain(commands, reference, tested):
    """Replays `commands` one at a time on two fresh servers and names the first command whose
    replies differ."""
    cas = ({}, {})
    with reference.connect(timeout=60) as r, tested.connect(timeout=60) as t:
        for i, command in enumerate(commands):
            got = []
            for conn, known in zip((r, t), cas):
                reply = conn.call(_resolve(command, known))
                for value, tag in _CAPTURE.findall(reply):
                    known[int(tag)] = value or _NO_CAS
                got.append(normalise(reply))
            if got[0] != got[1]:
                return "command %d: %r\n  reference: %r\n  tested:    %r" % (
                    i, command[:200], got[0][:300], got[1][:300])
    return ONLY_IN_A_STREAM


def compare(seed, count, start_reference, start_tested):
    """Runs one seeded stream on a server from each start function; None if the replies agree,
    else a report of the difference."""
    commands = MetaStreamGenerator(seed).stream(count)
    rng = random.Random(seed ^ 0x3E7A)
    return compare_replies(seed, commands, lambda server: normalise(run(server, commands, rng)),
                           explain, start_reference, start_tested)


def main():
    return run_seeds(argument_parser(__doc__.split("\n\n")[0]).parse_args(), compare)


if __name__ == "__main__":
    sys.exit(main())
