"""A full cache: the first two rows of BAD_INPUTS.md's "Memory and connections". By default the
least valuable items make room and `bytes` never passes `limit_maxbytes`; with -M a store that
does not fit is refused with "SERVER_ERROR out of memory storing object" and nothing already
stored is lost. Every value is a function of its key, so a hit that returns another item's bytes
fails.

(A `set` refused under -M for an existing key is left out: memcached 1.6.18 then drops the old
value, as it does for a value too large, while mnemod keeps it.)"""

import random

import pytest

from harness import stats

MEGABYTES = "8"
STORED = b"STORED\r\n"
OUT_OF_MEMORY = b"SERVER_ERROR out of memory storing object\r\n"
# From a few bytes to values larger than a segment (64 KiB at -m 8), which are stored as chains.
SIZES = [10, 100, 1000, 4000, 10_000, 50_000, 100_000, 300_000]


def value_of(key, size):
    # Incompressible bytes, a function of the key: server-side compression must not keep the
    # cache from filling.
    return random.Random(key).randbytes(size)


def set_request(key, value, noreply=b""):
    return b"set %s 0 0 %d%s\r\n%s\r\n" % (key, len(value), noreply, value)


def parse_values(reply):
    """{key: data} from the VALUE blocks of a get's reply, which must end with END."""
    values = {}
    at = 0
    while reply.startswith(b"VALUE ", at):
        end = reply.index(b"\r\n", at)
        _, key, _, size = reply[at:end].split(b" ")[:4]
        data = reply[end + 2:end + 2 + int(size)]
        assert reply[end + 2 + int(size):end + 4 + int(size)] == b"\r\n", reply[at:end]
        values[key] = data
        at = end + 4 + int(size)
    assert reply[at:] == b"END\r\n", reply[at:at + 200]
    return values


def fetch(conn, keys, batch=40):
    """{key: data} for those of `keys` that are present."""
    found = {}
    for i in range(0, len(keys), batch):
        found.update(parse_values(conn.call(b"get " + b" ".join(keys[i:i + batch]) + b"\r\n",
                                            timeout=60)))
    return found


def test_a_full_cache_evicts_and_bytes_never_pass_limit_maxbytes(start_server):
    server = start_server("-m", MEGABYTES)
    rng = random.Random(7)
    sizes = {}
    with server.connect() as c:
        limit = int(stats(c)["limit_maxbytes"])
        written = 0
        while written < 4 * limit:
            key = b"fill:%d" % len(sizes)
            sizes[key] = rng.choice(SIZES)
            c.expect(set_request(key, value_of(key, sizes[key])), STORED)
            written += sizes[key]
            if len(sizes) % 25 == 0:
                assert int(stats(c)["bytes"]) <= limit
        s = stats(c)
        assert int(s["evictions"]) > 0
        assert 0 < int(s["bytes"]) <= limit
        survivors = fetch(c, list(sizes))
        assert 0 < len(survivors) < len(sizes)
        newest = list(sizes)[-3:]
        assert set(newest) <= set(survivors), "the items written last were evicted"
        for key, data in survivors.items():
            assert data == value_of(key, sizes[key]), "%r holds the wrong bytes" % key
        # Evicting made room: new items are stored and served as before.
        c.expect(set_request(b"after", b"v"), STORED)
        c.expect(b"get after\r\n", b"VALUE after 0 1\r\nv\r\nEND\r\n")


def test_a_full_cache_under_dash_capital_m_refuses_stores_and_keeps_every_item(start_server):
    server = start_server("-m", MEGABYTES, "-M")
    rng = random.Random(11)
    stored = {}
    with server.connect() as c:
        limit = int(stats(c)["limit_maxbytes"])
        while True:
            key = b"keep:%d" % len(stored)
            value = value_of(key, rng.randrange(1000, 20_000))
            reply = c.call(set_request(key, value))
            if reply == OUT_OF_MEMORY:
                break
            assert reply == STORED, reply
            stored[key] = value
            assert len(stored) < limit // 1000, "more was stored than -m holds"
        # Refused for want of memory, not at once (memcached's slab classes fill unevenly, so
        # no more than a quarter is asked).
        assert sum(map(len, stored.values())) >= limit // 4
        # The refused store stays refused, and leaves the stream in step, noreply or not.
        c.expect(set_request(key, value) * 3, OUT_OF_MEMORY * 3)
        c.expect(set_request(key, value, b" noreply") + b"get " + key + b"\r\n", b"END\r\n")
        s = stats(c)
        assert s["evictions"] == "0"
        assert s["curr_items"] == str(len(stored))
        assert int(s["bytes"]) <= limit
        assert fetch(c, list(stored)) == stored


@pytest.mark.mnemo_only
def test_a_touch_that_must_move_an_item_under_dash_capital_m_is_refused_and_keeps_it(start_server):
    """mnemod stores no expiry for an item that has none, so giving it one rewrites the item
    elsewhere; under -M with no room that touch is refused as a store would be, and the item keeps
    its old exptime. memcached touches in place and always answers TOUCHED. A touch that keeps the
    header's size is done in place and needs no room."""
    server = start_server("-m", MEGABYTES, "-M")
    with server.connect() as c:
        keys = []
        while True:  # one size throughout: what no longer fits, no item of it can move into
            key = b"full:%d" % len(keys)
            reply = c.call(b"set %s 0 %d 20000\r\n%s\r\n" % (key, 0 if len(keys) % 2 else 1000,
                                                              value_of(key, 20_000)))
            if reply == OUT_OF_MEMORY:
                break
            assert reply == STORED, reply
            keys.append(key)
        never_expires, expires = keys[1], keys[0]
        hits = int(stats(c)["touch_hits"])
        c.expect(b"touch %s 100\r\n" % never_expires, OUT_OF_MEMORY)
        assert int(stats(c)["touch_hits"]) == hits + 1, "the item was found: a touch hit"
        assert fetch(c, [never_expires]) == {never_expires: value_of(never_expires, 20_000)}
        c.expect(b"mg %s t\r\n" % never_expires, b"HD t-1\r\n")
        c.expect(b"touch %s 100\r\n" % expires, b"TOUCHED\r\n")
        c.expect(b"mg %s t\r\n" % expires, b"HD t100\r\n")
