"""Item stats return to their baseline once the items are gone, even when no client writes again:
after flush_all, and after every item expired. Dashboards and alerts read curr_items and bytes;
memcached 1.6.18 brings both to 0 within a second or two (its LRU maintainer and crawler). The
items are written from several connections, so that several workers hold them, and no client
writes afterwards: a worker hands over the segments it holds open once it has been idle for a
tick (Cache::Tick)."""

from harness import stats, wait_for_stat

WRITERS = 8  # at least two connections per worker of the default -t 4
ITEMS = 10


def write_from_many_connections(server, exptime):
    for w in range(WRITERS):
        with server.connect() as c:
            c.expect(b"".join(b"set k%d.%d 0 %d 3\r\nabc\r\n" % (w, i, exptime)
                              for i in range(ITEMS)), b"STORED\r\n" * ITEMS)


def assert_back_to_zero(conn):
    for name in ("curr_items", "bytes"):
        got = wait_for_stat(conn, name, "0", timeout=6)
        assert got == "0", "%s is %s, not back to 0" % (name, got)


def test_curr_items_and_bytes_return_to_0_after_flush_all_while_writers_are_idle(server, conn):
    write_from_many_connections(server, 0)
    assert stats(conn)["curr_items"] == str(WRITERS * ITEMS)
    conn.expect(b"flush_all\r\n", b"OK\r\n")
    assert_back_to_zero(conn)


def test_curr_items_and_bytes_return_to_0_once_every_item_expired(server, conn):
    write_from_many_connections(server, 1)
    assert_back_to_zero(conn)
