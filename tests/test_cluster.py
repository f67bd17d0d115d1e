"""mnemod nodes behind nutcracker, run by tools/cluster/mnemo-cluster: every command nutcracker
forwards, key placement against pylibmc and the project's own ketama ring (mnemo-ring), and the
failure drills (a node killed, a node stalled, a node rejoining with or without a flush).

The nodes run the server under test ($MNEMO_SERVER). mnemo-ring is $MNEMO_RING, or the one beside
$MNEMO_BENCH or the server (CMake places them together), or <repo>/build/mnemo-ring.

Timing: the drills give nutcracker a timeout of 1 s (short, yet long enough that a sanitizer build
on a loaded machine is never ejected by mistake) and a retry of 2 s, so each drill takes a few
seconds. Nothing waits a fixed time for an outcome; every wait polls with a deadline.
"""

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

import harness

TOOL = harness.REPO / "tools" / "cluster" / "mnemo-cluster"
DEADLINE = 15.0  # seconds for an outcome that a poll waits for (rejoin, ejection)
DRILL_TIMEOUT_MS = 1000
DRILL_RETRY_MS = 2000


def ring_binary():
    if os.environ.get("MNEMO_RING"):
        return os.environ["MNEMO_RING"]
    for beside in (os.environ.get("MNEMO_BENCH"), harness.server_binary()):
        if beside and (Path(beside).parent / "mnemo-ring").exists():
            return str(Path(beside).parent / "mnemo-ring")
    return str(harness.REPO / "build" / "mnemo-ring")


@pytest.fixture(scope="session", autouse=True)
def cluster_programs():
    if not os.access(ring_binary(), os.X_OK):
        pytest.fail("no mnemo-ring at %s: build it or set MNEMO_RING" % ring_binary(),
                    pytrace=False)
    if shutil.which("nutcracker") is None and not os.access("/usr/sbin/nutcracker", os.X_OK):
        pytest.fail("no nutcracker: install Debian's nutcracker (scripts/install-deps.sh)",
                    pytrace=False)


def read_reply(conn, timeout=None):
    """One whole reply: a line, or VALUE blocks (byte counts honoured) through END."""
    line = conn.readline(timeout)
    reply = line
    while line.startswith(b"VALUE "):
        reply += conn.read_exact(int(line.split()[3]) + 2, timeout)
        line = conn.readline(timeout)
        reply += line
    return reply


def ask(conn, request):
    conn.send(request)
    return read_reply(conn)


def value_blocks(reply):
    """The VALUE blocks of a retrieval reply, as (key, whole block) in reply order."""
    assert reply.endswith(b"END\r\n"), reply[-100:]
    blocks, pos = [], 0
    while reply.startswith(b"VALUE ", pos):
        header_end = reply.index(b"\r\n", pos)
        size = int(reply[pos:header_end].split()[3])
        end = header_end + 2 + size + 2
        blocks.append((reply[pos:header_end].split()[1].decode(), reply[pos:end]))
        pos = end
    assert reply[pos:] == b"END\r\n", reply[pos:pos + 100]
    return blocks


class Cluster:
    """A cluster started by mnemo-cluster in its own directory; stop() ends every process."""

    def __init__(self, directory):
        self.dir = Path(directory)
        self.state = None

    @staticmethod
    def tool_env():
        return dict(os.environ, MNEMO_SERVER=harness.server_binary(), MNEMO_RING=ring_binary())

    def tool(self, *args, check=True):
        proc = subprocess.run([str(TOOL), "--dir", str(self.dir), *args], capture_output=True,
                              text=True, env=self.tool_env(), timeout=60)
        if check:
            assert proc.returncode == 0, "mnemo-cluster %s: rc %d\n%s%s" % (
                " ".join(args), proc.returncode, proc.stdout, proc.stderr)
        return proc

    def start(self, *args):
        if harness.is_memcached() and "--replicas" not in args and "--no-node-list" not in args:
            args = ("--no-node-list",) + args  # memcached takes no -o cluster_file
        out = self.tool("start", *args).stdout
        self.state = json.loads((self.dir / "state.json").read_text())
        return out

    @property
    def proxy_port(self):
        return self.state["proxy"]["port"]

    def node_port(self, index):
        """The port of the node whose index is `index` (indexes stay when nodes are removed)."""
        return next(n["port"] for n in self.state["nodes"] if n["index"] == index)

    def node_specs(self):
        return ["%s:%d:%d" % (harness.HOST, n["port"], n["weight"]) for n in self.state["nodes"]]

    def node_pid(self, index):
        nodes = json.loads((self.dir / "state.json").read_text())["nodes"]
        return next(n["process"]["pid"] for n in nodes if n["index"] == index)

    def proxy(self, timeout=harness.TIMEOUT):
        return harness.Conn(self.proxy_port, timeout)

    def node(self, index):
        return harness.Conn(self.node_port(index))

    def status(self):
        return json.loads(self.tool("status", "--json").stdout)

    def owners(self, keys, without=()):
        """{key: node index} as mnemo-ring places keys (on the ring without `without`)."""
        args = ["locate"] + (["--without", ",".join(map(str, without))] if without else [])
        out = self.tool(*args, *keys).stdout.splitlines()
        return {line.split()[0]: int(line.split()[2]) for line in out}

    def holdings(self, index, keys):
        """The `keys` that node `index` holds, asked directly."""
        held = []
        with self.node(index) as c:
            for start in range(0, len(keys), 100):
                reply = c.call(b"get " + " ".join(keys[start:start + 100]).encode() + b"\r\n")
                held += [key for key, _ in value_blocks(reply)]
        return sorted(held)

    def diagnosis(self):
        """What a failed drill's message shows: the processes, and nutcracker's and the
        watchdog's view of the nodes."""
        text = json.dumps(self.status(), indent=1)
        for log in ("supervisor.log", "nutcracker.log"):
            if (self.dir / log).exists():
                text += "\n%s:\n%s" % (log, (self.dir / log).read_text()[-3000:])
        return text

    def expect(self, conn, keys, expected):
        """Asks for `keys` through the proxy; each must read as `expected` (a list, or a function
        of the key): its value, None for a miss."""
        want = [expected(k) for k in keys] if callable(expected) else expected
        got = values_or_errors(conn, keys)
        assert got == want, "keys %s\n got  %s\n want %s\n%s" % (keys, got, want,
                                                                 self.diagnosis())

    def stop(self):
        pids = []
        if (self.dir / "state.json").exists():
            state = json.loads((self.dir / "state.json").read_text())
            pids = [p["process"]["pid"] for p in state["nodes"] + [state["proxy"]]]
            self.tool("stop")
        for log in sorted(self.dir.glob("node-*.log")):
            text = log.read_text(errors="replace")
            assert "Sanitizer" not in text and "runtime error" not in text, "%s:\n%s" % (log, text)
        return pids


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path / "cluster")
    yield c
    c.stop()


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory):
    """Three nodes with timeouts long enough that a slow (sanitizer) build is never ejected."""
    c = Cluster(tmp_path_factory.mktemp("shared") / "cluster")
    c.start("--nodes", "3", "--timeout", "5000", "--server-retry-timeout", "30000")
    yield c
    c.stop()


def keys_on_every_node(cluster, count, prefix="k"):
    """`count` keys (prefix and a number) that every node owns some of. The ring depends on the
    ports the nodes were given, so the first `count` numbers alone may leave a node out (12 keys
    do on 3 nodes about one run in 40)."""
    pool = ["%s%d" % (prefix, i) for i in range(count * 8)]
    owners = cluster.owners(pool)
    firsts = {}
    for key in pool:
        firsts.setdefault(owners[key], key)
    assert len(firsts) == len(cluster.state["nodes"]) <= count, firsts
    keys = list(firsts.values())
    keys += [k for k in pool if k not in keys][:count - len(keys)]
    return keys, {k: owners[k] for k in keys}


def exited(pid):
    """True once `pid` has exited (gone, or a zombie that its new parent has yet to reap)."""
    try:
        return Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def wait_for(condition, what, timeout=DEADLINE):
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        assert time.monotonic() < deadline, "%s did not happen within %ss" % (what, timeout)
        time.sleep(0.02)


# --- the tool ---------------------------------------------------------------------------------

def test_start_prints_how_to_connect_and_stop_ends_every_process(cluster):
    out = cluster.start("--nodes", "2", "--weights", "1,3")
    assert "%s:%d" % (harness.HOST, cluster.proxy_port) in out
    for spec in cluster.node_specs():
        assert spec in out  # the pylibmc line for clients that hash themselves
    assert cluster.node_specs()[1].endswith(":3")
    config = (cluster.dir / "nutcracker.yml").read_text()
    for setting in ("distribution: ketama", "hash: md5", "auto_eject_hosts: true",
                    "server_retry_timeout: 2000", "server_failure_limit: 1", "timeout: 400"):
        assert setting in config
    status = cluster.status()
    assert [n["state"] for n in status["nodes"]] == ["running", "running"]
    with cluster.proxy() as c:
        assert ask(c, b"set k 0 0 1\r\nv\r\n") == b"STORED\r\n"
    pids = cluster.stop()
    assert not (cluster.dir / "state.json").exists()
    for pid in pids:
        assert exited(pid), pid


def test_start_refuses_a_second_cluster_in_the_same_directory(cluster):
    cluster.start("--nodes", "1")
    proc = cluster.tool("start", "--nodes", "1", check=False)
    assert proc.returncode == 1 and "already runs" in proc.stderr


def test_node_flags_after_a_double_dash_reach_every_node(cluster):
    cluster.start("--nodes", "2", "--", "-m", "7")
    for index in range(2):
        with cluster.node(index) as c:
            assert harness.stats(c)["limit_maxbytes"] == str(7 << 20)


def test_start_refuses_replication_options_that_are_its_own(cluster):
    for args, complaint in (
            (["--replicas", "5"], "--replicas takes 1 to 4"),
            (["--replication", "async"], "--replication needs --replicas 2 or more"),
            (["--replicas", "2", "--no-node-list"], "--replicas needs the node list"),
            (["--replicas", "2", "--flush-on-rejoin"], "--flush-on-rejoin flushes the whole"),
            (["--replicas", "2", "--", "-m", "8", "-o", "hashpower=17,replicas=3"],
             "-o replicas after -- is set by mnemo-cluster"),
            (["--replicas", "2", "--", "-vocluster_file=x"], "-o cluster_file after --"),
            (["--", "--ext", "cluster_self=x"], "-o cluster_self after --"),
            (["--", "-e", "-o", "--extended=replication=sync"], "-o replication after --")):
        proc = cluster.tool("start", "--nodes", "4", *args, check=False)
        assert proc.returncode == 1 and complaint in proc.stderr, (args, proc.stderr)
        assert not (cluster.dir / "state.json").exists()


def node_argv(pid):
    return Path("/proc/%d/cmdline" % pid).read_bytes().decode().split("\0")[:-1]


@pytest.mark.mnemo_only
def test_replicas_give_every_node_the_node_list_and_its_own_entry(cluster):
    out = cluster.start("--nodes", "3", "--replicas", "2", "--", "-o", "hashpower=17", "-m", "8")
    nodes_file = cluster.dir / "nodes.txt"
    assert "replicas: 2 copies of every key" in out and str(nodes_file.resolve()) in out
    # The list every node reads is nutcracker's servers:, in its order.
    servers = (cluster.dir / "nutcracker.yml").read_text().split("servers:\n")[1]
    assert [line.strip("- ") for line in servers.splitlines()] == cluster.node_specs()
    assert nodes_file.read_text() == "".join(s + "\n" for s in cluster.node_specs())

    def flags_of(index):
        argv = node_argv(cluster.node_pid(index))
        extended = [argv[i + 1] for i, a in enumerate(argv) if a == "-o"]
        assert extended == ["cluster_file=%s,cluster_self=127.0.0.1:%d,replicas=2"
                            % (nodes_file.resolve(), cluster.node_port(index)), "hashpower=17"]
        assert argv[-2:] == ["-m", "8"]
        return argv

    before = flags_of(1)
    status = cluster.status()
    assert status["replication"] == {"replicas": 2, "mode": None,
                                     "nodes_file": str(nodes_file.resolve())}
    for node in status["nodes"]:
        assert node["replication"] and all(k.startswith("repl_") for k in node["replication"])
    text = cluster.tool("status").stdout
    assert text.count("replication: lag ") == 3, text

    def peers_connected():
        return [n["replication"] and n["replication"]["repl_peers_connected"]
                for n in cluster.status()["nodes"]]

    wait_for(lambda: peers_connected() == [2, 2, 2], "every node's links to both others")
    cluster.tool("restart", "1")  # the same flags, the same entry of the list
    assert flags_of(1) == before
    wait_for(lambda: peers_connected() == [2, 2, 2], "the links to and from the restarted node")
    cluster.tool("kill", "2")
    wait_for(lambda: peers_connected() == [1, 1, None], "the links to the killed node closing")


def base_argv(cluster, index):
    return ["-l", "127.0.0.1", "-p", str(cluster.node_port(index)), "-U", "0"] + (
        ["-u", "root"] if os.geteuid() == 0 else [])


@pytest.mark.mnemo_only
def test_one_copy_gives_every_node_the_node_list_without_replicas(cluster):
    cluster.start("--nodes", "2", "--", "-m", "8")
    nodes_file = cluster.dir / "nodes.txt"
    assert nodes_file.read_text() == "".join(s + "\n" for s in cluster.node_specs())
    status = cluster.status()
    assert "replication" not in status and all("replication" not in n for n in status["nodes"])
    assert all(isinstance(n["move"], dict) for n in status["nodes"])
    for index in range(2):
        assert node_argv(cluster.node_pid(index))[1:] == base_argv(cluster, index) + [
            "-o", "cluster_file=%s,cluster_self=127.0.0.1:%d"
            % (nodes_file.resolve(), cluster.node_port(index)), "-m", "8"]


def test_no_node_list_starts_nodes_as_memcached_runs(cluster):
    cluster.start("--nodes", "2", "--no-node-list", "--", "-m", "8")
    assert not (cluster.dir / "nodes.txt").exists()
    status = cluster.status()
    assert all("replication" not in n and "move" not in n for n in status["nodes"])
    for index in range(2):
        assert node_argv(cluster.node_pid(index))[1:] == base_argv(cluster, index) + ["-m", "8"]


def proxy_servers(cluster):
    servers = (cluster.dir / "nutcracker.yml").read_text().split("servers:\n")[1]
    return [line.strip("- ") for line in servers.splitlines()]


def test_add_and_remove_change_the_ring_of_the_proxy_and_keep_node_indexes(cluster):
    cluster.start("--nodes", "3", "--no-node-list")
    proxy_pid = cluster.state["proxy"]["process"]["pid"]
    out = cluster.tool("add", "--weight", "2").stdout
    cluster.state = json.loads((cluster.dir / "state.json").read_text())
    assert [n["index"] for n in cluster.state["nodes"]] == [0, 1, 2, 3]
    assert cluster.node_specs()[3].endswith(":2")
    assert "node 3 added on 127.0.0.1:%d" % cluster.node_port(3) in out
    assert "ms without a listener" in out and "the nodes moved no keys" in out
    assert proxy_servers(cluster) == cluster.node_specs()
    # nutcracker cannot reload: a new process listens on the same port, with the new ring.
    assert cluster.state["proxy"]["process"]["pid"] != proxy_pid
    keys = ["ar%d" % i for i in range(200)]
    owners = cluster.owners(keys)
    assert set(owners.values()) == {0, 1, 2, 3}
    with cluster.proxy() as c:
        for key in keys:
            assert ask(c, b"set %s 0 0 1\r\nx\r\n" % key.encode()) == b"STORED\r\n"
    for index in range(4):
        assert cluster.holdings(index, keys) == sorted(k for k in keys if owners[k] == index)

    removed_pid = cluster.node_pid(1)
    out = cluster.tool("remove", "1").stdout
    assert "node 1 (127.0.0.1:%d) removed and stopped" % cluster.node_port(1) in out
    assert exited(removed_pid)
    cluster.state = json.loads((cluster.dir / "state.json").read_text())
    assert [n["index"] for n in cluster.state["nodes"]] == [0, 2, 3]  # the others keep theirs
    assert proxy_servers(cluster) == cluster.node_specs()
    assert [n["index"] for n in cluster.status()["nodes"]] == [0, 2, 3]
    for command in ("kill", "remove"):
        proc = cluster.tool(command, "1", check=False)
        assert proc.returncode == 1 and "no node 1: the nodes are 0, 2, 3" in proc.stderr
    out = cluster.tool("add").stdout  # a new node takes an index never used
    assert "node 4 added" in out
    cluster.state = json.loads((cluster.dir / "state.json").read_text())
    owners = cluster.owners(keys)
    assert set(owners.values()) == {0, 2, 3, 4}
    theirs = sorted(k for k in keys if owners[k] == 4)
    with cluster.proxy() as c:
        for key in theirs:
            assert ask(c, b"set %s 0 0 1\r\ny\r\n" % key.encode()) == b"STORED\r\n"
    assert cluster.holdings(4, keys) == theirs


@pytest.mark.mnemo_only
def test_add_and_remove_give_the_nodes_the_new_list(cluster):
    cluster.start("--nodes", "2")
    before = cluster.node_specs()
    cluster.tool("add")
    cluster.state = json.loads((cluster.dir / "state.json").read_text())
    nodes_file = cluster.dir / "nodes.txt"
    previous = (cluster.dir / "nodes.previous.txt").resolve()
    assert nodes_file.read_text() == "".join(s + "\n" for s in cluster.node_specs())
    assert cluster.node_specs()[:2] == before and len(cluster.node_specs()) == 3
    # The joiner alone learns where its keys were.
    assert previous.read_text() == "".join(s + "\n" for s in before)
    assert "-o cluster_file=%s,cluster_self=127.0.0.1:%d,cluster_previous=%s" % (
        nodes_file.resolve(), cluster.node_port(2), previous) in " ".join(
            node_argv(cluster.node_pid(2)))
    assert "cluster_previous" not in " ".join(node_argv(cluster.node_pid(0)))
    cluster.tool("remove", "0")
    cluster.state = json.loads((cluster.dir / "state.json").read_text())
    assert nodes_file.read_text() == "".join(s + "\n" for s in cluster.node_specs())
    assert [n["index"] for n in cluster.state["nodes"]] == [1, 2]
    proc = cluster.tool("remove", "1", "--timeout", "5")
    assert proc.returncode == 0
    proc = cluster.tool("remove", "2", check=False)
    assert proc.returncode == 1 and "would leave 0 node(s)" in proc.stderr


@pytest.mark.mnemo_only
def test_add_and_remove_follow_the_move_with_a_progress_line(cluster):
    # A slow walk (500 items a second) of 3,000 keys: each move lasts seconds.
    cluster.start("--nodes", "3", "--", "-o", "move_rate_keys=500")
    with cluster.proxy() as c:
        c.send(b"".join(b"set fm%d 0 0 1\r\nx\r\n" % i for i in range(3000)))
        assert [read_reply(c) for _ in range(3000)] == [b"STORED\r\n"] * 3000

    def follow(command, shown):
        """Runs `command` and waits for status --json to show `shown(node)` of a node in a move
        meanwhile; returns the tool's output."""
        tool = subprocess.Popen([str(TOOL), "--dir", str(cluster.dir), *command],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=cluster.tool_env())
        wait_for(lambda: [n for n in cluster.status()["nodes"]
                          if (n["move"] or {}).get("move_in_progress") and shown(n)],
                 "status --json to show a node in the move")
        assert "move: " in cluster.tool("status").stdout
        out, err = tool.communicate(timeout=60)
        assert tool.returncode == 0, (out, err)
        assert "moving keys: " in err and "nodes moving: " in err, err
        return out

    out = follow(["add"], lambda n: n["index"] == 3)
    assert "node 3 added" in out and "move done in " in out and "keys sent" in out, out
    moved = cluster.status()["nodes"]
    assert all(n["move"]["move_in_progress"] == 0 for n in moved)
    assert moved[3]["move"]["move_keys_received"] > 0
    out = follow(["remove", "0"], lambda n: n["leaving"])  # it moves its keys, then stops
    assert "node 0 " in out and "removed and stopped" in out, out
    assert [n["index"] for n in cluster.status()["nodes"]] == [1, 2, 3]


# --- everything nutcracker forwards -----------------------------------------------------------

def test_multi_get_is_split_across_nodes_and_joined(shared_cluster):
    keys, owners = keys_on_every_node(shared_cluster, 30, "mg")
    with shared_cluster.proxy() as c:
        for i, key in enumerate(keys):
            assert ask(c, b"set %s %d 0 %d\r\n%s\r\n" % (key.encode(), i, len(key), key.encode())
                       ) == b"STORED\r\n"
        block = {k: b"VALUE %s %d %d\r\n%s\r\n" % (k.encode(), i, len(k), k.encode())
                 for i, k in enumerate(keys)}
        asked = keys[::-1] + keys[:5]
        reply = ask(c, b"get " + " ".join(asked).encode() + b"\r\n")
        assert reply == b"".join(block[k] for k in asked) + b"END\r\n"
        # nutcracker fills each key's place with the next item its node returned, so a miss
        # shifts that node's later items forward: the same items, in another order.
        with_misses = ["mg-missing-a"] + keys + ["mg-missing-b"]
        reply = ask(c, b"get " + " ".join(with_misses).encode() + b"\r\n")
        assert sorted(b for _, b in value_blocks(reply)) == sorted(block.values())
        gets = value_blocks(ask(c, b"gets " + " ".join(keys).encode() + b"\r\n"))
    assert [k for k, _ in gets] == keys
    for index in set(owners.values()):  # CAS is unique per item within a node, not across nodes
        tokens = [b.split(b"\r\n")[0].split()[4] for k, b in gets if owners[k] == index]
        assert len(set(tokens)) == len(tokens)
    for index in set(owners.values()):
        assert shared_cluster.holdings(index, keys) == sorted(k for k in keys if owners[k] == index)


def test_cas_through_the_proxy(shared_cluster):
    with shared_cluster.proxy() as c:
        assert ask(c, b"set cas-k 0 0 2\r\nv1\r\n") == b"STORED\r\n"
        header = ask(c, b"gets cas-k\r\n").split(b"\r\n")[0]
        token = int(header.split()[4])
        assert ask(c, b"cas cas-k 0 0 2 %d\r\nv2\r\n" % token) == b"STORED\r\n"
        assert ask(c, b"cas cas-k 0 0 2 %d\r\nv3\r\n" % token) == b"EXISTS\r\n"
        assert ask(c, b"cas cas-missing 0 0 1 1\r\nx\r\n") == b"NOT_FOUND\r\n"
        assert ask(c, b"get cas-k\r\n") == b"VALUE cas-k 0 2\r\nv2\r\nEND\r\n"


def test_incr_decr_and_touch_through_the_proxy(shared_cluster):
    with shared_cluster.proxy() as c:
        assert ask(c, b"set n 0 0 2\r\n10\r\n") == b"STORED\r\n"
        assert ask(c, b"incr n 5\r\n") == b"15\r\n"
        assert ask(c, b"decr n 20\r\n") == b"0\r\n"
        assert ask(c, b"incr n-missing 1\r\n") == b"NOT_FOUND\r\n"
        assert ask(c, b"set word 0 0 1\r\nx\r\n") == b"STORED\r\n"
        assert ask(c, b"incr word 1\r\n") == \
            b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
        assert ask(c, b"touch n 100\r\n") == b"TOUCHED\r\n"
        assert ask(c, b"touch n-missing 100\r\n") == b"NOT_FOUND\r\n"
        assert ask(c, b"set short 0 0 1\r\nx\r\n") == b"STORED\r\n"
        assert ask(c, b"touch short -1\r\n") == b"TOUCHED\r\n"
        assert ask(c, b"get short\r\n") == b"END\r\n"


def test_storage_commands_and_delete_through_the_proxy(shared_cluster):
    with shared_cluster.proxy() as c:
        assert ask(c, b"add st 0 0 1\r\nb\r\n") == b"STORED\r\n"
        assert ask(c, b"add st 0 0 1\r\nx\r\n") == b"NOT_STORED\r\n"
        assert ask(c, b"replace st 3 0 1\r\nc\r\n") == b"STORED\r\n"
        assert ask(c, b"replace st-missing 0 0 1\r\nx\r\n") == b"NOT_STORED\r\n"
        assert ask(c, b"append st 0 0 1\r\nd\r\n") == b"STORED\r\n"
        assert ask(c, b"prepend st 0 0 1\r\na\r\n") == b"STORED\r\n"
        assert ask(c, b"get st\r\n") == b"VALUE st 3 3\r\nacd\r\nEND\r\n"
        assert ask(c, b"delete st\r\n") == b"DELETED\r\n"
        assert ask(c, b"delete st\r\n") == b"NOT_FOUND\r\n"
        value = bytes(range(256)) * 2000 + b"\r\nEND\r\n"  # 512 KB across many proxy buffers
        assert ask(c, b"set big 0 0 %d\r\n%s\r\n" % (len(value), value)) == b"STORED\r\n"
        assert ask(c, b"get big\r\n") == b"VALUE big 0 %d\r\n%s\r\nEND\r\n" % (len(value), value)


def test_noreply_through_the_proxy(shared_cluster):
    keys, _ = keys_on_every_node(shared_cluster, 12, "nr")
    with shared_cluster.proxy() as c:
        c.send(b"".join(b"set %s 0 0 1 noreply\r\n1\r\n" % k.encode() for k in keys) +
               b"incr %s 4 noreply\r\n" % keys[0].encode() +
               b"delete %s noreply\r\n" % keys[1].encode() +
               b"touch %s 100 noreply\r\n" % keys[2].encode())
        reply = ask(c, b"get " + " ".join(keys).encode() + b"\r\n")
        assert dict(value_blocks(reply)) == dict(
            [(keys[0], b"VALUE %s 0 1\r\n5\r\n" % keys[0].encode())] +
            [(k, b"VALUE %s 0 1\r\n1\r\n" % k.encode()) for k in keys[2:]])
        assert c.read_for(0.1) == b""  # nothing was answered that noreply silenced


def test_version_through_the_proxy_is_a_nodes_version(shared_cluster):
    with shared_cluster.node(0) as c:
        c.send(b"version\r\n")
        direct = c.readline()
    with shared_cluster.proxy() as c:
        assert ask(c, b"version\r\n") == direct


def test_pymemcache_through_the_proxy(shared_cluster):
    from pymemcache.client.base import Client
    client = Client((harness.HOST, shared_cluster.proxy_port), timeout=harness.TIMEOUT)
    values = {"pm%d" % i: b"value %d" % i for i in range(50)}
    assert client.set_many(values) == []
    assert client.get_many(list(values) + ["pm-missing"]) == values
    result, token = client.gets("pm1")
    assert result == b"value 1" and client.cas("pm1", b"new", token)
    assert client.incr("pm-missing", 1) is None
    client.close()


# --- placement --------------------------------------------------------------------------------

def test_keys_written_by_pylibmc_are_where_the_ring_says_and_found_through_the_proxy(cluster):
    pylibmc = pytest.importorskip("pylibmc")
    cluster.start("--nodes", "4", "--weights", "1,2,3,1", "--timeout", "5000")
    keys = ["place:%d" % i for i in range(800)]
    client = pylibmc.Client(cluster.node_specs(), behaviors={"ketama_weighted": True})
    client.set_multi({k: "v-" + k for k in keys})
    owners = cluster.owners(keys)
    for index in range(4):
        assert cluster.holdings(index, keys) == sorted(k for k in keys if owners[k] == index)
    with cluster.proxy() as c:
        for start in range(0, len(keys), 100):
            batch = keys[start:start + 100]
            reply = ask(c, b"get " + " ".join(batch).encode() + b"\r\n")
            assert reply.count(b"VALUE ") == len(batch)
    # And the other way round: what the proxy writes, pylibmc finds.
    with cluster.proxy() as c:
        for key in keys[:200]:
            assert ask(c, b"set %s 0 0 3\r\nnew\r\n" % key.encode()) == b"STORED\r\n"
    assert client.get_multi(keys[:200]) == {k: b"new" for k in keys[:200]}


# --- failure drills ---------------------------------------------------------------------------

def start_drill_cluster(cluster, *extra, retry_ms=DRILL_RETRY_MS):
    cluster.start("--nodes", "3", "--timeout", str(DRILL_TIMEOUT_MS),
                  "--server-retry-timeout", str(retry_ms), "--server-failure-limit", "1", *extra)
    keys, owners = keys_on_every_node(cluster, 60, "d")
    with cluster.proxy() as c:
        c.send(b"".join(b"set %s 0 0 6\r\nbefore\r\n" % k.encode() for k in keys))
        for _ in keys:
            assert read_reply(c) == b"STORED\r\n"
    return keys, owners


def get_or_error(conn, key):
    """The value of `key` through the proxy, None on a miss, or the SERVER_ERROR line."""
    return values_or_errors(conn, [key])[0]


def values_or_errors(conn, keys):
    """get_or_error of each key, pipelined: nutcracker answers in order."""
    conn.send(b"".join(b"get %s\r\n" % k.encode() for k in keys))
    out = []
    for _ in keys:
        reply = read_reply(conn)
        if reply.startswith(b"VALUE "):
            out.append(reply.split(b"\r\n")[1])
        else:
            out.append(None if reply == b"END\r\n" else reply)
    return out


def wait_until_ejected(conn, key):
    """Asks for `key` (owned by a stalled node) until the proxy answers without the node: the
    first ask times out and ejects it. Returns the errors seen."""
    errors = []

    def answered():
        started = time.monotonic()
        reply = get_or_error(conn, key)
        if isinstance(reply, bytes) and reply.startswith(b"SERVER_ERROR"):
            assert reply == b"SERVER_ERROR Connection timed out\r\n", reply
            assert time.monotonic() - started >= DRILL_TIMEOUT_MS / 1000 * 0.9
            errors.append(reply)
            return False
        return True

    wait_for(answered, "the proxy's ejection of the stalled node")
    return errors


def wait_for_rejoin(cluster, index):
    """Writes a marker straight to node `index` and asks for it through the proxy until the
    proxy routes the node's keys to it again."""
    candidates = cluster.owners(["rejoin-%d" % i for i in range(64)])
    marker = next(k for k, owner in sorted(candidates.items()) if owner == index)
    with cluster.node(index) as c:
        c.expect(b"set %s 0 0 6\r\nrejoin\r\n" % marker.encode(), b"STORED\r\n")
    with cluster.proxy() as c:
        wait_for(lambda: get_or_error(c, marker) == b"rejoin", "node %d's rejoin" % index)


def test_kill_drill(cluster):
    # A dead node is retried (one error) each time its retry timeout passes: a long one keeps
    # the drill to the errors of the kill itself.
    keys, owners = start_drill_cluster(cluster, retry_ms=5000)
    victim = 1
    lost = [k for k in keys if owners[k] == victim]
    cluster.tool("kill", str(victim))
    errors = []
    with cluster.proxy() as c:
        # One request at a time, as an application asks: a pipeline would have every request
        # in flight to the node when it died fail together.
        for key in keys:
            reply = get_or_error(c, key)
            if reply is not None and reply.startswith(b"SERVER_ERROR"):
                errors.append((key, reply))
            else:  # the live nodes' keys keep hitting; the dead node's keys miss
                assert reply == (None if owners[key] == victim else b"before"), (
                    key, reply, cluster.diagnosis())
        for key in lost:
            reply = ask(c, b"set %s 0 0 5\r\nagain\r\n" % key.encode())
            if reply != b"STORED\r\n":
                errors.append((key, reply))
                assert ask(c, b"set %s 0 0 5\r\nagain\r\n" % key.encode()) == b"STORED\r\n"
        cluster.expect(c, lost, [b"again"] * len(lost))
    assert len(errors) <= 2, (errors, cluster.diagnosis())
    # Written again, the dead node's keys are where the ring of the live nodes puts them.
    fallback = cluster.owners(lost, without=[victim])
    for index in (0, 2):
        assert cluster.holdings(index, lost) == sorted(k for k in lost if fallback[k] == index)
    assert cluster.status()["nodes"][victim]["state"] == "dead"


def stall_and_write_meanwhile(cluster, keys, owners, victim):
    """Pauses node `victim`, waits for the proxy to eject it, checks that service goes on, and
    writes its keys again (to the nodes that stand in for it)."""
    stalled = [k for k in keys if owners[k] == victim]
    cluster.tool("pause", str(victim))
    with cluster.proxy() as c:
        assert len(wait_until_ejected(c, stalled[0])) == 1
        cluster.expect(c, keys, lambda k: None if owners[k] == victim else b"before")
        c.send(b"".join(b"set %s 0 0 6\r\nduring\r\n" % k.encode() for k in stalled))
        assert [read_reply(c) for _ in stalled] == [b"STORED\r\n"] * len(stalled)
        cluster.expect(c, stalled, [b"during"] * len(stalled))
    assert cluster.status()["nodes"][victim]["state"] == "paused"
    wait_for(lambda: cluster.status()["nodes"][victim]["ejected"], "status to show the ejection")
    return stalled


def test_stall_drill_a_resumed_node_rejoins_with_stale_items(cluster):
    keys, owners = start_drill_cluster(cluster)
    stalled = stall_and_write_meanwhile(cluster, keys, owners, victim=1)
    cluster.tool("resume", "1")
    wait_for_rejoin(cluster, 1)
    # The hazard: back in the ring, the node serves what it held before it stalled, not what
    # was written meanwhile.
    with cluster.proxy() as c:
        cluster.expect(c, stalled, [b"before"] * len(stalled))


def test_stall_drill_a_restarted_node_rejoins_empty(cluster):
    keys, owners = start_drill_cluster(cluster)
    stalled = stall_and_write_meanwhile(cluster, keys, owners, victim=2)
    cluster.tool("restart", "2")
    assert cluster.status()["nodes"][2]["state"] == "running"
    wait_for_rejoin(cluster, 2)
    with cluster.proxy() as c:
        cluster.expect(c, keys, lambda k: None if owners[k] == 2 else b"before")
    assert stalled


def test_flush_on_rejoin_keeps_a_resumed_node_from_serving_stale_items(cluster):
    keys, owners = start_drill_cluster(cluster, "--flush-on-rejoin")
    stalled = stall_and_write_meanwhile(cluster, keys, owners, victim=0)
    cluster.tool("resume", "0")
    # The watchdog saw the stall too and flushes as well; wait for it, so that its flush cannot
    # land after the marker that shows the rejoin.
    wait_for(lambda: cluster.status()["supervisor"]["flushes"].get("0"), "the watchdog's flush")
    wait_for_rejoin(cluster, 0)
    with cluster.proxy() as c:
        cluster.expect(c, keys, lambda k: None if owners[k] == 0 else b"before")
    assert stalled


def test_flush_on_rejoin_catches_a_stall_that_the_tool_did_not_cause(cluster):
    keys, owners = start_drill_cluster(cluster, "--flush-on-rejoin")
    victim = 1
    stalled = [k for k in keys if owners[k] == victim]
    pid = cluster.node_pid(victim)
    harness.pause(pid)
    try:
        with cluster.proxy() as c:
            wait_until_ejected(c, stalled[0])
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_for(lambda: cluster.status()["supervisor"]["flushes"].get(str(victim)),
             "the watchdog's flush")
    wait_for_rejoin(cluster, victim)
    with cluster.proxy() as c:
        cluster.expect(c, stalled, [None] * len(stalled))
