"""TLS (-Z and -o ssl_*), as memcached 1.6.45 built with --enable-tls has it: real clients
(pymemcache's tls_context, openssl s_client) over TLS, client certificates checked by
ssl_verify_mode, certificate errors at start in memcached's words, refresh_certs, the ssl_ stats,
and a client sending garbage or truncated records costing only its own connection. The
certificates are made here, with the openssl command, in a temporary directory."""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import time

import pytest
from pymemcache.client.base import Client

import harness


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def sign(directory, name, ca, days="2"):
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key", "-out",
            name + ".csr", "-subj", "/CN=" + name, cwd=directory)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
            "-CAcreateserial", "-out", name + ".crt", "-days", days, cwd=directory)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A CA and what it signed: the server's certificate (CN server), a renewed one, a client's;
    an expired server certificate; a client certificate from another CA; a key of nothing."""
    directory = tmp_path_factory.mktemp("certs")
    for ca in ("ca", "rogue_ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca + ".key", "-out",
                ca + ".crt", "-days", "2", "-subj", "/CN=" + ca, cwd=directory)
    for name in ("server", "renewed", "client"):
        sign(directory, name, "ca")
    sign(directory, "expired", "ca", days="-1")
    sign(directory, "rogue", "rogue_ca")
    openssl("genpkey", "-algorithm", "RSA", "-out", "other.key", cwd=directory)
    return directory


def tls_flags(certs, *more):
    options = ["ssl_chain_cert=%s" % (certs / "server.crt"), "ssl_key=%s" % (certs / "server.key")]
    return ["-Z", "-o", ",".join(options + list(more))]


def client_context(certs, cert=None):
    context = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    context.check_hostname = False
    if cert is not None:
        context.load_cert_chain(str(certs / (cert + ".crt")), str(certs / (cert + ".key")))
    return context


def tls_connect(server, context, port=None):
    sock = socket.create_connection((harness.HOST, port or server.port), timeout=harness.TIMEOUT)
    return context.wrap_socket(sock)


def call(sock, request, terminator=b"\r\n"):
    sock.sendall(request)
    reply = b""
    while not reply.endswith(terminator):
        chunk = sock.recv(65536)
        if not chunk:
            raise harness.Closed("closed after %r" % reply)
        reply += chunk
    return reply


def peer_name(sock):
    return dict(entry[0] for entry in sock.getpeercert()["subject"])["commonName"]


def test_pymemcache_sets_and_gets_over_tls(start_server, certs):
    server = start_server(*tls_flags(certs))
    client = Client((harness.HOST, server.port), tls_context=client_context(certs))
    assert client.set("k", b"v")
    assert client.get("k") == b"v"
    big = os.urandom(600 << 10)  # larger than a TLS record and than the write buffer
    assert client.set("big", big)
    assert client.get("big") == big
    assert client.get_many(["k", "big", "missing"]) == {"k": b"v", "big": big}
    settings = client.stats("settings")
    assert settings[b"ssl_enabled"] == b"yes"
    assert settings[b"ssl_chain_cert"] == str(certs / "server.crt").encode()
    assert settings[b"ssl_verify_mode"] == 0
    assert settings[b"ssl_ca_cert"] == b"NULL"
    assert settings[b"ssl_wbuf_size"] == 16384
    assert settings[b"ssl_min_version"] == b"tlsv1.2"
    stats = client.stats()
    assert stats[b"ssl_handshake_errors"] == 0
    assert stats[b"ssl_proto_errors"] == 0
    assert b"ssl_new_sessions" not in stats  # only with ssl_session_cache
    assert stats[b"time_since_server_cert_refresh"] >= 0
    client.close()


def test_pipelined_gets_keep_their_order_over_tls(start_server, certs):
    server = start_server(*tls_flags(certs, "ssl_wbuf_size=1"))  # many writes per batch
    with tls_connect(server, client_context(certs)) as sock:
        for i in range(50):
            assert call(sock, b"set k%d 0 0 %d\r\n%s\r\n" % (i, 100 * i, b"x" * (100 * i))) == \
                b"STORED\r\n"
        request = b"".join(b"get k%d\r\n" % i for i in range(50))
        expected = b"".join(b"VALUE k%d 0 %d\r\n%s\r\nEND\r\n" % (i, 100 * i, b"x" * (100 * i))
                            for i in range(50))
        sock.sendall(request)
        reply = b""
        while len(reply) < len(expected):
            chunk = sock.recv(65536)
            assert chunk, reply[-100:]
            reply += chunk
        assert reply == expected


def test_openssl_s_client_talks(start_server, certs):
    server = start_server(*tls_flags(certs))
    proc = subprocess.run(
        ["openssl", "s_client", "-connect", "%s:%d" % (harness.HOST, server.port), "-quiet",
         "-CAfile", str(certs / "ca.crt"), "-verify_return_error"],
        input=b"set k 0 0 5\r\nhello\r\nget k\r\nquit\r\n", capture_output=True,
        timeout=harness.TIMEOUT)
    assert proc.stdout == b"STORED\r\nVALUE k 0 5\r\nhello\r\nEND\r\n", proc.stderr


def refused(server, context, port=None):
    """Whether the server refuses the connection during the handshake or at its first request
    (on `port`, if not the server's base port)."""
    try:
        with tls_connect(server, context, port) as sock:
            call(sock, b"version\r\n")
    except (ssl.SSLError, ConnectionError, harness.Closed):
        return True
    return False


def test_client_certificates_are_checked_when_required(start_server, certs):
    server = start_server(*tls_flags(certs, "ssl_verify_mode=2",
                                     "ssl_ca_cert=%s" % (certs / "ca.crt")))
    assert refused(server, client_context(certs))  # no certificate
    assert refused(server, client_context(certs, cert="rogue"))  # signed by another CA
    with tls_connect(server, client_context(certs, cert="client")) as sock:
        assert call(sock, b"version\r\n").startswith(b"VERSION ")
    with tls_connect(server, client_context(certs, cert="client")) as sock:
        stats = harness.parse_stats(call(sock, b"stats\r\n", b"END\r\n"))
        settings = harness.parse_stats(call(sock, b"stats settings\r\n", b"END\r\n"))
    # memcached counts only the handshakes that fail at accept (before it reads anything); mnemod
    # counts every handshake that fails.
    if not harness.is_memcached():
        assert stats["ssl_handshake_errors"] == "2"
    assert settings["ssl_verify_mode"] == "3"  # SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
    assert settings["ssl_ca_cert"] == str(certs / "ca.crt")


def test_client_certificates_are_optional_when_requested(start_server, certs):
    server = start_server(*tls_flags(certs, "ssl_verify_mode=1",
                                     "ssl_ca_cert=%s" % (certs / "ca.crt")))
    assert not refused(server, client_context(certs))  # none: fine when only requested
    assert not refused(server, client_context(certs, cert="client"))
    assert refused(server, client_context(certs, cert="rogue"))  # a bad one is still refused


def start_fails(*flags):
    proc = subprocess.run([harness.server_binary(), *harness.base_flags(harness.free_port()),
                           *flags], capture_output=True, text=True, timeout=harness.TIMEOUT,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 64, proc.stderr  # EX_USAGE, as memcached
    return proc.stderr.splitlines()[-1]


def test_certificate_errors_stop_the_start_in_memcacheds_words(certs):
    cert, key = certs / "server.crt", certs / "server.key"
    assert start_fails("-Z", "-o", "ssl_chain_cert=%s,ssl_key=%s" % (cert, certs / "other.key")) \
        == "Error loading the key: %s : error:05800074:x509 certificate routines::key values " \
           "mismatch" % (certs / "other.key")
    # OpenSSL's reason for a file it cannot read depends on what it tried (memcached's is the
    # same as mnemod's).
    assert start_fails("-Z", "-o", "ssl_chain_cert=/nonexistent,ssl_key=%s" % key).startswith(
        "Error loading the certificate chain: /nonexistent : error:")
    assert start_fails("-Z") == \
        "Error loading the certificate chain: (null) : error:8000000E:system library::Bad address"
    assert start_fails("-Z", "-o", "ssl_chain_cert=%s,ssl_key=/nonexistent" % cert).startswith(
        "Error loading the key: /nonexistent : error:")
    assert start_fails(*tls_flags(certs, "ssl_ca_cert=/nonexistent")).startswith(
        "Error loading the CA certificate: /nonexistent : error:")
    assert start_fails(*tls_flags(certs, "ssl_ciphers=BOGUS")) == \
        "Error setting the provided cipher(s): BOGUS"


@pytest.mark.mnemo_only  # memcached starts with an expired certificate, which clients refuse
def test_an_expired_certificate_stops_the_start(certs):
    line = start_fails("-Z", "-o", "ssl_chain_cert=%s,ssl_key=%s" % (certs / "expired.crt",
                                                                     certs / "expired.key"))
    assert line.startswith("Error validating the certificate: %s : certificate has expired "
                           "(notAfter=" % (certs / "expired.crt")), line


def handshaken(server, certs):
    """A TLS client on a raw socket, its handshake done: (socket, its TLS object, the TLS
    object's output), so that the test may put any bytes on the wire after it."""
    raw = socket.create_connection((harness.HOST, server.port), timeout=harness.TIMEOUT)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context(certs).wrap_bio(incoming, outgoing)
    while True:
        try:
            tls.do_handshake()
            break
        except ssl.SSLWantReadError:
            raw.sendall(outgoing.read())
            incoming.write(raw.recv(65536))
    raw.sendall(outgoing.read())
    return raw, tls, outgoing


def read_to_end(sock):
    """What the server sends until it closes (a reset, after unread bytes, is a close too)."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def test_garbage_and_truncated_records_cost_only_their_connection(start_server, certs):
    server = start_server(*tls_flags(certs))
    with tls_connect(server, client_context(certs)) as good:
        assert call(good, b"set k 0 0 1\r\nv\r\n") == b"STORED\r\n"
        # Not TLS at all: a handshake error; the server answers with an alert and closes.
        with socket.create_connection((harness.HOST, server.port),
                                      timeout=harness.TIMEOUT) as plain:
            plain.sendall(b"get k\r\n")
            assert not read_to_end(plain).startswith(b"VALUE")
        # A ClientHello cut short, its client gone.
        with socket.create_connection((harness.HOST, server.port)) as partial:
            partial.sendall(bytes.fromhex("16030100c8010000c40303") + os.urandom(20))
        # A record cut short that never ends: that connection waits, the others go on.
        stalled, _, _ = handshaken(server, certs)
        stalled.sendall(b"\x17\x03\x03\x01\x00" + b"z" * 10)
        assert call(good, b"get k\r\n") == b"VALUE k 0 1\r\nv\r\nEND\r\n"
        # A record cut short, then the client leaves: as a hang-up.
        cut, _, _ = handshaken(server, certs)
        cut.sendall(b"\x17\x03\x03\x01\x00" + b"z" * 10)
        cut.close()
        # A good request, then a record no key decrypts: a protocol error, after the reply.
        raw, tls, outgoing = handshaken(server, certs)
        tls.write(b"get k\r\n")
        raw.sendall(outgoing.read() + b"\x17\x03\x03\x00\x40" + os.urandom(64))
        read_to_end(raw)
        raw.close()
        assert call(good, b"get k\r\n") == b"VALUE k 0 1\r\nv\r\nEND\r\n"
        stats = harness.parse_stats(call(good, b"stats\r\n", b"END\r\n"))
        stalled.close()
    assert server.alive()
    # memcached counts a handshake error only when the handshake fails at accept, which depends on
    # timing; mnemod counts every failed handshake: the plain text and the ClientHello cut short.
    if not harness.is_memcached():
        assert stats["ssl_handshake_errors"] == "2"
        assert stats["ssl_proto_errors"] == "1"  # the bad record


def test_refresh_certs_swaps_the_certificate_for_new_connections(start_server, certs, tmp_path):
    cert, key = tmp_path / "live.crt", tmp_path / "live.key"
    shutil.copy(certs / "server.crt", cert)
    shutil.copy(certs / "server.key", key)
    server = start_server("-Z", "-o", "ssl_chain_cert=%s,ssl_key=%s" % (cert, key))
    context = client_context(certs)
    with tls_connect(server, context) as before:
        assert peer_name(before) == "server"
        # A reload that fails keeps the certificate it had, and says why in memcached's words.
        shutil.copy(certs / "other.key", key)
        assert call(before, b"refresh_certs\r\n") == \
            b"Error loading the key: %s : error:05800074:x509 certificate routines::key values " \
            b"mismatch\r\n" % str(key).encode()
        with tls_connect(server, context) as same:
            assert peer_name(same) == "server"
        shutil.copy(certs / "renewed.crt", cert)
        shutil.copy(certs / "renewed.key", key)
        assert call(before, b"refresh_certs\r\n") == b"OK\r\n"
        with tls_connect(server, context) as after:
            assert peer_name(after) == "renewed"
            assert call(after, b"version\r\n").startswith(b"VERSION ")
        assert call(before, b"version\r\n").startswith(b"VERSION ")  # open ones go on
        stats = harness.parse_stats(call(before, b"stats\r\n", b"END\r\n"))
        assert int(stats["time_since_server_cert_refresh"]) <= 2
    # SIGHUP reloads too, as memcached's does.
    shutil.copy(certs / "server.crt", cert)
    shutil.copy(certs / "server.key", key)
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + harness.TIMEOUT
    while True:
        with tls_connect(server, context) as sock:
            if peer_name(sock) == "server":
                break
        assert time.time() < deadline, "SIGHUP did not reload the certificate"
        time.sleep(0.05)


def test_refresh_certs_without_tls(start_server):
    server = start_server()
    with server.connect() as conn:
        conn.expect(b"refresh_certs\r\n", b"Error TLS not enabled\r\n")


def test_session_cache_counts_new_sessions(start_server, certs):
    """As memcached counts them: each session the cache makes, which in TLS 1.3 is each of the
    two tickets OpenSSL sends after a handshake."""
    server = start_server(*tls_flags(certs, "ssl_session_cache"))
    with tls_connect(server, client_context(certs)) as sock:
        stats = harness.parse_stats(call(sock, b"stats\r\n", b"END\r\n"))
        settings = harness.parse_stats(call(sock, b"stats settings\r\n", b"END\r\n"))
    assert stats["ssl_new_sessions"] == "2"
    assert settings["ssl_session_cache"] == "yes"


def test_udp_stays_plain(start_server, certs):
    port = harness.free_port()
    server = start_server(*tls_flags(certs), "-U", str(port))
    with tls_connect(server, client_context(certs)) as sock:
        assert call(sock, b"set k 0 0 1\r\nv\r\n") == b"STORED\r\n"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.settimeout(harness.TIMEOUT)
        udp.sendto(b"\x00\x01\x00\x00\x00\x01\x00\x00get k\r\n", (harness.HOST, port))
        reply = udp.recv(65536)
    assert reply[8:] == b"VALUE k 0 1\r\nv\r\nEND\r\n"


def test_a_tls_client_that_never_reads_holds_bounded_memory(start_server, certs):
    """Replies wait in the connection's output as over plain TCP (Dispatcher::kOutputSoftLimit):
    a client that asks for 100 MB of values and reads nothing holds a few buffers, not 100 MB."""
    server = start_server(*tls_flags(certs))
    value = os.urandom(500 << 10)
    with tls_connect(server, client_context(certs)) as good:
        assert call(good, b"set big 0 0 %d\r\n%s\r\n" % (len(value), value)) == b"STORED\r\n"
        hog = tls_connect(server, client_context(certs))
        hog.sendall(b"get big\r\n" * 200)
        time.sleep(1)
        stats = harness.parse_stats(call(good, b"stats\r\n", b"END\r\n"))
        assert int(stats["read_buf_bytes"]) < 16 << 20, stats["read_buf_bytes"]
        hog.close()
        assert call(good, b"get big\r\n", b"END\r\n") == b"VALUE big 0 %d\r\n%s\r\nEND\r\n" % (
            len(value), value)


def test_listen_prefixes_choose_tls_per_address(start_server, certs):
    """memcached's -l notls:, btls: and mtls:, beside the base -l (TLS as configured, here with
    client certificates required)."""
    plain_port, basic_port, mutual_port = (harness.free_port() for _ in range(3))
    server = start_server(
        *tls_flags(certs, "ssl_verify_mode=2", "ssl_ca_cert=%s" % (certs / "ca.crt")),
        "-l", "notls:%s:%d,btls:%s:%d" % (harness.HOST, plain_port, harness.HOST, basic_port))
    assert refused(server, client_context(certs))  # the base port requires a certificate
    with socket.create_connection((harness.HOST, plain_port), timeout=harness.TIMEOUT) as plain:
        assert call(plain, b"version\r\n").startswith(b"VERSION ")
    assert not refused(server, client_context(certs), basic_port)  # btls: asks for none

    server = start_server(*tls_flags(certs, "ssl_ca_cert=%s" % (certs / "ca.crt")),
                          "-l", "mtls:%s:%d" % (harness.HOST, mutual_port))
    assert not refused(server, client_context(certs))  # the base port: ssl_verify_mode=0
    assert refused(server, client_context(certs), mutual_port)  # mtls: requires one
    assert not refused(server, client_context(certs, cert="client"), mutual_port)


@pytest.mark.parametrize("prefix,name", [("notls", "notls"), ("btls", "btls"), ("mtls", "otls")])
def test_listen_prefixes_need_tls(prefix, name):
    """In memcached's words, its misspelling for mtls: included."""
    proc = subprocess.run([harness.server_binary(), *harness.base_flags(harness.free_port()),
                           "-l", "%s:%s:%d" % (prefix, harness.HOST, harness.free_port())],
                          capture_output=True, text=True, timeout=harness.TIMEOUT,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode != 0
    assert proc.stderr.splitlines()[0] == "'%s' option is valid only when SSL is enabled" % name
