"""delete, with and without noreply."""

import pytest


def test_delete_of_a_stored_key(conn):
    conn.expect(b"set k 0 0 1\r\nx\r\n", b"STORED\r\n")
    conn.expect(b"delete k\r\n", b"DELETED\r\n")
    conn.expect(b"get k\r\n", b"END\r\n")
    conn.expect(b"delete k\r\n", b"NOT_FOUND\r\n")


def test_delete_of_a_missing_key(conn):
    conn.expect(b"delete nothing\r\n", b"NOT_FOUND\r\n")


def test_delete_noreply(conn):
    conn.expect(b"set k 0 0 1\r\nx\r\ndelete k noreply\r\ndelete k noreply\r\n", b"STORED\r\n")
    conn.expect(b"get k\r\n", b"END\r\n")


def test_delete_accepts_the_legacy_zero_time(conn):
    conn.expect(b"set k 0 0 1\r\nx\r\ndelete k 0\r\n", b"STORED\r\nDELETED\r\n")
    conn.expect(b"set k 0 0 1\r\nx\r\ndelete k 0 noreply\r\n", b"STORED\r\n")
    conn.expect(b"get k\r\n", b"END\r\n")


# Deliberate: 1.6.45 answers a format error, and runs a delete with extra tokens; mnemod answers
# ERROR to both as 1.6.18 did, which libmemcached's memccapable checks (test_memccapable.py).
@pytest.mark.mnemo_only
@pytest.mark.parametrize("line", [b"delete", b"delete k a b c"])
def test_delete_without_a_key_or_with_too_many_tokens_is_an_error(conn, line):
    conn.expect(b"set k 0 0 1\r\n1\r\n" + line + b"\r\n", b"STORED\r\nERROR\r\n")
    conn.expect(b"get k\r\n", b"VALUE k 0 1\r\n1\r\nEND\r\n")


def test_a_deleted_key_can_be_added_again(conn):
    conn.expect(b"set k 0 0 1\r\nx\r\ndelete k\r\nadd k 0 0 1\r\ny\r\n",
                b"STORED\r\nDELETED\r\nSTORED\r\n")
    conn.expect(b"get k\r\n", b"VALUE k 0 1\r\ny\r\nEND\r\n")


def test_delete_leaves_other_keys(conn):
    conn.expect(b"set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\ndelete a\r\n",
                b"STORED\r\nSTORED\r\nDELETED\r\n")
    conn.expect(b"get a b\r\n", b"VALUE b 0 1\r\n2\r\nEND\r\n")


def test_pymemcache_delete(client):
    client.set("k", b"v")
    assert client.delete("k") is True
    assert client.delete("k") is False
    assert client.get("k") is None
    client.set_many({"a": b"1", "b": b"2"})
    assert client.delete_many(["a", "b", "c"]) is True
    assert client.get_many(["a", "b"]) == {}
