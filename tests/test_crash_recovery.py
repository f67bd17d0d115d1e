"""A crash of the process (kill -9) under a write load, with a memory file (-e): the next start
with the same file recovers from the durable index (docs/warm-restart.md). Of what the model
says was acknowledged, nothing deleted, overwritten, flushed or expired comes back, and at least
90% of the keys live and not written in the last second before the kill hit."""

import os
import signal
import time

import pytest

import harness
from conftest import make_client
from crash_load import GONE, KILLED, Load, check

pytestmark = pytest.mark.mnemo_only


@pytest.fixture
def shm_file(tmp_path):
    """A memory file on tmpfs, named after the test's tmp directory; removed with its metadata
    and index after the test."""
    path = "/dev/shm/mnemo-%s-%d" % (tmp_path.name, os.getpid())
    yield path
    for suffix in ("", ".meta", ".meta.tmp", ".index"):
        if os.path.exists(path + suffix):
            os.unlink(path + suffix)


def start(start_server, path):
    server = start_server("-e", path, "-m", "64")
    with server.connect() as conn:
        assert conn.call(b"version\r\n").startswith(b"VERSION ")
    return server


def test_kill_9_under_load_recovers_what_was_acknowledged(start_server, shm_file):
    server = start(start_server, shm_file)
    load = Load(harness.HOST, server.port)
    load.start()
    time.sleep(3)
    killed_at = time.monotonic()
    server.proc.send_signal(signal.SIGKILL)
    server.wait_exit()
    load.finish()
    assert isinstance(load.error, KILLED), repr(load.error)
    assert load.ops > 5000, load.ops

    server = start(start_server, shm_file)
    assert "[restart] no metadata save file, recovering what a crash left" in server.output()
    client = make_client(server)
    stale, hit, eligible = check(load, client, killed_at)
    assert stale == [], stale[:10]
    assert eligible > 5000, (eligible, hit, load.ops, server.output())
    assert hit >= 0.9 * eligible, (hit, eligible, server.output())
    # Some keys the model says are gone (deleted, or flushed and not set again) were live in the
    # file: the check must see one that comes back. Bring one back behind the model's back.
    gone = next(k for k in load.keys if load.model[k][0] is GONE and k not in load.pending)
    client.set(gone, b"resurrected")
    stale, _, _ = check(load, client, killed_at)
    assert [key for key, _, _ in stale] == [gone]
    # An overwritten key served with an older value is caught the same way.
    live = next(k for k in load.keys if load.model[k][0] is not GONE and k not in load.pending)
    client.set(live, load.model[live][0][:-1])
    stale, _, _ = check(load, client, killed_at)
    assert sorted(key for key, _, _ in stale) == sorted([gone, live])


def test_expired_items_are_not_recovered(start_server, shm_file):
    server = start(start_server, shm_file)
    client = make_client(server)
    client.set("short", "v", expire=1)
    client.set("long", "w", expire=100)
    time.sleep(2.1)
    server.proc.send_signal(signal.SIGKILL)
    server.wait_exit()
    server = start(start_server, shm_file)
    assert "recovering what a crash left" in server.output()
    client = make_client(server)
    assert client.get("short") is None
    assert client.get("long") == b"w"


def test_a_second_crash_after_a_recovery_is_recovered_too(start_server, shm_file):
    server = start(start_server, shm_file)
    make_client(server).set_many({"a": "1", "b": "2"})
    server.proc.send_signal(signal.SIGKILL)
    server.wait_exit()
    server = start(start_server, shm_file)
    client = make_client(server)
    assert client.get_many(["a", "b"]) == {"a": b"1", "b": b"2"}
    client.delete("a")
    client.set("c", "3")
    server.proc.send_signal(signal.SIGKILL)
    server.wait_exit()
    server = start(start_server, shm_file)
    assert make_client(server).get_many(["a", "b", "c"]) == {"b": b"2", "c": b"3"}


def test_a_flush_all_just_before_the_kill_is_honoured(start_server, shm_file):
    """Killed before the background pass reclaims the flushed segments: their items are still in
    the table, and the recovery must see that they were flushed."""
    server = start(start_server, shm_file)
    client = make_client(server)
    client.set_many({"old%d" % i: "v" for i in range(2000)})
    client.flush_all()
    client.set_many({"new%d" % i: "w" for i in range(100)})
    server.proc.send_signal(signal.SIGKILL)
    server.wait_exit()
    server = start(start_server, shm_file)
    client = make_client(server)
    assert client.get_many(["old%d" % i for i in range(2000)]) == {}
    assert len(client.get_many(["new%d" % i for i in range(100)])) == 100
