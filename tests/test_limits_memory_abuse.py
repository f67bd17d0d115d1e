"""Memory bounded under any client behaviour (issue 23): at -m 64 with default settings, clients
that never read their replies or stall one byte short of a large value must not take the whole
process past 1.5 x -m + 32 MB (128 MB), must not make another client's `get` wait 0.5 s, and once
they leave the memory must go back (RSS within 20% of its level before them within 5 s).

Whole-process RSS is sampled from /proc every 20 ms throughout, while a probe client times a small
`get` over and over."""

import resource
import socket
import threading
import time

import pytest

import harness
from harness import rss_bytes, sanitized, stats

pytestmark = pytest.mark.mnemo_only

MEGABYTE = 1 << 20
RSS_BOUND = 128 * MEGABYTE  # 1.5 x -m + 32 MB at -m 64
PROBE_DEADLINE = 0.5        # seconds for another client's get during the abuse
RETURN_FACTOR = 1.2         # RSS after the abusers leave, against before them
RETURN_SECONDS = 5


@pytest.fixture
def descriptors():
    """Lets this process hold n more descriptors, or skips the test if it may not."""
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)

    def want(n):
        soft, hard = saved
        needed = n + 256
        if soft >= needed:
            return
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (needed, max(hard, needed)))
        except (ValueError, OSError) as e:
            pytest.skip("cannot raise RLIMIT_NOFILE to %d: %s" % (needed, e))

    yield want
    resource.setrlimit(resource.RLIMIT_NOFILE, saved)


class Watch:
    """Samples the server's RSS and times a probe client's request (`get small`) in the
    background."""

    def __init__(self, server, probe=(b"get small\r\n", b"VALUE small 0 5\r\nhello\r\nEND\r\n")):
        self.pid = server.pid
        self.probe = server.connect()
        self.probe_request, self.probe_reply = probe
        self.peak = 0
        self.slowest = 0.0
        self.probes = 0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._sample), threading.Thread(target=self._time)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()
        self.probe.close()

    def _sample(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            time.sleep(0.02)

    def _time(self):
        while not self.stop.is_set():
            started = time.monotonic()
            self.probe.expect(self.probe_request, self.probe_reply)
            self.slowest = max(self.slowest, time.monotonic() - started)
            self.probes += 1
            time.sleep(0.01)

    def check(self, what):
        assert self.probes > 10, "the probe barely ran during %s" % what
        assert self.peak <= RSS_BOUND, "RSS reached %.1f MB during %s" % (self.peak / MEGABYTE, what)
        assert self.slowest < PROBE_DEADLINE, "a get took %.2f s during %s" % (self.slowest, what)


def start(start_server, connections):
    if sanitized(harness.server_binary()):
        pytest.skip("a sanitizer's shadow memory and quarantine swamp the server's own RSS")
    server = start_server("-m", "64", "-c", str(connections + 64))
    with server.connect() as c:
        c.expect(b"set small 0 0 5\r\nhello\r\n", b"STORED\r\n")
        value = b"v" * (512 << 10)
        c.expect(b"set big 0 0 %d\r\n%s\r\n" % (len(value), value), b"STORED\r\n")
    time.sleep(0.2)
    return server, rss_bytes(server.pid)


def connect_many(server, n):
    conns = []
    for _ in range(n):
        s = socket.create_connection((harness.HOST, server.port))
        s.setblocking(False)
        conns.append(s)
    return conns


def push(conns, requests, seconds):
    """Sends each connection's request without blocking, round after round, for `seconds` or
    until every byte is sent (or the server stopped reading). Returns the bytes sent."""
    pending = [memoryview(r) for r in requests]
    sent = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(len(p) for p in pending):
        progress = False
        for i, s in enumerate(conns):
            if not len(pending[i]):
                continue
            try:
                n = s.send(pending[i][:256 << 10])
            except BlockingIOError:
                continue
            pending[i] = pending[i][n:]
            sent += n
            progress = True
        if not progress:
            time.sleep(0.05)
    return sent


def close_all_and_check_return(server, conns, before):
    for s in conns:
        s.close()
    deadline = time.monotonic() + RETURN_SECONDS
    while True:
        rss = rss_bytes(server.pid)
        if rss <= before * RETURN_FACTOR:
            return rss
        assert time.monotonic() < deadline, (
            "RSS %.1f MB %d s after the abusers left, %.1f MB before them"
            % (rss / MEGABYTE, RETURN_SECONDS, before / MEGABYTE))
        time.sleep(0.1)


# Five-byte keys, enumerated fast: two leading characters times every three-character suffix.
KEY_ALPHABET = b"0123456789abcdefghijklmnopqrstuvwxyz"
KEY_SUFFIXES = [bytes((a, b, c)) for a in KEY_ALPHABET for b in KEY_ALPHABET for c in KEY_ALPHABET]


def fill_tiny_items(server, count, value_sizes):
    """Sets `count` distinct 5-byte keys with noreply, their values cycling through
    `value_sizes` bytes; returns the last key set and its value once the server has read them."""
    tails = [b" 0 0 %d noreply\r\n%s\r\n" % (n, b"x" * n) for n in value_sizes]
    sent = 0
    last = None
    with server.connect() as c:
        for a in KEY_ALPHABET:
            for b in KEY_ALPHABET:
                n = min(len(KEY_SUFFIXES), count - sent)
                if n <= 0:
                    break
                prefix = b"set " + bytes((a, b))
                c.sock.sendall(b"".join(prefix + KEY_SUFFIXES[i] + tails[(sent + i) % len(tails)]
                                        for i in range(n)))
                last = (bytes((a, b)) + KEY_SUFFIXES[n - 1], b"x" * value_sizes[(sent + n - 1)
                                                                                  % len(tails)])
                sent += n
        assert sent == count
        c.expect(b"mn\r\n", b"MN\r\n")  # every set before it has been processed
    return last


@pytest.mark.parametrize("count,value_sizes", [(8_300_000, (0, 1)), (14_000_000, (0,))],
                         ids=["8.3M items of 0-1 bytes", "14M empty items"])
def test_items_smaller_than_their_index_slots_stay_within_the_bound(start_server, count,
                                                                    value_sizes):
    server, before = start(start_server, 0)
    with Watch(server, probe=(b"mn\r\n", b"MN\r\n")) as watch:
        key, value = fill_tiny_items(server, count, value_sizes)
    watch.check("%d items of %s bytes" % (count, value_sizes))
    with server.connect() as c:
        c.expect(b"get %s\r\n" % key,
                 b"VALUE %s 0 %d\r\n%s\r\nEND\r\n" % (key, len(value), value))
        s = stats(c)
    assert int(s["hash_bytes"]) <= int(s["hash_bytes_limit"]) <= 32 * MEGABYTE
    assert s["store_no_memory"] == "0"
    assert int(s["curr_items"]) + int(s["evictions"]) == count + 2  # and start()'s two
    assert int(s["curr_items"]) > 2 * 699_008  # memcached 1.6.45 holds 699,008 of them here
    print("peak RSS %.1f MB, %s items held, hash_bytes %.1f MB, slowest probe %.3f s"
          % (watch.peak / MEGABYTE, s["curr_items"], int(s["hash_bytes"]) / MEGABYTE,
             watch.slowest))


def test_500_clients_pipelining_large_gets_and_never_reading(start_server, descriptors):
    descriptors(600)
    server, before = start(start_server, 500)
    with Watch(server) as watch:
        conns = connect_many(server, 500)
        push(conns, [b"get big\r\n" * 64] * len(conns), seconds=2)
        time.sleep(1.5)  # the server has done what it will with them
        with server.connect() as c:
            s = stats(c)
            settings = stats(c, b"settings")
    print("probes %d, slowest %.3f s, peak %.1f MB" % (watch.probes, watch.slowest,
                                                       watch.peak / MEGABYTE))
    watch.check("500 slow readers")
    # net/memory_budget.h: past the limit, each connection keeps its allowance of one pool block
    # per direction (16 KiB each: it must read its next command and start a reply), and each of
    # the two workers may overshoot by the one growth that crossed the limit (a decoded value).
    allowances = len(conns) * 2 * 16 * 1024
    overshoot = 2 * (512 << 10)
    assert int(s["read_buf_bytes"]) <= \
        int(settings["read_buf_mem_limit"]) + allowances + overshoot
    after = close_all_and_check_return(server, conns, before)
    print("before %.1f MB, peak %.1f MB, after %.1f MB, slowest get %.3f s"
          % (before / MEGABYTE, watch.peak / MEGABYTE, after / MEGABYTE, watch.slowest))


def test_1000_clients_stalled_one_byte_short_of_a_large_set(start_server, descriptors):
    descriptors(1100)
    server, before = start(start_server, 1000)
    value = b"s" * (1000000 - 1)
    with Watch(server) as watch:
        conns = connect_many(server, 1000)
        requests = [b"set stall%d 0 0 1000000\r\n%s" % (i, value) for i in range(len(conns))]
        push(conns, requests, seconds=3)
        time.sleep(0.5)
    watch.check("1,000 stalled uploads")
    after = close_all_and_check_return(server, conns, before)
    print("before %.1f MB, peak %.1f MB, after %.1f MB, slowest get %.3f s"
          % (before / MEGABYTE, watch.peak / MEGABYTE, after / MEGABYTE, watch.slowest))


def test_a_client_stuck_holding_memory_is_closed_and_counted(start_server):
    # A budget of 1 MB that one stalled upload exhausts: the others wait for memory, and all
    # of them are closed once stuck for a second.
    server = start_server("-m", "64", "-o", "read_buf_mem_limit=1,conn_stuck_timeout=1")
    conns = connect_many(server, 4)
    value = b"s" * (1000000 - 1)
    push(conns, [b"set stuck%d 0 0 1000000\r\n%s" % (i, value) for i in range(4)], seconds=1)
    with server.connect() as c:
        c.expect(b"set small 0 0 5\r\nhello\r\n", b"STORED\r\n")  # the allowance still serves
        deadline = time.monotonic() + 10
        while int(stats(c)["read_buf_oom"]) < 4:
            assert time.monotonic() < deadline, stats(c)["read_buf_oom"]
            time.sleep(0.1)
        assert stats(c)["response_obj_oom"] == "0"
        c.expect(b"get small\r\n", b"VALUE small 0 5\r\nhello\r\nEND\r\n")
    for s in conns:
        s.setblocking(True)
        s.settimeout(5)
        try:
            assert s.recv(1) == b""  # closed by the server, without a reply
        except ConnectionResetError:
            pass  # closed with the client's unread bytes still in its socket: a reset
        s.close()


def test_a_reader_that_never_reads_is_closed_once_memory_is_short(start_server):
    server = start_server("-m", "64", "-o", "read_buf_mem_limit=1,conn_stuck_timeout=1")
    with server.connect() as c:
        value = b"v" * (512 << 10)
        c.expect(b"set big 0 0 %d\r\n%s\r\n" % (len(value), value), b"STORED\r\n")
    conns = connect_many(server, 4)
    for s in conns:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    push(conns, [b"get big\r\n" * 64] * 4, seconds=1)
    with server.connect() as c:
        deadline = time.monotonic() + 10
        while int(stats(c)["response_obj_oom"]) < 1:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    for s in conns:
        s.close()
