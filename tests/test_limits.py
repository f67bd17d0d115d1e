"""The connection limit, -c. memcached counts file descriptors, not clients: with -c N it
accepts clients while their descriptor stays below N, and 1.6.18 with 4 threads already holds 24
for itself (-c 23 does not start; -c 26 lets 2 clients in). So these tests ask only that some
clients get in, never more than N, and that every one past the limit is told so and closed."""

import pytest

from harness import Closed, stats, wait_for_stat

LIMIT = 26
TOO_MANY = b"ERROR Too many open connections\r\n"


def fill(server, limit):
    """Opens connections until one is refused; returns (admitted, the refusal's reply)."""
    admitted = []
    for _ in range(limit + 5):
        c = server.connect()
        try:
            reply = c.call(b"")
        except Closed:
            reply = c.buf
        if reply != b"":
            c.close()
            return admitted, reply
        admitted.append(c)
    pytest.fail("%d connections were all admitted under -c %d" % (len(admitted), limit))


@pytest.fixture
def full(start_server):
    """A server with -c LIMIT that has just refused a connection; its admitted connections."""
    server = start_server("-c", str(LIMIT))
    admitted, refusal = fill(server, LIMIT)
    yield server, admitted, refusal
    for c in admitted:
        c.close()


def test_one_connection_too_many_is_told_and_closed(full):
    server, admitted, refusal = full
    assert 1 <= len(admitted) <= LIMIT
    assert refusal == TOO_MANY
    with server.connect() as late:
        assert late.read_to_eof() == TOO_MANY


def test_rejected_connections_counts_every_refusal(full):
    server, admitted, _ = full
    for _ in range(3):
        with server.connect() as late:
            late.read_to_eof()
    assert stats(admitted[0])["rejected_connections"] == "4"


def test_admitted_connections_are_still_served(full):
    _, admitted, _ = full
    for i, c in enumerate(admitted):
        c.expect(b"set k%d 0 0 1\r\n%d\r\n" % (i, i % 10), b"STORED\r\n")
    admitted[-1].expect(b"get k0\r\n", b"VALUE k0 0 1\r\n0\r\nEND\r\n")


def test_a_closed_connection_makes_room_for_a_new_one(full):
    server, admitted, _ = full
    assert len(admitted) >= 2
    watcher = admitted[0]
    now_open = int(stats(watcher)["curr_connections"]) - 1
    admitted.pop().close()
    assert wait_for_stat(watcher, "curr_connections", str(now_open)) == str(now_open)
    with server.connect() as newcomer:
        newcomer.expect(b"get nothing\r\n", b"END\r\n")
