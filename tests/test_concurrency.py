"""Many clients at once on one server: no update is lost, no reply goes to the wrong client.
These are the tests the TSan stage runs (label "concurrency"), so each keeps to a few seconds
even under ThreadSanitizer."""

import threading

import pytest

import harness

pytestmark = pytest.mark.concurrency
CLIENTS = 8


def in_parallel(work, clients=CLIENTS):
    """Runs work(i) for each client i on its own thread; re-raises the first failure."""
    errors = []

    def guarded(i):
        try:
            work(i)
        except BaseException as e:  # reported below, in the test's own thread
            errors.append(e)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a client hung"
    if errors:
        raise errors[0]


def test_concurrent_incr_loses_no_update(server, conn):
    conn.expect(b"set n 0 0 1\r\n0\r\n", b"STORED\r\n")

    def work(_):
        with server.connect() as c:
            replies = c.call(b"incr n 1\r\n" * 500)
            assert len(replies.split(b"\r\n")) == 501

    in_parallel(work)
    conn.expect(b"get n\r\n", b"VALUE n 0 4\r\n%d\r\nEND\r\n" % (CLIENTS * 500))


def test_concurrent_appends_keep_every_piece(server, conn):
    conn.expect(b"set log 0 0 0\r\n\r\n", b"STORED\r\n")

    def work(i):
        with server.connect() as c:
            c.expect(b"append log 0 0 1\r\n%d\r\n" % i * 200, b"STORED\r\n" * 200)

    in_parallel(work)
    value = conn.call(b"get log\r\n").split(b"\r\n")[1]
    assert sorted(value) == sorted(b"".join(b"%d" % i * 200 for i in range(CLIENTS)))


def test_concurrent_cas_admits_exactly_one_writer_per_version(server, conn):
    conn.expect(b"set n 0 0 1\r\n0\r\n", b"STORED\r\n")
    wins = [0] * CLIENTS

    def work(i):
        with server.connect() as c:
            for _ in range(100):
                reply = c.call(b"gets n\r\n").split()
                token, value = int(reply[4]), int(reply[5])
                new = b"%d" % (value + 1)
                if c.call(b"cas n 0 0 %d %d\r\n%s\r\n" % (len(new), token, new)) == b"STORED\r\n":
                    wins[i] += 1

    in_parallel(work)
    assert conn.call(b"get n\r\n").split()[4] == b"%d" % sum(wins)


def test_concurrent_clients_read_only_their_own_values(server):
    def work(i):
        with server.connect() as c:
            for round_ in range(100):
                value = b"client %d round %d " % (i, round_) * (1 + round_ % 50)
                key = b"c%d:%d" % (i, round_ % 10)
                c.expect(b"set %s %d 0 %d\r\n%s\r\nget %s\r\n" % (key, i, len(value), value, key),
                         b"STORED\r\nVALUE %s %d %d\r\n%s\r\nEND\r\n" % (key, i, len(value), value))

    in_parallel(work)


def test_concurrent_connects_and_disconnects(server, conn):
    def work(i):
        for j in range(50):
            with server.connect() as c:
                c.expect(b"set s%d 0 0 1\r\n%d\r\n" % (i, j % 10), b"STORED\r\n")

    in_parallel(work)
    assert harness.wait_for_stat(conn, "curr_connections", "1") == "1"
    conn.expect(b"get s0\r\n", b"VALUE s0 0 1\r\n9\r\nEND\r\n")


def test_flush_and_deletes_during_writes_leave_a_consistent_cache(server, conn):
    def work(i):
        with server.connect() as c:
            for j in range(200):
                if i == 0 and j % 20 == 0:
                    c.expect(b"flush_all\r\n", b"OK\r\n")
                elif i == 1:
                    assert c.call(b"delete k%d\r\n" % (j % 50)) in (b"DELETED\r\n",
                                                                    b"NOT_FOUND\r\n")
                else:
                    c.expect(b"set k%d 0 0 2\r\nxx\r\n" % (j % 50), b"STORED\r\n")

    in_parallel(work)
    reply = conn.call(b"get " + b" ".join(b"k%d" % j for j in range(50)) + b"\r\n")
    hits = reply.count(b"VALUE ")
    assert reply.count(b"\r\nxx\r\n") == hits
    assert harness.stats(conn)["curr_items"] == str(hits)
