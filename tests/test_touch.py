"""touch, and the new exptime that touch, gat and gats give an item.

The expiry checks share one module server and one sleep: the fixture `slept` stores and touches
every key first, then waits once until exptime 1 has surely passed."""

import time

import pytest

from harness import gets_cas

# exptime 1 has passed on any server counting whole seconds.
EXPIRY_WAIT = 2.1


def test_touch_of_a_stored_key(conn):
    conn.expect(b"set k 0 0 1\r\nx\r\ntouch k 10\r\n", b"STORED\r\nTOUCHED\r\n")
    conn.expect(b"get k\r\n", b"VALUE k 0 1\r\nx\r\nEND\r\n")


def test_touch_of_a_missing_key(conn):
    conn.expect(b"touch nope 10\r\n", b"NOT_FOUND\r\n")


def test_touch_noreply(conn):
    conn.expect(b"set k 0 0 1\r\nx\r\ntouch k 10 noreply\r\ntouch nope 10 noreply\r\n",
                b"STORED\r\n")


def test_touch_with_a_negative_exptime_expires_at_once(conn):
    conn.expect(b"set k 0 0 1\r\nx\r\ntouch k -1\r\n", b"STORED\r\nTOUCHED\r\n")
    conn.expect(b"get k\r\n", b"END\r\n")


def test_touch_without_exptime_is_bad_command_line_format(conn):
    conn.expect(b"touch k\r\n", b"CLIENT_ERROR bad command line format\r\n")


def test_pymemcache_touch(client):
    client.set("k", b"v")
    assert client.touch("k", 100) is True
    assert client.touch("nope", 100) is False
    assert client.get("k") == b"v"


@pytest.fixture(scope="module")
def slept(start_module_server):
    server = start_module_server()
    with server.connect() as c:
        c.expect(b"set touch_short 0 0 1\r\nx\r\ntouch touch_short 1\r\n"
                 b"set touch_long 0 1 1\r\nx\r\ntouch touch_long 100\r\n"
                 b"set touch_never 0 1 1\r\nx\r\ntouch touch_never 0\r\n"
                 b"set touch_quiet 0 1 1\r\nx\r\ntouch touch_quiet 100 noreply\r\n",
                 b"STORED\r\nTOUCHED\r\n" * 3 + b"STORED\r\n")
        c.expect(b"set gat_short 0 100 1\r\nx\r\ngat 1 gat_short\r\n"
                 b"set gat_long 0 1 1\r\nx\r\ngat 100 gat_long\r\n",
                 b"STORED\r\nVALUE gat_short 0 1\r\nx\r\nEND\r\n"
                 b"STORED\r\nVALUE gat_long 0 1\r\nx\r\nEND\r\n")
        c.expect(b"set gats_long 0 1 1\r\nx\r\n", b"STORED\r\n")
        token = gets_cas(c, b"gats_long")
        c.expect(b"gats 100 gats_long\r\n", b"VALUE gats_long 0 1 %d\r\nx\r\nEND\r\n" % token)
    time.sleep(EXPIRY_WAIT)
    return server


def present(server, key):
    with server.connect() as c:
        reply = c.call(b"get " + key + b"\r\n")
    assert reply in (b"END\r\n", b"VALUE %s 0 1\r\nx\r\nEND\r\n" % key), reply
    return reply != b"END\r\n"


def test_touch_shortens_the_expiry(slept):
    assert not present(slept, b"touch_short")


def test_touch_extends_the_expiry(slept):
    assert present(slept, b"touch_long")


def test_touch_to_zero_makes_the_item_permanent(slept):
    assert present(slept, b"touch_never")


def test_touch_noreply_still_extends_the_expiry(slept):
    assert present(slept, b"touch_quiet")


def test_gat_shortens_the_expiry(slept):
    assert not present(slept, b"gat_short")


def test_gat_extends_the_expiry(slept):
    assert present(slept, b"gat_long")


def test_gats_extends_the_expiry(slept):
    assert present(slept, b"gats_long")
