"""Protocols mnemod does not serve unless asked, rows of BAD_INPUTS.md's "Memory and
connections": UDP is off by default (it is an amplification vector: a small spoofed request, a
large reply), and a connection whose first byte is 0x80 speaks the binary protocol, as memcached's does.

These servers start without the harness's base flags, which say `-U 0` outright."""

import os
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

import harness


def socket_inodes(pid):
    inodes = set()
    for fd in Path("/proc/%d/fd" % pid).iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    return inodes


def udp_inodes():
    inodes = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table) as rows:
                next(rows)
                inodes |= {row.split()[9] for row in rows}
        except FileNotFoundError:
            pass
    return inodes


@pytest.fixture
def default_server():
    """The server under test with only -l and -p (and -u as root): every other flag at its
    default. Yields (process, port)."""
    port = harness.free_port()
    flags = ["-l", harness.HOST, "-p", str(port)]
    if os.geteuid() == 0:
        flags += ["-u", "root"]
    with tempfile.TemporaryFile() as output:
        proc = subprocess.Popen([harness.server_binary()] + flags, stdin=subprocess.DEVNULL,
                                stdout=output, stderr=output)
        try:
            listening = harness.wait_listening(proc.pid, port, alive=lambda: proc.poll() is None)
            if listening:
                yield proc, port
        finally:
            if proc.poll() is None:
                proc.terminate()
            rc = proc.wait(harness.TIMEOUT)
            output.seek(0)
            printed = output.read().decode(errors="replace")
        assert listening, "the server did not listen on port %d:\n%s" % (port, printed)
        assert rc == 0, "the server exited with %s on SIGTERM:\n%s" % (rc, printed)


def test_udp_is_off_by_default(default_server):
    proc, port = default_server
    assert not socket_inodes(proc.pid) & udp_inodes(), "the server holds a UDP socket"
    # A memcached UDP frame (request id, sequence 0, 1 datagram) asking for stats: no answer.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(0.5)
        udp.sendto(b"\x00\x01\x00\x00\x00\x01\x00\x00stats\r\n", (harness.HOST, port))
        with pytest.raises((socket.timeout, ConnectionRefusedError)):
            udp.recv(65536)
    with harness.Conn(port) as c:
        c.expect(b"get k\r\n", b"END\r\n")


# A first byte 0x80 makes the connection speak the binary protocol, as in memcached: a request
# is answered (test_binary.py has the rest), and a header still incomplete is waited for.
def test_first_byte_0x80_speaks_the_binary_protocol(server):
    # A binary get of "k": magic, opcode 0, key length 1, body length 1.
    get = b"\x80\x00\x00\x01" + bytes(4) + b"\x00\x00\x00\x01" + bytes(12) + b"k"
    with server.connect() as c:
        c.send(get)
        assert c.read_exact(24 + 9) == b"\x81\x00\x00\x00" + bytes(2) + b"\x00\x01" \
            + b"\x00\x00\x00\x09" + bytes(12) + b"Not found"
    with server.connect() as c:
        c.send(b"\x80get k\r\n")  # a header of opcode 'g' (unknown) with a key of 0x6574 bytes
        assert c.read_for(0.3) == b""
    with server.connect() as c:
        c.send(b"\x80")
        assert c.read_for(0.3) == b""
        c.send(bytes(23))  # completes a get header with no key: refused, then closed
        assert c.read_to_eof() == b"\x81\x00\x00\x00" + bytes(2) + b"\x00\x04" \
            + b"\x00\x00\x00\x11" + bytes(12) + b"Invalid arguments"


# The protocol is chosen once, from the connection's first byte, as memcached 1.6.45 chooses it:
# later, 0x80 only starts an unknown ascii command.
def test_0x80_after_the_first_byte_is_an_unknown_command(server):
    with server.connect() as c:
        c.expect(b"get k\r\n\x80\x0b\r\n\x80 get k\r\n", b"END\r\nERROR\r\nERROR\r\n")
        c.expect(b"get k\r\n", b"END\r\n")
