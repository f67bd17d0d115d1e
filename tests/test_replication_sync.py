"""Sync replication (-o replication=sync; docs/cluster.md, "Replicas"): a client write is answered
only once every live member of its key's replica set acknowledged it, so that a read of the
replica straight after the reply finds it; a replica that stops answering makes writes answer
SERVER_ERROR replication timed out within repl_timeout_ms, never hang, and writes succeed again
once it is resumed or dead. The nodes and the ring come from test_replication_async's helpers.
"""

import signal
import socket
import struct
import subprocess
import time

import pytest

import harness
from test_replication_async import Cluster, item, stat

pytestmark = pytest.mark.mnemo_only

TIMEOUT_MS = 300
TIMED_OUT = b"SERVER_ERROR replication timed out\r\n"


def wait_connected(c):
    """Polls until every node streams to every other (a node started early retries its links to
    later ones with a backoff), and serves clients again (it catches up when it starts)."""
    def ready(node):
        try:
            return (stat(node, "repl_peers_connected") == len(c.nodes) - 1 and
                    stat(node, "repl_returning") == 0)
        except harness.Closed:
            # A node starved long enough for its lease to lapse (a loaded machine) closes the
            # connections opened before it noticed: it is returning, so not ready yet.
            return False

    deadline = time.monotonic() + 10
    while not all(ready(n) for n in c.nodes):
        assert time.monotonic() < deadline, "the nodes did not all connect"
        time.sleep(0.02)


def linked_clusters(tmp_path, flags):
    """A fixture's body: yields make(count=3, extra=()), which starts a cluster whose nodes all
    get `flags` (and `extra`) and waits for its links; at the end, resumes any node a test left
    stopped and stops every cluster made."""
    made = []

    def make(count=3, extra=()):
        made.append(Cluster(tmp_path, count, list(flags) + list(extra)))
        wait_connected(made[-1])
        return made[-1]

    yield make
    for c in made:
        for node in c.nodes:
            if node.server and node.server.proc.poll() is None:
                node.server.proc.send_signal(signal.SIGCONT)
        c.stop()


@pytest.fixture
def sync_cluster(tmp_path):
    yield from linked_clusters(
        tmp_path, ["-o", "replication=sync,repl_timeout_ms=%d" % TIMEOUT_MS])


def test_every_acknowledged_write_is_on_the_replica_at_the_ack(sync_cluster):
    c = sync_cluster(3)
    sets = c.keys_owned_by_each(40, prefix=b"sy")
    conns = [n.conn() for n in c.nodes]
    for round_ in range(3):
        for key, (owner, replica) in sets.items():
            value = b"v%d-%s" % (round_, key)
            conns[owner].expect(b"set %s 7 0 %d\r\n%s\r\n" % (key, len(value), value),
                                b"STORED\r\n")
            got = item(c.nodes[replica], key)
            assert got is not None and got[:2] == (value, 7), (key, got)
    # Every other kind of write too, each read at the replica straight after its reply.
    for key, (owner, replica) in list(sets.items())[:20]:
        conn = conns[owner]
        conn.expect(b"append %s 0 0 1\r\n+\r\n" % key, b"STORED\r\n")
        assert item(c.nodes[replica], key)[0].endswith(b"+")
        conn.expect(b"ms %s 2 T0 F3\r\n42\r\n" % key, b"HD\r\n")
        assert item(c.nodes[replica], key)[:2] == (b"42", 3)
        conn.expect(b"incr %s 8\r\n" % key, b"50\r\n")
        assert item(c.nodes[replica], key)[0] == b"50"
        conn.expect(b"touch %s 500\r\n" % key, b"TOUCHED\r\n")
        assert 490 <= item(c.nodes[replica], key)[2] <= 500
        conn.expect(b"delete %s\r\n" % key, b"DELETED\r\n")
        assert item(c.nodes[replica], key) is None
    # Pipelined and noreply writes: the replies come in order, and when the last reply of a
    # pipeline has come, every write of it is on its replica.
    by_owner = {}
    for key, members in sets.items():
        by_owner.setdefault(members[0], []).append(key)
    for owner, keys in by_owner.items():
        request = b"".join(b"set %s 0 0 2 noreply\r\np%d\r\n" % (k, i) if i % 2 else
                           b"set %s 0 0 2\r\np%d\r\nmn\r\n" % (k, i) for i, k in enumerate(keys[:10]))
        got = conns[owner].call(request)
        assert got == b"STORED\r\nMN\r\n" * 5, got
        for i, key in enumerate(keys[:10]):
            assert item(c.nodes[sets[key][1]], key)[0] == b"p%d" % i
    assert all(stat(n, "repl_sync_timeouts") == 0 for n in c.nodes)
    for conn in conns:
        conn.close()


def binary_set(key, value, opaque):
    header = struct.pack(">BBHBBHIIQ", 0x80, 0x01, len(key), 8, 0, 0, 8 + len(key) + len(value),
                         opaque, 0)
    return header + struct.pack(">II", 0, 0) + key + value


def binary_reply(sock):
    data = b""
    while len(data) < 24:
        data += sock.recv(24 - len(data))
    body = struct.unpack(">I", data[8:12])[0]
    while len(data) < 24 + body:
        data += sock.recv(24 + body - len(data))
    return data


def test_a_stopped_replica_times_writes_out_and_a_resumed_or_dead_one_does_not(sync_cluster):
    c = sync_cluster(3)
    victim = 2
    keys = [b"st:%d" % i for i in range(400)]
    sets = c.replica_sets(keys)
    toward = [(k, s[0]) for k, s in sets.items() if s[1] == victim]
    elsewhere = [(k, s[0]) for k, s in sets.items() if victim not in s]
    assert len(toward) >= 10 and len(elsewhere) >= 10
    conns = {i: c.nodes[i].conn() for i in range(3) if i != victim}
    for key, owner in toward[:5]:
        conns[owner].expect(b"set %s 0 0 1\r\na\r\n" % key, b"STORED\r\n")

    harness.pause(c.nodes[victim].server.pid)
    for key, owner in toward[:4]:
        started = time.monotonic()
        got = conns[owner].call(b"set %s 0 0 1\r\nb\r\n" % key, timeout=5)
        took = time.monotonic() - started
        assert got == TIMED_OUT, got
        assert TIMEOUT_MS / 1000 - 0.05 <= took < TIMEOUT_MS / 1000 + 1.0, took
        # The local write stays: the owner holds it.
        assert item(c.nodes[owner], key)[0] == b"b"
    # noreply: nothing is said, and what follows waits behind it; meta q says the error.
    key, owner = toward[4]
    got = conns[owner].call(b"set %s 0 0 1 noreply\r\nc\r\nms %s 1 q\r\nd\r\nmn\r\n" % (key, key),
                            timeout=5)
    assert got == TIMED_OUT + b"MN\r\n", got
    # Binary: status 0x86, temporary failure, with the request's opaque.
    with socket.create_connection((harness.HOST, c.nodes[owner].port), timeout=5) as sock:
        sock.sendall(binary_set(key, b"e", 0x12345678))
        reply = binary_reply(sock)
        assert reply[0] == 0x81 and struct.unpack(">H", reply[6:8])[0] == 0x86, reply
        assert reply[12:16] == struct.pack(">I", 0x12345678) and reply[24:] == (
            b"replication timed out")
    # Writes whose replica set leaves the stopped node out are not slowed.
    for key, owner in elsewhere[:10]:
        started = time.monotonic()
        conns[owner].expect(b"set %s 0 0 1\r\nf\r\n" % key, b"STORED\r\n")
        assert time.monotonic() - started < TIMEOUT_MS / 1000
    assert sum(stat(c.nodes[i], "repl_sync_timeouts") for i in conns) == 7

    # Resumed: writes are acknowledged again, and on the replica at the ack.
    c.nodes[victim].server.proc.send_signal(signal.SIGCONT)
    deadline = time.monotonic() + 10
    key, owner = toward[5]
    while conns[owner].call(b"set %s 0 0 1\r\ng\r\n" % key, timeout=5) != b"STORED\r\n":
        assert time.monotonic() < deadline, "writes still time out after the resume"
    for key, owner in toward[5:10]:
        conns[owner].expect(b"set %s 0 0 1\r\nh\r\n" % key, b"STORED\r\n")
        assert item(c.nodes[victim], key)[0] == b"h"

    # Killed: its link is down, so it is not waited for.
    c.nodes[victim].kill()
    deadline = time.monotonic() + 10
    key, owner = toward[10]
    while conns[owner].call(b"set %s 0 0 1\r\ni\r\n" % key, timeout=5) != b"STORED\r\n":
        assert time.monotonic() < deadline, "writes still time out after the kill"
    for key, owner in toward[10:]:
        started = time.monotonic()
        conns[owner].expect(b"set %s 0 0 1\r\nj\r\n" % key, b"STORED\r\n")
        assert time.monotonic() - started < TIMEOUT_MS / 1000
    for conn in conns.values():
        conn.close()


def test_async_is_the_default_and_sync_shows_in_stats_settings(sync_cluster, start_server):
    assert harness.stats(start_server().connect(), b"settings")["replication"] == "async"
    c = sync_cluster(2, extra=["-o", "repl_timeout_ms=250"])
    settings = harness.stats(c.nodes[0].conn(), b"settings")
    assert settings["replication"] == "sync"
    assert settings["repl_timeout_ms"] == "250"
    assert harness.stats(c.nodes[0].conn())["repl_sync_timeouts"] == "0"


@pytest.mark.parametrize("option, error", [
    ("replication=both", "replication must be async or sync"),
    ("repl_timeout_ms=0", "repl_timeout_ms must be between"),
])
def test_bad_sync_options_stop_the_start(option, error):
    proc = subprocess.run([harness.server_binary()] + harness.base_flags(harness.free_port()) +
                          ["-o", option], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=harness.TIMEOUT)
    assert proc.returncode != 0
    assert error in proc.stdout.decode(), proc.stdout
