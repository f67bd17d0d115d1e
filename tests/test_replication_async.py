"""Async replication between real mnemod nodes (docs/cluster.md, "Replicas"), without a proxy:
nodes share a node list (-o cluster_file) and keep -o replicas=2 copies of each key. Every kind
of write made at a key's owner must reach the other member of its replica set, as the owner's
value, flags and remaining TTL, and no other node; a dead or restarted peer must never slow the
owner down; the repl_* counters must move.

Where each key lives comes from mnemo-ring (the project's ketama ring): the owner on the ring of
all nodes, the replica the owner on the ring without it (docs/design/replication.md). Every
outcome is polled for with a deadline; nothing sleeps a fixed time for one.
"""

import base64
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from pymemcache.client.base import Client

import binary_wire
import harness

pytestmark = pytest.mark.mnemo_only

DEADLINE = 10.0  # seconds for a record to reach a replica


def ring_binary():
    if os.environ.get("MNEMO_RING"):
        return os.environ["MNEMO_RING"]
    beside = Path(harness.server_binary()).parent / "mnemo-ring"
    return str(beside if beside.exists() else harness.REPO / "build" / "mnemo-ring")


def owners(specs, keys):
    """{key: index into specs} of each key's owner on the ketama ring of `specs`."""
    out = subprocess.run([ring_binary()] + [a for s in specs for a in ("--server", s)],
                         input=b"".join(k + b"\n" for k in keys), stdout=subprocess.PIPE,
                         check=True).stdout
    return {line.split(b" ")[0]: int(line.split(b" ")[1]) for line in out.splitlines()}


def replica_sets(nodes, keys):
    """{key: [owner index, replica index]} on the ring of `nodes`: the owner on the whole ring,
    the replica on the ring without the owner."""
    specs = [n.spec() for n in nodes]
    first = owners(specs, keys)
    sets = {}
    for owner in set(first.values()):
        rest = [i for i in range(len(specs)) if i != owner]
        theirs = [k for k in keys if first[k] == owner]
        second = owners([specs[i] for i in rest], theirs)
        for key in theirs:
            sets[key] = [owner, rest[second[key]]]
    return sets


class Node:
    """One mnemod of the cluster, on a port chosen before the node list is written."""

    def __init__(self, name, flags):
        self.name = name
        self.flags = flags
        self.server = None
        self.port = harness.free_port()

    def spec(self):
        return "%s:%d:1 %s" % (harness.HOST, self.port, self.name)

    def start(self):
        server = harness.Server(self.flags + ["-o", "cluster_self=" + self.name])
        server.port = self.port
        server._stderr = tempfile.TemporaryFile()
        server.proc = subprocess.Popen(
            [server.binary] + harness.base_flags(self.port) + server.flags,
            stdin=subprocess.DEVNULL, stdout=server._stderr, stderr=server._stderr)
        if not harness.wait_listening(server.proc.pid, self.port,
                                      alive=lambda: server.proc.poll() is None):
            server.proc.kill()
            raise harness.ServerError("%s did not start:\n%s" % (server.describe(),
                                                                  server.output()))
        self.server = server
        return self

    def kill(self):
        self.server.proc.send_signal(signal.SIGKILL)
        self.server.proc.wait()
        self.server.expected_exit = True

    def conn(self):
        return harness.Conn(self.port)

    def client(self):
        return Client((harness.HOST, self.port), timeout=harness.TIMEOUT, default_noreply=False)


class Cluster:
    def __init__(self, tmp_path, count, extra=()):
        self.list_file = tmp_path / "nodes.txt"
        self.nodes = [Node("node%d" % i, []) for i in range(count)]
        for node in self.nodes:
            node.flags = ["-o", "cluster_file=%s,replicas=2" % self.list_file] + list(extra)
        self.list_file.write_text("".join(n.spec() + "\n" for n in self.nodes))
        for node in self.nodes:
            node.start()

    def stop(self):
        complaints = [c for c in (n.server.stop() for n in self.nodes if n.server) if c]
        if complaints:
            pytest.fail("\n\n".join(complaints), pytrace=False)

    def replica_sets(self, keys):
        return replica_sets(self.nodes, keys)

    def keys_owned_by_each(self, per_node, prefix=b"k"):
        """`per_node` keys for each node as owner: {key: [owner, replica]}."""
        candidates = [b"%s:%d" % (prefix, i) for i in range(per_node * len(self.nodes) * 8)]
        sets = self.replica_sets(candidates)
        chosen = {}
        for index in range(len(self.nodes)):
            mine = [k for k in candidates if sets[k][0] == index][:per_node]
            assert len(mine) == per_node
            chosen.update({k: sets[k] for k in mine})
        return chosen


@pytest.fixture
def cluster(tmp_path):
    clusters = []

    def make(count=4, extra=()):
        clusters.append(Cluster(tmp_path, count, extra))
        return clusters[-1]

    yield make
    for made in clusters:
        made.stop()


def meta_key(key):
    """The key as an mg token: base64 with b where the text protocol cannot carry it."""
    if all(33 <= c < 127 for c in key):
        return key
    return base64.b64encode(key) + b" b"


def item(node, key):
    """(value, flags, ttl) of `key` at `node`, or None."""
    reply = node.conn().call(b"mg " + meta_key(key) + b" v f t\r\n")
    if reply.startswith(b"EN"):
        return None
    header, rest = reply.split(b"\r\n", 1)
    assert header.startswith(b"VA "), reply
    fields = header.split()
    size = int(fields[1])
    tokens = {f[:1]: f[1:] for f in fields[2:]}
    return rest[:size], int(tokens[b"f"]), int(tokens[b"t"])


def same(a, b):
    """Two items agree: value and flags exactly, remaining TTL within a second."""
    if a is None or b is None:
        return a is b
    return a[0] == b[0] and a[1] == b[1] and (a[2] == b[2] or (a[2] >= 0 and b[2] >= 0 and
                                                                abs(a[2] - b[2]) <= 1))


def expect_replicated(cluster, sets):
    """Polls until each key's replica holds what its owner holds, and no other node holds it."""
    deadline = time.monotonic() + DEADLINE
    while True:
        wrong = []
        for key, (owner, replica) in sets.items():
            there = item(cluster.nodes[owner], key)
            if not same(item(cluster.nodes[replica], key), there):
                wrong.append((key, "replica", there, item(cluster.nodes[replica], key)))
            for other in range(len(cluster.nodes)):
                if other not in (owner, replica) and item(cluster.nodes[other], key) is not None:
                    wrong.append((key, "node%d outside its set holds it" % other))
        if not wrong:
            return
        if time.monotonic() > deadline:
            pytest.fail("not replicated within %ss: %r" % (DEADLINE, wrong[:5]))
        time.sleep(0.02)


def stat(node, name):
    return int(harness.stats(node.conn())[name])


def test_every_kind_of_write_reaches_exactly_the_replica_set(cluster):
    c = cluster(4)
    sets = c.keys_owned_by_each(14)
    by_owner = {}
    for key, members in sets.items():
        by_owner.setdefault(members[0], []).append(key)
    for owner, keys in by_owner.items():
        client = c.nodes[owner].client()
        conn = c.nodes[owner].conn()
        (k_set, k_add, k_replace, k_append, k_prepend, k_cas, k_incr, k_decr, k_touch, k_gat,
         k_delete, k_ms, k_md, k_ma) = keys
        client.set(k_set, b"value", expire=300, flags=7)
        assert client.add(k_add, b"added", expire=200, flags=1)
        client.set(k_replace, b"old", flags=2)
        assert client.replace(k_replace, b"new", expire=100, flags=3)
        client.set(k_append, b"head", flags=4)
        assert client.append(k_append, b"-tail")
        client.set(k_prepend, b"tail", expire=50, flags=5)
        assert client.prepend(k_prepend, b"head-")
        client.set(k_cas, b"first", flags=6)
        _, token = client.gets(k_cas)
        assert client.cas(k_cas, b"swapped", token, expire=400, flags=8)
        client.set(k_incr, b"41")
        assert client.incr(k_incr, 1) == 42
        client.set(k_decr, b"100", expire=600)
        assert client.decr(k_decr, 58) == 42
        client.set(k_touch, b"touched")
        assert client.touch(k_touch, 700)
        client.set(k_gat, b"gat", expire=30)
        assert conn.call(b"gat 800 " + k_gat + b"\r\n").startswith(b"VALUE ")
        client.set(k_delete, b"doomed")
        expect_replicated(c, {k_delete: sets[k_delete]})
        assert client.delete(k_delete, noreply=False)
        assert conn.call(b"ms " + k_ms + b" 4 F9 T900\r\nmeta\r\n") == b"HD\r\n"
        assert conn.call(b"ms " + k_md + b" 2\r\nmd\r\n") == b"HD\r\n"
        expect_replicated(c, {k_md: sets[k_md]})
        assert conn.call(b"md " + k_md + b"\r\n") == b"HD\r\n"
        assert conn.call(b"ma " + k_ma + b" N0 J5 D3\r\n") == b"HD\r\n"
        assert conn.call(b"ma " + k_ma + b" D3\r\n") == b"HD\r\n"
    expect_replicated(c, sets)
    # Spot checks that the values are the results, not the commands.
    for key, (owner, replica) in sets.items():
        got = item(c.nodes[replica], key)
        if key in (keys[2] for keys in by_owner.values()):
            assert got[0] == b"new" and got[1] == 3
    ma_keys = [keys[13] for keys in by_owner.values()]
    for key in ma_keys:
        assert item(c.nodes[sets[key][1]], key)[0] == b"8"  # created at 5, then +3


def test_meta_invalidation_and_binary_keys(cluster):
    c = cluster(3)
    sets = c.keys_owned_by_each(2, prefix=b"inv")
    for key, (owner, _) in sets.items():
        conn = c.nodes[owner].conn()
        assert conn.call(b"ms " + key + b" 1 T100\r\nx\r\n") == b"HD\r\n"
    expect_replicated(c, sets)
    for key, (owner, _) in sets.items():
        # Marked stale at the owner: the replica holds no stale item, so it drops it.
        assert c.nodes[owner].conn().call(b"md " + key + b" I\r\n") == b"HD\r\n"
    deadline = time.monotonic() + DEADLINE
    while any(item(c.nodes[r], k) is not None for k, (_, r) in sets.items()):
        assert time.monotonic() < deadline, "invalidated items stayed on their replicas"
        time.sleep(0.02)

    # Binary-protocol keys may hold control bytes (and spaces, which mnemo-ring cannot read):
    # they travel base64-encoded.
    keys = [b"bin\x01key\x7f%d" % i for i in range(40)]
    bin_sets = c.replica_sets(keys)
    for key, (owner, _) in bin_sets.items():
        sock = c.nodes[owner].conn()
        sock.send(binary_wire.packet(binary_wire.SET, key, binary_wire.set_extras(13, 500),
                                     b"binary value"))
        header = sock.read_exact(binary_wire.HEADER.size)
        assert binary_wire.HEADER.unpack(header)[5] == binary_wire.SUCCESS
    expect_replicated(c, bin_sets)


def test_a_cas_token_of_the_owner_never_overwrites_on_the_replica(cluster):
    """docs/cluster.md, "CAS across a failover": a client that read a token at the owner and
    retries its cas at the replica (the proxy failed over) gets EXISTS there, even when the two
    nodes stored the key at the same place of their memory; it then reads again and succeeds."""
    nodes = cluster()
    sets = nodes.keys_owned_by_each(3)
    for key, (owner, replica) in sets.items():
        owner_client = nodes.nodes[owner].client()
        replica_client = nodes.nodes[replica].client()
        owner_client.set(key, b"v1")
        _, token = owner_client.gets(key)
        deadline = time.monotonic() + DEADLINE
        while replica_client.get(key) != b"v1":
            assert time.monotonic() < deadline, "%r never reached its replica" % key
            time.sleep(0.01)
        _, replica_token = replica_client.gets(key)
        assert int(token) >> 56 != int(replica_token) >> 56, "both nodes tag their CAS alike"
        assert replica_client.cas(key, b"stale", token) is False  # EXISTS
        assert replica_client.get(key) == b"v1"
        assert replica_client.cas(key, b"v2", replica_token) is True
        owner_client.close()
        replica_client.close()


def test_flush_all_reaches_every_peer(cluster):
    c = cluster(3)
    sets = c.keys_owned_by_each(5, prefix=b"fl")
    for key, (owner, _) in sets.items():
        c.nodes[owner].client().set(key, b"v")
    expect_replicated(c, sets)
    c.nodes[0].client().flush_all()
    deadline = time.monotonic() + DEADLINE
    while any(item(n, k) is not None for n in c.nodes for k in sets):
        assert time.monotonic() < deadline, "flush_all did not reach every node"
        time.sleep(0.02)


def test_counters_move(cluster):
    c = cluster(3)
    # Every node caught up after its start (a full resync would send items written before).
    deadline = time.monotonic() + DEADLINE
    while not all(stat(n, "repl_returning") == 0 and stat(n, "repl_peers_connected") == 2
                  for n in c.nodes):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    sets = c.keys_owned_by_each(10, prefix=b"st")
    for key, (owner, _) in sets.items():
        c.nodes[owner].client().set(key, b"12345")
    expect_replicated(c, sets)
    sent = sum(stat(n, "repl_records_sent") for n in c.nodes)
    applied = sum(stat(n, "repl_records_applied") for n in c.nodes)
    # Besides the writes' records, each node that started after a peer got a marker from it
    # after a full resync (docs/design/replication.md, "Rejoin without stale reads").
    markers = sum(stat(n, "repl_full_resyncs") for n in c.nodes)
    assert sent == applied == len(sets) + markers
    assert all(stat(n, "repl_bytes_sent") > 0 for n in c.nodes)
    deadline = time.monotonic() + DEADLINE
    while not all(stat(n, "repl_peers_connected") == 2 for n in c.nodes):
        assert time.monotonic() < deadline, "not every node streams to both peers"
        time.sleep(0.02)
    assert all(stat(n, "repl_backlog_bytes") == 0 for n in c.nodes)
    assert all(stat(n, "repl_backlog_overflows") == 0 for n in c.nodes)


def test_a_dead_peer_never_slows_the_owner_and_a_restarted_one_catches_up(cluster):
    c = cluster(3, extra=["-o", "repl_backlog_mb=1,repl_lag_max_ms=60000"])
    victim = 2
    keys = [b"dead:%d" % i for i in range(3000)]
    sets = c.replica_sets(keys)
    toward_victim = {k: s for k, s in sets.items() if s[1] == victim}
    assert len(toward_victim) > 300
    c.nodes[victim].kill()
    value = b"x" * 4000  # about 1.2 MB toward the dead node: past its 1 MB backlog
    slowest = 0.0
    clients = {i: c.nodes[i].client() for i in range(len(c.nodes)) if i != victim}
    for key, (owner, _) in toward_victim.items():
        started = time.monotonic()
        clients[owner].set(key, value)
        slowest = max(slowest, time.monotonic() - started)
    assert slowest < 1.0, "a write waited %.2fs for a dead replica" % slowest
    overflows = sum(stat(c.nodes[i], "repl_backlog_overflows") for i in clients)
    assert overflows >= 1
    deadline = time.monotonic() + DEADLINE
    while "replication: dropped the stream to node2" not in "".join(
            c.nodes[i].server.output() for i in clients):
        assert time.monotonic() < deadline, "no line says the stream was dropped"
        time.sleep(0.02)

    # Back on its port, empty: the owners reconnect, and new writes reach it.
    c.nodes[victim].start()
    deadline = time.monotonic() + DEADLINE
    while not all(stat(c.nodes[i], "repl_peers_connected") == 2 for i in clients):
        assert time.monotonic() < deadline, "the owners did not reconnect to the restarted node"
        time.sleep(0.02)
    fresh = dict(list(toward_victim.items())[:50])
    for key, (owner, _) in fresh.items():
        clients[owner].set(key, b"after restart", expire=120)
    expect_replicated(c, fresh)


def test_a_stalled_peer_gets_what_was_written_meanwhile(cluster):
    c = cluster(2)
    sets = c.keys_owned_by_each(20, prefix=b"rs")
    for key, (owner, _) in sets.items():
        c.nodes[owner].client().set(key, b"before")
    expect_replicated(c, sets)
    # Stopping a node (SIGSTOP) leaves its links open and records queue; resumed, they flow.
    harness.pause(c.nodes[1].server.pid)
    try:
        for key, (owner, _) in sets.items():
            if owner == 0:
                c.nodes[0].client().set(key, b"during")
    finally:
        c.nodes[1].server.proc.send_signal(signal.SIGCONT)
    expect_replicated(c, sets)


def test_sighup_reads_the_node_list_again(cluster, tmp_path):
    c = cluster(3)
    # Node 2 leaves the list: the others stop sending to it, and place keys on two nodes.
    full = c.list_file.read_text()
    c.list_file.write_text("".join(n.spec() + "\n" for n in c.nodes[:2]))
    for node in c.nodes[:2]:
        node.server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + DEADLINE
    while not all(stat(n, "repl_peers_connected") == 1 for n in c.nodes[:2]):
        assert time.monotonic() < deadline, "the links to the removed node stayed open"
        time.sleep(0.02)
    specs = [n.spec() for n in c.nodes[:2]]
    keys = [b"hup:%d" % i for i in range(20)]
    first = owners(specs, keys)
    for key in keys:
        c.nodes[first[key]].client().set(key, b"two nodes")
    expect_two = {k: [first[k], 1 - first[k]] for k in keys}
    deadline = time.monotonic() + DEADLINE
    while any(item(c.nodes[r], k) is None for k, (_, r) in expect_two.items()):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert all(item(c.nodes[2], k) is None for k in keys)
    # Back in the list: links to it open again.
    c.list_file.write_text(full)
    for node in c.nodes[:2]:
        node.server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + DEADLINE
    while not all(stat(n, "repl_peers_connected") == 2 for n in c.nodes[:2]):
        assert time.monotonic() < deadline, "the links to the returning node did not open"
        time.sleep(0.02)


def test_mn_peer_needs_a_node_list(start_server, tmp_path):
    plain = start_server()
    assert plain.connect().call(b"mn_peer a 1 0\r\n") == b"ERROR\r\n"
    nodes = tmp_path / "nodes.txt"
    nodes.write_text("127.0.0.1:1:1 other\n")
    server = harness.Server(["-o", "cluster_file=%s,cluster_self=me" % nodes])
    # This node's entry names its port, which the harness picks at start: list it by name.
    server.port = harness.free_port()
    nodes.write_text("127.0.0.1:1:1 other\n127.0.0.1:%d:1 me\n" % server.port)
    proc = subprocess.Popen([server.binary] + harness.base_flags(server.port) + server.flags,
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        assert harness.wait_listening(proc.pid, server.port, alive=lambda: proc.poll() is None)
        conn = harness.Conn(server.port)
        conn.send(b"mn_peer other 0123 0\r\n")
        reply = conn.readline()
        assert reply.startswith(b"PEER ") and reply.endswith(b" 0\r\n"), reply
        # The link applies records quietly: md answers NF, as memcached's md q, for a key the
        # node lacks, and the sender skips all but MN.
        conn.send(b"ms k 2 T0 F3 q\r\nhi\r\nmd gone q\r\nmn\r\n")
        assert conn.read_until(b"MN\r\n") == b"NF\r\nMN\r\n"
        other = harness.Conn(server.port)
        assert harness.stats(other)["repl_records_applied"] == "2"
        assert other.call(b"mg k v f\r\n") == b"VA 2 f3\r\nhi\r\n"
        # Reconnecting in the same run resumes after what was applied.
        conn.close()
        deadline = time.monotonic() + DEADLINE
        while True:
            again = harness.Conn(server.port)
            again.send(b"mn_peer other 0123 0\r\n")
            reply = again.readline()
            if reply.endswith(b" 2\r\n") or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        assert reply.endswith(b" 2\r\n"), reply
        # Another run of the peer starts from nothing.
        fresh = harness.Conn(server.port)
        fresh.send(b"mn_peer other 4567 0\r\n")
        assert fresh.readline().endswith(b" 0\r\n")
    finally:
        proc.terminate()
        proc.wait()


@pytest.mark.parametrize("option, error", [
    ("replicas=2", "replicas above 1 needs -o cluster_file"),
    ("replicas=9", "replicas must be between 1 and 4"),
    ("cluster_file=/nonexistent/nodes", "cluster_file"),
    ("repl_backlog_mb=0", "repl_backlog_mb must be between"),
    ("repl_lag_max_ms=x", "repl_lag_max_ms must be between"),
])
def test_bad_options_stop_the_start(option, error):
    proc = subprocess.run([harness.server_binary()] + harness.base_flags(harness.free_port()) +
                          ["-o", option], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=harness.TIMEOUT)
    assert proc.returncode != 0
    assert error in proc.stdout.decode(), proc.stdout


def test_stats_settings_show_the_options(cluster):
    c = cluster(2, extra=["-o", "repl_backlog_mb=3,repl_lag_max_ms=1500"])
    settings = harness.stats(c.nodes[0].conn(), b"settings")
    assert settings["cluster_file"] == str(c.list_file)
    assert settings["cluster_self"] == "node0"
    assert settings["replicas"] == "2"
    assert settings["repl_backlog_mb"] == "3"
    assert settings["repl_lag_max_ms"] == "1500"
