"""UDP (-U PORT) as memcached 1.6.45 speaks it: the 8-byte frame header (request id, sequence
number, total datagrams, reserved), a request in one datagram, each reply cut into datagrams of at
most 1400 bytes with their sequence numbers; off by default. pymemcache has no UDP, so these send
raw datagrams and compare what comes back byte for byte. They pass against memcached 1.6.45 too
(MNEMO_SERVER=<its binary>). That UDP is off by default is tested in test_limits_protocols.py."""

import re
import socket
import struct

import pytest

import binary_wire as bw
import harness


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((harness.HOST, 0))
        return s.getsockname()[1]


class UdpClient:
    def __init__(self, port):
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(0.3)

    def send(self, body, request_id=1, sequence=0, total=1):
        self.sock.sendto(struct.pack(">HHHH", request_id, sequence, total, 0) + body,
                         (harness.HOST, self.port))

    def receive(self, quiet=0.3):
        """Every datagram that arrives until none has for `quiet` seconds: (header, payload)."""
        datagrams = []
        self.sock.settimeout(quiet)
        try:
            while True:
                data = self.sock.recv(65536)
                datagrams.append((struct.unpack(">HHHH", data[:8]), data[8:]))
        except socket.timeout:
            pass
        return datagrams

    def call(self, body, request_id=1, **header):
        self.send(body, request_id, **header)
        return self.receive()


@pytest.fixture(scope="module")
def udp(start_module_server):
    port = free_udp_port()
    server = start_module_server("-U", str(port), "-t", "2")
    client = UdpClient(port)
    yield server, client
    client.sock.close()


def test_a_reply_echoes_the_request_id_in_one_datagram(udp):
    _, client = udp
    assert client.call(b"set a 0 0 1\r\nx\r\n", request_id=0x1234) == [
        ((0x1234, 0, 1, 0), b"STORED\r\n")]
    assert client.call(b"get a\r\n", request_id=0xfffe) == [
        ((0xfffe, 0, 1, 0), b"VALUE a 0 1\r\nx\r\nEND\r\n")]
    assert client.call(b"mn\r\n", request_id=7) == [((7, 0, 1, 0), b"MN\r\n")]
    assert client.call(b"bogus\r\n", request_id=8) == [((8, 0, 1, 0), b"ERROR\r\n")]


def test_each_command_of_a_datagram_is_a_reply_of_its_own(udp):
    _, client = udp
    assert client.call(b"version\r\nset b 0 0 1\r\ny\r\nmn\r\n", request_id=3) == [
        ((3, 0, 1, 0), b"VERSION 1.6.45\r\n"), ((3, 0, 1, 0), b"STORED\r\n"),
        ((3, 0, 1, 0), b"MN\r\n")]


def test_a_retrieval_sends_each_value_found_as_a_reply(udp):
    """memcached makes each value found a response of its own; END goes with the last key's value
    if that key was found, alone otherwise."""
    _, client = udp
    client.call(b"set v1 0 0 2\r\nv1\r\nset v2 0 0 2\r\nv2\r\n")
    assert client.call(b"get v1 nope v2\r\n", request_id=4) == [
        ((4, 0, 1, 0), b"VALUE v1 0 2\r\nv1\r\n"), ((4, 0, 1, 0), b"VALUE v2 0 2\r\nv2\r\nEND\r\n")]
    assert client.call(b"get v1 nope\r\n", request_id=5) == [
        ((5, 0, 1, 0), b"VALUE v1 0 2\r\nv1\r\n"), ((5, 0, 1, 0), b"END\r\n")]
    assert client.call(b"get nope\r\n", request_id=6) == [((6, 0, 1, 0), b"END\r\n")]


def test_a_long_reply_is_cut_into_numbered_datagrams_of_1400_bytes(udp):
    _, client = udp
    value = bytes(range(256)) * 12  # 3072 bytes that compression cannot shrink much
    assert client.call(b"set big 0 0 3072\r\n" + value + b"\r\n") == [((1, 0, 1, 0), b"STORED\r\n")]
    reply = b"VALUE big 0 3072\r\n" + value + b"\r\nEND\r\n"
    got = client.call(b"get big\r\n", request_id=9)
    assert [header for header, _ in got] == [(9, 0, 3, 0), (9, 1, 3, 0), (9, 2, 3, 0)]
    assert [len(payload) for _, payload in got] == [1392, 1392, len(reply) - 2 * 1392]
    assert b"".join(payload for _, payload in got) == reply


def test_requests_memcached_drops_get_no_reply(udp):
    _, client = udp
    assert client.call(b"version\r\n", total=2) == []  # a request of several datagrams
    assert client.call(b"get a") == []  # cut off by the end of the datagram
    assert client.call(b"set q 0 0 1 noreply\r\nq\r\n") == []
    client.sock.sendto(b"1234567", (harness.HOST, client.port))  # no whole header
    client.sock.sendto(b"12345678", (harness.HOST, client.port))  # a header and nothing else
    assert client.receive() == []
    # A sequence number other than 0 does not matter in a request of one datagram.
    assert client.call(b"version\r\n", request_id=2, sequence=5) == [
        ((2, 0, 1, 0), b"VERSION 1.6.45\r\n")]


def test_udp_counts_in_bytes_read_and_written_headers_included(udp):
    server, client = udp
    with server.connect() as conn:
        first = conn.call(b"stats\r\n")
        assert client.call(b"version\r\n") == [((1, 0, 1, 0), b"VERSION 1.6.45\r\n")]
        after = harness.parse_stats(conn.call(b"stats\r\n"))
    before = harness.parse_stats(first)
    # Between the two readings: the first `stats` reply and its sentinel's were sent, the second
    # `stats` and its sentinel read, and the datagrams.
    tcp_read = len(b"stats\r\n" + harness.SENTINEL)
    tcp_written = len(first) + len(b"VERSION 1.6.45\r\n")
    assert int(after["bytes_read"]) - int(before["bytes_read"]) - tcp_read == 8 + 9
    assert int(after["bytes_written"]) - int(before["bytes_written"]) - tcp_written == 8 + 16


def test_stats_shows_the_udp_sockets_as_memcached_does(udp):
    server, client = udp
    with server.connect() as conn:
        settings = harness.stats(conn, b"settings")
        conns = conn.call(b"stats conns\r\n").decode()
    assert settings["udpport"] == str(client.port)
    udp_fds = sorted(int(fd) for fd in re.findall(r"STAT (\d+):UDP UDP\r\n", conns))
    assert len(udp_fds) == 2  # one per worker thread (-t 2), as memcached's
    for fd in udp_fds:
        assert "STAT %d:addr udp:%s:%d\r\n" % (fd, harness.HOST, client.port) in conns
        assert "STAT %d:state conn_read\r\n" % fd in conns


def test_a_request_starting_with_the_binary_magic_is_answered_in_binary(udp):
    """memcached's try_read_command_udp: a datagram whose first byte is 0x80 holds binary
    requests; each command's reply is a reply of its own, a quiet command that answers nothing
    sends a bare frame header with a datagram count of 0, and a bad magic byte drops the rest."""
    _, client = udp
    got = client.call(bw.packet(bw.SET, b"bin", bw.set_extras(flags=5), b"hello", opaque=1),
                      request_id=9)
    assert len(got) == 1 and got[0][0] == (9, 0, 1, 0)
    stored = bw.parse(got[0][1])[0][0]
    assert (stored.opcode, stored.status, stored.opaque) == (bw.SET, bw.SUCCESS, 1)
    cas = stored.cas
    hit = (bw.HEADER.pack(bw.RESPONSE_MAGIC, bw.GETK, 3, 4, 0, 0, 12, 2, cas) +
           struct.pack(">I", 5) + b"bin" + b"hello")
    noop = bw.HEADER.pack(bw.RESPONSE_MAGIC, bw.NOOP, 0, 0, 0, 0, 0, 3, 0)
    assert client.call(bw.packet(bw.GETK, b"bin", opaque=2) + bw.packet(bw.GETQ, b"none") +
                       bw.packet(bw.NOOP, opaque=3) + b"get bin\r\n" +
                       bw.packet(bw.NOOP, opaque=4), request_id=10) == [
        ((10, 0, 1, 0), hit),
        ((10, 0, 1, 0), noop),
    ]
    # A quiet miss answers nothing. (memcached sends a bare header, a datagram count of 0, for
    # some: docs/memcached-differences.md.)
    got = client.call(bw.packet(bw.GETQ, b"none") + bw.packet(bw.NOOP, opaque=3), request_id=10)
    assert [d for d in got if d != ((10, 0, 0, 0), b"")] == [((10, 0, 1, 0), noop)]
    version = client.call(bw.packet(bw.VERSION, opaque=5), request_id=11)
    assert len(version) == 1 and version[0][0] == (11, 0, 1, 0)
    assert bw.parse(version[0][1])[0][0].value == b"1.6.45"
    # A long reply (stats) is cut into numbered datagrams as a text one is.
    stat = client.call(bw.packet(bw.STAT, opaque=6), request_id=12)
    assert len(stat) > 1
    assert [header for header, _ in stat] == [(12, n, len(stat), 0) for n in range(len(stat))]
