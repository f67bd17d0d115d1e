#!/usr/bin/env python3
"""Issue 17's "Done when" figures for the flash tier (-o ext_path), one server at a time.

Each subcommand starts every --server given (mnemod, memcached 1.6.45 built with extstore) with
the same flags, `-l 127.0.0.1 -U 0 -t 2 -c 4096 -m M -p PORT -u root [-o ext_path=FILE:SIZE]`,
the flash file in a fresh directory under --flash-dir (default: the temporary directory) that is removed
afterwards, runs the load, reads `stats` and /proc/PID/status (VmRSS, VmHWM), stops the server
and prints one markdown row per run. Servers alternate (A B A B ...) over --rounds rounds.

  readback  N items of V bytes written as fast as the client sends, then every key read back
            (issue: >= 95% intact for 800,000 x 1 KiB and for 200,000 x 4 KiB, -m 64, 1024m)
  index     the same load run twice, with and without the flash file: % read back and RAM per
            item on flash = (RSS with flash - RSS without) / extstore_objects_used
            (issue: 10,000,000 x 100 B, -m 64, 2 GiB file: >= 90% and <= 16 bytes per item)
  gets      gets only with memtier_benchmark (--ratio 0:1, uniform random keys over the filled
            key space) against each server; --server specs say whether flash is on, e.g.
            mnemod-ram=build/mnemod:'-m 1024' (issue: flash >= 0.8x RAM, >= 1.2x memcached);
            per round, the ratios of gets/s, of hits/s and of gets served from flash/s, and
            memtier's own CPU per get (on a shared machine the rate follows the two's sum)
  wamp      new keys and overwrites worth several times the flash file, then
            extstore_bytes_written / bytes of the items written to flash (issue: <= 1.2)

Loads: pipelined `set KEY 0 0 N noreply`, SETS_PER_SEND per sendall, on --connections raw
sockets, one sending thread each. Keys are PREFIX + decimal id (memtier_benchmark's form, so the
gets figure reads the same keys). A value is incompressible and deterministic per (key id,
version): 8 bytes holding the id and the version, then a slice of a seeded random pool at an
offset hashed from both; a read-back parses each reply by its length and compares byte for
byte, counting intact (the key's last version), stale (an earlier version of the key), missing
and wrong (anything else: must be 0).

`--server name=path[:extra flags]` as in the other bench scripts; extra flags come after the
common ones, so `-m 1024` there overrides the subcommand's -m. memtier_benchmark is --memtier,
else $MNEMO_MEMTIER, else memtier_benchmark on PATH. A benchmark, never a pass/fail test.
"""

import argparse
import array
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import common

PREFIX = b"memtier-"
SETS_PER_SEND = 2000
KEYS_PER_GET = 100
GETS_PER_SEND = 10
POOL_LEN = 1 << 24
HEADER_LEN = 8
_POOL = random.Random(17).randbytes(POOL_LEN)


def key_of(i):
    return PREFIX + b"%d" % i


def value_of(i, version, length):
    """The value of key id `i` at `version`: incompressible, and names its key and version."""
    head = (i.to_bytes(6, "little") + version.to_bytes(2, "little"))[:length]
    rest = length - len(head)
    offset = ((i * 0x9E3779B1) ^ (version * 0x85EBCA77)) % (POOL_LEN - rest)
    return head + _POOL[offset:offset + rest]


# --- servers ------------------------------------------------------------------------------------


class FlashServer(common.Server):
    """A server started for one run, with its flash file (if any) in a fresh directory under
    `flash_dir`; a context manager that stops the server and removes the directory."""

    def __init__(self, spec, memory_mb, flash_size, flash_dir):
        super().__init__(spec, memory_mb)
        self.flash_size = flash_size
        self.flash_dir = flash_dir
        self.dir = None

    def flags(self):
        flash = ["-o", f"ext_path={self.dir}/flash:{self.flash_size}"] if self.dir else []
        return super().flags() + flash

    def __enter__(self):
        if self.flash_size:
            self.dir = tempfile.mkdtemp(prefix="mnemo-flash-", dir=self.flash_dir)
        try:
            return super().__enter__()
        except RuntimeError:
            self.__exit__()
            raise

    def __exit__(self, *exc):
        if self._log:
            output = self._output().strip()
            if output:
                common.note(f"{self.spec.name} said: {output[-600:]}")
        super().__exit__(*exc)
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def io_bytes(self):
        """(wchar, write_bytes) of /proc/PID/io: bytes passed to write syscalls (files and
        sockets), and bytes the process caused to be sent to the storage layer."""
        fields = {}
        with open(f"/proc/{self.proc.pid}/io") as io:
            for line in io:
                name, _, value = line.partition(":")
                fields[name] = int(value)
        return fields["wchar"], fields["write_bytes"]

    def wait_quiet(self, field="extstore_bytes_written", settle=1.0, limit=30.0):
        """Waits until `field` stops growing for `settle` seconds (flash writes done)."""
        deadline = time.monotonic() + limit
        last = self.stats().get(field)
        while time.monotonic() < deadline:
            time.sleep(settle)
            now = self.stats().get(field)
            if now == last:
                return
            last = now


# --- load ---------------------------------------------------------------------------------------


def fill(port, plan, length, connections, rate=None):
    """Sends `plan` (a sequence of key ids, in order; a key written again gets the next version)
    as pipelined noreply sets: key i on connection i % connections, so that a key's versions
    reach the server in order, each connection its own thread, SETS_PER_SEND per sendall;
    `rate` (sets/s in all) paces the sends. Returns (seconds, sets/s) once every connection's
    sets were executed."""
    tail = b" 0 0 %d noreply\r\n" % length
    conns = [common.Connection(port) for _ in range(connections)]
    written = bytearray(max(plan) + 1)  # versions sent so far, per key; disjoint per thread
    errors = []
    start = time.monotonic()

    def run(c):
        try:
            conn = conns[c]
            ids = (plan[c::connections] if isinstance(plan, range)
                   else [i for i in plan if i % connections == c])
            for s in range(0, len(ids), SETS_PER_SEND):
                lines = []
                for i in ids[s:s + SETS_PER_SEND]:
                    written[i] += 1
                    lines.append(b"set " + key_of(i) + tail + value_of(i, written[i], length)
                                 + b"\r\n")
                conn.send(b"".join(lines))
                conn.drain_unexpected()
                if rate:
                    ahead = start + (s + SETS_PER_SEND) * connections / rate - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)
            conn.sync()
        except Exception as err:  # noqa: BLE001 - reported by the main thread
            errors.append(err)

    threads = [threading.Thread(target=run, args=(c,)) for c in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - start
    for conn in conns:
        conn.note_unexpected("server")
        conn.close()
    if errors:
        raise errors[0]
    return seconds, len(plan) / seconds


class Incomplete(Exception):
    """The replies parsed so far end before the last one does."""


def parse_values(buf, expect_ends):
    """The (key, value) pairs of the replies to `expect_ends` gets in `buf`; raises Incomplete
    when `buf` holds less than all of them, ValueError on a line that is not VALUE or END."""
    pos = 0
    ends = 0
    pairs = []
    while ends < expect_ends:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            raise Incomplete
        line = buf[pos:eol]
        if line == b"END":
            ends += 1
            pos = eol + 2
            continue
        fields = line.split(b" ")
        if fields[0] != b"VALUE" or len(fields) < 4:
            raise ValueError(f"unexpected reply line {line[:100]!r}")
        size = int(fields[3])
        start = eol + 2
        if start + size + 2 > len(buf):
            raise Incomplete
        if buf[start + size:start + size + 2] != b"\r\n":
            raise ValueError("value not followed by CRLF")
        pairs.append((fields[1], buf[start:start + size]))
        pos = start + size + 2
    if pos != len(buf):
        raise ValueError("bytes after the last END")
    return pairs


def read_all(sock, expect_ends):
    """Reads the replies to `expect_ends` gets (the buffer ends with END and a parse by the
    lengths finds them all: END\r\n may also occur inside a value)."""
    buf = bytearray()
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buf += chunk
        if buf.endswith(b"END\r\n") and buf.count(b"END\r\n") >= expect_ends:
            try:
                return parse_values(bytes(buf), expect_ends)
            except Incomplete:
                continue


def read_back(port, versions, length, connections=2):
    """Gets every key id i with versions[i] > 0; returns counts intact, stale, missing, wrong."""
    ids = [i for i, v in enumerate(versions) if v]
    per_send = KEYS_PER_GET * GETS_PER_SEND
    sends = [ids[s:s + per_send] for s in range(0, len(ids), per_send)]
    totals = [[0, 0, 0, 0] for _ in range(connections)]
    errors = []

    def run(c):
        try:
            conn = common.Connection(port)
            counts = totals[c]
            for s in range(c, len(sends), connections):
                chunk = sends[s]
                lines = [b"get " + b" ".join(key_of(i) for i in chunk[g:g + KEYS_PER_GET])
                         + b"\r\n" for g in range(0, len(chunk), KEYS_PER_GET)]
                conn.send(b"".join(lines))
                found = {}
                for key, value in read_all(conn.sock, len(lines)):
                    found[key] = value
                for i in chunk:
                    value = found.get(key_of(i))
                    if value is None:
                        counts[2] += 1
                    elif value == value_of(i, versions[i], length):
                        counts[0] += 1
                    elif (len(value) == length and int.from_bytes(value[:6], "little") == i and
                          value == value_of(i, int.from_bytes(value[6:8], "little"), length)):
                        counts[1] += 1
                    else:
                        counts[3] += 1
            conn.close()
        except Exception as err:  # noqa: BLE001 - reported by the main thread
            errors.append(err)

    threads = [threading.Thread(target=run, args=(c,)) for c in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return [sum(t[k] for t in totals) for k in range(4)]


def load_average():
    return open("/proc/loadavg").read().split()[0]


def number(value):
    """`value` with thousands separators, or "-" for a stat the server does not have."""
    return "-" if value is None else f"{value:,}"


def mib(kib):
    return f"{kib / 1024:,.1f}"


# --- figures ------------------------------------------------------------------------------------


def readback_row(args, spec):
    plan = range(args.items)
    versions = [1] * args.items
    with FlashServer(spec, args.memory, args.flash_size, args.flash_dir) as server:
        seconds, rate = fill(server.port, plan, args.value_size, args.connections, args.fill_rate)
        server.wait_quiet()
        rss, hwm = server.memory_kib()
        stats = server.stats()
        intact, stale, missing, wrong = read_back(server.port, versions, args.value_size)
    return [spec.name, f"{args.items:,} x {args.value_size}", f"{rate:,.0f}",
            f"{100 * intact / args.items:.1f}%", f"{missing:,}", f"{wrong + stale}",
            number(stats.get("extstore_objects_written")),
            number(stats.get("extstore_objects_used")), mib(rss), mib(hwm), load_average()]


READBACK_HEAD = ["server", "load", "sets/s", "read back intact", "missing", "wrong",
                 "extstore_objects_written", "extstore_objects_used", "RSS MiB", "HWM MiB",
                 "load avg"]


def index_row(args, spec):
    plan = range(args.items)
    versions = bytearray([1]) * args.items
    with FlashServer(spec, args.memory, None, args.flash_dir) as server:
        fill(server.port, plan, args.value_size, args.connections, args.fill_rate)
        time.sleep(1)
        base_rss, base_hwm = server.memory_kib()
        base = server.stats()
    with FlashServer(spec, args.memory, args.flash_size, args.flash_dir) as server:
        started = time.monotonic()
        seconds, rate = fill(server.port, plan, args.value_size, args.connections, args.fill_rate)
        server.wait_quiet()
        rss, hwm = server.memory_kib()
        stats = server.stats()
        intact, stale, missing, wrong = read_back(server.port, versions, args.value_size)
        total = time.monotonic() - started
    on_flash = stats.get("extstore_objects_used", 0)
    per_item = (rss - base_rss) * 1024 / on_flash if on_flash else float("nan")
    return [spec.name, f"{args.items:,} x {args.value_size}", f"{rate:,.0f}",
            f"{100 * intact / args.items:.1f}%", f"{missing:,}", f"{wrong + stale}",
            f"{on_flash:,}", mib(base_rss), mib(rss), mib(hwm), f"{per_item:.1f}",
            number(stats.get("hash_bytes")), number(stats.get("hash_bytes_limit")),
            number(base.get("hash_bytes")), f"{total:.0f}", load_average()]


INDEX_HEAD = ["server", "load", "sets/s", "read back intact", "missing", "wrong",
              "extstore_objects_used", "RSS no flash MiB", "RSS flash MiB", "HWM flash MiB",
              "RAM/item on flash (B)", "hash_bytes", "hash_bytes_limit", "hash_bytes no flash",
              "run s", "load avg"]


def warm_page_cache(directory):
    """Reads the flash file once, so that the server's (non-O_DIRECT) reads hit the page cache
    without a single get touching an item (a get counts towards bringing it back to RAM)."""
    if not directory:
        return
    with open(f"{directory}/flash", "rb", buffering=0) as f:
        while f.read(1 << 22):
            pass


def client_cpu_seconds():
    """CPU seconds of this script's finished children: around a memtier run, memtier's own, since
    the server, still running, is not counted until it is waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def gets_row(args, spec, memtier):
    plan = range(args.items)
    flash = None if spec.name in args.no_flash else args.flash_size
    with FlashServer(spec, args.memory, flash, args.flash_dir) as server:
        fill(server.port, plan, args.value_size, args.connections, args.fill_rate)
        server.wait_quiet()
        warm_page_cache(server.dir)
        before = server.stats()
        cpu_before = server.cpu_seconds()
        client_before = client_cpu_seconds()
        started = time.monotonic()
        out = subprocess.run(
            [memtier, "-s", "127.0.0.1", "-p", str(server.port), "--protocol=memcache_text",
             "--threads", "2", "--clients", str(args.clients), "--pipeline", str(args.pipeline),
             "--ratio", "0:1", "--key-prefix", PREFIX.decode(), "--key-minimum", "1",
             "--key-maximum", str(args.items - 1), "--key-pattern", "R:R",
             "--distinct-client-seed", "--data-size", str(args.value_size),
             "--test-time", str(args.duration), "--hide-histogram",
             "--print-percentiles", "50,99"],
            check=True, capture_output=True, text=True).stdout
        cpu = server.cpu_seconds() - cpu_before
        client_cpu = client_cpu_seconds() - client_before
        seconds = time.monotonic() - started
        after = server.stats()
    # Totals <ops/s> <hits/s> <misses/s> <avg ms> <p50 ms> <p99 ms> <KB/s>
    totals = next(line.split() for line in out.splitlines() if line.startswith("Totals"))
    ops, hits = float(totals[1]), float(totals[2])
    requests = after["cmd_get"] - before["cmd_get"]

    def delta(name):
        return after.get(name, 0) - before.get(name, 0)

    flash_hits = delta("get_extstore")
    # The server's count of gets over memtier's wall time (its start-up included): memtier's
    # own Totals line overstates the rate in some runs (more than cmd_get / --test-time).
    return {"name": spec.name, "ops": requests / seconds, "memtier_ops": ops,
            "hits_per_s": delta("get_hits") / seconds, "flash_per_s": flash_hits / seconds,
            "hit": hits / ops if ops else 0.0,
            "p50": float(totals[5]) * 1e3, "p99": float(totals[6]) * 1e3,
            "cpu": cpu * 1e6 / requests if requests else float("nan"),
            "client_cpu": client_cpu * 1e6 / requests if requests else float("nan"),
            "gets": requests,
            "get_extstore": flash_hits, "objects_read": delta("extstore_objects_read"),
            "flash_share": flash_hits / requests if requests else 0.0,
            "written": delta("extstore_objects_written"),
            "waited": delta("extstore_reads_waited"), "load": load_average()}


GETS_HEAD = ["server", "gets/s (server)", "gets/s (memtier)", "hits", "p50 µs", "p99 µs",
             "server CPU µs/get", "memtier CPU µs/get", "gets",
             "get_extstore", "extstore_objects_read", "served from flash",
             "extstore_objects_written", "extstore_reads_waited", "load avg"]


def gets_cells(r):
    return [r["name"], f"{r['ops']:,.0f}", f"{r['memtier_ops']:,.0f}", f"{100 * r['hit']:.1f}%",
            f"{r['p50']:,.0f}", f"{r['p99']:,.0f}", f"{r['cpu']:.2f}", f"{r['client_cpu']:.2f}",
            f"{r['gets']:,}",
            f"{r['get_extstore']:,}",
            f"{r['objects_read']:,}", f"{100 * r['flash_share']:.1f}%", f"{r['written']:,}",
            f"{r['waited']:,}", r["load"]]


def wamp_plan(args):
    """`args.items` sets of new keys, of which a share (--overwrites) go instead to a key written
    earlier, uniformly; returns the key ids in order and each key's last version."""
    rng = random.Random(args.seed)
    plan = array.array("I")
    versions = bytearray()
    while len(plan) < args.items:
        if versions and rng.random() < args.overwrites:
            i = rng.randrange(len(versions))
            if versions[i] == 255:
                continue  # versions are one byte (fill's counter)
            versions[i] += 1
        else:
            i = len(versions)
            versions.append(1)
        plan.append(i)
    return plan, versions


def item_size_memcached(key_len, value_len):
    """memcached 1.6's item size with flags 0 and CAS on: 48-byte header, 8 of CAS, key and its
    NUL, value and its CRLF (ITEM_ntotal)."""
    return 48 + 8 + key_len + 1 + value_len + 2


def wamp_row(args, spec):
    plan, versions = wamp_plan(args)
    with FlashServer(spec, args.memory, args.flash_size, args.flash_dir) as server:
        seconds, rate = fill(server.port, plan, args.value_size, args.connections, args.fill_rate)
        server.wait_quiet()
        stats = server.stats()
        # The fill's noreply sets and syncs make the sockets' share of wchar a few KB.
        wchar, written = server.io_bytes()
        intact, stale, missing, wrong = read_back(server.port, versions, args.value_size)
    objects = stats["extstore_objects_written"]
    size = item_size_memcached(len(key_of(len(versions) // 2)), args.value_size)
    if "extstore_item_bytes_written" in stats:
        # mnemod: extstore_bytes_written counts device bytes, the item bytes apart.
        device, items = stats["extstore_bytes_written"], stats["extstore_item_bytes_written"]
    else:
        # memcached: extstore_bytes_written sums the items (ntotal) it wrote, compaction's
        # rewrites included; it pwrites whole write buffers (ext_wbuf_size, the tail zeroed),
        # which wchar counts; /proc's write_bytes counts less, since it writes through the
        # page cache and a page rewritten before writeback counts once.
        device, items = wchar, stats["extstore_bytes_written"]
    keys = len(versions)
    return [spec.name, f"{len(plan):,} x {args.value_size} ({keys:,} keys)", f"{rate:,.0f}",
            f"{device / 2**20:,.0f}", f"{wchar / 2**20:,.0f}", f"{written / 2**20:,.0f}",
            f"{items / 2**20:,.0f}",
            f"{objects:,}", f"{objects * size / 2**20:,.0f}",
            number(stats.get("extstore_compact_rescues")),
            f"{device / items:.3f}" if items else "-",
            f"{100 * intact / keys:.1f}%", f"{stale:,}", f"{wrong}", load_average()]


WAMP_HEAD = ["server", "load", "sets/s", "device MiB", "wchar MiB", "write_bytes MiB", "item MiB",
             "objects written", "objects x memcached ntotal MiB", "compaction rescues",
             "write amplification",
             "read back intact", "stale", "wrong", "load avg"]


# --- main ---------------------------------------------------------------------------------------


def print_table(head, rows):
    print(common.format_table(head, rows, True), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("figure", choices=["readback", "index", "gets", "wamp"])
    parser.add_argument("--server", action="append", type=common.parse_server_spec, required=True,
                        help="name=path[:extra flags], repeatable")
    parser.add_argument("--items", type=int, required=True, help="sets (wamp) or keys")
    parser.add_argument("--value-size", type=int, required=True)
    parser.add_argument("--memory", type=int, default=64, help="-m")
    parser.add_argument("--flash-size", default="1024m", help="SIZE of ext_path; 'none': no flash")
    parser.add_argument("--flash-dir", default=tempfile.gettempdir(),
                        help="where the flash file's directory goes (default: $TMPDIR or /tmp)")
    parser.add_argument("--connections", type=int, default=4, help="sending sockets")
    parser.add_argument("--fill-rate", type=float, help="sets/s in all (default: unpaced)")
    parser.add_argument("--overwrites", type=float, default=0.3, help="wamp: share of overwrites")
    parser.add_argument("--duration", type=int, default=3, help="gets: memtier seconds")
    parser.add_argument("--clients", type=int, default=25, help="gets: memtier clients/thread")
    parser.add_argument("--pipeline", type=int, default=16, help="gets: memtier pipeline")
    parser.add_argument("--no-flash", action="append", default=[], metavar="NAME",
                        help="gets: run the server NAME without a flash file")
    parser.add_argument("--memtier", help="memtier_benchmark (default: $MNEMO_MEMTIER)")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.flash_size == "none":
        args.flash_size = None
    print(f"# {args.figure}: {args.items:,} x {args.value_size} B, -m {args.memory}, "
          f"ext_path SIZE {args.flash_size}, flags {' '.join(common.COMMON_FLAGS)}; "
          f"load average {load_average()} at the start", flush=True)
    if args.figure == "gets":
        memtier = common.memtier_binary(args.memtier)
        results = common.run_rounds(args.server, args.rounds,
                                    lambda spec: gets_row(args, spec, memtier))
        print_table(GETS_HEAD, [gets_cells(r) for rounds in zip(*results.values()) for r in rounds])
        names = list(results)
        # A server that dropped items answers some gets with a cheap miss: gets that hit, and gets
        # served from flash, per second are the rates of the work asked for.
        for field, what in (("ops", "gets/s"), ("hits_per_s", "hits/s"),
                            ("flash_per_s", "gets served from flash/s")):
            for subject, base in common.ratio_pairs(names, names):
                ratios = common.round_ratios(results, subject, base, field)
                if all(r > 0 for r in ratios):  # NaN and 0: a server without flash
                    print(f"\n{subject} / {base} {what}, per round: "
                          + ", ".join(f"{r:.3f}" for r in ratios), flush=True)
        return
    row, head = {"readback": (readback_row, READBACK_HEAD), "index": (index_row, INDEX_HEAD),
                 "wamp": (wamp_row, WAMP_HEAD)}[args.figure]
    rows = []
    for round_no in range(1, args.rounds + 1):
        for spec in args.server:
            common.note(f"round {round_no}/{args.rounds}: {spec.name}")
            rows.append(row(args, spec))
            print("| " + " | ".join(rows[-1]) + " |", file=sys.stderr, flush=True)
    print_table(head, rows)


if __name__ == "__main__":
    main()
