"""Dumps of the cache's items: `stats cachedump CLASS LIMIT`, `lru_crawler metadump` and
`lru_crawler mgdump`, as memcached 1.6.45 answers them (src/server/item_dump.h). The same commands
go to mnemod and to the reference memcached: error replies must be the same bytes; listings must
have the same lines in the same format and name the same keys (their order is each server's own,
and la, cas and size are each one's bookkeeping). memcached-tool's `dump` must find every key, and
a dump of 200k items must neither grow mnemod's memory nor keep other connections waiting."""

import os
import re
import shutil
import subprocess
import threading
import time

import pytest

import harness

REFERENCE = harness.reference_binary()
MEMCACHED_TOOL = "/usr/share/memcached/scripts/memcached-tool"

CACHEDUMP_LINE = re.compile(rb"ITEM (\S+) \[(\d+) b; (\d+) s\]\r\n")
METADUMP_LINE = re.compile(rb"key=(\S+) exp=(-1|\d+) la=(\d+) cas=(\d+) fetch=(yes|no) cls=1 "
                           rb"size=(\d+) flags=(\d+) \n")
MGDUMP_LINE = re.compile(rb"mg (\S+)( b)?\r\n")

# Keys of every kind a dump must handle: plain, needing URI-encoding, UTF-8, and binary (stored
# through the meta protocol's base64).
SETUP = (b"set plain 5 1000 3\r\nabc\r\n"
         b"set b%r 0 0 1\r\nx\r\n"
         b"set a\xc3\xa9 7 0 2\r\nzz\r\n"
         b"ms Zm9vYmFy 2 b\r\nzz\r\n"
         b"get plain\r\n")


def reference_is_1_6_45():
    if not os.access(REFERENCE, os.X_OK):
        return False
    out = subprocess.run([REFERENCE, "-V"], capture_output=True, text=True).stdout
    return "1.6.45" in out


needs_reference = pytest.mark.skipif(not reference_is_1_6_45(),
                                     reason="needs memcached 1.6.45 as the reference")


def load(conn, request=SETUP):
    conn.call(request)


def dump(conn, line, end):
    conn.send(line)
    return conn.read_until(end, timeout=30)


def lines(text, pattern, head=b"", end=b"END\r\n"):
    """Splits a listing into its lines' matches, checking the head and end lines and that every
    line in between matches `pattern`."""
    assert text.startswith(head) and text.endswith(end), text
    body = text[len(head):len(text) - len(end)]
    found = []
    pos = 0
    while pos < len(body):
        match = pattern.match(body, pos)
        assert match, "line at %d does not match: %r" % (pos, body[pos:pos + 200])
        found.append(match)
        pos = match.end()
    return found


def settle(conn, count=3):
    """Waits until memcached's cachedump, which lists only its COLD LRU, shows `count` items:
    its LRU maintainer moves new items there within a second or so. mnemod lists them at once."""
    deadline = time.monotonic() + 10
    while True:
        text = dump(conn, b"stats cachedump 1 0\r\n", b"END\r\n")
        if text.count(b"ITEM ") >= count or time.monotonic() > deadline:
            return
        time.sleep(0.1)


@pytest.fixture
def both(start_server):
    """The server under test and the reference, each with SETUP stored."""
    servers = [start_server(), start_server(binary=REFERENCE)]
    conns = [s.connect() for s in servers]
    for c in conns:
        load(c)
    yield conns
    for c in conns:
        c.close()


@needs_reference
def test_cachedump_lists_text_keys_with_value_size_and_expiry(both):
    listings = []
    for conn in both:
        start = time.time()
        settle(conn)
        found = lines(dump(conn, b"stats cachedump 1 0\r\n", b"END\r\n"), CACHEDUMP_LINE)
        listings.append({m.group(1): (int(m.group(2)), int(m.group(3))) for m in found})
        plain_size, plain_exp = listings[-1][b"plain"]
        assert plain_size == 3 and abs(plain_exp - (start + 1000)) <= 3
    # The binary key is left out by both; sizes and expiries agree.
    assert set(listings[0]) == set(listings[1]) == {b"plain", b"b%r", b"a\xc3\xa9"}
    for key in listings[0]:
        assert listings[0][key][0] == listings[1][key][0]
        assert abs(listings[0][key][1] - listings[1][key][1]) <= 3


@needs_reference
def test_cachedump_limit_and_other_classes(both):
    for conn in both:
        settle(conn)
        assert len(lines(dump(conn, b"stats cachedump 1 2\r\n", b"END\r\n"), CACHEDUMP_LINE)) == 2
        assert dump(conn, b"stats cachedump 2 0\r\n", b"END\r\n") == b"END\r\n"
        assert dump(conn, b"stats cachedump 63 0\r\n", b"END\r\n") == b"END\r\n"


@needs_reference
def test_metadump_lists_every_key_uri_encoded(both):
    for command in (b"lru_crawler metadump all\r\n", b"lru_crawler metadump hash\r\n",
                    b"lru_crawler metadump 1\r\n", b"lru_crawler metadump 2,1\r\n",
                    b"lru_crawler m all\r\n"):
        listings = []
        for conn in both:
            start = time.time()
            found = lines(dump(conn, command, b"END\r\n"), METADUMP_LINE, head=b"OK\r\n")
            listings.append({m.group(1): m for m in found})
            plain = listings[-1][b"plain"]
            assert abs(int(plain.group(2)) - (start + 1000)) <= 3
            assert abs(int(plain.group(3)) - start) <= 3  # la
            assert plain.group(5) == b"yes" and plain.group(7) == b"5"
            assert listings[-1][b"a%C3%A9"].group(5) == b"no"
            assert listings[-1][b"a%C3%A9"].group(2) == b"-1"
            assert listings[-1][b"a%C3%A9"].group(7) == b"7"
        assert set(listings[0]) == set(listings[1]) == {b"plain", b"b%25r", b"a%C3%A9", b"foobar"}


@needs_reference
def test_mgdump_lists_every_key_binary_ones_in_base64(both):
    for command in (b"lru_crawler mgdump all\r\n", b"lru_crawler mgdump hash\r\n",
                    b"lru_crawler mg 1\r\n"):
        keys = []
        for conn in both:
            found = lines(dump(conn, command, b"EN\r\n"), MGDUMP_LINE, head=b"OK\r\n",
                          end=b"EN\r\n")
            keys.append(sorted(m.group(0) for m in found))
        assert keys[0] == keys[1] == sorted([b"mg plain\r\n", b"mg b%r\r\n", b"mg a\xc3\xa9\r\n",
                                             b"mg Zm9vYmFy b\r\n"])


@needs_reference
@pytest.mark.parametrize("line, end", [
    (b"lru_crawler metadump 2", b"END\r\n"),
    (b"lru_crawler mgdump 63", b"EN\r\n"),
])
def test_dump_of_a_class_other_than_one_is_empty(both, line, end):
    for conn in both:
        assert dump(conn, line + b"\r\n", end) == b"OK\r\n" + end


@needs_reference
def test_dumps_leave_out_expired_and_deleted_items(both):
    for conn in both:
        load(conn, b"set gone 0 -1 1\r\nx\r\nset deleted 0 0 1\r\nx\r\ndelete deleted\r\n")
        text = dump(conn, b"lru_crawler metadump all\r\n", b"END\r\n")
        keys = {m.group(1) for m in lines(text, METADUMP_LINE, head=b"OK\r\n")}
        assert b"gone" not in keys and b"deleted" not in keys and b"plain" in keys


ERRORS = [
    b"stats cachedump",
    b"stats cachedump 1",
    b"stats cachedump 64 0",
    b"stats cachedump x 0",
    b"stats cachedump 1 x",
    b"stats cachedump -1 0",
    b"stats cachedump 1 -1",
    b"lru_crawler metadump",
    b"lru_crawler metadump all extra",
    b"lru_crawler metadump 0",
    b"lru_crawler metadump 64",
    b"lru_crawler metadump 1,64",
    b"lru_crawler metadump x",
    b"lru_crawler mgdump 0",
    b"lru_crawler metadump all noreply",
]


@needs_reference
def test_bad_arguments_answer_as_memcached(both):
    for line in ERRORS:
        replies = [c.call(line + b"\r\n") for c in both]
        assert replies[0] == replies[1], line


@needs_reference
def test_a_dump_after_pipelined_commands_is_refused_as_in_memcached(both):
    for command in (b"metadump", b"mgdump"):
        replies = []
        for conn in both:
            conn.send(b"get plain\r\nlru_crawler " + command + b" all\r\n")
            replies.append(conn.read_until(b"\r\nEND\r\n") + conn.readline())
        assert replies[0] == replies[1]
        assert replies[0].endswith(b"ERROR cannot pipeline other commands before " + command +
                                   b"\r\n")


@needs_reference
@pytest.mark.parametrize("flags", [("-X",), ("-o", "no_lru_crawler")])
def test_disabled_dumps_answer_as_memcached(start_server, flags):
    servers = [start_server(*flags), start_server(*flags, binary=REFERENCE)]
    replies = []
    for server in servers:
        with server.connect() as conn:
            replies.append([conn.call(line) for line in (b"stats cachedump 1 0\r\n",
                                                         b"lru_crawler metadump all\r\n",
                                                         b"lru_crawler mgdump all\r\n")])
    assert replies[0] == replies[1]


@needs_reference
@pytest.mark.parametrize("line", [b"lru_crawler metadump ,", b"lru_crawler mgdump ,"])
def test_a_dump_of_no_class_is_not_started(start_server, line):
    # memcached stays unable to crawl after this reply (a fresh server each time).
    replies = []
    for binary in (None, REFERENCE):
        with start_server(binary=binary).connect() as conn:
            replies.append(conn.call(line + b"\r\n"))
    assert replies[0] == replies[1] == b"NOTSTARTED no items to crawl\r\n"


def fill(conn, count, value=b"v" * 32):
    batch = []
    for i in range(count):
        batch.append(b"set key:%08d 0 0 %d noreply\r\n%s\r\n" % (i, len(value), value))
        if len(batch) == 5000:
            conn.call(b"".join(batch))
            batch = []
    conn.call(b"".join(batch))


# memcached's crawler blocks writing to a client that does not read, holding the crawler's lock,
# so a second dump there waits instead of answering BUSY (docs/memcached-differences.md).
@pytest.mark.mnemo_only
def test_a_second_dump_is_busy_until_the_first_ends(start_server):
    server = start_server("-m", "256")
    with server.connect() as filler:
        fill(filler, 200000)  # a listing of 17 MB: more than the output and the sockets hold
    first = server.connect()
    first.sock.setsockopt(harness.socket.SOL_SOCKET, harness.socket.SO_RCVBUF, 1 << 16)
    first.send(b"lru_crawler metadump all\r\n")  # not read: the dump stops on a full output
    time.sleep(0.3)
    with server.connect() as second:
        assert second.call(b"lru_crawler metadump all\r\n") == (
            b"BUSY currently processing crawler request\r\n")
        assert second.call(b"lru_crawler crawl all\r\n") == (
            b"BUSY currently processing crawler request\r\n")
        assert second.call(b"stats cachedump 1 1\r\n").startswith(b"ITEM key:")
        first.close()  # the dump ends with its connection
        deadline = time.monotonic() + 5
        while True:
            second.send(b"lru_crawler mgdump all\r\n")
            reply = second.readline()
            if reply == b"OK\r\n" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert reply == b"OK\r\n"
        found = lines(b"OK\r\n" + second.read_until(b"EN\r\n", timeout=30), MGDUMP_LINE,
                      head=b"OK\r\n", end=b"EN\r\n")
        assert len(found) == 200000


@pytest.mark.skipif(not os.access(MEMCACHED_TOOL, os.R_OK) or shutil.which("perl") is None,
                    reason="needs Debian's memcached-tool and perl")
def test_memcached_tool_dump_and_keys_print_every_key(start_server):
    server = start_server()
    with server.connect() as conn:
        load(conn)
        fill(conn, 300)
    out = subprocess.run(["perl", MEMCACHED_TOOL, "%s:%d" % (harness.HOST, server.port), "dump"],
                         capture_output=True, timeout=60).stdout
    keys = set(re.findall(rb"^add (\S+) \d+ \d+ \d+\r$", out, re.M))
    assert keys == {b"key:%08d" % i for i in range(300)} | {b"plain", b"b%r", b"a\xc3\xa9",
                                                              b"foobar"}
    assert b"add plain 5 " in out and b"\r\nabc\r\n" in out
    out = subprocess.run(["perl", MEMCACHED_TOOL, "%s:%d" % (harness.HOST, server.port), "keys"],
                         capture_output=True, timeout=60).stdout
    keys = set(re.findall(rb"^key=(\S+) exp=", out, re.M))
    assert keys == {b"key%%3A%08d" % i for i in range(300)} | {b"plain", b"b%25r", b"a%C3%A9",
                                                                 b"foobar"}


@pytest.mark.mnemo_only
def test_a_large_dump_streams_in_bounded_memory_while_others_are_served(start_server):
    count = 200000
    server = start_server("-m", "256")
    with server.connect() as conn:
        fill(conn, count)
    before = harness.rss_bytes(server.pid)
    dumper = server.connect()
    dumper.sock.setsockopt(harness.socket.SOL_SOCKET, harness.socket.SO_RCVBUF, 1 << 16)
    dumper.send(b"lru_crawler metadump all\r\n")
    # The client reads nothing for a while: the dump stops once its output is full, with the
    # worker (-t 4: one of four) free for the others.
    time.sleep(0.5)
    stalled = harness.rss_bytes(server.pid)
    latencies = []
    with server.connect() as other:
        for i in range(0, count, count // 50):
            start = time.monotonic()
            other.expect(b"get key:%08d\r\n" % i,
                         b"VALUE key:%08d 0 32\r\n%s\r\nEND\r\n" % (i, b"v" * 32))
            latencies.append(time.monotonic() - start)
    # Now read it all, slowly at first, while the other connection keeps being served.
    done = threading.Event()
    errors = []

    def serve_others():
        try:
            with server.connect() as other:
                while not done.is_set():
                    start = time.monotonic()
                    other.expect(b"get key:00000007\r\n",
                                 b"VALUE key:00000007 0 32\r\n%s\r\nEND\r\n" % (b"v" * 32))
                    latencies.append(time.monotonic() - start)
        except AssertionError as e:  # pragma: no cover - reported below
            errors.append(e)

    thread = threading.Thread(target=serve_others)
    thread.start()
    peak = stalled
    chunks = []
    try:
        while not (chunks and chunks[-1].endswith(b"END\r\n")):
            chunk = dumper.sock.recv(1 << 16)
            assert chunk, "connection closed mid-dump"
            chunks.append(chunk)
            if len(chunks) % 32 == 0:
                peak = max(peak, harness.rss_bytes(server.pid))
    finally:
        done.set()
        thread.join()
        dumper.close()
    assert not errors, errors
    text = b"".join(chunks)
    found = lines(text, METADUMP_LINE, head=b"OK\r\n")
    keys = {m.group(1) for m in found}
    assert len(found) == len(keys) == count
    # The dump holds at most its output's soft limit (1 MiB) and a chunk more, not the whole
    # listing (over 15 MiB here).
    assert len(text) > 15 << 20
    # A sanitizer's shadow memory and quarantine make RSS no measure of the server's own memory.
    if not harness.sanitized():
        assert peak - before < 12 << 20, (before, stalled, peak)
    assert max(latencies) < 0.5, max(latencies)
