"""Warm restart (-e, docs/warm-restart.md): item memory in a file, saved by a graceful stop
(SIGUSR1, `shutdown graceful`) and restored by the next start with the same file and settings.
What must come back (every live key with its value, flags and CAS), what must not (deleted,
overwritten, flushed, expired), and every way a start falls back to an empty cache: incompatible
settings, a truncated or corrupted file, no saved metadata (a plain stop), each with its log line.
With a flash tier (-o ext_path), the items on flash come back too, from the same flash file.
What a crash leaves is test_crash_recovery.py's."""

import os
import resource
import signal
import time

import pytest

import harness
from conftest import make_client
from test_flash import (  # noqa: F401 (flash_file is a fixture)
    corrupt, fill as fill_flash, flash_file, keys, read_back, stat)

pytestmark = pytest.mark.mnemo_only

MEMORY = ["-m", "64"]


def start(start_server, path, *flags):
    """A server on memory file `path`, once it has answered: it listens before the cache is made,
    and restored, which is when the [restart] lines are written."""
    server = start_server("-e", str(path), *(list(flags) or MEMORY))
    with server.connect() as conn:
        assert conn.call(b"version\r\n").startswith(b"VERSION ")
    return server


def graceful_stop(server):
    server.proc.send_signal(signal.SIGUSR1)
    assert server.wait_exit() == 0, server.output()
    assert "Gracefully stopping" in server.output()


def gets_all(client, keys):
    """key -> (value, flags, cas) for every key that hits."""
    found = {}
    for start_at in range(0, len(keys), 100):
        batch = keys[start_at:start_at + 100]
        for key, (value, cas) in client.gets_many(batch).items():
            found[key] = (value, cas)
    return found


def fill(client, count, prefix="key"):
    keys = ["%s%d" % (prefix, i) for i in range(count)]
    for start_at in range(0, count, 200):
        client.set_many({k: ("value-%s-" % k) * 3 for k in keys[start_at:start_at + 200]})
    return keys


def restart_lines(server):
    return [line for line in server.output().splitlines() if line.startswith("[restart]")]


def test_graceful_restart_keeps_every_key_with_its_value_flags_and_cas(start_server, tmp_path):
    path = tmp_path / "memory"
    server = start(start_server, path)
    assert restart_lines(server) == [
        "[restart] no metadata save file, starting with a clean cache"]
    with server.connect() as conn:
        lines = harness.stats(conn, b"settings")
        assert lines["memory_file"] == str(path)
        # Flags, overwrites, deletes, an incr and a large item, all through the wire.
        for i in range(2000):
            conn.expect(b"set key%d %d 0 %d\r\n%s\r\n" % (i, i % 9, len(b"v%d" % i), b"v%d" % i),
                        b"STORED\r\n")
        for i in range(0, 2000, 3):
            conn.expect(b"set key%d 7 0 3\r\nnew\r\n" % i, b"STORED\r\n")
        for i in range(1, 2000, 10):
            conn.expect(b"delete key%d\r\n" % i, b"DELETED\r\n")
        conn.expect(b"set counter 0 0 2\r\n41\r\n", b"STORED\r\n")
        conn.expect(b"incr counter 1\r\n", b"42\r\n")
        large = b"L" * (600 << 10)
        conn.expect(b"set large 3 0 %d\r\n%s\r\n" % (len(large), large), b"STORED\r\n")
        before = {}
        keys = [b"key%d" % i for i in range(2000)] + [b"counter", b"large"]
        for key in keys:
            before[key] = conn.call(b"gets " + key + b"\r\n")
        items = harness.stats(conn)["curr_items"]
    graceful_stop(server)
    assert (path.parent / (path.name + ".meta")).exists()

    server = start(start_server, path)
    live = sum(1 for reply in before.values() if reply != b"END\r\n")
    assert "[restart] restored %d of %d items" % (live, live) in server.output()
    assert not (path.parent / (path.name + ".meta")).exists()  # read once
    with server.connect() as conn:
        for key in keys:
            assert conn.call(b"gets " + key + b"\r\n") == before[key], key
        assert harness.stats(conn)["curr_items"] == items
        assert b"VALUE key1 " not in before[b"key1"]
        # The epochs went on: a new version's CAS is none of the restored ones.
        conn.expect(b"set fresh 0 0 1\r\nx\r\n", b"STORED\r\n")
        fresh = harness.gets_cas(conn, b"fresh")
        assert all(b" %d\r\n" % fresh not in reply for reply in before.values())


def test_pymemcache_keys_survive_two_restarts(start_server, tmp_path):
    path = tmp_path / "memory"
    server = start(start_server, path)
    client = make_client(server)
    keys = fill(client, 5000)
    before = gets_all(client, keys)
    assert len(before) == 5000
    client.close()
    for _ in range(2):
        graceful_stop(server)
        server = start(start_server, path)
        client = make_client(server)
        assert gets_all(client, keys) == before
        client.close()


def test_shutdown_graceful_saves_the_cache(start_server, tmp_path):
    path = tmp_path / "memory"
    server = start(start_server, path, "-A", *MEMORY)
    with server.connect() as conn:
        conn.expect(b"set k 1 0 1\r\nx\r\n", b"STORED\r\n")
        conn.send(b"shutdown graceful\r\n")
        assert conn.read_to_eof() == b""
    assert server.wait_exit() == 0, server.output()
    server = start(start_server, path)
    with server.connect() as conn:
        assert conn.call(b"get k\r\n") == b"VALUE k 1 1\r\nx\r\nEND\r\n"


def test_a_plain_stop_saves_nothing(start_server, tmp_path):
    path = tmp_path / "memory"
    server = start(start_server, path)
    with server.connect() as conn:
        conn.expect(b"set k 1 0 1\r\nx\r\n", b"STORED\r\n")
    assert server.stop() is None
    server = start(start_server, path)
    assert "no metadata save file, starting with a clean cache" in server.output()
    with server.connect() as conn:
        assert conn.call(b"get k\r\n") == b"END\r\n"


def test_expired_and_flushed_items_do_not_come_back(start_server, tmp_path):
    path = tmp_path / "memory"
    server = start(start_server, path)
    with server.connect() as conn:
        conn.expect(b"set flushed 0 0 1\r\nx\r\n", b"STORED\r\n")
        conn.expect(b"flush_all\r\n", b"OK\r\n")
        conn.expect(b"set short 0 1 1\r\nx\r\n", b"STORED\r\n")
        conn.expect(b"set long 0 100 1\r\nx\r\n", b"STORED\r\n")
        conn.expect(b"set absolute 0 %d 1\r\nx\r\n" % (int(time.time()) + 200), b"STORED\r\n")
    graceful_stop(server)
    time.sleep(2.1)  # down long enough for `short` to expire
    server = start(start_server, path)
    with server.connect() as conn:
        assert conn.call(b"get flushed short\r\n") == b"END\r\n"
        ttl = int(conn.call(b"mg long t\r\n").split()[1][1:])
        assert 94 <= ttl <= 98, ttl  # the seconds it was down count
        ttl = int(conn.call(b"mg absolute t\r\n").split()[1][1:])
        assert 194 <= ttl <= 198, ttl


def test_incompatible_settings_start_cold_with_one_line(start_server, tmp_path):
    path = tmp_path / "memory"
    server = start(start_server, path)
    with server.connect() as conn:
        conn.expect(b"set k 0 0 1\r\nx\r\n", b"STORED\r\n")
    graceful_stop(server)
    server = start(start_server, path, "-m", "32")
    assert restart_lines(server) == [
        "[restart] restart incompatible due to setting for [maxbytes] [old value: 67108864], "
        "starting with a clean cache"]
    with server.connect() as conn:
        assert conn.call(b"get k\r\n") == b"END\r\n"
        conn.expect(b"set k 0 0 1\r\nx\r\n", b"STORED\r\n")
    graceful_stop(server)
    server = start(start_server, path, "-m", "32", "-C")
    assert "[restart] restart incompatible due to setting for [use_cas] [old value: true]" in \
        server.output()
    with server.connect() as conn:
        assert conn.call(b"get k\r\n") == b"END\r\n"


def test_a_truncated_memory_file_starts_cold(start_server, tmp_path):
    path = tmp_path / "memory"
    server = start(start_server, path)
    make_client(server).set("k", "v")
    graceful_stop(server)
    os.truncate(path, 1 << 20)
    server = start(start_server, path)
    assert restart_lines(server) == [
        "[restart] memory file %s was 1048576 bytes, not the 67108864 saved, starting with a "
        "clean cache" % path]
    assert make_client(server).get("k") is None


def test_a_corrupted_memory_file_starts_cold(start_server, tmp_path):
    path = tmp_path / "memory"
    server = start(start_server, path)
    fill(make_client(server), 3000)
    graceful_stop(server)
    with open(path, "r+b") as f:  # garbage over the first segments, where the items are
        f.write(os.urandom(4 << 20))
    server = start(start_server, path)
    lines = restart_lines(server)
    assert len(lines) == 1 and "does not match its metadata" in lines[0], lines
    client = make_client(server)
    assert client.get("key1") is None
    with server.connect() as conn:
        assert harness.stats(conn)["curr_items"] == "0"


def test_corrupted_metadata_starts_cold(start_server, tmp_path):
    path = tmp_path / "memory"
    server = start(start_server, path)
    make_client(server).set("k", "v")
    graceful_stop(server)
    meta = path.parent / (path.name + ".meta")
    data = bytearray(meta.read_bytes())
    data[len(data) // 2] ^= 0xff
    meta.write_bytes(bytes(data))
    server = start(start_server, path)
    assert restart_lines(server) == [
        "[restart] corrupt metadata file %s (checksum mismatch), starting with a clean cache"
        % meta]
    assert make_client(server).get("k") is None


def test_after_kill_9_the_metadata_is_gone_and_the_crash_is_recovered(start_server, tmp_path):
    """A crash saves no metadata (the warm start removed it): the next start recovers from the
    durable index instead (test_crash_recovery.py), and what was deleted since stays deleted."""
    path = tmp_path / "memory"
    server = start(start_server, path)
    make_client(server).set_many({"k": "v", "kept": "w"})
    graceful_stop(server)
    server = start(start_server, path)  # warm: reads the metadata, and removes it
    client = make_client(server)
    assert client.get("k") == b"v"
    client.delete("k")
    server.proc.kill()
    server.wait_exit()
    server = start(start_server, path)
    assert "no metadata save file, recovering what a crash left" in server.output()
    client = make_client(server)
    assert client.get("k") is None
    assert client.get("kept") == b"w"


def test_a_memory_file_that_cannot_be_had_refuses_to_start(tmp_path):
    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))

    path = tmp_path / "memory"
    server = harness.Server(["-e", str(path), "-m", "64"])
    server.port = harness.free_port()
    proc = harness.subprocess.run(
        [server.binary] + harness.base_flags(server.port) + server.flags,
        capture_output=True, timeout=harness.TIMEOUT, preexec_fn=limit_file_size)
    assert proc.returncode != 0
    assert ("cannot size memory file %s to 67108864 bytes: File too large" % path) in \
        proc.stderr.decode(), proc.stderr
    proc = harness.subprocess.run(
        [server.binary] + harness.base_flags(server.port) + ["-e", str(tmp_path / "no" / "file")],
        capture_output=True, timeout=harness.TIMEOUT)
    assert proc.returncode != 0
    assert "cannot open memory file %s: No such file or directory" % (tmp_path / "no" / "file") \
        in proc.stderr.decode(), proc.stderr


def test_a_second_server_on_the_same_memory_file_refuses_to_start(start_server, tmp_path):
    path = tmp_path / "memory"
    server = start(start_server, path)
    client = make_client(server)
    client.set("kept", "by the first server")
    port = harness.free_port()
    proc = harness.subprocess.run(
        [server.binary] + harness.base_flags(port) + ["-e", str(path)] + MEMORY,
        capture_output=True, timeout=harness.TIMEOUT)
    assert proc.returncode != 0
    assert "cannot lock memory file %s: another process is using it" % path in \
        proc.stderr.decode(), proc.stderr
    # The first server's file was neither resized nor written: it serves on, and restores.
    assert client.get("kept") == b"by the first server"
    graceful_stop(server)
    server = start(start_server, path)
    assert make_client(server).get("kept") == b"by the first server"


def start_with_flash(start_server, path, flash_file, size="64m"):
    return start(start_server, path, "-m", "8", "-o", "ext_path=%s:%s" % (flash_file, size))


def test_items_on_flash_come_back_from_the_same_flash_file(start_server, tmp_path, flash_file):
    path = tmp_path / "memory"
    server = start_with_flash(start_server, path, flash_file)
    stored = keys(b"k", 40000)  # 40 MB: -m 8 holds about 7,000, the rest goes to flash
    with server.connect() as conn:
        fill_flash(conn, stored)
        before = harness.stats(conn)
    on_flash = int(before["extstore_objects_used"])
    assert on_flash > 30000
    graceful_stop(server)
    assert "and %d items in " % on_flash in server.output()

    server = start_with_flash(start_server, path, flash_file)
    restored = [line for line in restart_lines(server) if "restored" in line]
    assert len(restored) == 1 and " and %d of %d items on flash " % (on_flash, on_flash) in \
        restored[0], restart_lines(server)
    with server.connect() as conn:
        after = harness.stats(conn)
        assert after["curr_items"] == before["curr_items"]
        assert after["extstore_objects_used"] == before["extstore_objects_used"]
        intact, missing, wrong = read_back(conn, stored)
        assert wrong == 0
        # Everything that was cached before (nothing was on flash only to be lost) comes back.
        assert intact == int(before["curr_items"]), (intact, missing)
        assert stat(conn, "extstore_objects_read") - int(after["extstore_objects_read"]) >= \
            on_flash * 95 // 100
        assert stat(conn, "badcrc_from_extstore") == 0


def test_a_flash_file_changed_while_down_gives_misses_not_wrong_bytes(start_server, tmp_path,
                                                                        flash_file):
    path = tmp_path / "memory"
    server = start_with_flash(start_server, path, flash_file)
    stored = keys(b"k", 24000)
    with server.connect() as conn:
        fill_flash(conn, stored)
        items = stat(conn, "curr_items")
    graceful_stop(server)
    corrupt(flash_file)
    server = start_with_flash(start_server, path, flash_file)
    with server.connect() as conn:
        intact, missing, wrong = read_back(conn, stored)
        assert wrong == 0
        assert intact + missing == len(stored) and 0 < items - intact <= 8 * 16
        assert stat(conn, "badcrc_from_extstore") == items - intact

    # Another size of flash file: the items in RAM come back, the ones on flash do not.
    graceful_stop(server)
    server = start_with_flash(start_server, path, flash_file, size="128m")
    dropped = [line for line in restart_lines(server) if "dropping" in line]
    assert len(dropped) == 1 and "due to [ext_path] [old value: %s:67108864]" % flash_file in \
        dropped[0], restart_lines(server)
    with server.connect() as conn:
        assert stat(conn, "extstore_objects_used") == 0
        intact, missing, wrong = read_back(conn, stored)
        assert wrong == 0 and intact == stat(conn, "curr_items") > 0


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 72 MiB tmpfs of its own (needs root and a kernel that lets this process mount)."""
    mount_point = tmp_path / "tmpfs"
    mount_point.mkdir()
    try:
        mounted = harness.subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=72m", "tmpfs", str(mount_point)],
            capture_output=True)
    except FileNotFoundError:
        pytest.skip("no mount command here")
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % mounted.stderr.decode().strip())
    yield mount_point
    harness.subprocess.run(["umount", "-l", str(mount_point)], check=True)


def test_a_file_system_that_fills_up_bounds_the_index_not_the_server(start_server, small_tmpfs):
    # -m 64 takes 64 of the 72 MiB; the durable index's table grows into the rest and then stops
    # (its blocks are allocated before it touches them), where a write to a page with no block
    # behind it would have killed the server with SIGBUS. The cache evicts instead.
    server = start(start_server, small_tmpfs / "memory")
    count = 1_500_000
    with server.connect() as conn:
        conn.send(b"".join(b"set k%d 0 0 1 noreply\r\nx\r\n" % i for i in range(count)))
        assert conn.call(b"version\r\n").startswith(b"VERSION ")
        stats = harness.stats(conn)
        assert int(stats["evictions"]) > 0
        assert conn.call(b"get k%d\r\n" % (count - 1)) == \
            b"VALUE k%d 0 1\r\nx\r\nEND\r\n" % (count - 1)
    assert server.proc.poll() is None
    free = os.statvfs(small_tmpfs)
    assert free.f_bavail * free.f_frsize < 4 << 20  # it did fill up
    graceful_stop(server)
