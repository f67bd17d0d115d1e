"""mnemo-bench (tools/bench) run briefly against the server under test: its JSON must add up,
agree with the server's own stats, place keys where libmemcached's ketama does, and compare mode
must start, measure and stop servers itself.

The program is $MNEMO_BENCH, default <repo>/build/mnemo-bench (built with everything else).
These check that the load generator counts right, not how fast anything is: benchmarks are never
pass/fail tests.
"""

import json
import os
import subprocess
import sys

import pytest

import harness


def bench_binary():
    return os.environ.get("MNEMO_BENCH", str(harness.REPO / "build" / "mnemo-bench"))


@pytest.fixture(scope="module")
def bench():
    binary = bench_binary()
    if not os.access(binary, os.X_OK):
        pytest.fail("no mnemo-bench at %s: build it or set MNEMO_BENCH" % binary, pytrace=False)

    def run(*args, expect_rc=0, timeout=60):
        proc = subprocess.run([binary, *args], capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == expect_rc, "rc %d\nstdout:\n%s\nstderr:\n%s" % (
            proc.returncode, proc.stdout, proc.stderr)
        return proc

    return run


def run_json(bench, *args):
    return json.loads(bench(*args, "--json").stdout)


def stats(server):
    with server.connect() as c:
        c.send(b"stats\r\n")
        text = c.read_until(b"END\r\n").decode()
    return {f[1]: f[2] for f in (line.split(" ") for line in text.split("\r\n")) if len(f) == 3}


def check_consistent(report):
    """What must hold in any report: counts add up and percentiles are ordered."""
    assert report["requests"] > 0
    assert report["requests"] == report["gets"] + report["sets"]
    assert report["errors"] == 0
    assert report["unanswered"] == 0
    assert report["gets"] == report["hits"] + report["misses"]
    assert report["sets"] == report["stored"] + report["not_stored"]
    assert report["throughput"] == pytest.approx(report["requests"] / report["elapsed_s"])
    latency = report["latency_us"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["p99_9"]
    assert latency["p99_9"] <= latency["max"]
    assert report["client_cpu_us_per_request"] > 0


def test_preloaded_run_hits_every_key_and_matches_server_stats(bench, server):
    report = run_json(bench, "--server", "127.0.0.1:%d" % server.port, "--preload",
                      "--key-space", "2000", "--threads", "2", "--connections", "4",
                      "--pipeline", "8", "--requests", "20000", "--ratio", "1:4")
    check_consistent(report)
    assert report["requests"] == 20000
    assert report["preload"]["requests"] == 2000
    assert report["misses"] == 0 and report["hits"] == report["gets"]
    # 1:4: every client's stream is whole cycles of 1 set and 4 gets but where it was cut off.
    assert abs(report["sets"] - 4000) <= 8
    s = stats(server)
    assert int(s["cmd_get"]) == report["gets"]
    assert int(s["get_hits"]) == report["hits"]
    assert int(s["cmd_set"]) == report["sets"] + 2000
    assert int(s["curr_items"]) == 2000


def test_empty_server_misses_every_get(bench, server):
    report = run_json(bench, "--server", "127.0.0.1:%d" % server.port, "--ratio", "0:1",
                      "--requests", "3000", "--key-pattern", "sequential")
    check_consistent(report)
    assert report["misses"] == 3000 and report["hits"] == 0
    assert int(stats(server)["get_misses"]) == 3000


def test_meta_protocol(bench, server):
    report = run_json(bench, "--server", "127.0.0.1:%d" % server.port, "--protocol", "meta",
                      "--preload", "--key-space", "1000", "--value-size", "1-3000",
                      "--key-pattern", "zipf", "--duration", "1")
    check_consistent(report)
    assert report["misses"] == 0 and report["hits"] > 0
    assert report["config"]["protocol"] == "meta"


def test_large_values_stream_through(bench, server):
    report = run_json(bench, "--server", "127.0.0.1:%d" % server.port, "--preload",
                      "--key-space", "50", "--value-size", "200000-500000", "--requests", "500",
                      "--ratio", "1:1", "--threads", "1", "--connections", "2")
    check_consistent(report)
    assert report["hits"] == report["gets"]


def test_fixed_rate_sends_at_that_rate(bench, server):
    report = run_json(bench, "--server", "127.0.0.1:%d" % server.port, "--rate", "2000",
                      "--duration", "2", "--threads", "1", "--connections", "4")
    check_consistent(report)
    assert report["throughput"] == pytest.approx(2000, rel=0.15)


def test_keys_land_where_libmemcached_ketama_puts_them(bench, start_server):
    pylibmc = pytest.importorskip("pylibmc")
    servers = [start_server() for _ in range(3)]
    specs = ["127.0.0.1:%d:%d" % (s.port, weight) for s, weight in zip(servers, (1, 2, 3))]
    args = []
    for spec in specs:
        args += ["--server", spec]
    report = run_json(bench, *args, "--preload", "--key-space", "3000", "--key-prefix", "kt:",
                      "--requests", "100", "--ratio", "0:1")
    check_consistent(report)
    assert report["misses"] == 0
    items = [int(stats(s)["curr_items"]) for s in servers]
    assert sum(items) == 3000 and all(n > 0 for n in items)
    client = pylibmc.Client(specs, behaviors={"ketama_weighted": True})
    keys = ["kt:%d" % i for i in range(3000)]
    assert len(client.get_multi(keys)) == 3000, "pylibmc looks for some keys elsewhere"


def test_compare_mode_starts_measures_and_stops_servers(bench, tmp_path):
    command = " ".join([harness.server_binary(), "-l", harness.HOST, "-U", "0", "-p", "{port}"] +
                       (["-u", "root"] if os.geteuid() == 0 else []))
    proc = bench("compare", "--rounds", "2", "--duration", "0.5", "--key-space", "1000",
                 "--threads", "1", "--connections", "4", "--pipeline", "4", "--json",
                 "--server-cmd", "first=" + command, "--server-cmd", "second=" + command)
    report = json.loads(proc.stdout)
    assert report["mode"] == "compare" and report["config"]["rounds"] == 2
    assert [s["name"] for s in report["servers"]] == ["first", "second"]
    for server in report["servers"]:
        assert len(server["rounds"]) == 2
        for round_report in server["rounds"]:
            check_consistent(round_report)
            assert round_report["misses"] == 0  # every round preloads its fresh server
            assert round_report["server_cpu_us_per_request"] >= 0
        summary = server["summary"]["throughput"]
        assert summary["min"] <= summary["median"] <= summary["max"]
    assert report["servers"][0]["ratio_to_first"]["throughput"]["median"] == 1
    assert proc.stderr.count("round ") == 4

    matplotlib = pytest.importorskip("matplotlib")
    assert matplotlib
    (tmp_path / "compare.json").write_text(proc.stdout)
    plot = harness.REPO / "bench" / "plot_compare.py"
    subprocess.run([sys.executable, str(plot), str(tmp_path / "compare.json"), "-o",
                    str(tmp_path / "compare.png")], check=True, timeout=120)
    assert (tmp_path / "compare.png").read_bytes().startswith(b"\x89PNG")


def test_rejects_bad_options_and_unreachable_servers(bench):
    proc = bench("--ratio", "ten", expect_rc=2)
    assert "--ratio" in proc.stderr
    port = harness.free_port()
    proc = bench("--server", "127.0.0.1:%d" % port, "--requests", "10", expect_rc=1)
    assert "connect to 127.0.0.1:%d" % port in proc.stderr
    assert "--key-pattern" in bench("--help").stdout
