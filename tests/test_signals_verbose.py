"""Signals and -vv as memcached 1.6.45 has them: SIGHUP does not stop the server, SIGUSR1 stops it
as SIGTERM does (saying "Gracefully stopping"), and -vv prints each command ("<FD ...") and its
reply (">FD ...") in memcached's words. These pass against memcached 1.6.45 too
(MNEMO_SERVER=<its binary>)."""

import re
import signal
import time

import harness


def test_sighup_does_not_stop_the_server(server):
    with server.connect() as conn:
        conn.expect(b"set k 0 0 1\r\nx\r\n", b"STORED\r\n")
        server.proc.send_signal(signal.SIGHUP)
        time.sleep(0.2)
        assert server.alive()
        conn.expect(b"get k\r\n", b"VALUE k 0 1\r\nx\r\nEND\r\n")


def test_sigusr1_stops_the_server_gracefully(server):
    with server.connect() as conn:
        conn.expect(b"set k 0 0 1\r\nx\r\n", b"STORED\r\n")
        server.proc.send_signal(signal.SIGUSR1)
        assert conn.read_to_eof() == b""
    assert server.wait_exit() == 0
    assert "Gracefully stopping" in server.output()


def test_sigterm_with_dash_v_says_it_exits_normally(start_server):
    server = start_server("-v")
    server.proc.send_signal(signal.SIGTERM)
    assert server.wait_exit() == 0
    assert "Exiting normally" in server.output()


# Requests whose -vv lines both servers print alike, sent one at a time.
REQUESTS = [b"set a 0 0 1\r\nx\r\n", b"add a 0 0 1\r\ny\r\n", b"get a\r\n", b"get nope\r\n",
            b"get a nope a\r\n", b"gets a\r\n", b"incr a 1\r\n", b"set n 0 0 1\r\n5\r\n",
            b"incr n 10\r\n", b"decr n 100\r\n", b"touch a 10\r\n", b"touch nope 10\r\n",
            b"delete a\r\n", b"delete a\r\n", b"append nope 0 0 1\r\nz\r\n", b"bogus\r\n",
            b"flush_all\r\n", b"stats settings\r\n", b"mn\r\n", b"mg nope v\r\n",
            b"ms m 1\r\nq\r\n", b"mg m v\r\n", b"version\r\n", b"verbosity 1\r\n"]

CONNECTION_EVENTS = re.compile(r"new .*client connection|server listening|connection closed")


def client_lines(output):
    """The -vv lines of commands and replies, the descriptor replaced by N."""
    lines = []
    for line in output.splitlines():
        match = re.match(r"^([<>])\d+ (.*)$", line)
        if match and not CONNECTION_EVENTS.search(line):
            lines.append("%sN %s" % match.groups())
    return lines


def test_dash_vv_prints_commands_and_replies_as_memcached_does(start_server):
    server = start_server("-vv")
    with server.connect() as conn:
        for request in REQUESTS:
            conn.send(request)
            conn.read_for(0.05)
        # Once this is answered, every line before it has been printed; at verbosity 1 neither
        # it nor its sentinel is.
        conn.expect(b"set after 0 0 1\r\nx\r\n", b"STORED\r\n")
    # memcached 1.6.45 prints no reply of delete, incr, decr, touch and the meta commands but mn
    # (it answers them without out_string), and neither multi-line replies.
    assert client_lines(server.output()) == [
        "<N set a 0 0 1",
        ">N STORED",
        "<N add a 0 0 1",
        ">N NOT_STORED",
        "<N get a",
        ">N sending key a",
        ">N END",
        "<N get nope",
        ">N END",
        "<N get a nope a",
        ">N sending key a",
        ">N sending key a",
        ">N END",
        "<N gets a",
        ">N sending key a",
        ">N END",
        "<N incr a 1",
        "<N set n 0 0 1",
        ">N STORED",
        "<N incr n 10",
        "<N decr n 100",
        "<N touch a 10",
        "<N touch nope 10",
        "<N delete a",
        "<N delete a",
        "<N append nope 0 0 1",
        ">N NOT_STORED",
        "<N bogus",
        ">N ERROR",
        "<N flush_all",
        ">N OK",
        "<N stats settings",
        "<N mn",
        ">N MN",
        "<N mg nope v",
        "<N ms m 1",
        "<N mg m v",
        "<N version",
        ">N VERSION 1.6.45",
        "<N verbosity 1",
    ]


# Commands with noreply, whose withheld reply memcached 1.6.45 prints as ">FD NOREPLY <reply>"
# when its out_string suppresses it; commands it answers without out_string print none.
NOREPLY_REQUESTS = [b"set k 0 0 1 noreply\r\nx\r\n", b"add k 0 0 1 noreply\r\nx\r\n",
                    b"replace nope 0 0 1 noreply\r\nx\r\n", b"append k 0 0 1 noreply\r\ny\r\n",
                    b"cas nope 0 0 1 1 noreply\r\nz\r\n", b"delete k noreply\r\n",
                    b"set n 0 0 1 noreply\r\n5\r\n", b"incr n 1 noreply\r\n",
                    b"touch n 10 noreply\r\n", b"flush_all noreply\r\n",
                    b"verbosity 2 noreply\r\n", b"bogus noreply\r\n",
                    b"set k 0 0 2 noreply\r\nxx\r\n", b"ms k 1 q\r\nx\r\n"]


def test_dash_vv_prints_the_reply_noreply_withheld_as_memcached_does(start_server):
    server = start_server("-vv")
    with server.connect() as conn:
        for request in NOREPLY_REQUESTS:
            conn.send(request)
            conn.read_for(0.05)
        conn.expect(b"set after 0 0 1\r\nx\r\n", b"STORED\r\n")
    assert client_lines(server.output()) == [
        "<N set k 0 0 1 noreply",
        ">N NOREPLY STORED",
        "<N add k 0 0 1 noreply",
        ">N NOREPLY NOT_STORED",
        "<N replace nope 0 0 1 noreply",
        ">N NOREPLY NOT_STORED",
        "<N append k 0 0 1 noreply",
        ">N NOREPLY STORED",
        "<N cas nope 0 0 1 1 noreply",
        ">N NOREPLY NOT_FOUND",
        "<N delete k noreply",
        "<N set n 0 0 1 noreply",
        ">N NOREPLY STORED",
        "<N incr n 1 noreply",
        "<N touch n 10 noreply",
        "<N flush_all noreply",
        ">N NOREPLY OK",
        "<N verbosity 2 noreply",
        ">N NOREPLY OK",
        "<N bogus noreply",
        ">N NOREPLY ERROR",
        "<N set k 0 0 2 noreply",
        ">N NOREPLY STORED",
        "<N ms k 1 q",
        "<N set after 0 0 1",
        ">N STORED",
        "<N version",
        ">N VERSION 1.6.45",
    ]
