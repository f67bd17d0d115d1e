"""Retrieval commands: get, gets, gat and gats, with one key and with many."""

import re

from harness import gets_cas


def store(conn, *pairs):
    conn.expect(b"".join(b"set %s %d 0 %d\r\n%s\r\n" % (k, f, len(v), v) for k, f, v in pairs),
                b"STORED\r\n" * len(pairs))


def test_get_of_a_missing_key_is_end(conn):
    conn.expect(b"get nothing\r\n", b"END\r\n")


def test_multi_get_answers_hits_in_the_order_asked_and_skips_misses(conn):
    store(conn, (b"a", 1, b"A"), (b"b", 2, b"BB"), (b"c", 3, b"CCC"))
    conn.expect(b"get c x a y b\r\n",
                b"VALUE c 3 3\r\nCCC\r\nVALUE a 1 1\r\nA\r\nVALUE b 2 2\r\nBB\r\nEND\r\n")


def test_multi_get_repeats_a_key_named_twice(conn):
    store(conn, (b"m", 0, b"x"))
    conn.expect(b"get m m m\r\n", b"VALUE m 0 1\r\nx\r\n" * 3 + b"END\r\n")


def test_get_tolerates_extra_spaces_between_keys(conn):
    store(conn, (b"a", 0, b"1"), (b"b", 0, b"2"))
    conn.expect(b"get  a   b \r\n", b"VALUE a 0 1\r\n1\r\nVALUE b 0 1\r\n2\r\nEND\r\n")


def test_a_line_ending_in_a_bare_newline_is_accepted(conn):
    store(conn, (b"a", 0, b"1"))
    conn.expect(b"get a\n", b"VALUE a 0 1\r\n1\r\nEND\r\n")


def test_gets_adds_the_cas_token(conn):
    store(conn, (b"a", 7, b"xyz"), (b"b", 0, b""))
    reply = conn.call(b"gets a b nope\r\n")
    match = re.fullmatch(rb"VALUE a 7 3 (\d+)\r\nxyz\r\nVALUE b 0 0 (\d+)\r\n\r\nEND\r\n", reply)
    assert match, reply
    assert match.group(1) != match.group(2)
    assert int(match.group(1)) == gets_cas(conn, b"a")


def test_gat_returns_the_value_and_sets_a_new_exptime(conn):
    store(conn, (b"a", 5, b"one"), (b"b", 6, b"two"))
    conn.expect(b"gat 100 a nope b\r\n", b"VALUE a 5 3\r\none\r\nVALUE b 6 3\r\ntwo\r\nEND\r\n")
    conn.expect(b"gat -1 a\r\n", b"VALUE a 5 3\r\none\r\nEND\r\n")
    conn.expect(b"get a b\r\n", b"VALUE b 6 3\r\ntwo\r\nEND\r\n")


def test_gat_of_missing_keys_is_end(conn):
    conn.expect(b"gat 10 x y\r\n", b"END\r\n")


def test_gats_returns_the_cas_token(conn):
    store(conn, (b"a", 0, b"v"))
    token = gets_cas(conn, b"a")
    conn.expect(b"gats 100 a\r\n", b"VALUE a 0 1 %d\r\nv\r\nEND\r\n" % token)


def test_retrieval_without_a_key_is_bad_command_line_format(conn):
    conn.expect(b"get\r\ngets\r\ngat\r\ngats\r\ngat 10\r\n",
                b"CLIENT_ERROR bad command line format\r\n" * 5)


def test_hundreds_of_keys_in_one_get(conn):
    keys = [b"k%d" % i for i in range(500)]
    store(conn, *[(k, 0, k) for k in keys[::2]])
    conn.expect(b"get " + b" ".join(keys) + b"\r\n",
                b"".join(b"VALUE %s 0 %d\r\n%s\r\n" % (k, len(k), k) for k in keys[::2])
                + b"END\r\n")


def test_pymemcache_retrieval(client):
    client.set_many({"a": b"1", "b": b"2"})
    assert client.get("a") == b"1"
    assert client.get("missing") is None
    assert client.get_many(["a", "missing", "b"]) == {"a": b"1", "b": b"2"}
    value, token = client.gets("a")
    assert value == b"1" and int(token) > 0
    assert client.gets("missing") == (None, None)
    assert client.gets_many(["a", "b"])["b"][0] == b"2"
