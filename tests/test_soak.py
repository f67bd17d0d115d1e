"""Soak: several clients drive one small server with a mixed load for a bounded time (set, add,
replace, append, prepend, get, gets, gat, delete, incr, decr, touch; short TTLs so that items
expire, values large enough that the cache evicts, clients that reconnect now and then). Every
reply is checked as it comes: its kind must be one the command may get, and every value read must
be made of its own key's bytes. Afterwards the server is alive, its RSS stayed within -m plus the
overhead docs/storage.md states, and its item and connection counts go back to their baseline
once the clients are gone and the cache is flushed.

Abusive clients come and go throughout (Abuser): readers that pipeline gets of a large value and
never read, uploads stalled one byte short of their value, and multi-get lines of 2 MiB read to
their END; the RSS bound then includes the connection memory budget (docs/robustness.md).

The load runs twice, with compression on (the default) and off, for $MNEMO_SOAK_SECONDS each
(default 120, what the Release stage of CI runs; the sanitizer stage runs a shorter soak, see
scripts/test.sh). Run it longer by hand:

    MNEMO_SOAK_SECONDS=3600 MNEMO_SERVER=build/mnemod python3 -m pytest -q tests/test_soak.py
"""

import os
import random
import re
import socket
import threading
import time

import pytest

from harness import rss_bytes, sanitized, stats, wait_for_stat

# memcached 1.6.18 at -m 8 answers some stores under this load with "SERVER_ERROR out of memory
# storing object" (a slab class with nothing to evict), which mnemod must never do without -M;
# and the overhead bound reads mnemod's segment stats.
pytestmark = pytest.mark.mnemo_only

SECONDS = float(os.environ.get("MNEMO_SOAK_SECONDS", "120"))
CLIENTS = 6
ABUSERS = 20
MEGABYTES = 8
KEYS = 3000
COUNTERS = 64
_NUMBER = re.compile(rb"\d+ *")
# What may answer each command; a hit's value is checked separately.
STORE_REPLIES = {b"STORED\r\n", b"NOT_STORED\r\n"}
CAS_REPLIES = {b"STORED\r\n", b"EXISTS\r\n", b"NOT_FOUND\r\n"}


def value_of(key, rng, units):
    """`units` units of `key`: each the key, a colon, 8 random hex digits and a bar. The random
    digits keep snappy from shrinking the value to nothing (about 40% of it stays), so that the
    load fills the cache with compression on too; the key in every unit makes a value that holds
    another key's bytes, or bytes cut at the wrong place, fail the check."""
    return b"".join(b"%s:%08x|" % (key, rng.getrandbits(32)) for _ in range(units))


def is_value_of(key, data):
    return re.fullmatch(rb"(?:%s:[0-9a-f]{8}\|)*" % re.escape(key), data) is not None


class Client:
    """One connection's load: pipelines of random commands, each reply checked as it is read."""

    def __init__(self, server, seed, stop):
        self.server = server
        self.rng = random.Random(seed)
        self.stop = stop
        self.ops = 0
        self.conn = None

    def key(self):
        return b"soak:%d" % self.rng.randrange(KEYS)

    def counter(self):
        return b"ctr:%d" % self.rng.randrange(COUNTERS)

    def exptime(self):
        return self.rng.choice([b"0", b"0", b"1", b"2", b"3", b"5"])

    def units(self):
        # Mostly small; now and then larger than a segment (64 KiB at -m 8), stored as a chain.
        if self.rng.random() < 0.03:
            return self.rng.randrange(2000, 20_000)
        return self.rng.randrange(1, 200)

    def noreply(self):
        return self.rng.random() < 0.1

    def command(self):
        """(request bytes, how to read its reply): None for no reply, a set of exact replies,
        or 'values' / 'number' for a retrieval or an arithmetic reply."""
        rng = self.rng
        kind = rng.choices(
            ["set", "add", "replace", "append", "prepend", "cas", "get", "gets", "gat", "delete",
             "incr", "decr", "set_counter", "touch"],
            weights=[20, 4, 4, 5, 3, 2, 25, 5, 3, 6, 6, 3, 2, 4])[0]
        if kind in ("set", "add", "replace", "append", "prepend", "cas"):
            key = self.key()
            units = rng.randrange(1, 20) if kind in ("append", "prepend") else self.units()
            value = value_of(key, rng, units)
            quiet = self.noreply()
            cas = b" %d" % rng.randrange(1, 1 << 20) if kind == "cas" else b""
            request = b"%s %s %d %s %d%s%s\r\n%s\r\n" % (
                kind.encode(), key, rng.randrange(1 << 16), self.exptime(), len(value), cas,
                b" noreply" if quiet else b"", value)
            if quiet:
                return request, None
            if kind == "set":
                return request, {b"STORED\r\n"}
            return request, CAS_REPLIES if kind == "cas" else STORE_REPLIES
        if kind in ("get", "gets", "gat"):
            keys = b" ".join(self.key() for _ in range(rng.randrange(1, 6)))
            if rng.random() < 0.2:
                keys += b" " + self.counter()
            ttl = b" " + self.exptime() if kind == "gat" else b""
            return b"%s%s %s\r\n" % (kind.encode(), ttl, keys), "values"
        if kind == "delete":
            if self.noreply():
                return b"delete %s noreply\r\n" % self.key(), None
            return b"delete %s\r\n" % self.key(), {b"DELETED\r\n", b"NOT_FOUND\r\n"}
        if kind in ("incr", "decr"):
            delta = rng.choice([1, 7, 1000, (1 << 64) - 1])
            return b"%s %s %d\r\n" % (kind.encode(), self.counter(), delta), "number"
        if kind == "set_counter":
            number = b"%d" % rng.randrange(1 << 64)
            return b"set %s 0 %s %d\r\n%s\r\n" % (self.counter(), self.exptime(), len(number),
                                                 number), {b"STORED\r\n"}
        return (b"touch %s %s\r\n" % (self.key(), self.exptime()),
                {b"TOUCHED\r\n", b"NOT_FOUND\r\n"})

    def read_values(self):
        while True:
            line = self.conn.readline()
            if line == b"END\r\n":
                return
            fields = line.split(b" ")
            assert fields[0] == b"VALUE" and len(fields) in (4, 5), line
            key, size = fields[1], int(fields[3].rstrip(b"\r\n"))
            data = self.conn.read_exact(size + 2)[:-2]
            if key.startswith(b"ctr:"):
                assert _NUMBER.fullmatch(data), (key, data[:100])
            else:
                assert is_value_of(key, data), \
                    "%r holds bytes that are not its own: %r" % (key, data[:200])

    def check(self, request, expect):
        if expect is None:
            return
        if expect == "values":
            self.read_values()
            return
        line = self.conn.readline()
        if expect == "number":
            assert line == b"NOT_FOUND\r\n" or _NUMBER.fullmatch(line[:-2]), (request, line)
        else:
            assert line in expect, "%r answered %r" % (request[:100], line)

    def run(self):
        while not self.stop.is_set():
            with self.server.connect(timeout=60) as self.conn:
                for _ in range(self.rng.randrange(20, 400)):
                    if self.stop.is_set():
                        break
                    batch = [self.command() for _ in range(self.rng.randrange(1, 30))]
                    self.conn.send(b"".join(request for request, _ in batch))
                    for request, expect in batch:
                        self.check(request, expect)
                    # A noreply command at the end of a batch: make sure it ran before the next.
                    self.conn.expect(b"", b"")
                    self.ops += len(batch)


class Abuser:
    """Misbehaving clients, replaced every few seconds: ABUSERS readers pipelining 64 gets of a
    64 KiB value without reading, ABUSERS uploads stalled one byte short of a 500 KB set, and one
    multi-get line of 2 MiB, whose reply must end with END and leave the connection usable."""

    def __init__(self, server, stop):
        self.server = server
        self.stop = stop
        self.rounds = 0

    def open(self, request):
        s = socket.create_connection(("127.0.0.1", self.server.port))
        s.setblocking(False)
        try:
            s.send(request)
        except BlockingIOError:
            pass
        return s

    def run(self):
        rng = random.Random(99)
        big = bytes(rng.getrandbits(8) for _ in range(64 << 10))
        with self.server.connect(timeout=60) as c:
            c.expect(b"set abuse:big 0 0 %d\r\n%s\r\n" % (len(big), big), b"STORED\r\n")
        while not self.stop.is_set():
            conns = [self.open(b"get abuse:big\r\n" * 64) for _ in range(ABUSERS)]
            conns += [self.open(b"set abuse:stall%d 0 0 500000\r\n" % i + b"s" * 499999)
                      for i in range(ABUSERS)]
            keys = b" ".join(b"k%d" % (i % KEYS) for i in range((2 << 20) // 6))
            with self.server.connect(timeout=60) as c:
                c.send(b"get " + keys + b"\r\n")
                reply = c.read_until(b"END\r\n")
                assert reply.endswith(b"END\r\n")
                # Whole, or evicted by the load meanwhile: the connection is still in step.
                reply = c.call(b"get abuse:big\r\n")
                assert reply in (b"VALUE abuse:big 0 %d\r\n%s\r\nEND\r\n" % (len(big), big),
                                 b"END\r\n"), reply[:100]
            self.stop.wait(3.0)
            for s in conns:
                s.close()
            self.rounds += 1


class Soak:
    """What the load left behind: the server, a connection kept open through it, the stats from
    before and after, and the peak RSS seen."""

    def __init__(self, server, compression):
        self.server = server
        self.compression = compression
        self.watcher = server.connect(timeout=60)
        self.before = stats(self.watcher)
        self.rss_at_start = rss_bytes(server.pid)
        self.peak_rss = self.rss_at_start
        self.ops = 0
        self.after = None

    def run(self):
        limit = int(self.before["limit_maxbytes"])
        stop = threading.Event()
        clients = [Client(self.server, seed, stop) for seed in range(CLIENTS)]
        errors = []

        def guarded(client):
            try:
                client.run()
            except BaseException as e:  # reported below, in the test's own thread
                errors.append(e)
                stop.set()

        self.abuser = Abuser(self.server, stop)
        threads = [threading.Thread(target=guarded, args=(c,)) for c in clients]
        threads.append(threading.Thread(target=guarded, args=(self.abuser,)))
        for t in threads:
            t.start()
        deadline = time.monotonic() + SECONDS
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                assert self.server.alive(), "the server died under load"
                bytes_now = stats(self.watcher)["bytes"]
                assert int(bytes_now) <= limit, "bytes %s above limit_maxbytes" % bytes_now
                self.peak_rss = max(self.peak_rss, rss_bytes(self.server.pid))
                stop.wait(1.0)
        finally:
            stop.set()
            for t in threads:
                t.join(120)
        assert not any(t.is_alive() for t in threads), "a client hung"
        if errors:
            raise errors[0]
        assert self.server.alive(), "the server died under load"
        self.ops = sum(c.ops for c in clients)
        self.after = stats(self.watcher)
        self.settings = stats(self.watcher, b"settings")


@pytest.fixture(scope="module", params=["snappy", "off"])
def soak(request, start_module_server):
    """Runs the load once per compression mode (the default, snappy, and off) for the tests
    below, which look at what it left."""
    compression = request.param
    soak = Soak(start_module_server("-m", str(MEGABYTES), "-o", "compression=" + compression),
                compression)
    soak.run()
    yield soak
    soak.watcher.close()


def test_soak_survives_mixed_load_with_evictions_and_expiry(soak):
    s = soak.after
    assert soak.ops > 100 * SECONDS, "only %d operations in %ss" % (soak.ops, SECONDS)
    assert int(s["evictions"]) > 0, "the load never filled the cache"
    assert int(s["get_expired"]) > 0, "no item was seen to expire"
    assert int(s["bytes"]) <= int(s["limit_maxbytes"])
    compressed = int(s["compress_items"]) > 0
    assert compressed == (soak.compression == "snappy"), "compress_items %s" % s["compress_items"]
    # Back to the baseline once the clients are gone.
    connections = soak.before["curr_connections"]
    assert wait_for_stat(soak.watcher, "curr_connections", connections,
                         timeout=60) == connections
    soak.watcher.expect(b"set after 0 0 2\r\nok\r\nget after\r\n",
                        b"STORED\r\nVALUE after 0 2\r\nok\r\nEND\r\n")


def test_soak_rss_stays_within_dash_m_and_the_documented_overhead(soak):
    if sanitized(soak.server.binary):
        pytest.skip("a sanitizer's shadow memory and quarantine swamp the server's own RSS")
    s = soak.after
    # docs/storage.md, "Memory outside -m": the hash table (hash_bytes) and a 64-byte descriptor
    # per segment of the 4x reservation. docs/robustness.md, "Connection memory": the budget
    # (read_buf_mem_limit), each connection's allowance of two 16 KiB blocks, and one buffer growth
    # per worker (a 500 KB value, at most 1 MiB). Besides, 8 MiB for the allocator's arenas.
    connections = CLIENTS + 2 * ABUSERS + 2
    overhead = (int(s["hash_bytes"]) + 64 * 4 * int(s["segments_total"]) +
                int(soak.settings["read_buf_mem_limit"]) + connections * (32 << 10) +
                int(s["threads"]) * (1 << 20) + (8 << 20))
    assert soak.abuser.rounds > 0, "no abusive client came"
    limit = int(s["limit_maxbytes"])
    assert soak.peak_rss <= soak.rss_at_start + limit + overhead, (
        "peak RSS %d MiB, above %d MiB at start + -m %d MiB + %d MiB overhead"
        % (soak.peak_rss >> 20, soak.rss_at_start >> 20, limit >> 20, overhead >> 20))


def test_soak_items_return_to_zero_after_flush_all(soak):
    soak.watcher.expect(b"flush_all\r\n", b"OK\r\n")
    for name in ("curr_items", "bytes"):
        assert wait_for_stat(soak.watcher, name, "0", timeout=6) == "0", \
            "%s did not return to 0 after flush_all" % name
