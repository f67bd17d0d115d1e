"""Differential testing: the same random, pipelined command stream goes to memcached 1.6.45 (the
reference: harness.reference_binary()) and to the server under test, each split at its own random
byte boundaries, and the replies must be the same bytes once normalised: CAS tokens (each server
numbers its own way) and the padding of numbers after incr and decr (see normalise()).

Streams are valid commands only, drawn from a seed so that a failure can be replayed:

    python3 tests/differential.py --seeds 1000 --commands 2000

Valid also means steering clear of what is known to differ on purpose: `version` and `stats`
(values of their own), and short exptimes (the two servers' clocks tick at different moments).

differential_meta.py does the same for the meta protocol, with this module's machinery: cutting
replies into lines and blocks, sending at random boundaries, reporting, the command line.
"""

import argparse
import random
import re
import sys
import threading
import time

import harness

REFERENCE = harness.reference_binary()
_PADDED_NUMBER = re.compile(rb"\d+ +")


def reply_lines(replies, block_length):
    """Cuts `replies` into reply lines: yields (line, block, end) for each, where `block` is the
    data block after the line (block_length(fields of the line) bytes, the line's own CRLF
    excluded; None when that returns None) and `end` where the next line begins. Bytes after the
    last CRLF are not yielded; replies[end:] holds them."""
    at = 0
    while True:
        end = replies.find(b"\r\n", at)
        if end < 0:
            return
        line = replies[at:end]
        at = end + 2
        length = block_length(line.split(b" "))
        block = None
        if length is not None:
            block = replies[at:at + length]
            at += len(block) + 2
        yield line, block, at


def value_length(fields):
    """The length of the data block after a VALUE line (given as its fields), else None."""
    if fields[0] == b"VALUE" and len(fields) in (4, 5) and fields[3].isdigit():
        return int(fields[3])
    return None


def unpadded(data):
    """`data` without the spaces that pad a number (see normalise())."""
    return data.rstrip(b" ") if _PADDED_NUMBER.fullmatch(data) else data


def normalise_value(fields, block):
    """A VALUE line (its fields) and its data block, normalised as normalise() says."""
    data = unpadded(block)
    fields[3:] = [b"%d" % len(data)] + [b"CAS"] * (len(fields) - 4)
    return b" ".join(fields) + b"\r\n" + data + b"\r\n"


def normalise(replies):
    """`replies` with what may rightly differ between two servers, or two runs, made equal: the
    CAS token of each VALUE line becomes 'CAS', and a number padded with spaces loses them.
    (memcached pads the result of an incr or decr that shortens a number in place, but writes
    a new, unpadded item when a reply still in flight holds the old one: that depends on how
    the requests were batched.)"""
    out = []
    end = 0
    for line, block, end in reply_lines(replies, value_length):
        out.append(line + b"\r\n" if block is None else normalise_value(line.split(b" "), block))
    return b"".join(out) + replies[end:]


class StreamGenerator:
    """Random valid text-protocol commands over a small key space, so that hits, misses,
    NOT_STORED, EXISTS and the like all occur."""

    def __init__(self, seed, keys=40, large_values=True):
        self.rng = random.Random(seed)
        self.large_values = large_values
        self.key_count = keys
        self.name_keys(generation=0)

    def name_keys(self, generation):
        """Names the key space of `generation`: a flush_all starts a new one, whose keys no
        earlier command named. memcached 1.6.45's flush_all without a delay removes what was
        stored during its current second only by a walk of its LRU lists from their heads,
        which skips an item whose lock is taken (its LRU maintainer takes them) and stops at
        the first item older than that second (a list is not in time order once items move
        between lists): which of those items survive it depends on its threads' timing. Reading
        them again would compare that, not mnemod (test_flush.py checks what a flush removes)."""
        tag = b"" if generation == 0 else b"%d/" % generation
        self.keys = [b"%skey:%d" % (tag, i) for i in range(self.key_count - 2)] + [
            tag + b"k" * (250 - len(tag)), tag + b"\xc3\xa9t\xc3\xa9"]
        # incr and decr use only these, and append and prepend never do: after memcached has
        # padded a number or not (see normalise()), an append would make the two differ.
        self.counters = [b"%snum:%d" % (tag, i) for i in range(8)]
        self.generation = generation

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
            # A token no item has: memcached numbers CAS from 1 up, one per store, so a small
            # token would match one of its items by chance and none of mnemod's.
            cas = b" %d" % rng.randrange(1 << 40, 1 << 48) if kind == "cas" else b""
            key = self.key(self.keys if kind in ("append", "prepend") else None)
            if key in self.counters and value.isspace():
                # memcached's incr reads a number with strtoull, which skips blanks: past a
                # value of blanks, and its CRLF, into whatever memory follows the item.
                value = b"x" + value[1:]
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
            self.name_keys(self.generation + 1)
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


def send_pieces(conn, pieces, pause_every=50):
    """Sends the pieces one by one, with a short pause now and then, so that the server reads
    some of them apart."""
    for i, piece in enumerate(pieces):
        conn.send(piece)
        if i % pause_every == pause_every - 1:
            time.sleep(0.001)


def run(server, pieces, pause_every=50):
    """Sends the pieces (see send_pieces()) and returns every reply they got."""
    with server.connect(timeout=60) as c:
        send_pieces(c, pieces, pause_every)
        c.send(harness.SENTINEL)
        return c.read_sentinel_reply()


# What explain() says when every command gets the same replies on its own.
ONLY_IN_A_STREAM = ("sent one at a time, every command gets the same replies: the difference "
                    "depends on how the stream was cut")


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
    return ONLY_IN_A_STREAM


def compare_replies(seed, commands, replies_from, explain, start_reference, start_tested):
    """Runs `commands` on a server from each start function, replies_from(server) sending them
    and returning the normalised replies; None if those agree, else a report of where they part
    and of explain(commands, reference, tested) on two fresh servers."""
    expected = replies_from(start_reference())
    got = replies_from(start_tested())
    if expected == got:
        return None
    return "seed %d, %d commands: replies differ (%d vs %d bytes); %s\n%s" % (
        seed, len(commands), len(expected), len(got), first_difference(expected, got),
        explain(commands, start_reference(), start_tested()))


def compare(seed, count, start_reference, start_tested):
    """Runs one seeded stream on a server from each start function; None if the replies agree,
    else a report of the difference."""
    commands = StreamGenerator(seed).stream(count)
    stream = b"".join(commands)
    rng = random.Random(seed ^ 0x5EED)
    return compare_replies(seed, commands,
                           lambda server: normalise(run(server, split_randomly(stream, rng))),
                           explain, start_reference, start_tested)


# --- Malformed streams ---------------------------------------------------------------------------
#
# Valid commands mixed with malformed ones, each followed by a marker (`version`), so that the
# replies fall into one segment per command, and a server that resynchronises at another point
# than the reference (takes a command for data, or data for a command) shifts every segment after
# it. A malformed command's bytes are self-contained: however either server reads them, the next
# command starts right after them. The stream ends with `quit`, so that every reply has been sent
# when the connection closes.
#
# Left out, each checked on a connection of its own elsewhere (test_bad_input.py,
# test_limits_protocols.py): what closes the connection (a line over 2048 bytes, an HTTP request
# line, a first byte 0x80); values within 60 bytes of -I, which memcached refuses for its item
# header and mnemod stores; a key too long in get, gets, gat or gats (see long_key()); and the
# meta protocol (differential_meta.py).
#
#     python3 tests/differential.py --malformed --seeds 1000 --commands 2000

MARKER = b"version\r\n"
_BAD_FORMAT = b"CLIENT_ERROR bad command line format\r\n"

# Where mnemod answers a malformed command other than memcached 1.6.45 on purpose (see
# text_parser.h), the replies it must give instead, and why. Every other malformed command must get
# the same replies as from 1.6.45, byte for byte, which is stricter than the same class of reply.
ACCEPTED_DIFFERENCES = {
    "control_byte_key": (
        "a key holding a control byte (below 0x20, or 0x7f) makes the command an ERROR (its data "
        "block swallowed); memcached accepts the key. Such keys are used once only, so what "
        "memcached stores under them changes no other reply.",
        lambda reference, tested: tested == b"ERROR\r\n"),
    "delete_token_count": (
        "a delete without a key, or with more than two tokens after it, is an ERROR as in "
        "1.6.18, for libmemcached's memccapable; 1.6.45 answers a format error, or runs it.",
        lambda reference, tested: tested == b"ERROR\r\n"),
    "nul_in_line": (
        "a NUL byte makes the line an ERROR; memcached 1.6.45 takes it as a byte of its token "
        "(1.6.18 ended the line there). The keys around the NUL are used once only.",
        lambda reference, tested: tested == b"ERROR\r\n"),
}
SAME = "same"  # the rule of valid commands and of malformed ones with no accepted difference


class MalformedStreamGenerator(StreamGenerator):
    """StreamGenerator's valid commands mixed with malformed ones: unknown commands, wrong token
    counts, bad numbers, long keys, keys with control bytes or NUL, bad data chunks, values too
    large, with and without noreply. Each element is (bytes, rule), the rule being SAME or a key
    of ACCEPTED_DIFFERENCES."""

    STORAGE = [b"set", b"add", b"replace", b"append", b"prepend", b"cas"]

    def __init__(self, seed, malformed_share=0.4):
        super().__init__(seed)
        self.malformed_share = malformed_share
        self.fresh = 0
        self.makers = [
            (self.unknown_command, 8), (self.wrong_token_count, 8), (self.bad_byte_count, 6),
            (self.wrapped_byte_count, 1), (self.refused_header, 8), (self.control_byte_key, 5),
            (self.nul_in_line, 3), (self.long_key, 5), (self.bad_data_chunk, 10),
            (self.too_large, 1), (self.bad_delta, 5), (self.bad_exptime, 5),
            (self.bad_delete, 4), (self.bad_verbosity, 2), (self.odd_spacing, 4),
        ]

    def fresh_key(self, inner=b""):
        """A key no other command names; `inner` goes in its middle."""
        self.fresh += 1
        return b"odd:%d%sx" % (self.fresh, inner)

    def word(self, size=None):
        """Letters that name no command: a data block that memcached parses as a command answers
        ERROR (or, one or two letters, CLIENT_ERROR bad command line format: a line under four
        bytes) and changes nothing."""
        size = self.rng.randrange(1, 12) if size is None else size
        return bytes(self.rng.choice(b"qxzjw") for _ in range(size))

    def quiet(self):
        return b" noreply" if self.rng.random() < 0.25 else b""

    def storage_line(self, key, count, middle=None, tail=b""):
        """A storage command's line: `middle` replaces its flags and exptime."""
        name = self.rng.choice(self.STORAGE)
        cas = b" %d" % self.rng.randrange(1, 1000) if name == b"cas" else b""
        middle = middle or b"%d %s" % (self.rng.randrange(1 << 16), self.exptime())
        return b"%s %s %s %s%s%s\r\n" % (name, key, middle, count, cas, tail)

    def unknown_command(self):
        key = self.key()
        return self.rng.choice([
            b"bogus", b"GET " + key, b"Set " + key + b" 0 0 1", b"gett " + key, b"", b" " * 5,
            b"\t", b"quitx", b"stats bogus", b"mget " + key, b"VERSION", b"get_" + key,
        ]) + b"\r\n", SAME

    def wrong_token_count(self):
        """Too few tokens, a format error that swallows nothing (a data block after it is taken
        as a command by both servers), or more tokens than the command reads, which it ignores."""
        key = self.key()
        rng = self.rng
        if rng.random() < 0.3:
            return rng.choice([
                b"set %s 0 0 1 2 3 4\r\nw\r\n", b"touch %s 10 noreply extra\r\n",
                b"set %s 0 0 5 noreply extra\r\nwwwww\r\n", b"delete %s 0\r\n",
                b"delete %s x y\r\n", b"incr %s 1 2 3\r\n",
            ]) % key, SAME
        if rng.random() < 0.1:
            return rng.choice([b"delete\r\n", b"delete %s a b c\r\n" % self.fresh_key()]), \
                "delete_token_count"
        line = rng.choice([
            b"set %s 0 0" % key, b"add %s 0" % key, b"incr %s" % key, b"decr", b"touch %s" % key,
            b"get", b"gets", b"gat", b"gats 10", b"verbosity", b"set", b"cas %s" % key,
        ])
        data = b"%s\r\n" % self.word() if rng.random() < 0.5 else b""
        # A cas without its unique has a byte count: its block is swallowed, so it must be there.
        if rng.random() < 0.2:
            line, data = b"cas %s 0 0 1" % key, b"w\r\n"
        return line + b"\r\n" + data, SAME

    def bad_byte_count(self):
        count = self.rng.choice([b"-1", b"abc", b"4294967295", b"2147483647", b"2147483646",
                                 b"1.5", b"0x10", b"-0x1", b"1a"])
        data = b"%s\r\n" % self.word() if self.rng.random() < 0.5 else b""
        return self.storage_line(self.key(), count, tail=self.quiet()) + data, SAME

    def wrapped_byte_count(self):
        return b"set %s 0 0 4294967297\r\nx\r\n" % self.fresh_key(), SAME

    def refused_header(self):
        size = self.rng.randrange(0, 20)
        count = b"%d" % size
        rng = self.rng
        bad = rng.choice(["flags", "exptime", "cas", "key"])
        key = b"k" * 251 if bad == "key" else self.key()
        if bad == "cas":
            token = rng.choice([b"abc", b"-1", b"18446744073709551616", b"noreply"])
            line = b"cas %s 0 0 %s %s%s\r\n" % (key, count, token, self.quiet())
        else:
            flags = rng.choice([b"abc", b"-1", b"1.5", b"4294967296x"])
            exptime = rng.choice([b"abc", b"1.5", b"1e3"])
            middle = {"flags": b"%s 0" % flags, "exptime": b"0 %s" % exptime,
                      "key": b"0 0"}[bad]
            line = self.storage_line(key, count, middle, tail=self.quiet())
        return line + self.word(size) + b"\r\n", SAME

    def control_byte_key(self):
        key = self.fresh_key(self.rng.choice([b"\x01", b"\t", b"\x1f", b"\x7f", b"\x0b"]))
        rng = self.rng
        kind = rng.choice(["storage", "get", "other"])
        if kind == "storage":
            size = rng.randrange(0, 10)
            return self.storage_line(key, b"%d" % size) + self.word(size) + b"\r\n", \
                "control_byte_key"
        if kind == "get":
            keys = [self.key() for _ in range(rng.randrange(0, 3))] + [key]
            rng.shuffle(keys)
            return b"%s %s\r\n" % (rng.choice([b"get", b"gets"]), b" ".join(keys)), \
                "control_byte_key"
        return rng.choice([b"delete %s", b"incr %s 1", b"decr %s 1", b"touch %s 10",
                           b"gat 10 %s"]) % key + b"\r\n", "control_byte_key"

    def nul_in_line(self):
        key = self.fresh_key()
        # Not a key right after the NUL: 1.6.45 reads the NUL as a key byte, and a key over 250
        # bytes in a get drops the replies still queued (see long_key()).
        after = self.rng.choice([b"", b"x", b" " + self.key()])
        line = self.rng.choice([b"get %s", b"gets %s", b"delete %s", b"touch %s"]) % key
        return line + b"\x00" + after + b"\r\n", "nul_in_line"

    def long_key(self):
        # Not in get, gets, gat or gats: there memcached also drops the replies still queued for
        # the commands before it in the same read, which depends on how the stream was cut
        # (test_bad_input.py checks mnemod's reply on a connection of its own).
        long = b"k" * self.rng.choice([251, 300, 1000])
        return self.rng.choice([b"delete %s", b"incr %s 1", b"decr %s 1", b"touch %s 10"]) % \
            long + self.quiet() + b"\r\n", SAME

    def bad_data_chunk(self):
        """A block longer than declared, ending in a bare newline, or shorter than declared:
        the two bytes after the declared count are not CRLF, and what follows them is one word
        and a CRLF, so both servers answer "bad data chunk" and then ERROR."""
        rng = self.rng
        shape = rng.choice(["longer", "bare_newline", "shorter"])
        if shape == "shorter":
            sent = rng.randrange(0, 10)
            size = sent + rng.randrange(2, 12)
            data = self.word(sent) + b"\r\n" + self.word(size - sent + 3) if sent else \
                self.word(size + 3)
        else:
            size = rng.randrange(0, 12)
            extra = self.word() if shape == "longer" else b"\n" + self.word()
            data = self.word(size) + extra
        return self.storage_line(self.key(), b"%d" % size, tail=self.quiet()) + data + b"\r\n", \
            SAME

    def too_large(self):
        # Well above -I (1 MiB) for both: memcached also counts its item header and the key.
        size = self.rng.randrange((1 << 20) + 100, (1 << 20) + 60_000)
        return self.storage_line(self.key(), b"%d" % size, tail=self.quiet()) + \
            b"z" * size + b"\r\n", SAME

    def bad_delta(self):
        delta = self.rng.choice([b"abc", b"-1", b"18446744073709551616", b"1.5", b"+-1", b"0x1"])
        name = self.rng.choice([b"incr", b"decr"])
        return b"%s %s %s%s\r\n" % (name, self.key(self.counters), delta, self.quiet()), SAME

    def bad_exptime(self):
        exptime = self.rng.choice([b"abc", b"1.5", b"-abc", b"99999999999999999999"])
        rng = self.rng
        line = rng.choice([
            b"touch %s %s%s" % (self.key(), exptime, self.quiet()),
            b"gat %s %s" % (exptime, self.key()), b"gats %s %s" % (exptime, self.key()),
            b"flush_all %s%s" % (exptime, self.quiet()),
        ])
        return line + b"\r\n", SAME

    def bad_delete(self):
        return self.rng.choice([b"delete %s x", b"delete %s 10", b"delete %s noreply extra",
                                b"delete %s 0 noreply", b"delete %s 0", b"delete %s 10 noreply"]
                               ) % self.key() + b"\r\n", SAME

    def bad_verbosity(self):
        return self.rng.choice([b"verbosity abc", b"verbosity abc noreply", b"verbosity -1",
                                b"verbosity 1 2 3"]) + b"\r\n", SAME

    def odd_spacing(self):
        """Valid commands with spaces to spare, which both servers skip."""
        return self.rng.choice([b" get %s", b"get  %s", b"get %s ", b"gets %s   ",
                                b"delete  %s", b"touch %s  0"]) % self.key() + b"\r\n", SAME

    def element(self):
        if self.rng.random() >= self.malformed_share:
            return self.command(), SAME
        makers, weights = zip(*self.makers)
        return self.rng.choices(makers, weights)[0]()

    def elements(self, count):
        return [self.element() for _ in range(count)]


def segments(replies):
    """The replies cut after each marker's reply (VERSION ...), reading VALUE blocks by their
    length so that a value never passes for a marker; the bytes after the last marker come
    last."""
    cut = []
    start = 0
    for line, _, end in reply_lines(replies, value_length):
        if line.startswith(b"VERSION "):
            cut.append(replies[start:end - len(line) - 2])
            start = end
    return cut + [replies[start:]]


def run_until_closed(server, pieces, pause_every=50):
    """Sends the pieces (the last ends with quit) while a thread reads, so that neither side
    waits for the other; returns everything read until the server closed."""
    with server.connect(timeout=60) as c:
        received = []
        reader = threading.Thread(target=lambda: received.append(c.read_to_eof(timeout=120)))
        reader.start()
        try:
            send_pieces(c, pieces, pause_every)
        finally:
            reader.join(180)
        assert received, "the server did not close the connection after quit"
        return received[0]


def compare_malformed(seed, count, start_reference, start_tested):
    """Runs one seeded stream of valid and malformed commands on a server from each start
    function; None if every command's replies agree (under its rule), else a report of the first
    that does not."""
    elements = MalformedStreamGenerator(seed).elements(count)
    stream = b"".join(request + MARKER for request, _ in elements) + b"quit\r\n"
    rng = random.Random(seed ^ 0xBAD)
    # Pieces of up to 64 bytes, longer in a stream with values too large (a megabyte each), so
    # that sending them takes well under a second.
    max_piece = max(64, len(stream) // 4000)
    reference = segments(run_until_closed(start_reference(),
                                          split_randomly(stream, rng, max_piece)))
    tested = segments(run_until_closed(start_tested(), split_randomly(stream, rng, max_piece)))
    for i, (request, rule) in enumerate(elements):
        if i >= min(len(reference), len(tested)) - 1:
            return "seed %d: the replies end after %d (reference) and %d (tested) of %d markers" \
                % (seed, len(reference) - 1, len(tested) - 1, count)
        expected, got = normalise(reference[i]), normalise(tested[i])
        if rule == SAME:
            agree = expected == got
            why = "the same replies as memcached"
        else:
            why, check = ACCEPTED_DIFFERENCES[rule]
            agree = check(expected, got)
        if not agree:
            before = "".join("\n    %r" % r[:120] for r, _ in elements[max(0, i - 3):i])
            return ("seed %d, command %d of %d: %r\n  rule: %s (%s)\n  reference: %r\n"
                    "  tested:    %r\n  the commands before it:%s"
                    % (seed, i, count, request[:300], rule, why, expected[:300], got[:300],
                       before))
    if len(reference) != len(tested) or reference[-1] or tested[-1]:
        return "seed %d: replies after the last marker: reference %r, tested %r" % (
            seed, reference[count:], tested[count:])
    return None


def argument_parser(description):
    """The command line shared with differential_meta.py; run_seeds() takes what it parses."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seeds", type=int, default=20, help="how many streams")
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--commands", type=int, default=500, help="commands per stream")
    parser.add_argument("--reference", default=REFERENCE)
    parser.add_argument("--server", default=harness.server_binary())
    return parser


def run_seeds(args, compare_stream):
    """Runs compare_stream(seed, commands, start_reference, start_tested) for each seed of
    `args`, each server started afresh and stopped after; prints every difference and every
    complaint of a stopped server, and returns the exit status."""
    failures = 0
    for done, seed in enumerate(range(args.first_seed, args.first_seed + args.seeds)):
        # Progress on stderr, one line rewritten in place on a terminal.
        end = "\r" if sys.stderr.isatty() else "\n"
        print("seed %d (%d of %d), %d differing so far" % (seed, done + 1, args.seeds, failures),
              end=end, file=sys.stderr, flush=True)
        servers = []

        def starter(binary):
            def start():
                servers.append(harness.Server(binary=binary))
                return servers[-1].start()
            return start

        try:
            report = compare_stream(seed, args.commands, starter(args.reference),
                                    starter(args.server))
        finally:
            complaints = [c for c in (s.stop() for s in servers) if c]
        for problem in ([report] if report else []) + complaints:
            failures += 1
            print(problem, file=sys.stderr)
    print("%d of %d streams differ" % (failures, args.seeds))
    return 1 if failures else 0


def main():
    parser = argument_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--malformed", action="store_true",
                        help="streams of valid and malformed commands (compare_malformed)")
    args = parser.parse_args()
    return run_seeds(args, compare_malformed if args.malformed else compare)


if __name__ == "__main__":
    sys.exit(main())
