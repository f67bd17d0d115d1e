"""Clients that hold the server up on purpose, rows of BAD_INPUTS.md's "Memory and connections":
slowloris (many connections, each stalled in a partial `set`) and a slow reader (a client that
pipelines large gets and never reads its replies). Other clients must be served as usual, and the
server's memory must stay bounded: it stops reading from a client whose replies pile up."""

import re
import socket
import time

from harness import rss_bytes, stats, wait_for_stat

STALLED = 128
SLOW = 120


def test_slowloris_128_connections_stalled_in_a_partial_set_do_not_hold_up_others(server):
    value = b"0123456789" * 10
    with server.connect() as watcher:
        baseline = int(stats(watcher)["curr_connections"])
        stalled = []  # [connection, its whole request, bytes of it sent so far]
        try:
            for i in range(STALLED):
                request = b"set slow%d 0 0 %d\r\n%s\r\n" % (i, len(value), value)
                # Half stop inside the command line, half inside the data block.
                stalled.append([server.connect(timeout=SLOW), request, 10 if i % 2 else 30])
                stalled[-1][0].send(request[:stalled[-1][2]])
            assert wait_for_stat(watcher, "curr_connections", str(baseline + STALLED),
                                 timeout=SLOW) == str(baseline + STALLED)
            with server.connect() as other:
                started = time.monotonic()
                for n in range(200):
                    # Drip-feed: every stalled client sends one more byte now and then, as a
                    # slowloris does to keep its connections from looking dead.
                    if n % 50 == 0:
                        for entry in stalled:
                            c, request, sent = entry
                            c.send(request[sent:sent + 1])
                            entry[2] += 1
                    other.expect(b"set k%d 0 0 3\r\nabc\r\nget k%d\r\n" % (n, n),
                                 b"STORED\r\nVALUE k%d 0 3\r\nabc\r\nEND\r\n" % n)
                elapsed = time.monotonic() - started
            assert elapsed < 60, "200 round trips took %.1fs beside the stalled clients" % elapsed
            # The stalled clients were only slow: finishing their commands stores them.
            for c, request, sent in stalled:
                c.send(request[sent:])
            for c, _, _ in stalled:
                assert c.readline() == b"STORED\r\n"
            watcher.expect(b"get slow0 slow127\r\n",
                           b"VALUE slow0 0 100\r\n%s\r\nVALUE slow127 0 100\r\n%s\r\nEND\r\n"
                           % (value, value))
        finally:
            for c, _, _ in stalled:
                c.close()
        assert wait_for_stat(watcher, "curr_connections", str(baseline),
                             timeout=SLOW) == str(baseline)


def send_until_blocked(sock, request, limit, quiet=2.0):
    """Sends `request` over and over until the socket has stayed full for `quiet` seconds (the
    server stopped reading) or `limit` bytes went out. Returns the bytes sent."""
    sock.setblocking(False)
    chunk = request * (65536 // len(request))
    sent = 0
    blocked_since = None
    while sent < limit:
        try:
            sent += sock.send(chunk)
            blocked_since = None
        except BlockingIOError:
            now = time.monotonic()
            blocked_since = blocked_since or now
            if now - blocked_since >= quiet:
                break
            time.sleep(0.01)
    sock.setblocking(True)
    return sent


def test_slow_reader_of_large_gets_is_bounded_and_others_are_served(server):
    value = b"v" * (512 << 10)
    reply = b"VALUE big 0 %d\r\n%s\r\nEND\r\n" % (len(value), value)
    with server.connect(timeout=SLOW) as watcher:
        watcher.expect(b"set big 0 0 %d\r\n%s\r\n" % (len(value), value), b"STORED\r\n")
        assert watcher.call(b"get big\r\n") == reply  # its bytes are resident from now on
        baseline = int(stats(watcher)["curr_connections"])
        rss_before = rss_bytes(server.pid)
        reader = server.connect(timeout=SLOW)
        reader.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # 1 GiB of requests would ask for about 60 PiB of replies: the server must stop reading.
        sent = send_until_blocked(reader.sock, b"get big\r\n", 1 << 30)
        assert sent < 1 << 30, "the server read 1 GiB of gets from a client that never reads"
        gets = int(stats(watcher)["cmd_get"])
        # Others are served while the reader sits there, and its requests stay unanswered.
        with server.connect(timeout=SLOW) as other:
            for _ in range(5):
                assert other.call(b"get big\r\n") == reply
        assert int(stats(watcher)["cmd_get"]) == gets + 5
        grown = rss_bytes(server.pid) - rss_before
        assert grown < 64 << 20, "RSS grew by %d MiB for one slow reader" % (grown >> 20)
        reader.close()
        assert wait_for_stat(watcher, "curr_connections", str(baseline),
                             timeout=SLOW) == str(baseline)
        watcher.expect(b"get nothing\r\n", b"END\r\n")


def connection_state(watcher, client):
    """The state `stats conns` gives for the connection whose client end is socket `client`."""
    reply = watcher.call(b"stats conns\r\n").decode()
    me = "tcp:127.0.0.1:%d" % client.getsockname()[1]
    fd = re.search(r"STAT (\d+):addr %s\r\n" % re.escape(me), reply).group(1)
    return re.search(r"STAT %s:state (\w+)\r\n" % fd, reply).group(1)


def test_requests_sent_while_replies_wait_are_answered_once_the_reader_reads(server):
    # While a client's replies wait for it to read, the server does not listen for its input
    # (so that each request arriving does not wake it); reading on must take the requests that
    # came meanwhile, though no new one comes after them to signal them.
    value = b"w" * (512 << 10)
    reply = b"VALUE wide 0 %d\r\n%s\r\nEND\r\n" % (len(value), value)
    with server.connect(timeout=10) as c, server.connect() as watcher:
        c.expect(b"set wide 0 0 %d\r\n%s\r\nset small 0 0 1\r\ns\r\n" % (len(value), value),
                 b"STORED\r\nSTORED\r\n")
        # Gets until their replies fill both sockets and the server waits to write (conn_mwrite).
        gets = 0
        while gets < 64 and (gets == 0 or connection_state(watcher, c.sock) != "conn_mwrite"):
            c.send(b"get wide\r\n" * 4)
            gets += 4
            time.sleep(0.2)
        assert connection_state(watcher, c.sock) == "conn_mwrite", "%d gets never blocked" % gets
        c.send(b"get wide\r\n" * 4 + b"get small\r\n")
        for _ in range(gets + 4):
            assert c.read_exact(len(reply)) == reply
        assert c.readline() == b"VALUE small 0 1\r\n"
        assert c.read_exact(len(b"s\r\nEND\r\n")) == b"s\r\nEND\r\n"
