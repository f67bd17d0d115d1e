"""incr and decr. The rows of BAD_INPUTS.md's "Arithmetic and CAS" are in test_bad_input.py."""

import pytest


def test_incr_and_decr(conn):
    conn.expect(b"set n 3 0 2\r\n10\r\n", b"STORED\r\n")
    conn.expect(b"incr n 5\r\nincr n 0\r\ndecr n 3\r\ndecr n 0\r\n", b"15\r\n15\r\n12\r\n12\r\n")
    conn.expect(b"get n\r\n", b"VALUE n 3 2\r\n12\r\nEND\r\n")


def test_incr_of_a_missing_key_is_not_found(conn):
    conn.expect(b"incr nope 1\r\ndecr nope 1\r\n", b"NOT_FOUND\r\nNOT_FOUND\r\n")
    conn.expect(b"get nope\r\n", b"END\r\n")


def test_incr_and_decr_noreply(conn):
    conn.expect(b"set n 0 0 1\r\n5\r\nincr n 10 noreply\r\ndecr n 2 noreply\r\n"
                b"incr nope 1 noreply\r\n", b"STORED\r\n")
    conn.expect(b"get n\r\n", b"VALUE n 0 2\r\n13\r\nEND\r\n")


def test_incr_that_lengthens_the_number(conn):
    conn.expect(b"set n 0 0 2\r\n99\r\nincr n 1\r\n", b"STORED\r\n100\r\n")
    conn.expect(b"get n\r\n", b"VALUE n 0 3\r\n100\r\nEND\r\n")


def test_incr_keeps_the_flags(conn):
    conn.expect(b"set n 42 0 1\r\n1\r\nincr n 1\r\n", b"STORED\r\n2\r\n")
    conn.expect(b"get n\r\n", b"VALUE n 42 1\r\n2\r\nEND\r\n")


def test_incr_by_the_largest_delta(conn):
    conn.expect(b"set n 0 0 1\r\n0\r\nincr n 18446744073709551615\r\n",
                b"STORED\r\n18446744073709551615\r\n")


def test_incr_accepts_leading_zeros_in_the_value(conn):
    conn.expect(b"set n 0 0 3\r\n007\r\nincr n 1\r\n", b"STORED\r\n8\r\n")
    conn.expect(b"get n\r\n", b"VALUE n 0 3\r\n8  \r\nEND\r\n")


@pytest.mark.parametrize("line", [b"incr n", b"decr n", b"incr", b"decr noreply"])
def test_arith_with_too_few_tokens_is_bad_command_line_format(conn, line):
    conn.expect(line + b"\r\n", b"CLIENT_ERROR bad command line format\r\n")


def test_arith_ignores_tokens_past_the_delta(conn):
    conn.expect(b"set n 0 0 1\r\n5\r\nincr n 1 extra\r\nincr n 1 noreply extra\r\n",
                b"STORED\r\n6\r\n7\r\n")


def test_pymemcache_incr_decr(client):
    client.set("n", b"10")
    assert client.incr("n", 5) == 15
    assert client.decr("n", 20) == 0
    assert client.incr("missing", 1) is None
    assert client.decr("missing", 1) is None
    assert client.get("n") == b"0 "
