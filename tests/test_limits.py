"""The connection limit, -c, to the connection. memcached counts file descriptors, not clients: it
turns a client away when the descriptor accept() gave it is N - 1 or more (with -c N), so it
admits N - 1 - D clients, D being the descriptors it holds itself: the three standard streams,
three for its main event loop, one per listening socket and five per worker thread in 1.6.45 (four
in 1.6.18). mnemod admits exactly as many as 1.6.45 with the same -t and listening sockets, and,
like memcached, does not start with a -c below D. Each client past the limit is told so and
closed."""

import subprocess

import pytest

import harness
from harness import Closed, stats, wait_for_stat

TOO_MANY = b"ERROR Too many open connections\r\n"
# Clients the tests' -c leaves room for.
ROOM = 3


def per_worker_descriptors():
    """Descriptors the server under test counts per worker thread: memcached 1.6.18 holds four,
    1.6.45 five, and mnemod counts as 1.6.45 does."""
    version = subprocess.run([harness.server_binary(), "-V"], capture_output=True, text=True,
                             timeout=harness.TIMEOUT, stdin=subprocess.DEVNULL).stdout
    return 4 if version.split()[-1] == "1.6.18" else 5


def own_descriptors(threads, listeners):
    """D: what the server holds for itself before its first client, as memcached counts it."""
    return 3 + 3 + listeners + per_worker_descriptors() * threads


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


# (worker threads, listening sockets): the base flags listen on 127.0.0.1; a second -l adds
# 127.0.0.2 on the same port.
SHAPES = [(4, 1), (1, 1), (2, 2)]


@pytest.mark.parametrize("threads,listeners", SHAPES,
                         ids=["%d threads, %d listeners" % shape for shape in SHAPES])
def test_admits_exactly_as_many_clients_as_memcached(start_server, threads, listeners):
    limit = own_descriptors(threads, listeners) + 1 + ROOM
    flags = ["-c", str(limit), "-t", str(threads)]
    if listeners == 2:
        flags += ["-l", "127.0.0.2"]
    server = start_server(*flags)
    admitted, refusal = fill(server, limit)
    try:
        assert len(admitted) == ROOM, "-c %d -t %d with %d listeners" % (limit, threads, listeners)
        assert refusal == TOO_MANY
        assert stats(admitted[0])["max_connections"] == str(limit)
    finally:
        for c in admitted:
            c.close()


def test_a_limit_that_leaves_room_for_no_client_refuses_every_one(start_server):
    server = start_server("-c", str(own_descriptors(4, 1) + 1))
    for _ in range(3):
        with server.connect() as c:
            assert c.read_to_eof() == TOO_MANY


def test_a_limit_below_the_servers_own_descriptors_does_not_start():
    # memcached fails to start at -c D - 1 (out of descriptors for itself); at -c D exactly 1.6.45
    # starts but can then accept nothing at all, and mnemod refuses it too.
    flags = harness.base_flags(harness.free_port()) + ["-c", str(own_descriptors(4, 1) - 1)]
    try:
        proc = subprocess.run([harness.server_binary(), *flags], capture_output=True, text=True,
                              timeout=harness.TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail("the server started with %s" % " ".join(flags), pytrace=False)
    assert proc.returncode != 0
    assert proc.stderr.strip()


@pytest.fixture
def full(start_server):
    """A server with room for ROOM clients that has just refused a connection; its admitted
    connections."""
    limit = own_descriptors(4, 1) + 1 + ROOM
    server = start_server("-c", str(limit))
    admitted, refusal = fill(server, limit)
    yield server, admitted, refusal
    for c in admitted:
        c.close()


def test_one_connection_too_many_is_told_and_closed(full):
    server, admitted, refusal = full
    assert len(admitted) == ROOM
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


def test_a_closed_connection_makes_room_for_exactly_one_new_one(full):
    server, admitted, _ = full
    watcher = admitted[0]
    now_open = int(stats(watcher)["curr_connections"]) - 1
    admitted.pop().close()
    assert wait_for_stat(watcher, "curr_connections", str(now_open)) == str(now_open)
    newcomer = server.connect()
    admitted.append(newcomer)
    newcomer.expect(b"get nothing\r\n", b"END\r\n")
    with server.connect() as late:
        assert late.read_to_eof() == TOO_MANY
