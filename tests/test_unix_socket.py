"""Unix domain sockets, -s PATH and -a MASK, as memcached 1.6.45 has them: the server listens on
the socket instead of TCP and UDP, the socket file gets the permission bits of -a, and `stats
settings` and `stats conns` show them in memcached's words. Every test here passes against
memcached 1.6.45 too (MNEMO_SERVER=<its binary>)."""

import os
import re
import signal
import socket
import stat
import subprocess
import tempfile
import time

import pytest
from pymemcache.client.base import Client

import harness


class UnixConn(harness.Conn):
    """A raw client connection over the unix socket at `path`."""

    def __init__(self, path, timeout=harness.TIMEOUT):  # pylint: disable=super-init-not-called
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.timeout = timeout
        self.buf = b""


class UnixServer:
    """The server under test listening on a unix socket in a fresh directory, stopped with
    SIGTERM; a server that did not stop cleanly fails the test."""

    def __init__(self, *flags, path=None):
        # A short path: memcached 1.6.45 cuts the listener's path in `stats conns` to 26 bytes
        # (docs/memcached-differences.md), and these tests must pass against it too.
        self.dir = tempfile.TemporaryDirectory(prefix="mn", dir="/tmp")
        self.path = path or os.path.join(self.dir.name, "s")
        args = [harness.server_binary(), "-s", self.path, *flags]
        if os.geteuid() == 0:
            args += ["-u", "root"]
        self.output = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.output,
                                     stderr=self.output)
        deadline = time.monotonic() + harness.TIMEOUT
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                UnixConn(self.path).close()
                return
            except (FileNotFoundError, ConnectionRefusedError):
                time.sleep(0.005)
        self.stop()
        pytest.fail("%s did not listen on %s:\n%s" % (" ".join(args), self.path, self.text()))

    def text(self):
        self.output.seek(0)
        return self.output.read().decode(errors="replace")

    def connect(self):
        return UnixConn(self.path)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(harness.TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return "ignored SIGTERM"
        return None if self.proc.returncode == 0 else "exited with %s" % self.proc.returncode


@pytest.fixture
def unix_server():
    servers = []

    def start(*flags, path=None):
        servers.append(UnixServer(*flags, path=path))
        return servers[-1]

    yield start
    complaints = [c for c in (s.stop() for s in servers) if c]
    for s in servers:
        s.dir.cleanup()
    assert not complaints, complaints


def test_pymemcache_works_over_the_unix_socket(unix_server):
    server = unix_server()
    client = Client(server.path, connect_timeout=harness.TIMEOUT, timeout=harness.TIMEOUT,
                    default_noreply=False)
    try:
        assert client.set("k", b"value", expire=100) is True
        assert client.get("k") == b"value"
        assert client.add("k", b"other") is False
        assert client.incr("n", 1) is None
        client.set("n", b"41")
        assert client.incr("n", 1) == 42
        assert client.get_many(["k", "n", "missing"]) == {"k": b"value", "n": b"42"}
        assert client.delete("k") is True
        assert client.get("k") is None
    finally:
        client.close()


def test_the_socket_file_gets_the_permission_bits_of_dash_a(unix_server):
    server = unix_server("-a", "766")
    mode = os.lstat(server.path).st_mode
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o766


def test_the_default_mask_is_700(unix_server):
    server = unix_server()
    assert stat.S_IMODE(os.lstat(server.path).st_mode) == 0o700


def test_stats_settings_name_the_socket_and_its_mask(unix_server):
    server = unix_server("-a", "640")
    with server.connect() as conn:
        settings = harness.stats(conn, b"settings")
    assert settings["domain_socket"] == server.path
    assert settings["umask"] == "640"
    assert settings["tcpport"] == "11211"
    assert settings["udpport"] == "0"


def test_without_dash_s_the_settings_show_no_socket(server):
    with server.connect() as conn:
        settings = harness.stats(conn, b"settings")
    assert settings["domain_socket"] == "NULL"
    assert settings["umask"] == "700"


def listening_tcp_inodes():
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as rows:
            next(rows)
            for row in rows:
                fields = row.split()
                if fields[3] == "0A":
                    inodes.add(fields[9])
    return inodes


def test_dash_s_replaces_the_tcp_listeners(unix_server):
    """memcached with -s listens on nothing else, even with -p and -l given."""
    server = unix_server("-p", str(harness.free_port()), "-l", harness.HOST)
    assert not listening_tcp_inodes() & harness._socket_inodes(server.proc.pid)


def test_stats_conns_shows_the_socket_as_memcached_does(unix_server):
    server = unix_server()
    # Listening: "unix:<path>"; a client has no address of its own, and memcached prints the
    # zeroed one it keeps for it. The connection that found the server listening may still be
    # on its way out: asked again until it is gone.
    want = sorted(["addr unix:" + server.path, "addr ?:<AF 0>"])
    deadline = time.monotonic() + harness.TIMEOUT
    with server.connect() as conn:
        while True:
            lines = conn.call(b"stats conns\r\n").decode().split("\r\n")
            addrs = [re.sub(r"^STAT \d+:", "", line) for line in lines if ":addr " in line]
            if sorted(addrs) == want or time.monotonic() > deadline:
                break
            time.sleep(0.01)
    assert sorted(addrs) == want, lines
    assert "listen_addr unix:" + server.path in "\n".join(lines)


def test_a_stale_socket_file_is_replaced(unix_server):
    first = unix_server()
    path = first.path
    first.proc.kill()  # leaves its socket file behind
    first.proc.wait()
    first.proc.returncode = 0
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    second = unix_server(path=path)
    with second.connect() as conn:
        assert conn.call(b"set a 0 0 1\r\nx\r\n") == b"STORED\r\n"


def test_a_path_held_by_another_kind_of_file_is_refused(tmp_path):
    path = tmp_path / "not-a-socket"
    path.write_text("keep me")
    args = [harness.server_binary(), "-s", str(path)]
    if os.geteuid() == 0:
        args += ["-u", "root"]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=harness.TIMEOUT,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode != 0
    assert "UNIX socket" in proc.stderr, proc.stderr
    assert path.read_text() == "keep me"
