"""flush_all [delay] [noreply]. The delayed flush shares one module server and one sleep."""

import time

import pytest


def test_flush_all_invalidates_every_item(conn):
    conn.expect(b"set a 0 0 1\r\n1\r\nset b 0 100 1\r\n2\r\nflush_all\r\n",
                b"STORED\r\nSTORED\r\nOK\r\n")
    conn.expect(b"get a b\r\n", b"END\r\n")


def test_items_stored_after_a_flush_are_kept(conn):
    conn.expect(b"set a 0 0 1\r\n1\r\nflush_all\r\nset a 0 0 1\r\n2\r\nadd b 0 0 1\r\n3\r\n",
                b"STORED\r\nOK\r\nSTORED\r\nSTORED\r\n")
    conn.expect(b"get a b\r\n", b"VALUE a 0 1\r\n2\r\nVALUE b 0 1\r\n3\r\nEND\r\n")


def test_flushed_items_are_gone_for_every_command(conn):
    conn.expect(b"set a 0 0 1\r\n1\r\nflush_all\r\n", b"STORED\r\nOK\r\n")
    conn.expect(b"incr a 1\r\ntouch a 10\r\nappend a 0 0 1\r\nx\r\nreplace a 0 0 1\r\nx\r\n"
                b"delete a\r\nadd a 0 0 1\r\n5\r\n",
                b"NOT_FOUND\r\nNOT_FOUND\r\nNOT_STORED\r\nNOT_STORED\r\nNOT_FOUND\r\nSTORED\r\n")


def test_flush_all_noreply(conn):
    conn.expect(b"set a 0 0 1\r\n1\r\nflush_all noreply\r\n", b"STORED\r\n")
    conn.expect(b"get a\r\n", b"END\r\n")


@pytest.mark.parametrize("delay", [b"0", b"-1"])
def test_flush_all_without_a_positive_delay_is_immediate(conn, delay):
    conn.expect(b"set a 0 0 1\r\n1\r\nflush_all " + delay + b"\r\n", b"STORED\r\nOK\r\n")
    conn.expect(b"get a\r\n", b"END\r\n")


def test_flush_all_with_delay_and_noreply(conn):
    conn.expect(b"set a 0 0 1\r\n1\r\nflush_all 0 noreply\r\n", b"STORED\r\n")
    conn.expect(b"get a\r\n", b"END\r\n")


def test_pymemcache_flush_all(client):
    client.set("a", b"1")
    assert client.flush_all() is True
    assert client.get("a") is None


@pytest.fixture(scope="module")
def delayed_flush(start_module_server):
    """A server told `flush_all 3`, and what it answered before and after the delay."""
    server = start_module_server()
    seen = {}
    with server.connect() as c:
        c.expect(b"set old 0 0 1\r\n1\r\nflush_all 3\r\n", b"STORED\r\nOK\r\n")
        seen["old, before"] = c.call(b"get old\r\n")
        c.expect(b"set between 0 0 1\r\n2\r\n", b"STORED\r\n")
        time.sleep(3.2)
        seen["old, after"] = c.call(b"get old\r\n")
        seen["between, after"] = c.call(b"get between\r\n")
        c.expect(b"set new 0 0 1\r\n3\r\n", b"STORED\r\n")
        seen["new, after"] = c.call(b"get new\r\n")
    return seen


def test_delayed_flush_keeps_items_until_the_delay(delayed_flush):
    assert delayed_flush["old, before"] == b"VALUE old 0 1\r\n1\r\nEND\r\n"


def test_delayed_flush_invalidates_items_after_the_delay(delayed_flush):
    assert delayed_flush["old, after"] == b"END\r\n"


def test_delayed_flush_invalidates_items_stored_during_the_delay(delayed_flush):
    assert delayed_flush["between, after"] == b"END\r\n"


def test_items_stored_after_a_delayed_flush_are_kept(delayed_flush):
    assert delayed_flush["new, after"] == b"VALUE new 0 1\r\n3\r\nEND\r\n"
