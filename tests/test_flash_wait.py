"""Reads from flash never block a worker: a command that meets an item on flash whose bytes are
not in the page cache waits while its worker reads them asynchronously and serves the other
connections, then answers exactly as it would have, in order, for every protocol.

The flash file must not be on tmpfs (its pages are never cold): it is made in $TMPDIR or /var/tmp,
and the tests drop its pages from the page cache (posix_fadvise DONTNEED) to make them cold."""

import contextlib
import os
import time

import pytest

import binary_wire as bw
import harness
from test_flash import fill, flash_file, keys, stat, value_of  # noqa: F401 (a fixture)
from test_udp import UdpClient, free_udp_port

# One worker, so that the connections of a test share it; -m 8 holds about 7,000 items of 1 KiB.
FLAGS = ("-t", "1", "-m", "8")
ITEMS = 40000  # 40 MB of 1 KiB values: most are on flash


@pytest.fixture
def filled(start_server, flash_file):
    """A server whose first ITEMS keys (k0, k1 ...) were written in order, most now on flash."""
    if harness.is_memcached():
        pytest.skip("mnemod's flash tier")
    server = start_server(*FLAGS, "-o", "ext_path=%s:64m" % flash_file)
    with server.connect() as conn:
        fill(conn, keys(b"k", ITEMS))
        assert stat(conn, "extstore_objects_used") > 30000
    return server


def make_cold(path):
    """Drops the flash file's pages from the page cache: its next reads go to the disk."""
    os.sync()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def cold_keys(first, count, step=1000):
    """Keys written about `step` KiB apart: each on flash pages of its own."""
    return [b"k%d" % i for i in range(first, first + count * step, step)]


def value_reply(key, cas=None):
    head = b"VALUE %s 0 1024" % key
    if cas is not None:
        head += b" %d" % cas
    return head + b"\r\n" + value_of(key) + b"\r\n"


def test_cold_text_and_meta_commands_answer_byte_for_byte_in_order(filled, flash_file):
    with filled.connect() as conn:
        conn.expect(b"set ram1 5 0 3\r\nram\r\n", b"STORED\r\n")
        a, b, c, d, e, f, g, h = cold_keys(2000, 8)
        make_cold(flash_file)
        waited = stat(conn, "extstore_reads_waited")
        # One pipelined batch: multi-key gets mixing cold keys, a RAM key and a missing one; a set
        # of a cold key between two gets of it; meta gets; and the order of it all.
        request = (b"get %s ram1 %s nosuchkey %s\r\n" % (a, b, c)
                   + b"gets %s\r\n" % d
                   + b"get %s\r\n" % e
                   + b"set %s 1 0 3\r\nnew\r\n" % e
                   + b"get %s\r\n" % e
                   + b"mg %s v f k\r\n" % f
                   + b"mg %s s v q\r\nmg missing v q\r\n" % g
                   + b"mn\r\n"
                   + b"gat 0 %s\r\n" % h)
        got = conn.call(request)
        cas_d = harness.gets_cas(conn, d)
        expected = (value_reply(a) + b"VALUE ram1 5 3\r\nram\r\n" + value_reply(b)
                    + value_reply(c) + b"END\r\n"
                    + value_reply(d, cas_d) + b"END\r\n"
                    + value_reply(e) + b"END\r\n"
                    + b"STORED\r\n"
                    + b"VALUE %s 1 3\r\nnew\r\nEND\r\n" % e
                    + b"VA 1024 f0 k%s\r\n%s\r\n" % (f, value_of(f))
                    + b"VA 1024 s1024\r\n%s\r\n" % value_of(g)
                    + b"MN\r\n"
                    + value_reply(h) + b"END\r\n")
        assert got == expected
        assert stat(conn, "extstore_reads_waited") > waited
        assert stat(conn, "get_extstore") > 0


def test_cold_binary_gets_answer_byte_for_byte_in_order(filled, flash_file):
    conn = bw.Conn(filled.port)
    try:
        a, b, c, d = cold_keys(20000, 4)
        make_cold(flash_file)
        with filled.connect() as text:
            waited = stat(text, "extstore_reads_waited")
        responses = conn.run(bw.packet(bw.GET, a, opaque=1)
                             + bw.packet(bw.GETK, b, opaque=2)
                             + bw.packet(bw.GETQ, b"missing", opaque=3)
                             + bw.packet(bw.GETKQ, c, opaque=4)
                             + bw.packet(bw.GAT, d, extras=bw.exptime_extras(0), opaque=5))
        assert [(r.opcode, r.status, r.opaque, r.key, r.flags, r.value) for r in responses] == [
            (bw.GET, bw.SUCCESS, 1, b"", 0, value_of(a)),
            (bw.GETK, bw.SUCCESS, 2, b, 0, value_of(b)),
            (bw.GETKQ, bw.SUCCESS, 4, c, 0, value_of(c)),
            (bw.GAT, bw.SUCCESS, 5, b"", 0, value_of(d)),
        ]
        with filled.connect() as text:
            assert stat(text, "extstore_reads_waited") > waited
    finally:
        conn.close()


def test_a_long_cold_multiget_answers_whole(filled, flash_file):
    # Every key of one line, most of them on flash and cold: the line stops at each key that
    # waits and goes on from it, as a long multi-get goes on after a full output.
    wanted = keys(b"k", ITEMS)[::37]
    make_cold(flash_file)
    with filled.connect() as conn:
        conn.send(b"get " + b" ".join(wanted) + b"\r\n")
        expected = b"".join(value_reply(k) for k in wanted) + b"END\r\n"
        assert conn.read_exact(len(expected)) == expected


def test_a_connection_closed_while_its_read_is_in_flight_harms_nothing(filled, flash_file):
    make_cold(flash_file)
    for key in cold_keys(3000, 20):
        with filled.connect() as conn:
            conn.send(b"get %s %s\r\n" % (key, key))
        # closed at once: its read completes for a connection that is gone
    with filled.connect() as conn:
        key = b"k3000"
        assert conn.call(b"get %s\r\n" % key) == value_reply(key) + b"END\r\n"


def test_a_datagram_meeting_a_cold_item_reads_it_blocking(start_server, flash_file):
    # A datagram has no connection to park: its read waits on the worker, and answers the same.
    if harness.is_memcached():
        pytest.skip("mnemod's flash tier")
    port = free_udp_port()
    server = start_server(*FLAGS, "-U", str(port), "-o", "ext_path=%s:64m" % flash_file)
    with server.connect() as conn:
        fill(conn, keys(b"k", ITEMS))
        a, b = cold_keys(4000, 2)
        make_cold(flash_file)
        client = UdpClient(port)
        try:
            datagrams = client.call(b"get %s\r\nmg %s v\r\n" % (a, b))
        finally:
            client.sock.close()
        reply = b"".join(payload for _, payload in sorted(datagrams, key=lambda d: d[0][1]))
        assert reply == (value_reply(a) + b"END\r\n" + b"VA 1024\r\n%s\r\n" % value_of(b))
        assert stat(conn, "extstore_reads_waited") == 0  # none waited asynchronously


@contextlib.contextmanager
def slow_reads(pid, path, iops):
    """The process's reads of `path`'s disk limited to `iops` a second (cgroup v1 blkio): a slow
    device, honestly. Skips where that cannot be had (not root, no blkio controller)."""
    root = "/sys/fs/cgroup/blkio"
    if os.geteuid() != 0 or not os.path.exists(os.path.join(root, "cgroup.procs")):
        pytest.skip("needs root and cgroup v1 blkio to slow the disk down")
    group = os.path.join(root, "mnemo-flash-wait-%d" % os.getpid())
    os.makedirs(group, exist_ok=True)
    device = os.stat(path).st_dev
    try:
        with open(os.path.join(group, "cgroup.procs"), "w") as f:
            f.write(str(pid))
        with open(os.path.join(group, "blkio.throttle.read_iops_device"), "w") as f:
            f.write("%d:%d %d" % (os.major(device), os.minor(device), iops))
        yield
    finally:
        with open(os.path.join(root, "cgroup.procs"), "w") as f:
            f.write(str(pid))
        os.rmdir(group)


def test_a_connection_waiting_for_flash_does_not_hold_up_its_worker(filled, flash_file):
    slow = cold_keys(1000, 8, step=2000)  # 8 reads 2 MB apart: no readahead serves two
    with filled.connect() as other, filled.connect() as waiting:
        other.expect(b"set ram 0 0 3\r\nyes\r\n", b"STORED\r\n")
        make_cold(flash_file)
        waited = stat(other, "extstore_reads_waited")
        with slow_reads(filled.pid, flash_file, iops=4):  # the 8 reads take 2 s at least
            waiting.send(b"get " + b" ".join(slow) + b"\r\n")
            # The same worker (-t 1) answers the other connection while the get waits...
            deadline = time.monotonic() + harness.TIMEOUT
            while stat(other, "extstore_reads_waited") == waited:
                assert time.monotonic() < deadline
            other.expect(b"get ram\r\n", b"VALUE ram 0 3\r\nyes\r\nEND\r\n")
            # ...whose reply is not complete yet: it waits for the slowed disk.
            waiting.sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                waiting.buf += waiting.sock.recv(1 << 20)
            waiting.sock.setblocking(True)
            waiting.sock.settimeout(harness.TIMEOUT)
            assert not waiting.buf.endswith(b"END\r\n")
            expected = b"".join(value_reply(k) for k in slow) + b"END\r\n"
            assert waiting.read_exact(len(expected)) == expected
        assert stat(other, "extstore_reads_waited") >= waited + len(slow)
