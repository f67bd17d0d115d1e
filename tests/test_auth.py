"""Authentication, as memcached 1.6.45 does it: SASL over the binary protocol (-S, the PLAIN
mechanism checked against the file $MEMCACHED_SASL_PWDB names) and the text protocol's password
file (-Y). Nothing is readable or writable before a connection authenticates, on either protocol.

pylibmc (libmemcached built with SASL) authenticates as a real client does; the replies to the
exchanges that fail are compared byte for byte with Debian's memcached, built with SASL, where it
is installed (its Cyrus SASL is configured for PLAIN alone, so that list-mechs answers as
mnemod's does), and the -Y handshake with memcached 1.6.45 ($MNEMO_REFERENCE)."""

import os
import shutil
import signal
import socket
import subprocess
import time

import pylibmc
import pytest
from pymemcache.client.base import Client

import harness
from binary_wire import (AUTH_ERROR, DELETE, FLUSH, GET, INCR, NOOP, QUIT, SASL_AUTH,
                         SASL_LIST_MECHS, SASL_STEP, SET, STAT, SUCCESS, VERSION, Conn,
                         arith_extras, packet, set_extras)

USERS = "alice:secret\nbob:pw:ignored\n"
AUTH_FAILURE = b"Auth failure."


def plain(user, password, authzid=b""):
    return authzid + b"\0" + user + b"\0" + password


@pytest.fixture
def pwdb(tmp_path):
    path = tmp_path / "pwdb"
    path.write_text(USERS)
    return path


@pytest.fixture
def sasl_server(start_server, pwdb):
    return start_server("-S", env=dict(os.environ, MEMCACHED_SASL_PWDB=str(pwdb)))


def pylibmc_client(server, user, password):
    return pylibmc.Client(["%s:%d" % (harness.HOST, server.port)], binary=True,
                          username=user, password=password)


def authenticated_conn(server):
    conn = Conn(server.port)
    reply = conn.one(packet(SASL_AUTH, key=b"PLAIN", value=plain(b"alice", b"secret")))
    assert (reply.status, reply.value) == (SUCCESS, b"Authenticated")
    return conn


def test_pylibmc_authenticates_and_wrong_credentials_are_refused(sasl_server):
    good = pylibmc_client(sasl_server, "alice", "secret")
    assert good.set("k", "v")
    assert good.get("k") == "v"
    # bob's password ends at its line's next ':'
    assert pylibmc_client(sasl_server, "bob", "pw").get("k") == "v"
    for user, password in [("alice", "wrong"), ("alice", "secre"), ("eve", "secret"),
                           ("bob", "pw:ignored")]:
        bad = pylibmc_client(sasl_server, user, password)
        with pytest.raises(pylibmc.Error):
            bad.set("k", "changed")
        with pytest.raises(pylibmc.Error):
            bad.get("k")
    assert good.get("k") == "v"


REQUESTS_BEFORE_AUTH = [
    packet(GET, key=b"k"),
    packet(SET, key=b"k", extras=set_extras(), value=b"written"),
    packet(DELETE, key=b"k"),
    packet(INCR, key=b"n", extras=arith_extras()),
    packet(FLUSH),
    packet(STAT),
    packet(NOOP),
    packet(QUIT),
    packet(0x50),  # an unknown opcode
    packet(GET, key=b"k" * 300),  # refused before its key's length is judged
]


@pytest.mark.parametrize("request_bytes", REQUESTS_BEFORE_AUTH)
def test_nothing_is_served_before_sasl_authentication(sasl_server, request_bytes):
    conn = Conn(sasl_server.port)
    conn.send(request_bytes)
    data = conn.raw_until_closed()  # answered, then closed
    assert data == reply_bytes(request_bytes[1], AUTH_ERROR, AUTH_FAILURE)
    conn.close()
    # The set before authentication stored nothing.
    conn = authenticated_conn(sasl_server)
    assert conn.one(packet(GET, key=b"k")).status == 1
    conn.close()


def reply_bytes(opcode, status, body):
    return bytes([0x81, opcode, 0, 0, 0, 0]) + status.to_bytes(2, "big") + \
        len(body).to_bytes(4, "big") + bytes(12) + body


def test_text_is_not_served_under_sasl(sasl_server):
    # -S binds every connection to the binary protocol: text is closed unanswered.
    with sasl_server.connect() as conn:
        conn.send(b"set k 0 0 1\r\nv\r\nget k\r\nget k\r\n")  # 24 bytes and more
        assert conn.read_to_eof() == b""


def test_version_and_list_mechs_answer_before_authentication(sasl_server):
    conn = Conn(sasl_server.port)
    mechs, version = answers(conn, [packet(SASL_LIST_MECHS), packet(VERSION)])
    assert mechs == reply_bytes(SASL_LIST_MECHS, SUCCESS, b"PLAIN")
    assert version[6:8] == bytes(2) and len(version) > 24  # success, with the version
    conn.close()


def test_plain_exchange_in_two_steps_and_counts(sasl_server):
    conn = Conn(sasl_server.port)
    assert answers(conn, [
        packet(SASL_AUTH, key=b"PLAIN", value=plain(b"alice", b"nope")),
        packet(SASL_AUTH, key=b"plain"),
        packet(SASL_STEP, key=b"PLAIN", value=plain(b"alice", b"secret", b"alice")),
    ]) == [
        reply_bytes(SASL_AUTH, AUTH_ERROR, AUTH_FAILURE),  # refused, and not closed
        reply_bytes(SASL_AUTH, 0x21, b""),  # PLAIN's message, please
        reply_bytes(SASL_STEP, SUCCESS, b"Authenticated"),
    ]
    assert conn.one(packet(SET, key=b"k", extras=set_extras(), value=b"v")).status == SUCCESS
    stats = {r.key: r.value for r in conn.run(packet(STAT))}
    assert (stats[b"auth_cmds"], stats[b"auth_errors"]) == (b"2", b"1")
    settings = {r.key: r.value for r in conn.run(packet(STAT, key=b"settings"))}
    assert (settings[b"auth_enabled_sasl"], settings[b"auth_enabled_ascii"]) == (b"yes", b"no")
    # A failed attempt takes the authentication away.
    assert answers(conn, [packet(SASL_AUTH, key=b"PLAIN", value=plain(b"alice", b"nope")),
                          packet(GET, key=b"k")]) == [
        reply_bytes(SASL_AUTH, AUTH_ERROR, AUTH_FAILURE),
        reply_bytes(GET, AUTH_ERROR, AUTH_FAILURE)]
    assert conn.raw_until_closed() == b""
    conn.close()


def test_sasl_start_is_refused_without_a_password_database(tmp_path):
    server = harness.Server(["-S"], env={k: v for k, v in os.environ.items()
                                         if k != "MEMCACHED_SASL_PWDB"})
    with pytest.raises(harness.ServerError, match="MEMCACHED_SASL_PWDB"):
        server.start()
    assert server.returncode == 1
    missing = harness.Server(["-S"], env=dict(os.environ,
                                              MEMCACHED_SASL_PWDB=str(tmp_path / "none")))
    with pytest.raises(harness.ServerError, match="sasl database"):
        missing.start()
    for flags, words in [(["-S", "-B", "auto"], "cannot allow the ASCII protocol"),
                         (["-S", "-B", "ascii"], "cannot allow the ASCII protocol")]:
        refused = harness.Server(flags)
        with pytest.raises(harness.ServerError, match=words):
            refused.start()
        assert refused.returncode == 64


# Exchanges that fail, answered as memcached answers them.
FAILING_EXCHANGES = [
    [packet(SASL_LIST_MECHS)],
    [packet(NOOP)],
    [packet(SASL_AUTH, key=b"PLAIN", value=plain(b"a", b"b"), opaque=7)],
    [packet(SASL_AUTH, key=b"PLAIN", value=b"no-nul")],
    [packet(SASL_AUTH, key=b"CRAM-MD5", value=plain(b"a", b"b"))],
    [packet(SASL_AUTH, key=b"M" * 33, value=plain(b"a", b"b"))],
    [packet(SASL_AUTH, key=b"PLAIN"), packet(SASL_STEP, key=b"PLAIN", value=plain(b"a", b"b"))],
    [packet(SASL_STEP, key=b"PLAIN", value=plain(b"a", b"b"))],
    [packet(SASL_AUTH, value=b"x")],  # no mechanism: invalid arguments, closed
    [packet(SASL_LIST_MECHS, key=b"k")],
    [packet(SET, key=b"k", extras=set_extras(), value=b"v", opaque=9)],
    [packet(0x50)],
]


def debian_memcached_with_sasl():
    path = shutil.which("memcached") or "/usr/bin/memcached"
    if not os.access(path, os.X_OK):
        pytest.skip("no memcached installed")
    usage = subprocess.run([path, "-h"], capture_output=True, text=True).stdout
    if "enable-sasl" not in usage:
        pytest.skip("the installed memcached is built without SASL")
    return path


def answers(conn, requests):
    """Sends each request in turn and reads its one reply packet (a NOOP cannot end the stream
    before authentication: it is refused); "closed" once the server closes."""
    def whole():
        return len(conn.pending) >= 24 and \
            len(conn.pending) >= 24 + int.from_bytes(conn.pending[8:12], "big")

    out = []
    for data in requests:
        conn.send(data)
        while not conn.closed and not whole():
            conn._read()
        if whole():
            length = 24 + int.from_bytes(conn.pending[8:12], "big")
            out.append(conn.pending[:length])
            conn.pending = conn.pending[length:]
        if conn.closed:
            out.append("closed")
            break
    return out


def raw_exchange(port, requests):
    conn = Conn(port)
    out = answers(conn, requests)
    conn.close()
    return out


def sasl_memcached(start_server, tmp_path, conf_lines=""):
    """Debian's memcached with SASL, its Cyrus SASL configured for PLAIN alone."""
    reference = debian_memcached_with_sasl()
    conf = tmp_path / "sasl"
    conf.mkdir()
    (conf / "memcached.conf").write_text("mech_list: plain\n" + conf_lines)
    return start_server("-S", binary=reference, env=dict(os.environ, SASL_CONF_PATH=str(conf)))


def test_failing_sasl_exchanges_match_memcached(sasl_server, start_server, tmp_path):
    memcached = sasl_memcached(start_server, tmp_path)
    for requests in FAILING_EXCHANGES:
        assert raw_exchange(sasl_server.port, requests) == \
            raw_exchange(memcached.port, requests), requests


# Exchanges that authenticate, then go on: memcached checks the same users through Cyrus SASL's
# own database (sasldb), made with saslpasswd2 (Debian's sasl2-bin).
AUTHENTICATING_EXCHANGES = [
    [packet(SASL_AUTH, key=b"PLAIN", value=plain(b"alice", b"secret")), packet(NOOP),
     packet(SASL_STEP, key=b"PLAIN", value=plain(b"alice", b"secret")), packet(NOOP)],
    [packet(SASL_AUTH, key=b"PLAIN"),
     packet(SASL_STEP, key=b"PLAIN", value=plain(b"alice", b"secret", b"alice")),
     packet(NOOP)],
    [packet(SASL_AUTH, key=b"PLAIN", value=plain(b"alice", b"secret")),
     packet(SASL_AUTH, key=b"PLAIN", value=plain(b"alice", b"wrong")), packet(NOOP)],
    [packet(SASL_AUTH, key=b"PLAIN", value=plain(b"alice", b"secret", b"bob")), packet(NOOP)],
]


def test_authenticating_sasl_exchanges_match_memcached(sasl_server, start_server, tmp_path):
    saslpasswd2 = shutil.which("saslpasswd2") or "/usr/sbin/saslpasswd2"
    if not os.access(saslpasswd2, os.X_OK):
        pytest.skip("no saslpasswd2 (sasl2-bin) to make memcached's SASL database")
    database = tmp_path / "sasldb2"
    subprocess.run([saslpasswd2, "-p", "-f", str(database), "-a", "memcached", "-c", "alice"],
                   input=b"secret", check=True)
    memcached = sasl_memcached(start_server, tmp_path, "sasldb_path: %s\n" % database)
    for requests in AUTHENTICATING_EXCHANGES:
        assert raw_exchange(sasl_server.port, requests) == \
            raw_exchange(memcached.port, requests), requests


# -Y: the text protocol's password file.

AUTH_FILE = "alice:secret\nbob:two words\r\n"


@pytest.fixture
def auth_file(tmp_path):
    path = tmp_path / "auth"
    path.write_text(AUTH_FILE)
    return path


@pytest.fixture
def ascii_server(start_server, auth_file):
    return start_server("-Y", str(auth_file))


def handshake(user, password, key=b"auth"):
    token = user + b" " + password
    return b"set %s 0 0 %d\r\n%s\r\n" % (key, len(token), token)


def test_a_real_client_authenticates_with_a_set(ascii_server):
    client = Client((harness.HOST, ascii_server.port), default_noreply=False)
    assert client.set("anything", b"alice secret")
    assert client.set("k", b"v")
    assert client.get("k") == b"v"
    client.close()


def reply_to(conn, request, expected):
    """Sends `request` and checks that `expected` is its reply (no sentinel can follow it before
    authentication: it would be refused too)."""
    conn.send(request)
    assert conn.read_exact(len(expected)) == expected, request


def test_nothing_is_served_before_the_handshake(ascii_server):
    unauthenticated = b"CLIENT_ERROR unauthenticated\r\n"
    with ascii_server.connect() as conn:
        for line in [b"get k\r\n", b"mg k v\r\n", b"version\r\n", b"stats\r\n",
                     b"flush_all\r\n", b"delete k\r\n", b"set k 0 0\r\n"]:
            reply_to(conn, line, unauthenticated)
        # A binary request is read as text under -Y: refused too.
        reply_to(conn, packet(GET, key=b"k") + b"\n", unauthenticated)
        reply_to(conn, handshake(b"alice", b"wrong"), b"CLIENT_ERROR authentication failure\r\n")
        reply_to(conn, handshake(b"bob", b"two words"), b"STORED\r\n")
        conn.expect(b"set k 0 0 1\r\nv\r\nget k\r\n", b"STORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n")
        stats = harness.stats(conn)
        assert (stats["auth_cmds"], stats["auth_errors"]) == ("2", "1")
        settings = harness.stats(conn, b"settings")
        assert settings["auth_enabled_ascii"] == str(ascii_server.flags[-1])
        assert settings["auth_enabled_sasl"] == "no"
    with ascii_server.connect() as conn:
        conn.send(b"quit\r\n")  # shorter than any handshake: closed unanswered
        assert conn.read_to_eof() == b""


def test_sighup_reads_the_auth_file_again(ascii_server, auth_file):
    auth_file.write_text("carol:new\n")
    os.kill(ascii_server.pid, signal.SIGHUP)
    deadline = time.monotonic() + harness.TIMEOUT
    while True:
        reply = text_exchange(ascii_server.port, handshake(b"carol", b"new"))
        if reply == b"STORED\r\n" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert reply == b"STORED\r\n"
    with ascii_server.connect() as conn:
        reply_to(conn, handshake(b"alice", b"secret"), b"CLIENT_ERROR authentication failure\r\n")


def test_bad_auth_files_stop_the_start(tmp_path):
    bad = tmp_path / "bad"
    bad.write_text("alice:secret\nno colon here\n")
    for flags, words in [(["-Y", str(bad)], "has a malformed entry"),
                         (["-Y", str(tmp_path / "none")], "Could not open authfile")]:
        server = harness.Server(flags)
        with pytest.raises(harness.ServerError, match=words):
            server.start()
        assert server.returncode == 1
    refused = harness.Server(["-Y", str(bad), "-B", "binary"])
    with pytest.raises(harness.ServerError, match="cannot allow the BINARY protocol"):
        refused.start()
    assert refused.returncode == 64


# Streams sent to a -Y server before and around its handshake; the replies are compared byte
# for byte with memcached 1.6.45 run with the same file, up to the connection's close.
HANDSHAKE_STREAMS = [
    handshake(b"alice", b"secret") + b"get auth\r\n",
    handshake(b"alice", b"secreT") + handshake(b"alice", b"secret"),
    handshake(b"bob", b"two words", key=b"k" * 300),
    b"get foo\r\nversion\r\n" + handshake(b"alice", b"secret") + b"version\r\n",
    b"setx k 1 2 12\r\nalice secret\r\n",
    b"set k 0 0 12\nalice secret\r\n",
    b"set k 0 0 3\nabc\r\n",
    b"set k 0 0 16385\r\nmn\r\n",
    b"set k 0 0 5\r\nalice\r\n",
    b"set k 0 0 3\r\na bxx",
    b"set k 0 0 x\r\n",
    b"set k 0 0 99999999999\r\n",
    b"\r\n\r\n",
    b"quit\r\n",
    b"mn\r\nget k\r\n",
    b"x" * 3000,
    handshake(b"", b"secret"),
    handshake(b"alice", b"secret") + b"set k 0 0 1\r\nv\r\nget k\r\nquit\r\n",
]


def reference_1_6_45():
    path = os.environ.get("MNEMO_REFERENCE", "")
    if not os.access(path, os.X_OK):
        pytest.skip("set MNEMO_REFERENCE to memcached 1.6.45 to compare with it")
    return path


def text_exchange(port, data):
    """What the server answers `data` with, "<closed>" marking a close: every stream here is
    answered or closed, so this waits for the first byte, then for a pause."""
    sock = socket.create_connection((harness.HOST, port), timeout=harness.TIMEOUT)
    sock.sendall(data)
    out = b""
    try:
        while True:
            got = sock.recv(65536)
            if not got:
                out += b"<closed>"
                break
            out += got
            sock.settimeout(0.3)
    except (socket.timeout, ConnectionResetError):
        pass
    sock.close()
    return out


def test_handshake_matches_memcached(ascii_server, start_server, auth_file):
    memcached = start_server("-Y", str(auth_file), binary=reference_1_6_45())
    for data in HANDSHAKE_STREAMS:
        assert text_exchange(ascii_server.port, data) == text_exchange(memcached.port, data), data


def test_a_refused_attempt_is_logged_without_its_password(start_server, pwdb, auth_file):
    sasl = start_server("-S", "-v", env=dict(os.environ, MEMCACHED_SASL_PWDB=str(pwdb)))
    assert raw_exchange(sasl.port, [
        packet(SASL_AUTH, key=b"PLAIN", value=plain(b"alice", b"hunter2"))]) == [
        reply_bytes(SASL_AUTH, AUTH_ERROR, AUTH_FAILURE)]
    ascii = start_server("-Y", str(auth_file), "-v")
    assert text_exchange(ascii.port, handshake(b"bob\x01", b"hunter3")) == \
        b"CLIENT_ERROR authentication failure\r\n"
    deadline = time.monotonic() + harness.TIMEOUT
    while "failed" not in ascii.output() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "User <alice> failed to authenticate (SASL)" in sasl.output()
    assert "User <bob?> failed to authenticate (ascii)" in ascii.output()
    assert "hunter" not in sasl.output() + ascii.output()
