"""Starts memcached-compatible servers on loopback ports and talks to them byte for byte.

The server under test is $MNEMO_SERVER (default: <repo>/build/mnemod). Pointing it at Debian's
/usr/bin/memcached runs the same expectations against the reference server; tests of what only
mnemo does are skipped there (see conftest.py).

A Server is started on a free port, is known to be listening once the kernel shows a listening
socket owned by its own process (so a stranger on the same port is never mistaken for it), and is
stopped with SIGTERM, then SIGKILL. Its exit status is kept: a server that dies during a test, or
exits uncleanly when stopped (a crash, a sanitizer report), fails that test.
"""

import importlib.machinery
import importlib.util
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
# Long enough for a sanitizer build on a loaded two-core machine, short enough to fail a hang.
TIMEOUT = 10.0
# Sent after a request so that its replies are known to be complete: version never fails and
# its reply cannot be mistaken for a reply of any other command.
SENTINEL = b"version\r\n"
_SENTINEL_REPLY = re.compile(rb"VERSION [^\r\n]*\r\n")


def server_binary():
    return os.environ.get("MNEMO_SERVER", str(REPO / "build" / "mnemod"))


# memcached 1.6.45 as scripts/reference-memcached.sh builds it from third_party/memcached/.
_BUILT_REFERENCE = REPO / "build-reference" / "memcached-1.6.45" / "memcached"


def reference_binary():
    """The memcached whose behaviour mnemod follows (1.6.45): $MNEMO_REFERENCE (scripts/test.sh
    sets it), else the one scripts/reference-memcached.sh built in this checkout, else Debian's
    /usr/bin/memcached (1.6.18, which some differential expectations no longer match)."""
    if "MNEMO_REFERENCE" in os.environ:
        return os.environ["MNEMO_REFERENCE"]
    if os.access(_BUILT_REFERENCE, os.X_OK):
        return str(_BUILT_REFERENCE)
    return "/usr/bin/memcached"


def is_memcached(binary=None):
    """True when the server under test is memcached itself rather than mnemod."""
    return Path(binary or server_binary()).name.startswith("memcached")


def sanitized(binary=None):
    """True for a build with a sanitizer, whose shadow memory and quarantine make RSS
    meaningless as a measure of the server's own memory, and which needs terabytes of address
    space."""
    data = Path(binary or server_binary()).read_bytes()
    return b"__asan_init" in data or b"__tsan_init" in data or b"__msan_init" in data


def base_flags(port):
    """Flags every test server gets: loopback only, no UDP, and (as root) a user to run as."""
    flags = ["-l", HOST, "-p", str(port), "-U", "0"]
    if os.geteuid() == 0:
        flags += ["-u", "root"]
    return flags


def _load_cluster_tool():
    """tools/cluster/mnemo-cluster as a module: the tests choose ports and find a server's
    listening socket as the tool does, with its functions."""
    path = REPO / "tools" / "cluster" / "mnemo-cluster"
    loader = importlib.machinery.SourceFileLoader("mnemo_cluster_tool", str(path))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


_cluster_tool = _load_cluster_tool()
# A port free to listen on, below the kernel's ephemeral range where it can, never given twice
# by this process.
free_port = _cluster_tool.free_port
_listening_inodes = _cluster_tool._listening_inodes
_socket_inodes = _cluster_tool._socket_inodes


def pause(pid, timeout=TIMEOUT):
    """Stops process `pid` (SIGSTOP) and returns once every one of its threads has stopped:
    kill() returns before they have, and a worker still running answers requests meanwhile."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + timeout
    while not _cluster_tool.all_threads_stopped(pid):
        if _cluster_tool._proc_stat(pid) is None:
            raise AssertionError("pid %d exited instead of stopping" % pid)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGCONT)  # so that the test's teardown can stop it
            raise AssertionError("pid %d did not stop within %ss" % (pid, timeout))
        time.sleep(0.001)


def wait_listening(pid, port, timeout=TIMEOUT, alive=lambda: True):
    """Waits until process `pid` listens on HOST:port. False if it stops being alive first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            return False
        if _listening_inodes(port) & _socket_inodes(pid):
            return True
        time.sleep(0.005)
    return False


class ServerError(Exception):
    pass


class Server:
    """One server process with the base flags plus `flags`, on a free port."""

    def __init__(self, flags=(), binary=None, env=None):
        self.binary = binary or server_binary()
        self.flags = list(flags)
        self.env = env
        self.port = None
        self.proc = None
        self.returncode = None
        self.expected_exit = False
        self._stderr = None

    def start(self):
        for _ in range(5):
            self.port = free_port()
            self._stderr = tempfile.TemporaryFile()
            self.proc = subprocess.Popen(
                [self.binary] + base_flags(self.port) + self.flags,
                stdin=subprocess.DEVNULL, stdout=self._stderr, stderr=self._stderr,
                env=self.env)
            if wait_listening(self.proc.pid, self.port, alive=lambda: self.proc.poll() is None):
                return self
            if self.proc.poll() is None:
                self._kill()
                raise ServerError("%s did not listen on port %d within %ss:\n%s"
                                  % (self.describe(), self.port, TIMEOUT, self.output()))
            self.returncode = self.proc.returncode
            if "in use" not in self.output():  # lost a race for the port: try another one
                raise ServerError("%s exited with %s at start:\n%s"
                                  % (self.describe(), self.proc.returncode, self.output()))
        raise ServerError("no free port for %s" % self.describe())

    def describe(self):
        return " ".join([self.binary] + base_flags(self.port) + self.flags)

    @property
    def pid(self):
        return self.proc.pid

    def output(self):
        """Everything the server has printed so far (stdout and stderr)."""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")

    def alive(self):
        return self.proc.poll() is None

    def connect(self, timeout=TIMEOUT):
        return Conn(self.port, timeout)

    def wait_exit(self, timeout=TIMEOUT):
        """For tests that make the server exit: waits for it and returns its exit status."""
        self.expected_exit = True
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._kill()
            raise ServerError("%s did not exit within %ss" % (self.describe(), timeout))
        return self.returncode

    def _kill(self):
        self.proc.kill()
        self.returncode = self.proc.wait()

    def stop(self):
        """Stops the server; returns a complaint, or None if it ran and stopped cleanly."""
        if self.proc is None or self.returncode is not None:
            return None
        if self.proc.poll() is not None:
            self.returncode = self.proc.returncode
            if self.expected_exit:
                return None
            return "%s died during the test with status %s:\n%s" % (
                self.describe(), self.returncode, self.output())
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.returncode = self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self._kill()
            return "%s ignored SIGTERM for %ss:\n%s" % (self.describe(), TIMEOUT, self.output())
        if self.returncode != 0:
            return "%s exited with status %s on SIGTERM:\n%s" % (
                self.describe(), self.returncode, self.output())
        return None


class Closed(AssertionError):
    """The server closed the connection while a reply was awaited."""


class Conn:
    """A raw client connection: send bytes, read replies, compare them byte for byte."""

    def __init__(self, port, timeout=TIMEOUT):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def _recv(self, deadline):
        """Appends what arrives before `deadline` to the buffer; False on EOF."""
        self.sock.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            chunk = self.sock.recv(1 << 20)
        except ConnectionResetError:
            chunk = b""
        if chunk:
            self.buf += chunk
        return bool(chunk)

    def _take(self, n):
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_until(self, terminator, timeout=None):
        """Returns the bytes up to and including `terminator`."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while terminator not in self.buf:
            try:
                if not self._recv(deadline):
                    raise Closed("connection closed before %r; got %r" % (terminator, self.buf))
            except socket.timeout:
                raise AssertionError("no %r within %ss; got %r"
                                     % (terminator, timeout or self.timeout, self.buf)) from None
        return self._take(self.buf.index(terminator) + len(terminator))

    def readline(self, timeout=None):
        return self.read_until(b"\r\n", timeout)

    def read_exact(self, n, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while len(self.buf) < n:
            try:
                if not self._recv(deadline):
                    raise Closed("connection closed after %d of %d bytes" % (len(self.buf), n))
            except socket.timeout:
                raise AssertionError("only %d of %d bytes within %ss"
                                     % (len(self.buf), n, timeout or self.timeout)) from None
        return self._take(n)

    def read_sentinel_reply(self, timeout=None):
        """Reads through the reply to SENTINEL; returns what came before it."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            at = self.buf.rfind(b"VERSION ")
            if at >= 0 and _SENTINEL_REPLY.fullmatch(self.buf, at):
                before = self.buf[:at]
                self.buf = b""
                return before
            try:
                if not self._recv(deadline):
                    raise Closed("connection closed; got %r" % self.buf[:2000])
            except socket.timeout:
                raise AssertionError("no reply to the trailing 'version' within %ss; got %r"
                                     % (timeout or self.timeout, self.buf[:2000])) from None

    def call(self, request, timeout=None):
        """Sends `request` and returns all of its replies, exactly as sent by the server."""
        self.send(request + SENTINEL)
        return self.read_sentinel_reply(timeout)

    def expect(self, request, expected, timeout=None):
        got = self.call(request, timeout)
        assert got == expected, "request %r:\n  expected %r\n  got      %r" % (
            request[:300], expected[:2000], got[:2000])

    def read_to_eof(self, timeout=None):
        """Returns everything the server sends until it closes; fails if it stays open."""
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            while self._recv(deadline):
                pass
        except socket.timeout:
            raise AssertionError("the server kept the connection open for %ss; got %r"
                                 % (timeout or self.timeout, self.buf[:2000])) from None
        return self._take(len(self.buf))

    def read_for(self, seconds):
        """Returns whatever arrives within `seconds`, for checking that nothing more does."""
        deadline = time.monotonic() + seconds
        try:
            while self._recv(deadline):
                pass
        except socket.timeout:
            pass
        return self._take(len(self.buf))


def gets_cas(conn, key):
    """The CAS token of `key`, via a raw gets."""
    header = conn.call(b"gets " + key + b"\r\n").split(b"\r\n", 1)[0]
    assert header.startswith(b"VALUE " + key + b" "), header
    return int(header.split()[4])


def parse_stats(text):
    """{name: value} from a 'STAT name value' listing that ends with END."""
    assert text.endswith(b"END\r\n"), text[-200:]
    stats = {}
    for line in text[:-len(b"END\r\n")].split(b"\r\n")[:-1]:
        prefix, name, value = line.split(b" ", 2)
        assert prefix == b"STAT", line
        stats[name.decode()] = value.decode()
    return stats


def stats(conn, group=b""):
    return parse_stats(conn.call(b"stats" + (b" " + group if group else b"") + b"\r\n"))


def wait_for_stat(conn, name, value, timeout=5):
    """Polls `stats` until `name` reads `value`, for what a server notices asynchronously (a
    client's close); returns the last value read."""
    deadline = time.monotonic() + timeout
    while stats(conn)[name] != value and time.monotonic() < deadline:
        time.sleep(0.01)
    return stats(conn)[name]


def rss_bytes(pid):
    """The resident set size of process `pid`, in bytes."""
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for pid %d" % pid)
