"""The same binary-protocol streams sent to mnemod and to memcached 1.6.45 ($MNEMO_REFERENCE; the
tests skip without it) must be answered with the same bytes. CAS values are the one thing the two
servers choose differently (memcached counts, mnemo derives them from where an item is stored),
so each reply's CAS is compared by the order in which it first appeared, and a request that
quotes a CAS quotes the one its server gave.

Where mnemod differs on purpose (the stream past an unknown opcode or an overlong body, and the
version string), the streams here avoid it; docs/binary-protocol.md lists the differences and
test_binary.py checks mnemod's side of them."""

import os
import socket

import pytest

from binary_wire import (ADD, APPEND, APPENDQ, Conn, DECR, DELETE, DELETEQ, FLUSH, FLUSHQ, GAT,
                         GATK, GATKQ, GATQ, GET, GETK, GETKQ, GETQ, INCR, INCRQ, NOOP, PREPEND,
                         QUIT, QUITQ, REPLACE, REPLACEQ, SASL_AUTH, SASL_LIST_MECHS, SET, SETQ,
                         STAT, TOUCH, VERBOSITY, arith_extras, exptime_extras, packet, parse,
                         set_extras)
import harness
from test_binary import MALFORMED

NO_AUTO_CREATE = 0xFFFFFFFF


def reference():
    """memcached 1.6.45, the behaviour reference, from $MNEMO_REFERENCE."""
    path = os.environ.get("MNEMO_REFERENCE", "")
    if not os.access(path, os.X_OK):
        pytest.skip("set MNEMO_REFERENCE to memcached 1.6.45 to compare with it")
    return path


@pytest.fixture
def servers(start_server):
    return start_server(), start_server(binary=reference())


def run(port, steps, split=False):
    """Sends each step (bytes, or a function of the CASes seen so far that returns bytes), a
    byte at a time if `split`, and returns the replies, each CAS replaced by the order of its
    first appearance."""
    conn = Conn(port)
    seen = []
    replies = []
    for step in steps:
        data = step(seen) if callable(step) else step
        for reply in conn.run(data, split):
            if reply.cas and reply.cas not in seen:
                seen.append(reply.cas)
            replies.append((reply.raw[:16], seen.index(reply.cas) + 1 if reply.cas else 0,
                            reply.raw[24:]))
        if conn.closed:
            replies.append("closed")
            break
    conn.close()
    return replies


def cas_of(index, build):
    """A step that quotes the CAS seen `index`-th (1-based) in the stream."""
    return lambda seen: build(seen[index - 1])


def setp(key, value, flags=0, exptime=0, opcode=SET, cas=0):
    return packet(opcode, key, set_extras(flags, exptime), value, cas=cas)


SCENARIOS = {
    "get family": [setp(b"k", b"hello", flags=7), packet(GET, b"k"), packet(GETK, b"k"),
                   packet(GETQ, b"k") + packet(GETKQ, b"k") + packet(GETQ, b"x")
                   + packet(GETKQ, b"x"), packet(GET, b"x"), packet(GETK, b"x")],
    "add replace": [setp(b"a", b"1", opcode=ADD), setp(b"a", b"2", opcode=ADD),
                    setp(b"r", b"1", opcode=REPLACE), setp(b"a", b"3", opcode=REPLACE),
                    setp(b"a", b"4", opcode=SETQ) + setp(b"b", b"4", opcode=REPLACEQ),
                    packet(GET, b"a")],
    "cas": [setp(b"c", b"1"), cas_of(1, lambda cas: setp(b"c", b"2", cas=cas + 100)),
            cas_of(1, lambda cas: setp(b"c", b"2", cas=cas)), setp(b"none", b"2", cas=5),
            cas_of(2, lambda cas: setp(b"c", b"3", opcode=ADD, cas=cas)),
            cas_of(3, lambda cas: packet(DELETE, b"c", cas=cas + 1)),
            cas_of(3, lambda cas: packet(DELETE, b"c", cas=cas)), packet(GET, b"c")],
    "delete": [setp(b"d", b"v"), packet(DELETE, b"d"), packet(DELETE, b"d"), setp(b"d", b"v"),
               packet(DELETEQ, b"d") + packet(DELETEQ, b"d")],
    "arithmetic": [packet(INCR, b"n", arith_extras(1, 5, NO_AUTO_CREATE)),
                   packet(INCR, b"n", arith_extras(1, 5, 0)),
                   packet(INCR, b"n", arith_extras(10, 0, 0)),
                   packet(DECR, b"n", arith_extras(100, 0, 0)), packet(GET, b"n"),
                   packet(DECR, b"m", arith_extras(1, 9, 0)),
                   setp(b"max", b"18446744073709551615"),
                   packet(INCR, b"max", arith_extras(2, 0, 0)), setp(b"t", b"abc"),
                   packet(INCR, b"t", arith_extras(1, 0, 0)),
                   packet(INCR, b"n", arith_extras(1, 0, 0), cas=12345),
                   packet(INCRQ, b"n", arith_extras(1, 0, 0))
                   + packet(INCRQ, b"q", arith_extras(1, 0, NO_AUTO_CREATE)),
                   setp(b"sp", b" 12 "), packet(INCR, b"sp", arith_extras(1, 0, 0)),
                   packet(GET, b"n")],
    "append prepend": [setp(b"s", b"mid", flags=3), packet(APPEND, b"s", value=b">"),
                       packet(PREPEND, b"s", value=b"<"), packet(APPEND, b"none", value=b"x"),
                       packet(APPENDQ, b"s", value=b"!") + packet(APPENDQ, b"none", value=b"x"),
                       cas_of(1, lambda cas: packet(APPEND, b"s", value=b"x", cas=cas)),
                       packet(GET, b"s")],
    "touch gat": [setp(b"t", b"v", flags=5), packet(TOUCH, b"t", exptime_extras(100)),
                  packet(TOUCH, b"x", exptime_extras(100)), packet(GAT, b"t", exptime_extras(0)),
                  packet(GATK, b"t", exptime_extras(0)), packet(GATK, b"x", exptime_extras(0)),
                  packet(GATQ, b"x", exptime_extras(0)) + packet(GATKQ, b"t", exptime_extras(0)),
                  packet(TOUCH, b"t", exptime_extras(30 * 24 * 3600 + 1)), packet(GET, b"t")],
    "flush": [setp(b"f", b"v"), packet(FLUSH, extras=exptime_extras(100)), packet(GET, b"f"),
              packet(FLUSHQ), packet(GET, b"f"), setp(b"f", b"v"), packet(FLUSH),
              packet(GET, b"f")],
    "unknown and sasl": [packet(SASL_LIST_MECHS), packet(SASL_AUTH, b"PLAIN", value=b"\0a\0b"),
                         packet(VERBOSITY), packet(0xEE)],
    "stat refusals": [packet(STAT, b"bogus"), packet(STAT, b"conns"), packet(STAT, b"reset"),
                      packet(STAT, b"resetting"), packet(STAT, b"sizes")],
    "too large": [setp(b"big", b"old"), setp(b"big", b"x" * (1024 * 1024 + 1), opcode=SETQ),
                  packet(GET, b"big"), packet(APPEND, b"k", value=b"y" * (2 << 20)),
                  setp(b"ok", b"z" * 100000), packet(GET, b"ok")],
    "empty values": [setp(b"e", b""), packet(GET, b"e"), packet(APPEND, b"e", value=b""),
                     packet(GETK, b"e")],
    "quit": [setp(b"q", b"v"), packet(QUIT) + packet(NOOP)],
    "quitq": [packet(QUITQ) + packet(NOOP)],
    "wrong magic": [packet(NOOP), packet(NOOP, magic=0x81)],
}
for name, (data, _) in MALFORMED.items():
    SCENARIOS["malformed: " + name] = [packet(NOOP), data]


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_same_replies_as_memcached(servers, name):
    mnemod, memcached = servers
    assert run(mnemod.port, SCENARIOS[name]) == run(memcached.port, SCENARIOS[name])


# get_expired and get_flushed are left out: they follow the storage engine, which counts an item
# touched into the past, or flushed, differently from memcached whatever the protocol.
def test_same_counters_as_memcached(servers):
    steps = [step for name in ("get family", "add replace", "cas", "delete", "arithmetic",
                               "append prepend", "touch gat", "flush") for step in SCENARIOS[name]]
    counted = []
    for server in servers:
        run(server.port, steps)
        with server.connect() as c:
            stats = harness.stats(c)
        counted.append({name: stats[name] for name in (
            "cmd_get", "cmd_set", "cmd_flush", "cmd_touch", "get_hits", "get_misses",
            "delete_misses", "delete_hits", "incr_misses",
            "incr_hits", "decr_misses", "decr_hits", "cas_misses", "cas_hits", "cas_badval",
            "touch_hits", "touch_misses")})
    assert counted[0] == counted[1]


def test_a_stream_split_at_every_byte_as_memcached_answers_it_whole(servers):
    stream = b"".join(step for name in ("get family", "add replace", "delete", "touch gat")
                      for step in SCENARIOS[name] if not callable(step))
    mnemod, memcached = servers
    expected = run(memcached.port, [stream])
    assert len(expected) > 20
    assert run(mnemod.port, [stream], split=True) == expected


@pytest.mark.parametrize("bound", ["ascii", "binary"])
def test_bound_protocol_as_memcached(start_server, bound):
    replies = []
    for binary in (None, reference()):
        server = start_server("-B", bound, binary=binary)
        sock = socket.create_connection((harness.HOST, server.port), timeout=harness.TIMEOUT)
        # As text, the get packet is an unknown command on a line that ends at the "\r\n".
        sock.sendall(packet(GET, b"key") + b"\r\nget key\r\n" if bound == "ascii"
                     else b"get a_key_that_makes_a_header\r\n")
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            data += chunk
        sock.close()
        replies.append(data)
    assert replies[0] == replies[1]
    assert replies[0] == (b"ERROR\r\nEND\r\n" if bound == "ascii" else b"")
