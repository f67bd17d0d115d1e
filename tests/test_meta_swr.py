"""Stale-while-revalidate and dogpile protection with the meta protocol, end to end, with several
clients on their own connections as real deployments have them:

- md with I marks an item stale; of the clients that then read it, exactly one is told W (win:
  go and recache) and all are told X (the value is stale, use it meanwhile), the others Z (someone
  else is recaching); the winner stores the new value with the CAS it read, after which readers
  see a fresh item with no X, W or Z.
- mg with N on a miss creates an empty stub: one client wins, the others see Z.
- mg with R: the first client to read an item about to expire wins.

Every expectation is memcached 1.6.18's (tests/differential_meta.py compares the same streams
against it)."""

import re
import threading

import pytest

VALUE_LINE = re.compile(rb"VA (\d+) c(\d+)((?: [WXZ])*)\r\n")


def read(conn, key):
    """mg <key> v c: (value, cas, set of W/X/Z flags)."""
    reply = conn.call(b"mg " + key + b" v c\r\n")
    match = VALUE_LINE.match(reply)
    assert match, reply
    size = int(match.group(1))
    value = reply[match.end():match.end() + size]
    assert reply[match.end() + size:] == b"\r\n", reply
    return value, int(match.group(2)), set(match.group(3).split())


def test_invalidate_then_one_reader_recaches(start_server):
    server = start_server()
    with server.connect() as writer, server.connect() as a, server.connect() as b, \
            server.connect() as c:
        writer.expect(b"ms page 3 T100\r\nold\r\n", b"HD\r\n")
        _, fresh_cas, flags = read(a, b"page")
        assert flags == set()

        writer.expect(b"md page I T30\r\n", b"HD\r\n")
        seen = [read(conn, b"page") for conn in (a, b, c)]
        assert [value for value, _, _ in seen] == [b"old"] * 3
        assert seen[0][2] == {b"X", b"W"}, "the first reader after the invalidation wins"
        assert seen[1][2] == {b"X", b"Z"} and seen[2][2] == {b"X", b"Z"}
        stale_cas = seen[0][1]
        assert stale_cas != fresh_cas and {cas for _, cas, _ in seen} == {stale_cas}
        # The stale item keeps the TTL that T gave it while it waits.
        a.expect(b"mg page t\r\n", b"HD t30 Z X\r\n")

        # A writer holding the pre-invalidation CAS is refused; the winner's CAS stores.
        c.expect(b"ms page 3 C%d T100\r\nbad\r\n" % fresh_cas, b"EX\r\n")
        a.expect(b"ms page 3 C%d T100\r\nnew\r\n" % stale_cas, b"HD\r\n")
        value, _, flags = read(b, b"page")
        assert (value, flags) == (b"new", set())
        b.expect(b"mg page t\r\n", b"HD t100\r\n")


def test_only_meta_reads_take_the_win(conn):
    # me, get, gets, gat and touch look at a stale item without taking the win from mg.
    conn.expect(b"ms k 1 T100\r\nx\r\nmd k I\r\n", b"HD\r\nHD\r\n")
    conn.expect(b"get k\r\ngat 100 k\r\ntouch k 200\r\n",
                b"VALUE k 0 1\r\nx\r\nEND\r\nVALUE k 0 1\r\nx\r\nEND\r\nTOUCHED\r\n")
    assert conn.call(b"me k\r\n").startswith(b"ME k ")
    conn.expect(b"mg k t\r\nmg k\r\n", b"HD t200 X W\r\nHD Z X\r\n")


def test_a_late_write_with_an_older_cas_stays_stale(start_server):
    server = start_server()
    with server.connect() as slow, server.connect() as fast, server.connect() as reader:
        slow.expect(b"ms k 2 T100\r\nv1\r\n", b"HD\r\n")
        _, v1_cas, _ = read(slow, b"k")
        fast.expect(b"ms k 2 T100\r\nv2\r\n", b"HD\r\n")
        # The slow client finally writes what it computed from v1: with I its value is kept,
        # but marked stale, so the next reader recaches.
        slow.expect(b"ms k 4 I C%d T100\r\nv1.5\r\n" % v1_cas, b"HD\r\n")
        value, _, flags = read(reader, b"k")
        assert (value, flags) == (b"v1.5", {b"X", b"W"})
        assert read(fast, b"k")[2] == {b"X", b"Z"}


def test_vivify_on_miss_lets_one_client_fill_the_key(start_server):
    server = start_server()
    with server.connect() as a, server.connect() as b, server.connect() as c:
        a.expect(b"mg user:1 N30 v\r\n", b"VA 0 W\r\n\r\n")
        b.expect(b"mg user:1 N30 v\r\n", b"VA 0 Z\r\n\r\n")
        c.expect(b"mg user:1 N30 v t\r\n", b"VA 0 t30 Z\r\n\r\n")
        a.expect(b"ms user:1 5 T300\r\nalice\r\n", b"HD\r\n")
        b.expect(b"mg user:1 N30 v\r\n", b"VA 5\r\nalice\r\n")


def test_recache_before_expiry_wins_once(start_server):
    server = start_server()
    with server.connect() as a, server.connect() as b:
        a.expect(b"ms k 1 T60\r\nx\r\n", b"HD\r\n")
        a.expect(b"mg k R30 v\r\n", b"VA 1\r\nx\r\n")
        b.expect(b"mg k R120 v\r\n", b"VA 1 W\r\nx\r\n")
        a.expect(b"mg k R120 v\r\n", b"VA 1 Z\r\nx\r\n")
        b.expect(b"ms k 1 T600\r\ny\r\n", b"HD\r\n")
        a.expect(b"mg k R120 v\r\n", b"VA 1\r\ny\r\n")


@pytest.mark.concurrency
def test_racing_readers_get_exactly_one_win(start_server):
    """Readers on their own connections (so on different worker threads) race for each
    invalidated item and each missing one; exactly one wins every time."""
    server = start_server("-t", "4")
    readers = 6
    rounds = 40
    barrier = threading.Barrier(readers + 1)
    wins = {"stale": [0] * rounds, "vivify": [0] * rounds}
    errors = []

    def reader():
        try:
            with server.connect() as conn:
                for r in range(rounds):
                    barrier.wait()
                    flags = read(conn, b"hot")[2]
                    if b"W" in flags:
                        wins["stale"][r] += 1
                    assert b"X" in flags
                    reply = conn.call(b"mg cold:%d N30\r\n" % r)
                    assert reply in (b"HD W\r\n", b"HD Z\r\n"), reply
                    if reply == b"HD W\r\n":
                        wins["vivify"][r] += 1
                    barrier.wait()
        except Exception as e:  # reported by the main thread
            errors.append(e)
            barrier.abort()

    threads = [threading.Thread(target=reader) for _ in range(readers)]
    for t in threads:
        t.start()
    with server.connect() as writer:
        writer.expect(b"ms hot 5 T100\r\nvalue\r\n", b"HD\r\n")
        for _ in range(rounds):
            writer.expect(b"md hot I\r\n", b"HD\r\n")
            try:
                barrier.wait()
                barrier.wait()
            except threading.BrokenBarrierError:
                break
    for t in threads:
        t.join()
    assert not errors, errors
    assert wins["stale"] == [1] * rounds
    assert wins["vivify"] == [1] * rounds
