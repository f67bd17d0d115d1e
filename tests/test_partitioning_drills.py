"""Partitioning drills (issue 20): mnemod nodes behind nutcracker, started by
tools/cluster/mnemo-cluster, 20,000 keys written through the proxy, then `mnemo-cluster add` or
`remove` while a reader reads every key through the proxy in a loop, during the move and after
it. Each read is counted as a hit (the value the model holds for the key), a miss, a wrong value
(one the model does not hold: a stale read) or an error; a key that gets an error, or whose
request was in flight when the proxy closed the connection (mnemo-cluster restarts nutcracker on
the same port to change its ring), is asked once more on a new connection, as clients of
nutcracker must retry once (docs/cluster.md). docs/cluster.md, "Adding and removing nodes",
describes what the drills check.

- add on 4 nodes: at least 99% of the reads hit during the move and after it; the new node holds
  exactly the keys mnemo-ring gives it (about a fifth), and their old owners none of them.
- remove 1 on 5 nodes, without and with --replicas 2: at least 99% hit during and after; the
  removed node is stopped and its keys are on their new owners.
- a node killed in the middle of an add: the tool returns, no node stays in a move, no read is
  stale, and the keys that neither the kill nor the add took from a live node hit.
- writes, overwrites and deletes through the proxy during an add: afterwards every key reads what
  a model of the acknowledged writes says.
- the contrast, ketama alone (nodes without the node list, as memcached runs): after the add
  every moved key misses, about a fifth; the figures are printed.

Every drill prints its figures. The nodes' move is the server's (move_* stats); without it the
drills of the node side fail, the contrast passes.
"""

import collections
import json
import os
import signal
import subprocess
import threading
import time

import pytest

import harness
from test_cluster import (TOOL, Cluster, cluster_programs,  # noqa: F401 (autouse fixture)
                          read_reply, ring_binary)

KEYS = 20000
WRITE_BATCH = 500  # requests pipelined per round trip through the proxy
READ_BATCH = 500
DRILL_TIMEOUT_MS = 1000  # nutcracker's timeout: long enough that a loaded machine ejects nobody
RETRY_MS = 2000
AFTER_PASSES = 2  # full passes over the keys the reader makes after the move
# Items a second each node walks in a move (-o move_rate_keys; 50,000 by default): slow enough
# that the move lasts about a second and the reader makes several passes while it runs.
MOVE_RATE = 5000
SLOW_MOVE = ("--", "-o", "move_rate_keys=%d" % MOVE_RATE)
# With replicas, a lease of 500 ms (repl_lease_ms; 200 by default), still below nutcracker's
# 1000 ms timeout here: on a machine loaded far past its 2 cores a node's lease lapses during the
# walk at 200 ms, and the node then holds its clients while it catches up; some reads of the move
# missed then (docs/cluster.md, "The add and remove drills").
REPLICATED_SLOW_MOVE = ("--replicas", "2", "--", "-o",
                        "move_rate_keys=%d,repl_lease_ms=500" % MOVE_RATE)
TOOL_TIMEOUT_S = 60  # a move of 20,000 small keys that takes longer is a hang


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path / "cluster")
    yield c
    c.stop()


def value_of(key, version=0):
    return b"v%d-of-%s" % (version, key.encode())


def start(cluster, nodes, *extra):
    cluster.start("--nodes", str(nodes), "--timeout", str(DRILL_TIMEOUT_MS),
                  "--server-retry-timeout", str(RETRY_MS), *extra)


def run_pipelined(port, requests, replies_of):
    """Sends `requests` (bytes each) through the proxy at `port` in pipelined batches and returns
    one reply per request. A batch whose connection closes or is refused (the proxy restarting)
    is sent again whole on a new connection; so is each request that got a SERVER_ERROR, once.
    The requests must be idempotent. `replies_of(conn, batch)` reads a batch's replies."""
    out = [None] * len(requests)
    pending = list(range(len(requests)))
    retried = set()
    conn = None
    deadline = time.monotonic() + TOOL_TIMEOUT_S
    while pending:
        batch, pending = pending[:READ_BATCH], pending[READ_BATCH:]
        try:
            if conn is None:
                conn = harness.Conn(port)
            conn.send(b"".join(requests[i] for i in batch))
            replies = replies_of(conn, len(batch))
        except (harness.Closed, OSError):
            assert time.monotonic() < deadline, "the proxy did not come back"
            if conn is not None:
                conn.close()
            conn = None
            pending = batch + pending
            time.sleep(0.001)
            continue
        for i, reply in zip(batch, replies):
            if reply.startswith(b"SERVER_ERROR") and i not in retried:
                retried.add(i)
                pending.append(i)
            out[i] = reply
    if conn is not None:
        conn.close()
    return out


def read_replies(conn, count):
    return [read_reply(conn) for _ in range(count)]


class Tally:
    """Reads of one phase, by outcome."""

    def __init__(self):
        self.counts = collections.Counter()  # hit, miss, wrong, error
        self.wrong = []  # (key, value) examples
        self.errors = collections.Counter()  # reply line -> reads

    def reads(self):
        return sum(self.counts.values())

    def hit_ratio(self):
        return self.counts["hit"] / self.reads() if self.reads() else 0.0

    def describe(self, label):
        return ("%s: %d reads, %.2f%% hit, %d missed, %d wrong, %d errors %s"
                % (label, self.reads(), 100 * self.hit_ratio(), self.counts["miss"],
                   self.counts["wrong"], self.counts["error"],
                   {k.decode().strip(): n for k, n in self.errors.items()}))


class Reader(threading.Thread):
    """Reads `keys` through the proxy in a loop, each pass counted in the phase current when it
    started, until stop(); a key's read is checked against `expected[key]` (None: absent)."""

    def __init__(self, cluster, keys, expected):
        super().__init__(daemon=True)
        self.port = cluster.proxy_port
        self.keys = keys
        self.expected = expected
        self.phase = "during"
        self.tallies = collections.defaultdict(Tally)
        self.passes = collections.Counter()
        self.done = threading.Event()
        self.failure = None

    def run(self):
        requests = [b"get %s\r\n" % k.encode() for k in self.keys]
        try:
            while not self.done.is_set():
                phase = self.phase
                replies = run_pipelined(self.port, requests, read_replies)
                tally = self.tallies[phase]
                for key, reply in zip(self.keys, replies):
                    self.count(tally, key, reply)
                self.passes[phase] += 1
        except BaseException as e:  # reported by stop(), in the test's thread
            self.failure = e

    def count(self, tally, key, reply):
        if reply == b"END\r\n":
            tally.counts["miss"] += 1
        elif reply.startswith(b"VALUE "):
            value = reply.split(b"\r\n")[1]
            if value == self.expected[key]:
                tally.counts["hit"] += 1
            else:
                tally.counts["wrong"] += 1
                tally.wrong.append((key, value))
        else:
            tally.counts["error"] += 1
            tally.errors[reply] += 1

    def wait_passes(self, phase, passes):
        deadline = time.monotonic() + TOOL_TIMEOUT_S
        while self.passes[phase] < passes and self.failure is None:
            assert time.monotonic() < deadline, "the reader made no %d passes" % passes
            time.sleep(0.01)

    def stop(self):
        self.done.set()
        self.join(TOOL_TIMEOUT_S)
        if self.failure is not None:
            raise self.failure


def write_all(cluster, values):
    """Sets every key to its value through the proxy, each acknowledged."""
    keys = list(values)
    requests = [b"set %s 0 0 %d\r\n%s\r\n" % (k.encode(), len(values[k]), values[k])
                for k in keys]
    replies = run_pipelined(cluster.proxy_port, requests, read_replies)
    assert replies == [b"STORED\r\n"] * len(keys), collections.Counter(replies)


def move_stats(cluster):
    """{index: move_* stats} of every node in the status, None for one that does not answer."""
    return {n["index"]: n.get("move") for n in cluster.status()["nodes"]}


def drill(cluster, nodes, action, *start_args):
    """Starts `nodes` nodes, writes KEYS keys, runs `mnemo-cluster action` while a reader reads
    every key, then AFTER_PASSES passes more. Returns (keys, reader, the tool's output, the node
    records before the action)."""
    start(cluster, nodes, *start_args)
    keys = ["part:%d" % i for i in range(KEYS)]
    expected = {k: value_of(k) for k in keys}
    write_all(cluster, expected)
    before = cluster.state["nodes"]
    reader = Reader(cluster, keys, expected)
    reader.start()
    try:
        out = cluster.tool(*action).stdout.strip()
        reader.phase = "after"
        reader.wait_passes("after", AFTER_PASSES)
    finally:
        reader.stop()
    cluster.state = json.loads((cluster.dir / "state.json").read_text())
    return keys, reader, out, before


def report(capsys, label, reader, out, extra=""):
    with capsys.disabled():
        print("\n%s: %s" % (label, out.replace("\n", "; ")))
        for phase in ("during", "after"):
            print("  " + reader.tallies[phase].describe(phase))
        if extra:
            print("  " + extra)


def assert_hits(cluster, reader, label):
    for phase in ("during", "after"):
        tally = reader.tallies[phase]
        assert tally.reads(), "%s: no read %s the move" % (label, phase)
        assert not tally.wrong, (label, phase, tally.wrong[:10])
        assert tally.hit_ratio() >= 0.99, (tally.describe(label + ", " + phase),
                                           cluster.diagnosis())


def ring(cluster, keys, indexes, nodes=None):
    """{key: node index} on the ring of the nodes `indexes`, taken from `nodes` (a state's node
    records; default: the cluster's nodes now), as mnemo-ring places them."""
    specs = {n["index"]: "%s:%d:%d" % (harness.HOST, n["port"], n["weight"])
             for n in (nodes or cluster.state["nodes"])}
    argv = [ring_binary()] + [a for i in indexes for a in ("--server", specs[i])]
    out = subprocess.run(argv, input="".join(k + "\n" for k in keys), capture_output=True,
                         text=True, check=True).stdout
    return {line.split(" ")[0]: indexes[int(line.split(" ")[1])] for line in out.splitlines()}


def moved_keys(cluster, keys, before, after, nodes=None):
    """{key: (old owner, new owner)} of the keys whose owner differs between the rings of the
    nodes `before` and `after` (of `nodes`, as ring() takes them)."""
    old, new = ring(cluster, keys, before, nodes), ring(cluster, keys, after, nodes)
    return {k: (old[k], new[k]) for k in keys if old[k] != new[k]}


def assert_no_move_left(cluster):
    for index, stats in move_stats(cluster).items():
        assert stats and stats.get("move_in_progress") == 0, (index, stats, cluster.diagnosis())


# --- add --------------------------------------------------------------------------------------

def add_drill(cluster, capsys, label, *start_args):
    keys, reader, out, _ = drill(cluster, 4, ("add",), *start_args)
    new = max(n["index"] for n in cluster.state["nodes"])
    moved = moved_keys(cluster, keys, [0, 1, 2, 3], [0, 1, 2, 3, new])
    assert {to for _, to in moved.values()} == {new}  # ketama moves keys to the new node only
    share = len(moved) / KEYS
    report(capsys, label, reader, out,
           "mnemo-ring moves %d keys (%.1f%%) to the new node" % (len(moved), 100 * share))
    assert 0.12 <= share <= 0.28, share  # one node's share in five, give or take the ring
    return keys, reader, new, moved


@pytest.mark.mnemo_only
def test_add_keeps_99_percent_hitting_and_moves_the_new_nodes_keys(cluster, capsys):
    keys, reader, new, moved = add_drill(cluster, capsys, "add a fifth node to 4", *SLOW_MOVE)
    assert_hits(cluster, reader, "add")
    assert_no_move_left(cluster)
    assert cluster.holdings(new, keys) == sorted(moved), cluster.diagnosis()
    for index in range(4):
        theirs = [k for k, (owner, _) in moved.items() if owner == index]
        assert not cluster.holdings(index, theirs), (index, cluster.diagnosis())


@pytest.mark.mnemo_only
def test_add_with_two_replicas_keeps_99_percent_hitting(cluster, capsys):
    _, reader, _, _ = add_drill(cluster, capsys, "add a fifth node to 4, --replicas 2",
                                *REPLICATED_SLOW_MOVE)
    assert_hits(cluster, reader, "add, --replicas 2")
    assert_no_move_left(cluster)


def test_add_with_ketama_alone_misses_every_moved_key(cluster, capsys):
    """The contrast: nodes without the node list move nothing; the proxy's new ring sends a fifth
    of the keys to the new, empty node, and every read of them misses."""
    keys, reader, new, moved = add_drill(cluster, capsys, "add, ketama alone (contrast)",
                                         "--no-node-list")
    after = reader.tallies["after"]
    assert not after.wrong, after.wrong[:10]
    assert after.counts["miss"] == len(moved) * reader.passes["after"], after.describe("after")
    assert after.hit_ratio() < 0.99
    assert not cluster.holdings(new, keys)


# --- remove -----------------------------------------------------------------------------------

def remove_drill(cluster, capsys, label, *start_args):
    keys, reader, out, before = drill(cluster, 5, ("remove", "1"), *start_args)
    assert [n["index"] for n in cluster.state["nodes"]] == [0, 2, 3, 4]
    report(capsys, label, reader, out)
    assert_hits(cluster, reader, label)
    assert_no_move_left(cluster)
    return keys, before


@pytest.mark.mnemo_only
def test_remove_keeps_99_percent_hitting(cluster, capsys):
    keys, before = remove_drill(cluster, capsys, "remove node 1 of 5", *SLOW_MOVE)
    moved = moved_keys(cluster, keys, [0, 1, 2, 3, 4], [0, 2, 3, 4], before)
    assert {owner for owner, _ in moved.values()} == {1}  # only the removed node's keys move
    for index in (0, 2, 3, 4):
        theirs = sorted(k for k, (_, to) in moved.items() if to == index)
        assert cluster.holdings(index, theirs) == theirs, (index, cluster.diagnosis())


@pytest.mark.mnemo_only
def test_remove_with_two_replicas_keeps_99_percent_hitting(cluster, capsys):
    remove_drill(cluster, capsys, "remove node 1 of 5, --replicas 2", *REPLICATED_SLOW_MOVE)


# --- a node killed during a move --------------------------------------------------------------

KILL_RATE = 4000  # items a second each node walks: about 1.2 s for its 5,000
MOVE_MAX_MS = 4000  # how long the live nodes wait for the dead one before they end the move


def node_moving(port):
    """True if the node answers that a move runs there (move_in_progress 1)."""
    try:
        with harness.Conn(port, timeout=1) as c:
            return harness.stats(c).get("move_in_progress") == "1"
    except (harness.Closed, OSError, AssertionError):
        return False


def move_log(cluster):
    """Each node's log lines about moves, to explain a failed drill."""
    lines = []
    for log in sorted(cluster.dir.glob("node-*.log")):
        lines += ["%s: %s" % (log.name, line)
                  for line in log.read_text(errors="replace").splitlines()
                  if line.startswith("move:")]
    return "\n".join(lines)


def write_round(cluster, overwritten, deleted, version):
    """Overwrites `overwritten` with `version` and deletes `deleted`, through the proxy, every
    request acknowledged (sent again once on a lost connection or an error: all idempotent)."""
    requests, wanted = [], []
    for k in overwritten:
        v = value_of(k, version)
        requests.append(b"set %s 0 0 %d\r\n%s\r\n" % (k.encode(), len(v), v))
        wanted.append((b"STORED\r\n",))
    for k in deleted:
        requests.append(b"delete %s\r\n" % k.encode())
        wanted.append((b"DELETED\r\n", b"NOT_FOUND\r\n"))  # sent again after a lost reply
    replies = run_pipelined(cluster.proxy_port, requests, read_replies)
    bad = [(r, w) for r, w in zip(replies, wanted) if r not in w]
    assert not bad, (version, bad[:10], cluster.diagnosis())


def read_all(cluster, keys):
    """{key: value, or None for a miss, or the error line} through the proxy."""
    replies = run_pipelined(cluster.proxy_port, [b"get %s\r\n" % k.encode() for k in keys],
                            read_replies)
    return {k: (r.split(b"\r\n")[1] if r.startswith(b"VALUE ") else
                None if r == b"END\r\n" else r) for k, r in zip(keys, replies)}


@pytest.mark.mnemo_only
def test_a_node_killed_during_an_add_leaves_no_hang_and_no_stale_read(cluster, capsys):
    """Node 1 is killed as soon as a node reports the move under way; then a quarter of the keys
    are overwritten and another quarter deleted through the proxy, while the reader reads the
    untouched half. The tool must return, no live node may stay in a move, no read may find a
    value other than the last acknowledged one (a miss is allowed: a cache may lose keys), and
    the keys that neither the kill nor the add took from a live node must hit. The nodes walk
    their items slowly enough (move_rate_keys) that the kill lands in the middle of the move,
    and wait MOVE_MAX_MS for a peer that does not acknowledge (move_max_ms): the dead node."""
    start(cluster, 4, "--", "-o", "move_rate_keys=%d,move_max_ms=%d" % (KILL_RATE, MOVE_MAX_MS))
    keys = ["part:%d" % i for i in range(KEYS)]
    expected = {k: value_of(k) for k in keys}
    write_all(cluster, expected)
    overwritten, deleted = keys[0::4], keys[1::4]
    untouched = keys[2::4] + keys[3::4]
    victim = 1
    victim_pid = cluster.node_pid(victim)
    ports = [cluster.node_port(i) for i in range(4)]
    reader = Reader(cluster, untouched, expected)
    reader.start()
    try:
        tool = subprocess.Popen([str(TOOL), "--dir", str(cluster.dir), "add"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=cluster.tool_env())
        tool_started = time.monotonic()
        deadline = tool_started + TOOL_TIMEOUT_S
        while tool.poll() is None and time.monotonic() < deadline:
            if any(node_moving(port) for port in ports):
                break
            time.sleep(0.002)  # leaves the CPUs to the tool and the nodes
        killed_during = tool.poll() is None
        os.kill(victim_pid, signal.SIGKILL)
        kill_after = time.monotonic() - tool_started
        write_round(cluster, overwritten, deleted, 1)
        out, err = tool.communicate(timeout=TOOL_TIMEOUT_S)
        assert tool.returncode == 0, (out, err, cluster.diagnosis())
        reader.phase = "after"
        reader.wait_passes("after", AFTER_PASSES)
    finally:
        reader.stop()
    cluster.state = json.loads((cluster.dir / "state.json").read_text())
    new = max(n["index"] for n in cluster.state["nodes"])
    live = [0, 2, 3, new]
    model = dict(expected)
    model.update({k: value_of(k, 1) for k in overwritten})
    model.update({k: None for k in deleted})
    got = read_all(cluster, keys)
    stale = [(k, got[k], model[k]) for k in keys if got[k] not in (model[k], None)]
    # The keys that neither the kill nor the add took from a live node: their old owner lives,
    # and nutcracker's ring without the dead node gives them the owner of the full new ring.
    old = ring(cluster, keys, [0, 1, 2, 3])
    full = ring(cluster, keys, [0, 1, 2, 3, new])
    ejected = ring(cluster, keys, live)
    kept = [k for k in keys if old[k] != victim and full[k] == ejected[k] and model[k]]
    hits = sum(got[k] == model[k] for k in kept)
    report(capsys, "add, node %d killed %s the move" % (
        victim, "during" if killed_during else "after"), reader, out.strip(),
           "killed %.2f s after the tool started; afterwards: %d stale of %d keys; %d of the %d "
           "present keys the kill left on live nodes hit" % (kill_after, len(stale), KEYS, hits,
                                                             len(kept)))
    if stale or hits < 0.99 * len(kept):
        print(move_log(cluster))  # captured: shown with the failure, whole
    assert killed_during, "the move ended before the kill: %s" % out
    assert not stale, (len(stale), stale[:10], cluster.diagnosis())
    for phase in ("during", "after"):
        assert not reader.tallies[phase].wrong, (phase, reader.tallies[phase].wrong[:10])
    for node in cluster.status()["nodes"]:
        if node["index"] in live:
            assert node["move"] and node["move"]["move_in_progress"] == 0, node
    assert hits >= 0.99 * len(kept), (hits, len(kept), cluster.diagnosis())


# --- writes during a move ---------------------------------------------------------------------

@pytest.mark.mnemo_only
def test_writes_during_an_add_are_all_reflected_afterwards(cluster, capsys):
    """During the add, one writer overwrites a quarter of the keys, deletes another quarter and
    writes as many new keys, in pipelined rounds that each touch every such key once (version
    1, 2, ...), until the move is over; the reader reads the untouched half. Afterwards every
    key must read what the last acknowledged round left."""
    start(cluster, 4, *SLOW_MOVE)
    keys = ["part:%d" % i for i in range(KEYS)]
    expected = {k: value_of(k) for k in keys}
    write_all(cluster, expected)
    overwritten, deleted = keys[0::4], keys[1::4]
    untouched = keys[2::4] + keys[3::4]
    added = ["part-new:%d" % i for i in range(len(overwritten))]
    reader = Reader(cluster, untouched, expected)
    reader.start()
    rounds = 0
    deadline = time.monotonic() + TOOL_TIMEOUT_S
    try:
        tool = subprocess.Popen([str(TOOL), "--dir", str(cluster.dir), "add"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=cluster.tool_env())
        while rounds < 2 or tool.poll() is None:
            rounds += 1
            write_round(cluster, overwritten + added, deleted, rounds)
            assert time.monotonic() < deadline, "the add did not end"
        out, err = tool.communicate(timeout=TOOL_TIMEOUT_S)
        assert tool.returncode == 0, (out, err)
        reader.phase = "after"
        reader.wait_passes("after", 1)
    finally:
        reader.stop()
    model = dict(expected)
    model.update({k: value_of(k, rounds) for k in overwritten + added})
    model.update({k: None for k in deleted})
    every = keys + added
    got = read_all(cluster, every)
    wrong = [(k, got[k], model[k]) for k in every if got[k] != model[k]]
    report(capsys, "writes during an add", reader, out.strip(),
           "%d rounds of %d writes and %d deletes during the move; afterwards %d of %d keys "
           "as the model says" % (rounds, len(overwritten) + len(added), len(deleted),
                                  len(every) - len(wrong), len(every)))
    assert not wrong, (len(wrong), wrong[:10], cluster.diagnosis())
    assert_hits(cluster, reader, "writes during an add")
