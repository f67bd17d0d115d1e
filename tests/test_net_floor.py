"""bench/net_floor (build/net_floor), the no-work server RESULTS.md measures mnemod against: in
both I/O modes it must answer what the benchmarks send, and deliver every byte of a reply too
large for the socket (io=uring's sends that find the socket full must resume on POLLOUT, in
order). A check that the instrument is sound, not a benchmark.
"""

import os
import socket
import time

import pytest

import harness

# $MNEMO_NET_FLOOR, default <repo>/build/net_floor (the ASan build has no benchmarks: it uses this).
NET_FLOOR = os.environ.get("MNEMO_NET_FLOOR", str(harness.REPO / "build" / "net_floor"))


@pytest.fixture(params=["epoll", "uring"])
def floor(request, start_server):
    if not os.access(NET_FLOOR, os.X_OK):
        pytest.fail("no net_floor at %s: build the release preset (needs liburing-dev) or set "
                    "MNEMO_NET_FLOOR" % NET_FLOOR, pytrace=False)
    return start_server("-t", "2", "-o", "io=" + request.param, binary=NET_FLOOR)


def test_it_answers_set_get_stats_and_anything_else(floor):
    with floor.connect() as c:
        c.expect(b"set k 0 0 5\r\nhello\r\nset q 0 0 5 noreply\r\nhello\r\nget k\r\n"
                 b"stats\r\nbogus\r\n",
                 b"STORED\r\nVALUE k 0 5\r\nxxxxx\r\nEND\r\nSTAT get_misses 0\r\nEND\r\n"
                 b"ERROR\r\n")


def test_a_reply_larger_than_the_socket_arrives_whole_on_every_connection(floor):
    size = 1000000
    request = b"set v 0 0 %d\r\n%s\r\n%s" % (size, b"y" * size, b"get v\r\n" * 20)
    expected = b"STORED\r\n" + (b"VALUE v 0 %d\r\n%s\r\nEND\r\n" % (size, b"x" * size)) * 20
    socks = [socket.create_connection((harness.HOST, floor.port)) for _ in range(4)]
    try:
        for sock in socks:  # handed to both threads, round-robin
            sock.sendall(request)
        time.sleep(0.3)  # let the server fill every socket before anyone reads
        for sock in socks:
            sock.settimeout(harness.TIMEOUT)
            got = bytearray()
            while len(got) < len(expected):
                chunk = sock.recv(1 << 20)
                assert chunk, "closed after %d of %d bytes" % (len(got), len(expected))
                got += chunk
            assert bytes(got) == expected
    finally:
        for sock in socks:
            sock.close()
