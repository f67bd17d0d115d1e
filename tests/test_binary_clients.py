"""Real clients of memcached's binary protocol against mnemod: pylibmc with binary=True
(libmemcached underneath), libmemcached's command-line tools with --binary, and Ruby's dalli,
which speaks nothing else."""

import shutil
import subprocess

import pylibmc
import pytest

import harness

REPO = harness.REPO


@pytest.fixture
def mc(server):
    client = pylibmc.Client(["%s:%d" % (harness.HOST, server.port)], binary=True,
                            behaviors={"cas": True})
    yield client
    client.disconnect_all()


def test_pylibmc_storage_and_retrieval(mc):
    assert mc.set("k", "hello")
    assert mc.get("k") == "hello"
    assert mc.get("missing") is None
    assert not mc.add("k", "x") and mc.add("a", "1")
    with pytest.raises(pylibmc.NotFound):  # the binary protocol says why: no such key
        mc.replace("missing", "x")
    assert mc.replace("a", "2")
    assert mc.get("a") == "2"
    assert mc.append("k", " world") and mc.prepend("k", ">")
    assert mc.get("k") == ">hello world"
    assert mc.delete("a") and not mc.delete("a")
    value, cas = mc.gets("k")
    assert value == ">hello world"
    assert not mc.cas("k", "stale", cas + 1)
    assert mc.cas("k", "new", cas)
    assert mc.get("k") == "new"
    big = b"\x00\xff" * 400_000
    assert mc.set("big", big)
    assert mc.get("big") == big
    assert mc.set("obj", {"a": [1, 2]}) and mc.get("obj") == {"a": [1, 2]}
    assert mc.set("int", 42) and mc.get("int") == 42


def test_pylibmc_arithmetic_touch_and_flush(mc):
    with pytest.raises(pylibmc.NotFound):
        mc.incr("n")
    mc.set("n", "10")
    assert mc.incr("n", 5) == 15
    assert mc.decr("n", 100) == 0
    assert mc.touch("n", 100) and not mc.touch("missing", 100)
    assert mc.flush_all()
    assert mc.get("n") is None


def test_pylibmc_multi_key_commands_in_quiet_pipelines(mc):
    values = {"multi%d" % i: "v%d" % i for i in range(200)}
    assert mc.set_multi(values) == []
    assert mc.get_multi(list(values) + ["missing1", "missing2"]) == values
    assert mc.delete_multi(list(values)[:100])
    assert mc.get_multi(list(values)) == dict(list(values.items())[100:])


def test_pylibmc_stats(server, mc):
    mc.get("missing")
    (name, stats), = mc.get_stats()
    with server.connect() as c:
        text = harness.stats(c)
    assert stats["version"].decode() == text["version"]
    assert int(stats["get_misses"]) == 1


def tool(name, server, *args, stdin=None):
    proc = subprocess.run([name, "--servers=%s:%d" % (harness.HOST, server.port), "--binary",
                           *args], capture_output=True, timeout=60, input=stdin)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_libmemcached_tools_in_binary_mode(server, tmp_path):
    data = bytes(range(256)) * 2000
    path = tmp_path / "file.bin"
    path.write_bytes(data)
    tool("memccp", server, str(path))
    assert tool("memccat", server, "file.bin") == data + b"\n"  # memccat ends each value so
    tool("memctouch", server, "--expire=100", "file.bin")
    tool("memcexist", server, "file.bin")
    assert b"version" in tool("memcstat", server)
    tool("memcrm", server, "file.bin")
    proc = subprocess.run(["memcexist", "--servers=%s:%d" % (harness.HOST, server.port),
                           "--binary", "file.bin"], capture_output=True, timeout=60)
    assert proc.returncode != 0
    tool("memccp", server, str(path))
    tool("memcflush", server)
    proc = subprocess.run(["memccat", "--servers=%s:%d" % (harness.HOST, server.port),
                           "--binary", "file.bin"], capture_output=True, timeout=60)
    assert proc.returncode != 0 and proc.stdout == b""


def test_dalli(server):
    if shutil.which("ruby") is None:
        pytest.skip("no ruby: scripts/install-deps.sh installs it and ruby-dalli")
    proc = subprocess.run(["ruby", str(REPO / "tests" / "dalli_client.rb"), str(server.port)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith("all checks passed"), proc.stdout
