"""The Prometheus endpoint (-o metrics_port): what it serves, checked by Prometheus' own tools.

`promtool check metrics` (Debian's prometheus package) lints the exposition text, and a real
Prometheus server, started here with a scrape configuration pointing at mnemod, scrapes it: the
series are read back through Prometheus' HTTP API, and a counter is seen to move after traffic.
Prometheus listens on a loopback port this test picks, keeps its data in a temporary directory,
and is stopped at the end.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import pytest

import harness

pytestmark = pytest.mark.mnemo_only

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None or PROMTOOL is None,
    reason="Debian's prometheus package is not installed (scripts/install-deps.sh installs it)")


def fetch(port, path="/metrics", method="GET"):
    request = urllib.request.Request("http://%s:%d%s" % (harness.HOST, port, path), method=method)
    try:
        with urllib.request.urlopen(request, timeout=harness.TIMEOUT) as reply:
            return reply.status, reply.headers, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read().decode()


def samples(text):
    """{series: value} of an exposition text, series as written (name and labels)."""
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            values[series] = float(value)
    return values


@pytest.fixture
def metered(start_server):
    port = harness.free_port()
    server = start_server("-o", "metrics_port=%d" % port)
    deadline = time.monotonic() + harness.TIMEOUT
    while not harness.wait_listening(server.pid, port, timeout=0.1):
        assert time.monotonic() < deadline, "the metrics port never listened"
    server.metrics_port = port
    return server


def test_serves_memcached_exporters_names_and_its_own(metered):
    with metered.connect() as conn:
        conn.expect(b"set k 0 0 1\r\nv\r\n", b"STORED\r\n")
        conn.expect(b"get k\r\nget nope\r\n", b"VALUE k 0 1\r\nv\r\nEND\r\nEND\r\n")
    status, headers, text = fetch(metered.metrics_port)
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    values = samples(text)
    assert values["memcached_up"] == 1
    assert values['memcached_commands_total{command="get",status="hit"}'] == 1
    assert values['memcached_commands_total{command="get",status="miss"}'] == 1
    assert values['memcached_commands_total{command="set",status="hit"}'] == 1
    assert values["memcached_current_items"] == 1
    assert values['memcached_slab_current_items{slab="1"}'] == 1
    assert values["memcached_max_connections"] == 1024
    assert values["mnemo_cmd_get_total"] == 2
    assert values["mnemo_segments_in_use"] >= 1
    assert "# TYPE mnemo_cmd_get_total counter" in text


def test_answers_http_as_an_endpoint_should(metered):
    assert fetch(metered.metrics_port, "/")[0] == 404
    assert fetch(metered.metrics_port, "/metrics", method="POST")[0] == 405
    status, _, body = fetch(metered.metrics_port, "/metrics", method="HEAD")
    assert status == 200 and body == ""
    # A client that connects and says nothing holds the endpoint for 2 s at most, not for good.
    idle = harness.Conn(metered.metrics_port)
    try:
        assert fetch(metered.metrics_port)[0] == 200
    finally:
        idle.close()


def test_refuses_an_address_it_cannot_have():
    server = harness.Server(["-o", "metrics_port=%d" % harness.free_port(), "-o",
                             "metrics_addr=203.0.113.1"])
    # The main port listens from the start, so the harness may see it before the metrics port
    # fails (a moment later, once the workers run): either way the process exits, saying why.
    try:
        server.start()
    except harness.ServerError as failure:
        assert "metrics_port" in str(failure), failure
        return
    assert server.proc.wait(timeout=harness.TIMEOUT) != 0
    assert "metrics_port" in server.output(), server.output()


@needs_prometheus
def test_promtool_finds_the_text_well_formed(metered):
    _, _, text = fetch(metered.metrics_port)
    check = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
    # promtool also lints names (counters should end in _total...); memcached_exporter's own names
    # break some of those rules, and keeping them is the point. Only a parse error fails here.
    assert "error while linting" not in check.stdout + check.stderr, check.stdout + check.stderr
    assert check.returncode in (0, 3), check.stdout + check.stderr


@needs_prometheus
def test_a_real_prometheus_scrapes_it(metered):
    with tempfile.TemporaryDirectory() as data:
        config = os.path.join(data, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: mnemod\n    static_configs:\n"
                    "      - targets: ['%s:%d']\n" % (harness.HOST, metered.metrics_port))
        web_port = harness.free_port()
        prometheus = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + config, "--storage.tsdb.path=" + data,
             "--web.listen-address=%s:%d" % (harness.HOST, web_port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            def query(expression):
                url = "http://%s:%d/api/v1/query?query=%s" % (
                    harness.HOST, web_port, urllib.parse.quote(expression))
                try:
                    with urllib.request.urlopen(url, timeout=2) as reply:
                        result = json.load(reply)["data"]["result"]
                except OSError:
                    return None
                return float(result[0]["value"][1]) if result else None

            def wait_for(expression, accept, what):
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    assert prometheus.poll() is None, prometheus.stderr.read().decode()
                    value = query(expression)
                    if value is not None and accept(value):
                        return value
                    time.sleep(0.25)
                pytest.fail("Prometheus never saw %s (%s)" % (what, expression))

            wait_for('up{job="mnemod"}', lambda v: v == 1, "the target up")
            hits = 'memcached_commands_total{command="get",status="hit"}'
            wait_for(hits, lambda v: v == 0, "mnemod's get hits")
            with metered.connect() as conn:
                conn.expect(b"set k 0 0 1\r\nv\r\n", b"STORED\r\n")
                for _ in range(5):
                    conn.expect(b"get k\r\n", b"VALUE k 0 1\r\nv\r\nEND\r\n")
            wait_for(hits, lambda v: v == 5, "the get hits counter move to 5")
            wait_for("mnemo_cmd_get_total", lambda v: v == 5, "mnemo's own cmd_get")
        finally:
            prometheus.terminate()
            try:
                prometheus.wait(timeout=harness.TIMEOUT)
            except subprocess.TimeoutExpired:
                prometheus.kill()
                prometheus.wait()
