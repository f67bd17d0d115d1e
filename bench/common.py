"""Shared helpers for mnemo's end-to-end benchmarks (memory_fill.py, hit_ratio.py).

Each benchmark starts every server under test itself, with the same flags, on a free loopback
port, talks to it over a raw TCP socket with pipelined text-protocol commands, and runs the
servers alternately (A B C A B C ...) so that a busy machine hurts all of them alike.

Invariants the benchmarks rely on:
  (1) Keys are exactly KEY_LEN bytes, and values never contain a space, "\\r" or "\\n", so
      b"VALUE " and b"END\\r\\n" in a reply can only be protocol framing; replies are then counted
      with bytes.count / re.findall instead of a byte-by-byte parser.
  (2) Every reply stream is checked for its exact expected length (see get_reply_length), so a
      server that answers with anything else makes the benchmark fail loudly, not miscount.
These are benchmarks, never pass/fail tests.

Binaries from outside the repository are named by environment variables: $MNEMO_REFERENCE is a
memcached 1.6.45 binary (built from memcached's release tarball: ./configure && make),
$MNEMO_MEMTIER a memtier_benchmark binary (default: memtier_benchmark on PATH). Debian's
memcached 1.6.18 is /usr/bin/memcached (apt-get install memcached).
"""

import argparse
import dataclasses
import json
import os
import random
import select
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

# The flags of BENCHMARKING.md, the same for every server; -m and -p are added per run.
COMMON_FLAGS = ("-l", "127.0.0.1", "-U", "0", "-t", "2", "-c", "4096", "-u", "root")

KEY_LEN = 13
END = b"END\r\n"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REFERENCE_VARIABLE = "MNEMO_REFERENCE"  # a memcached 1.6.45 binary
MEMTIER_VARIABLE = "MNEMO_MEMTIER"  # a memtier_benchmark binary
MNEMOD_CANDIDATES = ("build/mnemod", "build-server/mnemod")


def key_bytes(key_id):
    """The KEY_LEN-byte key of `key_id` (ids below 10**9)."""
    return b"key:%09d" % key_id


def key_id(key):
    """The inverse of key_bytes."""
    return int(key[4:])


@dataclasses.dataclass(frozen=True)
class ServerSpec:
    """A server under test: a display name, its binary, and flags added after COMMON_FLAGS."""

    name: str
    path: str
    extra: tuple = ()


def parse_server_spec(text):
    """Parses `name=path[:extra flags]`, e.g. `mnemod-fifo=build/mnemod:-o eviction=fifo`."""
    name, sep, rest = text.partition("=")
    if not sep or not name or not rest:
        raise ValueError(f"--server wants name=path[:extra flags], got {text!r}")
    path, _, extra = rest.partition(":")
    return ServerSpec(name, os.path.abspath(path), tuple(shlex.split(extra)))


def reference_memcached():
    """The memcached 1.6.45 binary named by $MNEMO_REFERENCE. Raises LookupError, with a message
    naming the variable, when it is unset or not an executable file (there is no fallback:
    Debian's /usr/bin/memcached is 1.6.18)."""
    path = os.environ.get(REFERENCE_VARIABLE)
    if not path:
        raise LookupError(f"${REFERENCE_VARIABLE} is not set: point it at a memcached 1.6.45 "
                          "binary (built from memcached's release tarball: ./configure && make)")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        raise LookupError(f"${REFERENCE_VARIABLE}={path} is not an executable file")
    return os.path.abspath(path)


def memtier_binary(explicit=None):
    """memtier_benchmark: `explicit` (a --memtier option) if given, else $MNEMO_MEMTIER, else
    memtier_benchmark on PATH; exits with a message naming the variable when none is found."""
    path = explicit or os.environ.get(MEMTIER_VARIABLE)
    if path:
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            source = "--memtier" if explicit else f"${MEMTIER_VARIABLE}"
            sys.exit(f"{source}={path} is not an executable file")
        return os.path.abspath(path)
    path = shutil.which("memtier_benchmark")
    if not path:
        sys.exit(f"no memtier_benchmark: set ${MEMTIER_VARIABLE} (or pass --memtier) to a "
                 "memtier_benchmark binary, or put memtier_benchmark on PATH")
    return path


def default_servers():
    """Debian's memcached 1.6.18 (/usr/bin/memcached), memcached 1.6.45 ($MNEMO_REFERENCE) and
    mnemod; those that cannot be found are skipped with a note on stderr, since mnemod may not be
    built yet."""
    specs = []
    if os.access("/usr/bin/memcached", os.X_OK):
        specs.append(ServerSpec("memcached-1.6.18", "/usr/bin/memcached"))
    else:
        note("no /usr/bin/memcached (apt-get install memcached): skipped")
    try:
        specs.append(ServerSpec("memcached-1.6.45", reference_memcached()))
    except LookupError as err:
        note(f"memcached 1.6.45 unavailable ({err}): skipped")
    for rel in MNEMOD_CANDIDATES:
        path = os.path.join(REPO, rel)
        if os.access(path, os.X_OK):
            specs.append(ServerSpec("mnemod", path))
            break
    else:
        note(f"mnemod not built (looked for {', '.join(MNEMOD_CANDIDATES)}): skipped")
    return specs


def argument_parser(description):
    """A parser for a benchmark described by `description` (its module docstring), with
    --server first; the benchmark adds its own options, then calls parse_arguments()."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", action="append", type=parse_server_spec,
                        help="name=path[:extra flags], repeatable (default: /usr/bin/memcached as "
                        "memcached 1.6.18, $MNEMO_REFERENCE as memcached 1.6.45, mnemod if "
                        "built)")
    return parser


def parse_arguments(parser):
    """Adds the options every benchmark ends with (rounds, seed, baselines, output), parses the
    command line and returns (args, server specs, baseline names); exits when there is no
    server to measure."""
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baseline", action="append",
                        help="server name to compute ratios against, repeatable (default: "
                        "every server whose name starts with memcached)")
    parser.add_argument("--markdown", action="store_true", help="print markdown tables")
    parser.add_argument("--json", metavar="FILE", help="also write every round's numbers here")
    args = parser.parse_args()
    specs = args.server or default_servers()
    if not specs:
        sys.exit("no server to measure")
    baselines = set(args.baseline or [s.name for s in specs if s.name.startswith("memcached")])
    return args, specs, baselines


def note(message):
    print(f"# {message}", file=sys.stderr, flush=True)


def free_port():
    # Another process may take the port between close() and the server's bind(); Server.start
    # retries on a fresh port if the server dies at start.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Connection:
    """One pipelined text-protocol connection. Not thread-safe."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Replies that no command asked for (a noreply set that still answered an error).
        self.unexpected = bytearray()

    def close(self):
        self.sock.close()

    def note_unexpected(self, name):
        """Notes on stderr the replies no command asked for, if any, from the server `name`."""
        if self.unexpected:
            note(f"{name}: unexpected replies to noreply sets: {bytes(self.unexpected[:200])!r}")

    def send(self, data):
        self.sock.sendall(data)

    def drain_unexpected(self):
        """Reads what is already waiting, without blocking. Called between noreply batches, so
        that a server answering them anyway cannot fill its send buffer and stall both ends."""
        while select.select([self.sock], [], [], 0)[0]:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self.unexpected += chunk

    def read_ends(self, count):
        """Reads until `count` END lines have arrived (invariant 1) and returns all bytes read;
        the stream must end right after the last one."""
        parts = []
        seen = 0
        tail = b""
        while seen < count:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("server closed the connection mid-reply")
            parts.append(chunk)
            # END\r\n is 5 bytes and cannot overlap itself, so the last 4 bytes of what came
            # before hold no whole match and never count twice.
            seen += (tail + chunk).count(END)
            tail = chunk[-4:]
        reply = b"".join(parts)
        if seen != count or not reply.endswith(END):
            raise ValueError(f"expected {count} END lines, got {seen}: {reply[-200:]!r}")
        return reply

    def sync(self):
        """Waits until the server has executed everything sent before: `version` is answered in
        order, after the noreply commands pipelined ahead of it."""
        self.send(b"version\r\n")
        buf = bytearray()
        while not (buf.endswith(b"\r\n") and b"VERSION " in buf):
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("server closed the connection before VERSION")
            buf += chunk
        before, _, _ = bytes(buf).rpartition(b"VERSION ")
        self.unexpected += before

    def stats(self):
        """The `stats` reply as a dict of str to int (or str when not a number)."""
        self.send(b"stats\r\n")
        result = {}
        for line in self.read_ends(1).decode().split("\r\n"):
            fields = line.split(" ", 2)
            if len(fields) == 3 and fields[0] == "STAT":
                try:
                    result[fields[1]] = int(fields[2])
                except ValueError:
                    result[fields[1]] = fields[2]
        return result


def get_reply_length(hits, ends, value_len):
    """The exact length of the replies to multi-key gets with `ends` commands and `hits` values,
    all of `value_len` bytes and flags 0 (invariant 2)."""
    header = len(b"VALUE ") + KEY_LEN + len(b" 0 %d\r\n" % value_len)
    return hits * (header + value_len + 2) + ends * len(END)


def get_commands(keys, keys_per_get):
    """Multi-key get lines for `keys`, at most `keys_per_get` keys each; returns (bytes, count)."""
    lines = [b"get " + b" ".join(keys[i:i + keys_per_get]) + b"\r\n"
             for i in range(0, len(keys), keys_per_get)]
    return b"".join(lines), len(lines)


def random_values(length, count, seed):
    """`count` distinct incompressible values of `length` bytes from [A-Za-z0-9] (invariant 1),
    so a server that compresses gains nothing on them."""
    rng = random.Random(seed)
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return [bytes(rng.choices(alphabet, k=length)) for _ in range(count)]


class Server:
    """A server process started for one measurement; use as a context manager."""

    def __init__(self, spec, memory_mb):
        self.spec = spec
        self.memory_mb = memory_mb
        self.proc = None
        self.port = None
        self._log = None

    def __enter__(self):
        for _ in range(5):
            if self._start():
                return self
        raise RuntimeError(f"{self.spec.name} did not start; its output:\n{self._output()}")

    def __exit__(self, *exc):
        self.stop()

    def flags(self):
        """The flags before -p and the spec's own."""
        return [*COMMON_FLAGS, "-m", str(self.memory_mb)]

    def _start(self):
        self.port = free_port()
        argv = [self.spec.path, *self.flags(), "-p", str(self.port), *self.spec.extra]
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.05)
        self.stop()
        return False

    def _output(self):
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log:
            self._log.close()
            self._log = None

    def stats(self):
        conn = Connection(self.port)
        try:
            return conn.stats()
        finally:
            conn.close()

    def cpu_seconds(self):
        """User and system CPU time the server process has used."""
        with open(f"/proc/{self.proc.pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def memory_kib(self):
        """VmRSS and VmHWM (peak RSS) of the server process, in KiB."""
        fields = {}
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name in ("VmRSS", "VmHWM"):
                    fields[name] = int(value.split()[0])
        return fields["VmRSS"], fields["VmHWM"]


def run_rounds(specs, rounds, measure):
    """Calls measure(spec) for each server, alternating A B A B ..., `rounds` times; returns
    {name: [result per round]}."""
    results = {spec.name: [] for spec in specs}
    for round_no in range(1, rounds + 1):
        for spec in specs:
            note(f"round {round_no}/{rounds}: {spec.name}")
            results[spec.name].append(measure(spec))
    return results


@dataclasses.dataclass(frozen=True)
class Summary:
    median: float
    low: float
    high: float

    def format(self, fmt):
        """`median [low–high]`; the range is left out when every round agreed."""
        if self.low == self.high:
            return fmt.format(self.median)
        return f"{fmt.format(self.median)} [{fmt.format(self.low)}–{fmt.format(self.high)}]"


def summarize(values):
    return Summary(statistics.median(values), min(values), max(values))


def ratio_pairs(names, baselines):
    """(subject, baseline) pairs: each server against each baseline listed before it, so the
    default order 1.6.18, 1.6.45, mnemod gives 1.6.45/1.6.18, mnemod/1.6.18 and mnemod/1.6.45."""
    return [(subject, base) for i, subject in enumerate(names) for base in names[:i]
            if base in baselines]


def round_ratios(results, subject, baseline, field):
    """The ratio subject/baseline of `field` in each round, pairing the rounds that ran together."""
    return [s[field] / b[field] if b[field] else float("nan")
            for s, b in zip(results[subject], results[baseline])]


def format_table(headers, rows, markdown):
    """A plain-text (aligned) or markdown table."""
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    return "\n".join("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip()
                     for row in [headers, *rows])


def write_json(path, document):
    with open(path, "w") as out:
        json.dump(document, out, indent=2, sort_keys=True)
        out.write("\n")


def describe_servers(specs):
    return [{"name": s.name, "path": s.path, "extra": list(s.extra)} for s in specs]
