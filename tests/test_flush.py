"""flush_all [delay] [noreply]. The delayed flush shares one module server and one sleep.

When a delayed flush takes effect is checked against the server's own clock: a test waits for
the server's `uptime` to tick, then works early in that second. Expected replies are memcached
1.6.45's (run with MNEMO_SERVER=<its binary>, these pass there too)."""

import time

import pytest

from harness import stats


def next_second(conn):
    """Waits until the server's clock ticks (its `uptime` changes), so that what follows runs early
    in one of the server's seconds; returns the new uptime."""
    start = int(stats(conn)["uptime"])
    deadline = time.monotonic() + 3
    while True:
        now = int(stats(conn)["uptime"])
        if now != start:
            return now
        assert time.monotonic() < deadline, "the server's uptime did not move"
        time.sleep(0.005)


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


# memcached flushes what is older than "now + delay - 1", from then on: a delay of 1 is now.
def test_flush_all_1_is_immediate(conn):
    conn.expect(b"set a 0 0 1\r\n1\r\nflush_all 1\r\nget a\r\n", b"STORED\r\nOK\r\nEND\r\n")


def test_flush_all_2_takes_effect_when_the_next_second_starts(conn):
    next_second(conn)
    conn.expect(b"set a 0 0 1\r\n1\r\nflush_all 2\r\nget a\r\n",
                b"STORED\r\nOK\r\nVALUE a 0 1\r\n1\r\nEND\r\n")
    next_second(conn)
    conn.expect(b"get a\r\n", b"END\r\n")
    # Stored once the flush's second is over: kept.
    next_second(conn)
    conn.expect(b"set b 0 0 1\r\n2\r\nget a b\r\n", b"STORED\r\nVALUE b 0 1\r\n2\r\nEND\r\n")


# oldest_live is a whole second: what is stored during the second a timed flush takes effect is
# flushed too (STORED, but gone at once), until the next second starts.
def test_a_store_in_the_second_of_flush_all_1_is_flushed_too(conn):
    next_second(conn)
    conn.expect(b"flush_all 1\r\nset a 0 0 1\r\n1\r\nadd a 0 0 1\r\n2\r\nget a\r\n",
                b"OK\r\nSTORED\r\nSTORED\r\nEND\r\n")
    next_second(conn)
    conn.expect(b"set a 0 0 1\r\n1\r\nget a\r\n", b"STORED\r\nVALUE a 0 1\r\n1\r\nEND\r\n")


def test_a_store_in_the_second_a_delayed_flush_takes_effect_is_flushed_too(conn):
    next_second(conn)
    conn.expect(b"flush_all 2\r\nset a 0 0 1\r\n1\r\nget a\r\n",
                b"OK\r\nSTORED\r\nVALUE a 0 1\r\n1\r\nEND\r\n")
    next_second(conn)
    conn.expect(b"set b 0 0 1\r\n2\r\nget a b\r\n", b"STORED\r\nEND\r\n")
    next_second(conn)
    conn.expect(b"set b 0 0 1\r\n2\r\nget a b\r\n", b"STORED\r\nVALUE b 0 1\r\n2\r\nEND\r\n")


def test_flush_all_without_a_time_hides_nothing_stored_after_it(conn):
    next_second(conn)
    conn.expect(b"set a 0 0 1\r\n1\r\nflush_all\r\nset b 0 0 1\r\n2\r\nget a b\r\n",
                b"STORED\r\nOK\r\nSTORED\r\nVALUE b 0 1\r\n2\r\nEND\r\n")


def test_flush_all_3_waits_two_seconds(conn):
    next_second(conn)
    conn.expect(b"set a 0 0 1\r\n1\r\nflush_all 3\r\n", b"STORED\r\nOK\r\n")
    next_second(conn)
    conn.expect(b"get a\r\n", b"VALUE a 0 1\r\n1\r\nEND\r\n")
    next_second(conn)
    conn.expect(b"get a\r\n", b"END\r\n")


# An absolute time in the past: memcached flushes now, unless the time is at or before the one
# it dates its start from (62 seconds before it started), when it flushes nothing.
def test_flush_all_at_a_time_long_before_the_server_started_flushes_nothing(conn):
    past = int(time.time()) - 3600
    conn.expect(b"set a 0 0 1\r\n1\r\nflush_all %d\r\nget a\r\n" % past,
                b"STORED\r\nOK\r\nVALUE a 0 1\r\n1\r\nEND\r\n")


def test_flush_all_at_a_recent_past_time_flushes_now(conn):
    past = int(time.time()) - 10
    conn.expect(b"set a 0 0 1\r\n1\r\nflush_all %d\r\nget a\r\n" % past,
                b"STORED\r\nOK\r\nEND\r\n")
    conn.expect(b"set b 0 0 1\r\n2\r\nget b\r\n", b"STORED\r\nVALUE b 0 1\r\n2\r\nEND\r\n")


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


def test_a_flush_all_with_a_bad_delay_is_counted(conn):
    conn.expect(b"flush_all abc\r\n", b"CLIENT_ERROR invalid exptime argument\r\n")
    assert stats(conn)["cmd_flush"] == "1"
