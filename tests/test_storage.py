"""Storage commands: set, add, replace, append, prepend and cas, with and without noreply."""

import os

import pytest

from harness import gets_cas


def test_set_then_get_returns_the_exact_bytes(conn):
    conn.expect(b"set k 5 0 5\r\nhello\r\n", b"STORED\r\n")
    conn.expect(b"get k\r\n", b"VALUE k 5 5\r\nhello\r\nEND\r\n")


def test_set_replaces_value_and_flags(conn):
    conn.expect(b"set k 1 0 3\r\nold\r\nset k 2 0 5\r\nnewer\r\n", b"STORED\r\nSTORED\r\n")
    conn.expect(b"get k\r\n", b"VALUE k 2 5\r\nnewer\r\nEND\r\n")


@pytest.mark.parametrize("flags", [0, 1, 65535, 4294967295])
def test_flags_are_returned_unchanged(conn, flags):
    conn.expect(b"set k %d 0 1\r\nx\r\n" % flags, b"STORED\r\n")
    conn.expect(b"get k\r\n", b"VALUE k %d 1\r\nx\r\nEND\r\n" % flags)


def test_set_noreply_stores_silently(conn):
    conn.expect(b"set k 0 0 1 noreply\r\nx\r\n", b"")
    conn.expect(b"get k\r\n", b"VALUE k 0 1\r\nx\r\nEND\r\n")


def test_add_stores_only_a_new_key(conn):
    conn.expect(b"add k 3 0 5\r\nfirst\r\n", b"STORED\r\n")
    conn.expect(b"add k 4 0 6\r\nsecond\r\n", b"NOT_STORED\r\n")
    conn.expect(b"get k\r\n", b"VALUE k 3 5\r\nfirst\r\nEND\r\n")


def test_add_noreply(conn):
    conn.expect(b"add k 0 0 1 noreply\r\na\r\nadd k 0 0 1 noreply\r\nb\r\n", b"")
    conn.expect(b"get k\r\n", b"VALUE k 0 1\r\na\r\nEND\r\n")


def test_replace_stores_only_an_existing_key(conn):
    conn.expect(b"replace k 0 0 1\r\na\r\n", b"NOT_STORED\r\n")
    conn.expect(b"get k\r\n", b"END\r\n")
    conn.expect(b"set k 1 0 1\r\na\r\nreplace k 7 0 3\r\nnew\r\n", b"STORED\r\nSTORED\r\n")
    conn.expect(b"get k\r\n", b"VALUE k 7 3\r\nnew\r\nEND\r\n")


def test_replace_noreply(conn):
    conn.expect(b"replace k 0 0 1 noreply\r\na\r\n", b"")
    conn.expect(b"set k 0 0 1\r\na\r\nreplace k 0 0 1 noreply\r\nb\r\n", b"STORED\r\n")
    conn.expect(b"get k\r\n", b"VALUE k 0 1\r\nb\r\nEND\r\n")


def test_append_and_prepend_keep_the_original_flags(conn):
    conn.expect(b"set k 12 0 1\r\nx\r\nappend k 99 0 2\r\nyy\r\nprepend k 98 0 2\r\nzz\r\n",
                b"STORED\r\nSTORED\r\nSTORED\r\n")
    conn.expect(b"get k\r\n", b"VALUE k 12 5\r\nzzxyy\r\nEND\r\n")


def test_append_and_prepend_to_a_missing_key_are_not_stored(conn):
    conn.expect(b"append k 0 0 1\r\na\r\nprepend k 0 0 1\r\nb\r\n",
                b"NOT_STORED\r\nNOT_STORED\r\n")
    conn.expect(b"get k\r\n", b"END\r\n")


def test_append_and_prepend_noreply(conn):
    conn.expect(b"append k 0 0 1 noreply\r\na\r\n", b"")
    conn.expect(b"set k 0 0 1\r\nm\r\nappend k 0 0 1 noreply\r\na\r\n"
                b"prepend k 0 0 1 noreply\r\np\r\n", b"STORED\r\n")
    conn.expect(b"get k\r\n", b"VALUE k 0 3\r\npma\r\nEND\r\n")


def test_append_and_prepend_empty_data(conn):
    conn.expect(b"set k 0 0 2\r\nab\r\nappend k 0 0 0\r\n\r\nprepend k 0 0 0\r\n\r\n",
                b"STORED\r\nSTORED\r\nSTORED\r\n")
    conn.expect(b"get k\r\n", b"VALUE k 0 2\r\nab\r\nEND\r\n")


def test_cas_with_the_current_token_stores(conn):
    conn.expect(b"set k 0 0 1\r\na\r\n", b"STORED\r\n")
    token = gets_cas(conn, b"k")
    conn.expect(b"cas k 3 0 1 %d\r\nb\r\n" % token, b"STORED\r\n")
    conn.expect(b"get k\r\n", b"VALUE k 3 1\r\nb\r\nEND\r\n")
    assert gets_cas(conn, b"k") != token


def test_cas_token_is_single_use(conn):
    conn.expect(b"set k 0 0 1\r\na\r\n", b"STORED\r\n")
    token = gets_cas(conn, b"k")
    conn.expect(b"cas k 0 0 1 %d\r\nb\r\ncas k 0 0 1 %d\r\nc\r\n" % (token, token),
                b"STORED\r\nEXISTS\r\n")
    conn.expect(b"get k\r\n", b"VALUE k 0 1\r\nb\r\nEND\r\n")


def test_cas_noreply(conn):
    conn.expect(b"set k 0 0 1\r\na\r\n", b"STORED\r\n")
    token = gets_cas(conn, b"k")
    conn.expect(b"cas k 0 0 1 %d noreply\r\nb\r\ncas k 0 0 1 %d noreply\r\nc\r\n"
                b"cas missing 0 0 1 1 noreply\r\nd\r\n" % (token, token), b"")
    conn.expect(b"get k missing\r\n", b"VALUE k 0 1\r\nb\r\nEND\r\n")


@pytest.mark.parametrize("change", [
    b"set k 0 0 1\r\nz\r\n", b"append k 0 0 1\r\nz\r\n", b"prepend k 0 0 1\r\nz\r\n",
    b"replace k 0 0 1\r\nz\r\n", b"incr k 1\r\n", b"decr k 1\r\n",
], ids=["set", "append", "prepend", "replace", "incr", "decr"])
def test_every_write_changes_the_cas_token(conn, change):
    conn.expect(b"set k 0 0 1\r\n5\r\n", b"STORED\r\n")
    token = gets_cas(conn, b"k")
    conn.call(change)
    assert gets_cas(conn, b"k") != token
    conn.expect(b"cas k 0 0 1 %d\r\nx\r\n" % token, b"EXISTS\r\n")


def test_cas_tokens_are_per_key(conn):
    # A token shared between keys would make one client's cas fail when another key changed.
    conn.expect(b"set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\n", b"STORED\r\nSTORED\r\n")
    token_a = gets_cas(conn, b"a")
    assert token_a != gets_cas(conn, b"b")
    conn.expect(b"set b 0 0 1\r\n3\r\n", b"STORED\r\n")
    conn.expect(b"cas a 0 0 1 %d\r\nx\r\n" % token_a, b"STORED\r\n")


def test_touch_and_gat_keep_the_cas_token(conn):
    conn.expect(b"set k 0 0 1\r\na\r\n", b"STORED\r\n")
    token = gets_cas(conn, b"k")
    conn.expect(b"touch k 100\r\n", b"TOUCHED\r\n")
    conn.expect(b"gat 200 k\r\n", b"VALUE k 0 1\r\na\r\nEND\r\n")
    conn.expect(b"cas k 0 0 1 %d\r\nb\r\n" % token, b"STORED\r\n")


def test_largest_values_round_trip(conn):
    value = os.urandom(1024 * 1024 - 1024)
    conn.expect(b"set big 0 0 %d\r\n%s\r\n" % (len(value), value), b"STORED\r\n")
    conn.expect(b"get big\r\n", b"VALUE big 0 %d\r\n%s\r\nEND\r\n" % (len(value), value))


def test_many_keys_round_trip(conn):
    keys = [b"key:%d" % i for i in range(2000)]
    conn.expect(b"".join(b"set %s %d 0 %d\r\n%s\r\n" % (k, i, len(k), k)
                         for i, k in enumerate(keys)), b"STORED\r\n" * len(keys))
    conn.expect(b"get " + b" ".join(keys) + b"\r\n",
                b"".join(b"VALUE %s %d %d\r\n%s\r\n" % (k, i, len(k), k)
                         for i, k in enumerate(keys)) + b"END\r\n")


def test_pymemcache_storage_commands(client):
    assert client.set("k", b"v1", expire=0) is True
    assert client.get("k") == b"v1"
    assert client.add("k", b"v2") is False
    assert client.add("n", b"fresh") is True
    assert client.replace("k", b"v3") is True
    assert client.replace("absent", b"x") is False
    assert client.append("k", b"+a") is True
    assert client.prepend("k", b"p+") is True
    assert client.get("k") == b"p+v3+a"
    assert client.append("absent", b"x") is False
    assert client.prepend("absent", b"x") is False


def test_pymemcache_gets_and_cas(client):
    assert client.cas("k", b"v", b"1") is None  # NOT_FOUND
    client.set("k", b"v")
    value, token = client.gets("k")
    assert value == b"v"
    assert client.cas("k", b"w", token) is True
    assert client.cas("k", b"x", token) is False  # EXISTS
    assert client.get("k") == b"w"


def test_pymemcache_set_many_and_noreply(client):
    assert client.set_many({"a": b"1", "b": b"2", "c": b"3"}) == []
    assert client.set("quiet", b"q", noreply=True) is True
    assert client.get_many(["a", "b", "c", "quiet"]) == {
        "a": b"1", "b": b"2", "c": b"3", "quiet": b"q"}
