"""version, verbosity, quit, shutdown (with and without -A) and cache_memlimit."""

import re

import pytest

from harness import stats


def test_version(conn):
    assert re.fullmatch(rb"VERSION \d+\.\d+\.\d+\S*\r\n", conn.call(b"version\r\n"))


def test_pymemcache_version(client, conn):
    assert b"VERSION " + client.version() + b"\r\n" == conn.call(b"version\r\n")


def test_verbosity(conn):
    conn.expect(b"verbosity 1\r\nverbosity 0\r\n", b"OK\r\nOK\r\n")


def test_verbosity_noreply(conn):
    conn.expect(b"verbosity 1 noreply\r\n", b"")


def test_verbosity_without_a_level_is_bad_command_line_format(conn):
    conn.expect(b"verbosity\r\n", b"CLIENT_ERROR bad command line format\r\n")


def test_verbosity_with_a_non_numeric_level(conn):
    conn.expect(b"verbosity x\r\n", b"CLIENT_ERROR bad command line format\r\n")


def test_quit_closes_without_a_reply_and_ignores_what_follows(server, conn):
    conn.send(b"set a 0 0 1\r\n1\r\nquit\r\nset b 0 0 1\r\n2\r\n")
    assert conn.read_to_eof() == b"STORED\r\n"
    with server.connect() as other:
        other.expect(b"get a b\r\n", b"VALUE a 0 1\r\n1\r\nEND\r\n")


def test_pymemcache_quit(client):
    client.set("a", b"1")
    client.quit()
    assert client.get("a") == b"1"  # pymemcache reconnects


def test_shutdown_is_refused_without_dash_a(server, conn):
    conn.expect(b"shutdown\r\n", b"SERVER_ERROR: shutdown not enabled\r\n")
    assert server.alive()


@pytest.mark.parametrize("command", [b"shutdown\r\n", b"shutdown graceful\r\n"])
def test_shutdown_with_dash_a_stops_the_server(start_server, command):
    server = start_server("-A")
    with server.connect() as c:
        c.send(command)
        assert c.read_to_eof() == b""
    assert server.wait_exit() == 0


def test_shutdown_with_an_unknown_mode_is_refused(start_server):
    server = start_server("-A")
    with server.connect() as c:
        c.expect(b"shutdown now\r\n", b"CLIENT_ERROR invalid shutdown mode\r\n")
    assert server.alive()


def test_cache_memlimit_changes_limit_maxbytes(conn):
    conn.expect(b"cache_memlimit 100\r\n", b"OK\r\n")
    assert stats(conn)["limit_maxbytes"] == str(100 * 1024 * 1024)
    conn.expect(b"cache_memlimit 64 noreply\r\n", b"")
    assert stats(conn)["limit_maxbytes"] == str(64 * 1024 * 1024)


@pytest.mark.parametrize("megabytes", [b"0", b"7"])
def test_cache_memlimit_below_8_megabytes_is_refused(conn, megabytes):
    conn.expect(b"cache_memlimit " + megabytes + b"\r\n",
                b"MEMLIMIT_TOO_SMALL cannot set maxbytes to less than 8m\r\n")
    assert stats(conn)["limit_maxbytes"] == str(64 * 1024 * 1024)


@pytest.mark.parametrize("line", [b"cache_memlimit", b"cache_memlimit abc",
                                  b"cache_memlimit -5"])
def test_cache_memlimit_without_a_number_is_an_error(conn, line):
    conn.expect(line + b"\r\n", b"ERROR\r\n")


def test_cache_memlimit_keeps_the_items(conn):
    conn.expect(b"set a 0 0 1\r\n1\r\ncache_memlimit 32\r\n", b"STORED\r\nOK\r\n")
    conn.expect(b"get a\r\n", b"VALUE a 0 1\r\n1\r\nEND\r\n")
