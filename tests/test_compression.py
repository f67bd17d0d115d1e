"""Server-side compression: clients always get the original bytes and flags, whatever command
touches a compressed value, and `stats` shows what was compressed. mnemod only."""

import json
import os

import pytest
from pymemcache.client.base import Client

import harness
from harness import gets_cas, stats

pytestmark = pytest.mark.skipif(harness.is_memcached(), reason="mnemod's compression")


def json_value(seed, size=4096):
    """About `size` bytes of JSON, as web applications cache it: compresses to about a third."""
    rows = []
    while len(json.dumps(rows)) < size:
        i = len(rows)
        rows.append({"id": seed * 1000 + i, "name": "user%d" % i, "email": "user%d@example.com" % i,
                     "active": True, "roles": ["reader", "writer"]})
    return json.dumps(rows).encode()


def value_block(value):
    return b"%d\r\n%s\r\n" % (len(value), value)


@pytest.fixture
def snappy_conn(start_server):
    with start_server("-o", "compression=snappy,compress_min=256").connect() as c:
        yield c


def test_get_gets_gat_return_the_original_bytes_and_flags(snappy_conn):
    c = snappy_conn
    value = json_value(1)
    c.expect(b"set j 42 0 " + value_block(value), b"STORED\r\n")
    c.expect(b"get j\r\n", b"VALUE j 42 %d\r\n%s\r\nEND\r\n" % (len(value), value))
    cas = gets_cas(c, b"j")
    c.expect(b"gets j\r\n", b"VALUE j 42 %d %d\r\n%s\r\nEND\r\n" % (len(value), cas, value))
    c.expect(b"gat 100 j\r\n", b"VALUE j 42 %d\r\n%s\r\nEND\r\n" % (len(value), value))
    c.expect(b"gats 0 j\r\n", b"VALUE j 42 %d %d\r\n%s\r\nEND\r\n" % (len(value), cas, value))
    c.expect(b"touch j 50\r\n", b"TOUCHED\r\n")
    assert gets_cas(c, b"j") == cas  # touch keeps the CAS
    s = stats(c)
    assert int(s["compress_items"]) == 1
    assert int(s["compress_bytes_in"]) == len(value)
    assert int(s["compress_bytes_out"]) < len(value) // 2
    assert int(s["bytes"]) < len(value) // 2
    assert int(s["decompress_items"]) >= 4
    assert s["decompress_errors"] == "0"


def test_append_prepend_cas_and_incr_behave_as_on_raw_values(snappy_conn):
    c = snappy_conn
    value = json_value(2)
    c.expect(b"set j 3 0 " + value_block(value), b"STORED\r\n")
    c.expect(b"append j 0 0 5\r\n,tail\r\n", b"STORED\r\n")
    c.expect(b"prepend j 0 0 5\r\nhead,\r\n", b"STORED\r\n")
    whole = b"head," + value + b",tail"
    c.expect(b"get j\r\n", b"VALUE j 3 %d\r\n%s\r\nEND\r\n" % (len(whole), whole))
    cas = gets_cas(c, b"j")
    c.expect(b"cas j 5 0 %d %d\r\n%s\r\n" % (len(value), cas, value), b"STORED\r\n")
    c.expect(b"cas j 5 0 %d %d\r\n%s\r\n" % (len(value), cas, value), b"EXISTS\r\n")
    c.expect(b"get j\r\n", b"VALUE j 5 %d\r\n%s\r\nEND\r\n" % (len(value), value))
    # A number padded with spaces compresses; incr and decr read it as memcached does, keeping
    # its length.
    padded = b"41" + b" " * 600
    c.expect(b"set n 0 0 " + value_block(padded), b"STORED\r\n")
    c.expect(b"incr n 1\r\n", b"42\r\n")
    c.expect(b"decr n 40\r\n", b"2\r\n")
    c.expect(b"get n\r\n", b"VALUE n 0 %d\r\n2%s\r\nEND\r\n" % (len(padded), b" " * 601))
    c.expect(b"incr j 1\r\n", b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")
    assert stats(c)["decompress_errors"] == "0"


def test_meta_commands_report_the_original_length(snappy_conn):
    c = snappy_conn
    value = json_value(3)
    c.expect(b"ms m %d F9 T0\r\n%s\r\n" % (len(value), value), b"HD\r\n")
    c.expect(b"mg m s f v\r\n", b"VA %d s%d f9\r\n%s\r\n" % (len(value), len(value), value))
    c.expect(b"mg m s T30\r\n", b"HD s%d\r\n" % len(value))
    c.expect(b"ms m 4 MA\r\ntail\r\n", b"HD\r\n")
    c.expect(b"mg m s v\r\n", b"VA %d s%d\r\n%stail\r\n" % (len(value) + 4, len(value) + 4, value))
    c.expect(b"md m I\r\n", b"HD\r\n")
    c.expect(b"mg m s\r\n", b"HD s%d X W\r\n" % (len(value) + 4))


def test_incompressible_values_are_stored_as_they_came(snappy_conn):
    c = snappy_conn
    value = os.urandom(100000)
    c.expect(b"set r 0 0 " + value_block(value), b"STORED\r\n")
    c.expect(b"get r\r\n", b"VALUE r 0 %d\r\n%s\r\nEND\r\n" % (len(value), value))
    s = stats(c)
    assert s["compress_items"] == "0"
    assert s["compress_rejected"] == "1"
    assert int(s["bytes"]) > len(value)


def test_the_item_size_limit_applies_to_the_original_length(start_server):
    with start_server("-I", "64k").connect() as c:
        zeros = b"0" * 65536
        c.expect(b"set z 0 0 " + value_block(zeros), b"STORED\r\n")
        c.expect(b"set big 0 0 " + value_block(zeros + b"0"),
                 b"SERVER_ERROR object too large for cache\r\n")
        c.expect(b"append z 0 0 1\r\n0\r\n", b"NOT_STORED\r\n")
        c.expect(b"get z\r\n", b"VALUE z 0 65536\r\n%s\r\nEND\r\n" % zeros)


def test_settings_and_off(start_server):
    with start_server().connect() as c:
        s = stats(c, b"settings")
        assert s["compression"] == "snappy"
        assert s["compress_min"] == "256"
        assert s["compress_ratio"] == "0.88"
    with start_server("-o", "compression=off,compress_min=1k,compress_ratio=0.5").connect() as c:
        s = stats(c, b"settings")
        assert (s["compression"], s["compress_min"], s["compress_ratio"]) == ("off", "1024", "0.50")
        value = json_value(4)
        c.expect(b"set j 0 0 " + value_block(value), b"STORED\r\n")
        assert stats(c)["compress_items"] == "0"
        assert int(stats(c)["bytes"]) > len(value)


def test_pymemcache_round_trips_compressible_values(start_server):
    server = start_server()
    client = Client((harness.HOST, server.port), timeout=harness.TIMEOUT)
    try:
        values = {("k%d" % i): json_value(i, 1000 + 700 * i) for i in range(8)}
        client.set_many(values)
        assert client.get_many(list(values)) == values
        client.append("k0", b"!")
        assert client.get("k0") == values["k0"] + b"!"
        assert int(client.stats()[b"compress_items"]) == 9  # the append stored one more
    finally:
        client.close()
