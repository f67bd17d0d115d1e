"""memcached 1.6.45's flags: each is accepted with its meaning, or, where it cannot apply to mnemod
or is not supported yet, accepted with one line on stderr that says so; -I, -m and
-o slab_chunk_max are accepted or refused as memcached accepts or refuses them, in its words.
Tests not marked mnemo_only pass against memcached 1.6.45 too (MNEMO_SERVER=<its binary>)."""

import os
import subprocess

import pytest

import harness


def run(*args, timeout=harness.TIMEOUT):
    """Runs the server with the loopback flags and `args`, for flags that must make it exit."""
    try:
        proc = subprocess.run([harness.server_binary(), *harness.base_flags(harness.free_port()),
                               *args], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail("%s kept running" % " ".join(args), pytrace=False)
    return proc.returncode, proc.stdout + proc.stderr


# Flags of memcached's -h that both servers take and keep serving with.
ACCEPTED = [["-r"], ["-k"], ["-F"], ["-X"], ["-W"], ["-D", "#"], ["-N", "1"], ["-C"],
            ["-b", "64"], ["-R", "3"], ["-f", "1.5"], ["-n", "64"], ["-t", "2"], ["-c", "200"],
            ["-M"], ["-A"], ["-a", "755"], ["-vvv"], ["-o", "slab_chunk_max=16"],
            ["-o", "no_chunked_items"], ["-o", "inline_ascii_resp,no_inline_ascii_resp"],
            ["--disable-flush-all"], ["--lock-memory"], ["--enable-coredumps"],
            ["--disable-dumping"], ["--disable-watch"], ["--napi-ids=1"]]


@pytest.mark.parametrize("flags", ACCEPTED, ids=" ".join)
def test_memcacheds_flags_are_accepted(start_server, flags):
    server = start_server(*flags)
    with server.connect() as conn:
        assert conn.call(b"set k 0 0 1\r\nx\r\nget k\r\n") == b"STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\n"


# Flags whose feature mnemod does not have yet, or which cannot apply to it: accepted, each said
# in one line on stderr naming it. memcached 1.6.45 refuses -L on Linux, so these are mnemod's
# alone.
NOTED = [(["-L"], "-L"), (["-N", "2"], "-N"),
         (["-o", "ext_page_size=8,ext_threads=2"], "ext_page_size"),
         (["-o", "track_sizes"], "track_sizes"), (["-o", "drop_privileges"], "drop_privileges"),
         (["-o", "sock_cookie_id=5"], "sock_cookie_id"),
         (["-o", "slab_automove_freeratio=0.02"], "slab_automove_freeratio")]


@pytest.mark.mnemo_only
@pytest.mark.parametrize("flags,name", NOTED, ids=[n for _, n in NOTED])
def test_unsupported_flags_are_accepted_with_one_line_saying_so(start_server, flags, name):
    server = start_server(*flags)
    with server.connect() as conn:
        assert conn.call(b"set k 0 0 1\r\nx\r\n") == b"STORED\r\n"
    lines = [line for line in server.output().splitlines() if name in line]
    assert len(lines) == 1, server.output()
    assert lines[0].endswith("; ignored"), lines


def test_dash_capital_f_refuses_flush_all_and_counts_it(start_server):
    server = start_server("-F")
    with server.connect() as conn:
        conn.expect(b"set k 0 0 1\r\nx\r\n", b"STORED\r\n")
        conn.expect(b"flush_all\r\n", b"CLIENT_ERROR flush_all not allowed\r\n")
        conn.expect(b"flush_all 0\r\n", b"CLIENT_ERROR flush_all not allowed\r\n")
        conn.expect(b"flush_all noreply\r\n", b"")
        # Refused before its delay is read.
        conn.expect(b"flush_all abc\r\n", b"CLIENT_ERROR flush_all not allowed\r\n")
        conn.expect(b"get k\r\n", b"VALUE k 0 1\r\nx\r\nEND\r\n")
        assert harness.stats(conn)["cmd_flush"] == "4"
        assert harness.stats(conn, b"settings")["flush_enabled"] == "no"


def test_flush_all_is_enabled_by_default(server):
    with server.connect() as conn:
        conn.expect(b"flush_all\r\n", b"OK\r\n")
        settings = harness.stats(conn, b"settings")
    assert settings["flush_enabled"] == "yes"
    assert settings["dump_enabled"] == "yes"
    assert settings["stat_key_prefix"] == ":"
    assert settings["detail_enabled"] == "no"
    assert settings["num_napi_ids"] == "0"


def test_dash_capital_x_disables_dumping(start_server):
    server = start_server("-X")
    with server.connect() as conn:
        conn.expect(b"stats cachedump 1 1\r\n", b"CLIENT_ERROR stats cachedump not allowed\r\n")
        conn.expect(b"stats detail dump\r\n", b"CLIENT_ERROR stats detail not allowed\r\n")
        assert harness.stats(conn, b"settings")["dump_enabled"] == "no"


def test_dash_capital_d_sets_the_prefix_delimiter_and_turns_detail_on(start_server):
    server = start_server("-D", "#")
    with server.connect() as conn:
        settings = harness.stats(conn, b"settings")
    assert settings["stat_key_prefix"] == "#"
    assert settings["detail_enabled"] == "yes"


def test_dash_capital_n_is_shown_in_settings(start_server):
    server = start_server("-N", "2", "-t", "2")
    with server.connect() as conn:
        assert harness.stats(conn, b"settings")["num_napi_ids"] == "2"


def test_dash_r_raises_the_core_file_limit(start_server):
    server = start_server("-r")
    with open("/proc/%d/limits" % server.pid) as limits:
        core = [line for line in limits if line.startswith("Max core file size")][0].split()
    hard = core[5]
    assert core[4] == hard, core  # the soft limit raised as far as the hard one


def test_dash_k_locks_memory(start_server):
    if os.geteuid() != 0:
        pytest.skip("locking memory needs CAP_IPC_LOCK or a large RLIMIT_MEMLOCK")
    if harness.sanitized():
        pytest.skip("a sanitizer's terabytes of shadow mappings cannot be locked")
    server = start_server("-k")
    with open("/proc/%d/status" % server.pid) as status:
        locked = [line for line in status if line.startswith("VmLck:")][0].split()[1]
    assert int(locked) > 0


def test_dash_i_prints_a_license_text_and_exits(tmp_path):
    proc = subprocess.run([harness.server_binary(), "-i"], capture_output=True, text=True,
                          timeout=harness.TIMEOUT, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0
    assert proc.stdout.strip()


# Command lines both servers refuse, and the words they say it with.
REFUSED = [
    (["-I", "1023"], "Item max size cannot be less than 1024 bytes."),
    (["-I", "512"], "Item max size cannot be less than 1024 bytes."),
    (["-m", "0"], "Cannot set item size limit higher than 1/2 of memory max."),
    (["-m", "1"], "Cannot set item size limit higher than 1/2 of memory max."),
    (["-I", "40m"], "Cannot set item size limit higher than 1/2 of memory max."),
    (["-I", "32m", "-m", "63"], "Cannot set item size limit higher than 1/2 of memory max."),
    (["-o", "slab_chunk_max=0"], "slab_chunk_max must be >= 0"),
    (["-o", "slab_chunk_max=1025"], "slab_chunk_max must be specified in kilobytes."),
    (["-o", "slab_chunk_max=abc"], "could not parse argument to slab_chunk_max"),
    (["-o", "slab_chunk_max=16k"], "could not parse argument to slab_chunk_max"),
    (["-o", "slab_chunk_max"], "Missing slab_chunk_max argument"),
    (["-N", "0"], "Maximum number of NAPI IDs must be greater than 0"),
    (["-N", "5", "-t", "4"], "Number of napi_ids(5) cannot be greater than number of threads(4)"),
    (["-D", ""], "No delimiter specified"),
]


@pytest.mark.parametrize("flags,message", REFUSED, ids=[" ".join(f) for f, _ in REFUSED])
def test_refused_as_memcached_refuses(flags, message):
    rc, output = run(*flags)
    assert rc != 0
    assert output.strip() == message


# Command lines both servers accept, and the slab_chunk_max memcached derives from them.
SIZES = [(["-I", "2m"], 524288), (["-I", "1024m", "-m", "4096"], 524288),
         (["-I", "32m"], 524288), (["-m", "1", "-I", "512k"], 524288),
         (["-I", "2M"], 524288), (["-o", "slab_chunk_max=16"], 16384),
         (["-o", "slab_chunk_max=1024", "-I", "2m"], 1048576),
         (["-o", "no_modern", "-I", "2m"], 524288), (["-o", "no_modern"], 1048576),
         (["-o", "slab_chunk_max=64,no_modern"], 65536),
         (["-o", "no_chunked_items"], 1048576)]


@pytest.mark.parametrize("flags,chunk_max", SIZES, ids=[" ".join(f) for f, _ in SIZES])
def test_accepted_as_memcached_accepts(start_server, flags, chunk_max):
    server = start_server(*flags)
    with server.connect() as conn:
        settings = harness.stats(conn, b"settings")
    assert int(settings["slab_chunk_max"]) == chunk_max
    size = flags[flags.index("-I") + 1] if "-I" in flags else "1m"
    unit = {"k": 1 << 10, "m": 1 << 20}.get(size[-1].lower(), 1)
    assert int(settings["item_size_max"]) == int(size.rstrip("kKmM")) * unit


# Item sizes that memcached 1.6.45 refuses only because its slab chunks must divide them; mnemod
# has no slab chunks and takes them (docs/memcached-differences.md).
@pytest.mark.mnemo_only
@pytest.mark.parametrize("size", ["1024", "100k", "1500k", "1048577"])
def test_item_sizes_memcached_refuses_for_its_slab_chunks_are_taken(start_server, size):
    server = start_server("-I", size)
    with server.connect() as conn:
        assert harness.stats(conn, b"settings")["item_size_max"] == str(
            int(size.rstrip("k")) * (1024 if size.endswith("k") else 1))


def test_dash_capital_t_is_not_a_memcached_flag():
    rc, output = run("-T")
    assert rc != 0
    assert "invalid option -- 'T'" in output
