"""The flash tier (-o ext_path): items that RAM evicts go to flash and come back byte for byte,
for every command; a corrupt record is a miss, never wrong bytes; a device that fails its writes
turns the tier off and the server goes on from RAM."""

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile

import pytest

import harness

# -m 8 holds about 7,000 items of 1 KiB; the flash file several times that.
RAM_FLAGS = ("-m", "8")
VALUE_SIZE = 1024


@pytest.fixture
def flash_file():
    fd, path = tempfile.mkstemp(prefix="mnemo-flash-", dir=os.environ.get("TMPDIR", "/var/tmp"))
    os.close(fd)
    yield path
    os.unlink(path)


@pytest.fixture
def flash_server(start_server, flash_file):
    if harness.is_memcached():
        pytest.skip("mnemod's flash tier")
    return start_server(*RAM_FLAGS, "-o", "ext_path=%s:64m" % flash_file)


def value_of(key, size=VALUE_SIZE):
    """Incompressible bytes that only this key has, so that a read back can be checked."""
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(b"%s:%d" % (key, counter)).digest()
        counter += 1
    return out[:size]


def fill(conn, keys, size=VALUE_SIZE, batch=200):
    """Stores every key with its value_of, pipelined."""
    keys = list(keys)
    for start in range(0, len(keys), batch):
        chunk = keys[start:start + batch]
        conn.send(b"".join(b"set %s 0 0 %d noreply\r\n%s\r\n" % (k, size, value_of(k, size))
                           for k in chunk))
    assert conn.call(b"mn\r\n") == b"MN\r\n"


def read_back(conn, keys, size=VALUE_SIZE, batch=100):
    """Returns (intact, missing, wrong) over `keys`, read with multi-key gets."""
    intact = missing = wrong = 0
    keys = list(keys)
    for start in range(0, len(keys), batch):
        chunk = keys[start:start + batch]
        conn.send(b"get " + b" ".join(chunk) + b"\r\n")
        got = {}
        while True:
            line = conn.readline()
            if line == b"END\r\n":
                break
            _, key, _, length = line.split()
            got[key] = conn.read_exact(int(length) + 2)[:-2]
        for k in chunk:
            if k not in got:
                missing += 1
            elif got[k] == value_of(k, size):
                intact += 1
            else:
                wrong += 1
    return intact, missing, wrong


def stat(conn, name):
    return int(harness.stats(conn)[name])


def corrupt(flash_file):
    """Flips one byte in every 64 KiB of the first 8 MB of the file: records of about one item in
    60 on flash."""
    with open(flash_file, "r+b") as f:
        for offset in range(5000, 8 << 20, 64 << 10):
            f.seek(offset)
            byte = f.read(1)
            f.seek(offset)
            f.write(bytes([byte[0] ^ 0x20]))


def keys(prefix, count):
    return [b"%s%d" % (prefix, i) for i in range(count)]


def push_to_flash(conn):
    """Writes 16 MB of other keys: twice RAM, so that what was written before is on flash."""
    fill(conn, keys(b"filler-%d-" % stat(conn, "total_items"), 16000))


def test_items_evicted_from_ram_are_read_back_from_flash_byte_for_byte(flash_server):
    with flash_server.connect() as conn:
        stored = keys(b"k", 40000)  # 40 MB: five times RAM
        fill(conn, stored)
        s = harness.stats(conn)
        assert int(s["evictions"]) == 0
        assert int(s["extstore_objects_used"]) > 30000
        assert read_back(conn, stored) == (40000, 0, 0)
        s = harness.stats(conn)
        assert int(s["get_extstore"]) > 30000
        assert int(s["badcrc_from_extstore"]) == 0


def test_every_command_finds_an_item_on_flash(flash_server):
    with flash_server.connect() as conn:
        def on_flash(key, value=b"12345"):
            # Stored, never read (an item read since written may stay in RAM), and its CAS.
            reply = conn.call(b"ms %s %d F7 c\r\n%s\r\n" % (key, len(value), value))
            assert reply.startswith(b"HD c"), reply
            push_to_flash(conn)
            return int(reply[4:])

        def from_flash(request, expected):
            before = stat(conn, "get_extstore")
            assert conn.call(request) == expected, request
            assert stat(conn, "get_extstore") == before + 1, request

        cas = on_flash(b"get")
        from_flash(b"get get\r\n", b"VALUE get 7 5\r\n12345\r\nEND\r\n")
        cas = on_flash(b"gets")
        from_flash(b"gets gets\r\n", b"VALUE gets 7 5 %d\r\n12345\r\nEND\r\n" % cas)
        on_flash(b"gat")
        from_flash(b"gat 100 gat\r\n", b"VALUE gat 7 5\r\n12345\r\nEND\r\n")
        on_flash(b"touch")
        from_flash(b"touch touch 100\r\n", b"TOUCHED\r\n")
        cas = on_flash(b"cas")
        from_flash(b"cas cas 1 0 3 %d\r\nnew\r\n" % cas, b"STORED\r\n")
        assert conn.call(b"get cas\r\n") == b"VALUE cas 1 3\r\nnew\r\nEND\r\n"
        on_flash(b"append")
        from_flash(b"append append 0 0 1\r\n!\r\n", b"STORED\r\n")
        assert conn.call(b"get append\r\n") == b"VALUE append 7 6\r\n12345!\r\nEND\r\n"
        on_flash(b"prepend")
        from_flash(b"prepend prepend 0 0 1\r\n!\r\n", b"STORED\r\n")
        assert conn.call(b"get prepend\r\n") == b"VALUE prepend 7 6\r\n!12345\r\nEND\r\n"
        on_flash(b"incr")
        from_flash(b"incr incr 5\r\n", b"12350\r\n")
        on_flash(b"decr")
        from_flash(b"decr decr 5\r\n", b"12340\r\n")
        on_flash(b"delete")
        from_flash(b"delete delete\r\n", b"DELETED\r\n")
        assert conn.call(b"get delete\r\n") == b"END\r\n"
        on_flash(b"add")
        from_flash(b"add add 0 0 1\r\nx\r\n", b"NOT_STORED\r\n")
        on_flash(b"replace")
        from_flash(b"replace replace 0 0 1\r\nx\r\n", b"STORED\r\n")
        assert conn.call(b"get replace\r\n") == b"VALUE replace 0 1\r\nx\r\nEND\r\n"
        cas = on_flash(b"mg")
        from_flash(b"mg mg v f c\r\n", b"VA 5 f7 c%d\r\n12345\r\n" % cas)
        cas = on_flash(b"ms")
        from_flash(b"ms ms 2 C%d\r\nhi\r\n" % cas, b"HD\r\n")
        on_flash(b"md")
        from_flash(b"md md\r\n", b"HD\r\n")
        on_flash(b"ma")
        from_flash(b"ma ma v\r\n", b"VA 5\r\n12346\r\n")
        assert stat(conn, "evictions") == 0


def test_values_of_every_size_are_served_from_the_record_read(flash_server):
    # Reads that change nothing are served from the record read from flash, never held in place:
    # values on both sides of the size sent from item memory (4 KiB), and a compressed one.
    with flash_server.connect() as conn:
        values = {b"tiny": b"", b"small": value_of(b"small", 100),
                  b"below": value_of(b"below", 4095), b"at": value_of(b"at", 4096),
                  b"large": value_of(b"large", 50000), b"text": b"compressible text. " * 1000}
        for key, value in values.items():
            assert conn.call(b"set %s 3 0 %d\r\n%s\r\n" % (key, len(value), value)) == \
                b"STORED\r\n"
        push_to_flash(conn)
        before = harness.stats(conn)
        for key, value in values.items():
            assert conn.call(b"get %s\r\n" % key) == \
                b"VALUE %s 3 %d\r\n%s\r\nEND\r\n" % (key, len(value), value)
            assert conn.call(b"mg %s v f\r\n" % key) == b"VA %d f3\r\n%s\r\n" % (len(value), value)
        conn.send(b"get " + b" ".join(values) + b"\r\n")
        for key, value in values.items():
            assert conn.readline() == b"VALUE %s 3 %d\r\n" % (key, len(value))
            assert conn.read_exact(len(value) + 2) == value + b"\r\n"
        assert conn.readline() == b"END\r\n"
        after = harness.stats(conn)
        assert int(after["get_extstore"]) - int(before["get_extstore"]) == 3 * len(values)
        assert int(after["decompress_items"]) - int(before["decompress_items"]) == 3
        assert int(after["decompress_errors"]) == 0


def test_a_corrupt_record_is_a_miss_never_wrong_bytes(flash_server, flash_file):
    with flash_server.connect() as conn:
        stored = keys(b"k", 24000)
        fill(conn, stored)
        corrupt(flash_file)
        intact, missing, wrong = read_back(conn, stored)
        assert wrong == 0
        assert missing > 0 and intact + missing == len(stored)
        assert stat(conn, "badcrc_from_extstore") == missing
        # The slots of the corrupt records are gone: a second read finds no corrupt record.
        assert read_back(conn, stored) == (intact, missing, 0)
        assert stat(conn, "badcrc_from_extstore") == missing
    # Logged once, not once a record.
    assert flash_server.output().count("is corrupt") == 1, flash_server.output()


@contextlib.contextmanager
def failing_block_device(writable_bytes, size_bytes):
    """A loop device of `size_bytes` whose backing file lives on a tmpfs of `writable_bytes`:
    writes past what the tmpfs holds fail with an I/O error, as a thin-provisioned device that
    ran out of space does. Needs root (mount, losetup)."""
    if os.geteuid() != 0 or not shutil.which("losetup"):
        pytest.skip("needs root and losetup to make a failing block device")
    directory = tempfile.mkdtemp(prefix="mnemo-failing-")
    try:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d" % writable_bytes,
                                  "tmpfs", directory], capture_output=True)
        if mounted.returncode != 0:
            pytest.skip("cannot mount a tmpfs here: %s" % mounted.stderr.decode().strip())
        try:
            backing = os.path.join(directory, "backing")
            with open(backing, "wb") as f:
                f.truncate(size_bytes)
            attached = subprocess.run(["losetup", "-f", "--show", backing], capture_output=True,
                                      text=True)
            if attached.returncode != 0:
                pytest.skip("cannot attach a loop device here: %s" % attached.stderr.strip())
            device = attached.stdout.strip()
            try:
                yield device
            finally:
                subprocess.run(["losetup", "-d", device], check=True)
        finally:
            subprocess.run(["umount", directory], check=True)
    finally:
        os.rmdir(directory)


def test_a_device_that_fails_its_writes_leaves_a_cache_serving_from_ram(start_server):
    if harness.is_memcached():
        pytest.skip("mnemod's flash tier")
    with failing_block_device(4 << 20, 64 << 20) as device:
        server = start_server(*RAM_FLAGS, "-o", "ext_path=%s:64m" % device)
        with server.connect() as conn:
            stored = keys(b"k", 30000)  # 30 MB: flash would take 22 of them, the device only 4
            fill(conn, stored)
            s = harness.stats(conn)
            assert int(s["extstore_enabled"]) == 0
            assert int(s["extstore_io_errors"]) >= 1
            assert int(s["evictions"]) > 0
            # What RAM holds, and what flash took before the errors, reads back whole.
            intact, missing, wrong = read_back(conn, stored)
            assert wrong == 0 and intact > 6000
            # New writes still work.
            assert conn.call(b"set after 0 0 2\r\nok\r\n") == b"STORED\r\n"
            assert conn.call(b"get after\r\n") == b"VALUE after 0 2\r\nok\r\nEND\r\n"
        assert "the flash tier is off" in server.output()
        complaint = server.stop()  # before the device goes: the server holds it open
        assert complaint is None, complaint
