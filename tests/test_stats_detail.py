"""`stats detail on|off|dump`: memcached's per-prefix counts of gets, hits, sets and deletes, the
prefix being a key's bytes before the delimiter (-D, ':' by default); `stats reset` clears them,
-X refuses the command. Every expectation is memcached 1.6.45's, byte for byte, the order of the
PREFIX lines included."""

import pytest

from harness import stats

BAD_FORMAT = b"CLIENT_ERROR bad command line format\r\n"


def test_detail_is_off_until_turned_on(conn):
    assert stats(conn, b"settings")["detail_enabled"] == "no"
    conn.expect(b"set a:1 0 0 1\r\nx\r\nstats detail dump\r\n", b"STORED\r\nEND\r\n")
    conn.expect(b"stats detail on\r\n", b"OK\r\n")
    assert stats(conn, b"settings")["detail_enabled"] == "yes"
    conn.expect(b"stats detail off\r\n", b"OK\r\n")
    assert stats(conn, b"settings")["detail_enabled"] == "no"


def test_detail_counts_gets_hits_sets_and_deletes_per_prefix(conn):
    conn.expect(b"stats detail on\r\n", b"OK\r\n")
    conn.expect(b"set a:1 0 0 1\r\nx\r\nadd a:2 0 0 1\r\ny\r\nadd a:1 0 0 1\r\nz\r\n"
                b"set b:1 0 0 1\r\nx\r\nset nocolon 0 0 1\r\nx\r\n",
                b"STORED\r\nSTORED\r\nNOT_STORED\r\nSTORED\r\nSTORED\r\n")
    conn.expect(b"get a:1 a:3 b:1\r\n", b"VALUE a:1 0 1\r\nx\r\nVALUE b:1 0 1\r\nx\r\nEND\r\n")
    conn.expect(b"gat 0 a:2\r\ndelete a:9\r\ndelete b:1\r\nincr a:1 1\r\n",
                b"VALUE a:2 0 1\r\ny\r\nEND\r\nNOT_FOUND\r\nDELETED\r\n"
                b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")
    # The meta commands are not counted.
    conn.expect(b"mg a:1 v\r\nms a:5 1\r\nq\r\nmd a:5\r\n", b"VA 1\r\nx\r\nHD\r\nHD\r\n")
    conn.expect(b"stats detail dump\r\n",
                b"PREFIX b get 1 hit 1 set 1 del 1\r\nPREFIX a get 3 hit 2 set 3 del 1\r\nEND\r\n")
    # Off stops the counting, not the counts.
    conn.expect(b"stats detail off\r\nget a:1\r\n", b"OK\r\nVALUE a:1 0 1\r\nx\r\nEND\r\n")
    conn.expect(b"stats detail dump\r\n",
                b"PREFIX b get 1 hit 1 set 1 del 1\r\nPREFIX a get 3 hit 2 set 3 del 1\r\nEND\r\n")
    conn.expect(b"stats reset\r\nstats detail dump\r\n", b"RESET\r\nEND\r\n")


def test_a_refused_set_still_counts(conn):
    conn.expect(b"stats detail on\r\n", b"OK\r\n")
    big = (1 << 20) + 1
    conn.expect(b"set a:big 0 0 %d\r\n%s\r\n" % (big, b"z" * big),
                b"SERVER_ERROR object too large for cache\r\n")
    conn.expect(b"stats detail dump\r\n", b"PREFIX a get 0 hit 0 set 1 del 0\r\nEND\r\n")


def test_dash_capital_d_sets_the_delimiter_and_turns_detail_on(start_server):
    server = start_server("-D", "#")
    with server.connect() as c:
        settings = stats(c, b"settings")
        assert (settings["stat_key_prefix"], settings["detail_enabled"]) == ("#", "yes")
        c.expect(b"set x#1 0 0 1\r\nv\r\nget x#1 x:2\r\n",
                 b"STORED\r\nVALUE x#1 0 1\r\nv\r\nEND\r\n")
        c.expect(b"stats detail dump\r\n", b"PREFIX x get 1 hit 1 set 1 del 0\r\nEND\r\n")


# memcached compares the sub-command with the bytes the client wrote.
@pytest.mark.parametrize("request_, reply", [
    (b"stats detail\r\n", b"CLIENT_ERROR usage: stats detail on|off|dump\r\n"),
    (b"stats detail bogus\r\n", b"CLIENT_ERROR usage: stats detail on|off|dump\r\n"),
    (b"stats detail o\r\n", b"OK\r\n"),
    (b"stats detail of\r\n", b"OK\r\n"),
    (b"stats d on\r\n", b"OK\r\n"),
    (b"stats detail d\r\n", b"END\r\n"),
    (b"stats detail on extra\r\n", b"OK\r\n"),
])
def test_detail_sub_commands_as_memcached_reads_them(conn, request_, reply):
    conn.expect(request_, reply)


def test_dash_capital_x_refuses_detail(start_server):
    server = start_server("-X")
    with server.connect() as c:
        c.expect(b"stats detail on\r\n", b"CLIENT_ERROR stats detail not allowed\r\n")
