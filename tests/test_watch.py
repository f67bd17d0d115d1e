"""`watch`, memcached's live log (src/server/watch_log.h, docs/watch.md): the same replies as
memcached 1.6.45 (the reference, tests/harness.py), and for the same traffic the same log lines,
field by field, with the fields that are each server's own masked: ts, gid, cfd and rport (and
clsid where memcached prints a stray one). A watcher that never reads loses lines, counted in
log_watcher_skipped and announced by a "skipped=N" line, and never slows the other clients."""

import base64
import os
import random
import re
import socket
import subprocess
import time

import pytest

import harness

REFERENCE = harness.reference_binary()

LINE = re.compile(rb"ts=(\d+)\.(\d+) gid=(\d+) (type=\S+.*)")


def reference_is_1_6_45():
    if not os.access(REFERENCE, os.X_OK):
        return False
    out = subprocess.run([REFERENCE, "-V"], capture_output=True, text=True).stdout
    return "1.6.45" in out


needs_reference = pytest.mark.skipif(not reference_is_1_6_45(),
                                     reason="needs memcached 1.6.45 as the reference")


def watch(server, words=b""):
    """A connection that sent `watch words`; returns it with the reply line read."""
    conn = server.connect()
    conn.send(b"watch" + (b" " + words if words else b"") + b"\r\n")
    return conn, conn.readline()


def first_line(server, request):
    """The first line the server answers to `request` on a new connection."""
    with server.connect() as conn:
        conn.send(request)
        return conn.readline()


def log_lines(watcher, until, timeout=10):
    """The watcher's lines up to and including the first that contains `until`."""
    lines = []
    deadline = time.monotonic() + timeout
    while not lines or until not in lines[-1]:
        assert time.monotonic() < deadline, "no %r in the watch log; got %r" % (until, lines)
        lines.append(watcher.read_until(b"\n", timeout=timeout).rstrip(b"\n"))
    return lines


def masked(line, fd):
    """The line with what is each server's own replaced: its time, its gid, the client's fd
    (which must be the connection's) and port."""
    match = LINE.fullmatch(line)
    assert match, line
    body = match.group(4)
    cfd = re.search(rb" cfd=(-?\d+)", body)
    if cfd is not None and b"status=too_large" not in body:
        assert int(cfd.group(1)) == fd, line
    body = re.sub(rb" cfd=-?\d+", b" cfd=FD", body)
    body = re.sub(rb" rport=\d+", b" rport=PORT", body)
    if b"status=too_large" in body:
        # memcached 1.6.45 prints a stray class for an item it never allocated.
        body = re.sub(rb" clsid=\d+", b" clsid=C", body)
    return body


def same_fields(ours, theirs):
    """Whether two masked lines have the same fields in the same order with the same values, but
    for a ttl, which may be a second apart (each server's clock ticks on its own)."""
    a, b = ours.split(b" "), theirs.split(b" ")
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x.startswith(b"ttl=") and y.startswith(b"ttl="):
            if abs(int(x[4:]) - int(y[4:])) > 1:
                return False
        elif x != y:
            return False
    return True


def gids(lines):
    return [int(LINE.fullmatch(line).group(3)) for line in lines]


def test_watch_replies_match_reference(start_server):
    if not reference_is_1_6_45():
        pytest.skip("needs memcached 1.6.45 as the reference")
    servers = [start_server(), start_server(binary=REFERENCE)]
    for request in [b"watch\r\n", b"watch fetchers mutations evictions connevents deletions\r\n",
                    b"watch f\r\n", b"watch fetch\r\n", b"watch noreply\r\n",
                    b"watch bogus\r\n", b"watch fetchersX\r\n", b"watch fetchers bogus\r\n",
                    b"watch rawcmds sysevents proxyreqs proxyevents proxyuser\r\n",
                    b"version\r\nwatch\r\n"]:
        replies = []
        for server in servers:
            with server.connect() as conn:
                conn.send(request)
                reply = conn.readline()
                if reply.startswith(b"VERSION "):
                    reply = b"VERSION X\r\n" + conn.readline()
                replies.append(reply)
        assert replies[0] == replies[1], (request, replies)
    disabled = [start_server("-W"), start_server("-W", binary=REFERENCE)]
    replies = [first_line(server, b"watch\r\n") for server in disabled]
    assert replies[0] == replies[1] == b"CLIENT_ERROR watch commands not allowed\r\n"


def test_watcher_limit_matches_reference(start_server):
    if not reference_is_1_6_45():
        pytest.skip("needs memcached 1.6.45 as the reference")
    for server in [start_server(), start_server(binary=REFERENCE)]:
        watchers = [watch(server) for _ in range(20)]
        assert all(reply == b"OK\r\n" for _, reply in watchers)
        assert first_line(server, b"watch\r\n") == b"WATCHER_TOO_MANY log watcher limit reached\r\n"
        for conn, _ in watchers:
            conn.close()


# The traffic whose log lines must match: every text and meta command that logs, hits and misses,
# a key that needs URI-encoding, a value too large, a flushed item (a number: seconds to wait).
TRAFFIC = [
    b"set f 0 0 1\r\nf\r\n",
    b"set a 5 0 3\r\nabc\r\n",
    b"get a b\r\n",
    b"add a 0 0 1\r\nx\r\n",
    b"append a 0 0 2\r\nzz\r\n",
    b"prepend q 0 0 2\r\nzz\r\n",
    b"replace a 1 100 2\r\nqq\r\n",
    b"append a 0 0 1\r\nr\r\n",
    b"gets a\r\n",
    b"cas a 0 0 1 999\r\nc\r\n",
    b"cas nope 0 0 1 1\r\nc\r\n",
    b"incr a 1\r\n",
    b"set n 0 0 1\r\n5\r\n",
    b"incr n 3\r\n",
    b"decr n 100\r\n",
    b"touch a 10\r\n",
    b"touch nope 10\r\n",
    b"gat 0 a\r\n",
    b"gats 0 a nope\r\n",
    b"delete a\r\n",
    b"delete a\r\n",
    b"set k%2C\xc3\xa9 0 0 1\r\nx\r\n",
    b"get k%2C\xc3\xa9\r\n",
    b"mg a v\r\n",
    b"mg n v s\r\n",
    b"ms m 2 T60\r\nhi\r\n",
    b"ms m 1 MA\r\n!\r\n",
    b"md m\r\n",
    b"md m\r\n",
    b"ma n\r\n",
    b"ma nope\r\n",
    b"set big 0 0 2000000\r\n" + b"x" * 2000000 + b"\r\n",
    # memcached forgets at once what a flush_all finds stored in its last second or so (mnemo
    # reports it flushed): f is older.
    2.1,
    b"flush_all\r\n",
    b"get f\r\n",
]


def run_traffic(server, words):
    """Runs TRAFFIC on a client while a watcher of `words` watches; returns the client's fd as
    the log names it and the watcher's lines from the client's connection to its close."""
    watcher, reply = watch(server, words)
    assert reply == b"OK\r\n"
    with server.connect() as client:
        for request in TRAFFIC:
            if isinstance(request, float):
                time.sleep(request)
            else:
                client.call(request)
        client.send(b"quit\r\n")
        client.read_to_eof()
    lines = log_lines(watcher, b"type=conn_close")
    watcher.close()
    first = lines[0]
    assert b"type=conn_new" in first, first
    fd = int(re.search(rb" cfd=(\d+)", first).group(1))
    return fd, lines


@needs_reference
def test_watch_lines_match_reference(start_server):
    words = b"fetchers mutations deletions connevents"
    ours = run_traffic(start_server(), words)
    theirs = run_traffic(start_server(binary=REFERENCE), words)
    for fd, lines in (ours, theirs):
        # One client on one worker: its lines come in the order they were logged.
        assert gids(lines) == sorted(gids(lines)) and len(set(gids(lines))) == len(lines), lines
    ours_masked = [masked(line, ours[0]) for line in ours[1]]
    theirs_masked = [masked(line, theirs[0]) for line in theirs[1]]
    assert len(ours_masked) == len(theirs_masked) and all(
        same_fields(a, b) for a, b in zip(ours_masked, theirs_masked)), "\n".join(
        "%-100s | %s" % (a.decode(errors="replace"), b.decode(errors="replace"))
        for a, b in zip(ours_masked + [b""] * len(theirs_masked),
                        theirs_masked + [b""] * len(ours_masked)) if a or b)


@needs_reference
def test_watch_flags_choose_lines_as_reference(start_server):
    """Each flag alone: a mutations watcher sees no item_get, a deletions one only deletions."""
    for words in [b"mutations", b"deletions", b"connevents"]:
        results = []
        for server in [start_server(), start_server(binary=REFERENCE)]:
            watcher, reply = watch(server, words)
            assert reply == b"OK\r\n"
            # One connection, so one worker: its lines come in order, the last one marks the end.
            with server.connect() as client:
                client.call(b"set x 0 0 1\r\n1\r\nget x\r\ndelete x\r\n")
                client.call(b"set end 0 0 1\r\n1\r\ndelete end\r\n")
            lines = log_lines(watcher, b"type=conn_close" if words == b"connevents" else
                              b"type=deleted key=end" if words == b"deletions" else b"key=end")
            watcher.close()
            results.append([re.sub(rb" (cfd|rport)=\d+", b"", LINE.fullmatch(line).group(4))
                            for line in lines])
        assert results[0] == results[1], (words, results)


@pytest.mark.mnemo_only
def test_watcher_sees_only_later_lines_and_leaves(start_server):
    server = start_server()
    with server.connect() as client:
        client.call(b"set early 0 0 1\r\n1\r\n")
        watcher, reply = watch(server, b"mutations")
        assert reply == b"OK\r\n"
        assert harness.stats(client)["log_watchers"] == "1"
        client.call(b"set late 0 0 1\r\n1\r\n")
        line = watcher.read_until(b"\n")
        assert b"key=late" in line, line
        watcher.close()
        deadline = time.monotonic() + 10
        while harness.stats(client)["log_watchers"] != "0":
            assert time.monotonic() < deadline, "the closed watcher is still counted"
            time.sleep(0.02)
        stats = harness.stats(client)
        assert int(stats["log_worker_written"]) >= 1
        assert int(stats["log_watcher_sent"]) >= 1


def timed_requests(server, rounds):
    """Runs `rounds` pipelined batches of 100 sets and gets; returns (seconds, requests)."""
    batch = b"".join(b"set key%d 0 0 8\r\n%08d\r\nget key%d\r\n" % (i, i, i) for i in range(100))
    expected = b"".join(b"STORED\r\nVALUE key%d 0 8\r\n%08d\r\nEND\r\n" % (i, i)
                        for i in range(100))
    with server.connect() as client:
        start = time.monotonic()
        for _ in range(rounds):
            client.expect(batch, expected)
        return time.monotonic() - start, rounds * 200


@pytest.mark.mnemo_only
def test_stalled_watcher_loses_lines_and_slows_nobody(start_server):
    # Small buffers, so that a watcher that never reads fills its socket and its output at once.
    server = start_server("-o", "watcher_logbuf_size=16,worker_logbuf_size=64")
    rounds = 100
    timed_requests(server, rounds)  # warms the server and the client up
    alone, requests = timed_requests(server, rounds)

    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.connect((harness.HOST, server.port))
    stalled.sendall(b"watch fetchers mutations\r\n")
    watched, _ = timed_requests(server, rounds)
    print("\n%d requests: %.0f/s with no watcher, %.0f/s with a watcher that never reads"
          % (requests, requests / alone, requests / watched))
    with server.connect() as client:
        stats = harness.stats(client)
    assert stats["log_watchers"] == "1"
    assert int(stats["log_watcher_skipped"]) > 0, stats
    # Generous: the clients' requests all completed (timed_requests checked every reply), and
    # not at a small fraction of the speed they had alone.
    assert watched < alone * 10 + 5, (alone, watched)

    # Once it reads, the watcher is told how many lines it lost before its next line.
    stalled.settimeout(0.5)
    received = b""
    try:
        while True:
            chunk = stalled.recv(1 << 20)
            if not chunk:
                break
            received += chunk
    except socket.timeout:
        pass
    assert received.startswith(b"OK\r\n"), received[:100]
    with server.connect() as client:
        client.call(b"set after 0 0 1\r\n1\r\n")
    stalled.settimeout(10)
    tail = b""
    while b"key=after" not in tail:
        chunk = stalled.recv(1 << 20)
        assert chunk, tail
        tail += chunk
    # What the watcher lost is told before the lines that follow: in what the drain above read
    # (lines the log still held when the watcher read again), or here.
    lines = (received + tail).split(b"\n")
    at = next(i for i, line in enumerate(lines) if b"key=after" in line)
    skipped = [i for i, line in enumerate(lines[:at]) if line.startswith(b"skipped=")]
    # Lost lines are told of (one notice after each run of losses), each notice before a line.
    assert skipped, lines[-5:]
    for i in skipped:
        notice, following = lines[i], lines[i + 1]
        assert int(notice[len(b"skipped="):]) > 0 and following.startswith(b"ts="), lines[i:i + 2]
    stalled.close()


EVICTION = re.compile(rb"ts=\d+\.\d+ gid=\d+ type=eviction key=(k\d+) fetch=(yes|no) ttl=(-?\d+) "
                      rb"la=(\d+) clsid=(\d+) size=(\d+)")


def eviction_lines(server, want):
    """Fills an 8 MB cache with twice its size of 1000-byte values (every tenth read back, none
    expiring) while a watcher watches evictions; returns the first `want` eviction lines."""
    watcher, reply = watch(server, b"evictions")
    assert reply == b"OK\r\n"
    # Random text, which compression cannot shrink: mnemod stores its 1000 bytes.
    value = base64.b64encode(random.Random(1).randbytes(750))
    with server.connect() as client:
        for start in range(0, 16000, 100):
            keys = range(start, start + 100)
            client.call(b"".join(b"set k%d 0 0 1000\r\n%s\r\n" % (i, value) for i in keys) +
                        b"".join(b"get k%d\r\n" % i for i in keys if i % 10 == 0))
    lines = [watcher.read_until(b"\n", timeout=10).rstrip(b"\n") for _ in range(want)]
    watcher.close()
    return lines


@needs_reference
def test_eviction_lines_have_memcacheds_fields(start_server):
    """Which items each server evicts is its own policy's choice; the lines' fields, their order
    and what they say of an item must be the same."""
    for server in [start_server("-m", "8"), start_server("-m", "8", binary=REFERENCE)]:
        lines = eviction_lines(server, 100)
        for line in lines:
            match = EVICTION.fullmatch(line)
            assert match, line
            key, fetch, ttl, _, clsid, size = match.groups()
            assert int(key[1:]) < 16000 and ttl == b"-1" and size == b"1000", line
            # An item never read was never fetched (mnemo's merge eviction forgets a read when
            # it keeps an item, so a read item may be evicted later as unfetched).
            assert int(key[1:]) % 10 == 0 or fetch == b"no", line
            if not harness.is_memcached(server.binary):
                assert clsid == b"1", line  # mnemo's one class
