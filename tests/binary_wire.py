"""memcached's binary protocol on the wire, for tests: building request packets, reading response
packets, and running a stream of requests against a server to collect its answers.

A stream is answered in full once the reply to a NOOP sent after it has arrived (NOOP always
answers, and memcached sends replies in order), or once the server has closed the connection.
"""

import socket
import struct

import harness

HEADER = struct.Struct(">BBHBBHIIQ")
REQUEST_MAGIC = 0x80
RESPONSE_MAGIC = 0x81

GET, SET, ADD, REPLACE, DELETE, INCR, DECR, QUIT, FLUSH, GETQ, NOOP, VERSION = range(12)
GETK, GETKQ, APPEND, PREPEND, STAT = 0x0C, 0x0D, 0x0E, 0x0F, 0x10
SETQ, ADDQ, REPLACEQ, DELETEQ, INCRQ, DECRQ, QUITQ, FLUSHQ, APPENDQ, PREPENDQ = range(0x11, 0x1B)
VERBOSITY, TOUCH, GAT, GATQ = 0x1B, 0x1C, 0x1D, 0x1E
SASL_LIST_MECHS, SASL_AUTH, SASL_STEP, GATK, GATKQ = 0x20, 0x21, 0x22, 0x23, 0x24

SUCCESS, KEY_ENOENT, KEY_EEXISTS, E2BIG, EINVAL, NOT_STORED, DELTA_BADVAL = range(7)
AUTH_ERROR, UNKNOWN_COMMAND, ENOMEM = 0x20, 0x81, 0x82

# The opaque of the NOOP that ends a stream; tests use other opaques.
SENTINEL_OPAQUE = 0x5E17E1


def packet(opcode, key=b"", extras=b"", value=b"", opaque=0, cas=0, magic=REQUEST_MAGIC,
           keylen=None, extlen=None, bodylen=None, status=0):
    """A packet; the lengths are the real ones unless given (to build malformed headers)."""
    keylen = len(key) if keylen is None else keylen
    extlen = len(extras) if extlen is None else extlen
    bodylen = len(extras) + len(key) + len(value) if bodylen is None else bodylen
    return HEADER.pack(magic, opcode, keylen, extlen, 0, status, bodylen, opaque, cas) \
        + extras + key + value


def set_extras(flags=0, exptime=0):
    return struct.pack(">II", flags, exptime)


def arith_extras(delta=1, initial=0, exptime=0):
    return struct.pack(">QQI", delta, initial, exptime)


def exptime_extras(exptime=0):
    return struct.pack(">I", exptime)


class Response:
    def __init__(self, opcode, status, extras, key, value, opaque, cas, raw):
        self.opcode, self.status, self.opaque, self.cas = opcode, status, opaque, cas
        self.extras, self.key, self.value, self.raw = extras, key, value, raw

    @property
    def flags(self):
        return struct.unpack(">I", self.extras)[0]

    @property
    def number(self):
        return struct.unpack(">Q", self.value)[0]

    def __repr__(self):
        return "Response(op=%#x status=%#x ext=%r key=%r value=%r opaque=%#x cas=%d)" % (
            self.opcode, self.status, self.extras, self.key, self.value[:60], self.opaque,
            self.cas)


def parse(data):
    """The whole response packets at the front of `data`, and the bytes left after them."""
    out = []
    while len(data) >= HEADER.size:
        magic, opcode, keylen, extlen, _, status, bodylen, opaque, cas = \
            HEADER.unpack_from(data)
        assert magic == RESPONSE_MAGIC, data[:HEADER.size]
        end = HEADER.size + bodylen
        if len(data) < end:
            break
        body = data[HEADER.size:end]
        out.append(Response(opcode, status, body[:extlen], body[extlen:extlen + keylen],
                            body[extlen + keylen:], opaque, cas, data[:end]))
        data = data[end:]
    return out, data


class Conn:
    """A connection that sends request packets and collects the responses."""

    def __init__(self, port):
        self.sock = socket.create_connection((harness.HOST, port), timeout=harness.TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pending = b""
        self.closed = False

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _read(self):
        try:
            data = self.sock.recv(1 << 20)
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
        self.pending += data

    def raw_until_closed(self):
        """Every byte the server sends until it closes the connection."""
        while not self.closed:
            self._read()
        data, self.pending = self.pending, b""
        return data

    def run(self, data, split=False):
        """Sends `data` (a byte at a time if `split`) and a NOOP; returns the responses to
        `data` (the NOOP's left out), or every response until the server closed the
        connection."""
        if split:
            for i in range(len(data)):
                self.send(data[i:i + 1])
            data = b""
        self.send(data + packet(NOOP, opaque=SENTINEL_OPAQUE))
        responses = []
        while True:
            got, self.pending = parse(self.pending)
            for response in got:
                if response.opcode == NOOP and response.opaque == SENTINEL_OPAQUE:
                    return responses
                responses.append(response)
            if self.closed:
                assert self.pending == b"", self.pending
                return responses
            self._read()

    def one(self, data):
        """The single response to `data`."""
        responses = self.run(data)
        assert len(responses) == 1, responses
        return responses[0]
