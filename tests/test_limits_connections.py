"""Many connections: 10,000 idle clients held at once, a storm of 1,000 connects, and
-o idle_timeout, rows of BAD_INPUTS.md's "Memory and connections" (the -c limit itself is in
test_limits.py). These need more descriptors than a shell usually grants, so the test process
raises its own RLIMIT_NOFILE (root may raise the hard limit too) and puts it back afterwards."""

import errno
import resource
import select
import socket
import time

import pytest

import harness
from harness import stats, wait_for_stat

TOO_MANY = b"ERROR Too many open connections\r\n"
# Generous: accepting thousands of connections on a loaded two-core machine, under ASan.
SLOW = 120


@pytest.fixture
def descriptors():
    """want(n) lets this process hold n more descriptors, or skips the test if it may not."""
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)

    def want(n):
        soft, hard = saved
        needed = n + 256  # the test's own files, pipes and server stderr
        if soft >= needed:
            return
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, max(hard, needed)))
        except (ValueError, OSError) as e:
            pytest.skip("cannot raise RLIMIT_NOFILE to %d (hard limit %d): %s" % (needed, hard, e))

    yield want
    resource.setrlimit(resource.RLIMIT_NOFILE, saved)


def open_idle(server, n):
    """n connections to `server`, each connected (not necessarily accepted yet)."""
    conns = []
    try:
        for _ in range(n):
            conns.append(harness.Conn(server.port, timeout=SLOW))
    except BaseException:
        for c in conns:
            c.close()
        raise
    return conns


def wait_for_connections(watcher, expected):
    got = wait_for_stat(watcher, "curr_connections", str(expected), timeout=SLOW)
    assert got == str(expected), "curr_connections is %s, not %d" % (got, expected)


def test_10000_idle_connections_are_all_held_and_others_still_served(start_server, descriptors):
    count = 10_000
    descriptors(count + 10)
    server = start_server("-c", "11000")
    with server.connect() as watcher:
        baseline = int(stats(watcher)["curr_connections"])
        idle = open_idle(server, count)
        try:
            wait_for_connections(watcher, baseline + count)
            with server.connect() as other:
                other.expect(b"set k 0 0 2\r\nok\r\nget k\r\n",
                             b"STORED\r\nVALUE k 0 2\r\nok\r\nEND\r\n")
            # Every one of them is still open and answers (asked all at once, then read).
            for c in idle:
                c.send(b"get k\r\n")
            for c in idle:
                assert c.read_exact(len(b"VALUE k 0 2\r\nok\r\nEND\r\n")) == \
                    b"VALUE k 0 2\r\nok\r\nEND\r\n"
            assert stats(watcher)["rejected_connections"] == "0"
        finally:
            for c in idle:
                c.close()
        wait_for_connections(watcher, baseline)


def storm(port, count):
    """Starts `count` non-blocking connects at once; returns the sockets once all are
    established, and how long starting them took."""
    socks = []
    started = time.monotonic()
    try:
        for _ in range(count):
            s = socket.socket()
            socks.append(s)
            s.setblocking(False)
            rc = s.connect_ex((harness.HOST, port))
            assert rc in (0, errno.EINPROGRESS), "connect failed: %s" % errno.errorcode[rc]
        took = time.monotonic() - started
        poller = select.poll()
        pending = {s.fileno(): s for s in socks}
        for fd in pending:
            poller.register(fd, select.POLLOUT)
        deadline = time.monotonic() + SLOW
        while pending and time.monotonic() < deadline:
            for fd, _ in poller.poll(1000):
                s = pending.pop(fd)
                poller.unregister(fd)
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                assert err == 0, "a connect of the storm failed: %s" % errno.errorcode[err]
        assert not pending, "%d connects still pending after %ss" % (len(pending), SLOW)
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks, took


def read_refusal(sock):
    """What the server sent before closing `sock`."""
    sock.setblocking(True)
    sock.settimeout(harness.TIMEOUT)
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk


@pytest.mark.parametrize("limit", [2000, 200], ids=["all_accepted", "some_refused"])
def test_a_storm_of_1000_connects_is_accepted_or_cleanly_refused(start_server, descriptors,
                                                                 limit):
    count = 1000
    descriptors(count + 10)
    server = start_server("-c", str(limit))
    with server.connect() as watcher:
        baseline = int(stats(watcher)["curr_connections"])
        socks, took = storm(server.port, count)
        try:
            assert took < 1.0, "the storm took %.2fs to start, not a storm" % took
            # Once the server has seen every connect, each one is admitted or refused.
            deadline = time.monotonic() + SLOW
            while True:
                s = stats(watcher)
                seen = int(s["curr_connections"]) - baseline + int(s["rejected_connections"])
                if seen >= count or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert seen == count, "%d of %d connects admitted or refused" % (seen, count)
            refused_count = int(s["rejected_connections"])
            if limit > count:
                assert refused_count == 0
            else:
                assert 0 < refused_count < count
            # A refused connection is told so and closed; an admitted one has nothing to read
            # and answers.
            poller = select.poll()
            for sock in socks:
                poller.register(sock, select.POLLIN)
            readable = set()
            while len(readable) < refused_count and time.monotonic() < deadline:
                readable |= {fd for fd, _ in poller.poll(100)}
            refused = [sock for sock in socks if sock.fileno() in readable]
            admitted = [sock for sock in socks if sock.fileno() not in readable]
            assert len(refused) == refused_count
            for sock in refused:
                assert read_refusal(sock) == TOO_MANY
            for sock in admitted:
                sock.sendall(b"version\r\n")
            for sock in admitted:
                sock.setblocking(True)
                sock.settimeout(SLOW)
                reply = b""
                while not reply.endswith(b"\r\n"):
                    chunk = sock.recv(4096)
                    assert chunk, "an admitted connection was closed"
                    reply += chunk
                assert reply.startswith(b"VERSION "), reply
        finally:
            for sock in socks:
                sock.close()
        wait_for_connections(watcher, baseline)
        watcher.expect(b"get k\r\n", b"END\r\n")


IDLE_SECONDS = 3


def test_idle_timeout_disconnects_idle_clients_and_counts_them_in_idle_kicks(start_server):
    server = start_server("-o", "idle_timeout=%d" % IDLE_SECONDS)
    busy = server.connect()
    started = time.monotonic()
    idle = [server.connect() for _ in range(3)]
    idle[1].expect(b"get k\r\n", b"END\r\n")  # one idle after a command, the others from the start
    closed_after = {}
    deadline = started + IDLE_SECONDS + SLOW
    while len(closed_after) < len(idle) and time.monotonic() < deadline:
        busy.expect(b"get k\r\n", b"END\r\n")  # often enough never to be idle
        for i, c in enumerate(idle):
            if i not in closed_after and select.select([c.sock], [], [], 0)[0]:
                assert c.read_to_eof() == b"", "a kicked client was sent something"
                closed_after[i] = time.monotonic() - started
        time.sleep(0.2)
    assert len(closed_after) == len(idle), "idle clients still open: %s" % (
        set(range(len(idle))) - set(closed_after))
    # The server looks once a second, and counts in whole seconds.
    assert min(closed_after.values()) >= IDLE_SECONDS - 1, closed_after
    assert stats(busy)["idle_kicks"] == str(len(idle))
    busy.close()
    for c in idle:
        c.close()
