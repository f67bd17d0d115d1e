"""docs/grafana/mnemo-dashboard.json reads only series that mnemod's /metrics serves.

Every PromQL expression of the dashboard (its panels' queries and its variables') is taken apart
for the metric names it names, and each must be a sample name of a scrape of a mnemod that has
seen traffic of every kind the dashboard shows (gets, sets, hot keys, per-worker figures).
"""

import json
import os
import re
import time

import pytest

import harness
from test_metrics import fetch

pytestmark = pytest.mark.mnemo_only

DASHBOARD = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "grafana",
                         "mnemo-dashboard.json")
# PromQL's functions, keywords and aggregations that the dashboard uses; any other identifier
# followed by a selector, an operator or the end is a metric name.
PROMQL_WORDS = {"sum", "by", "rate", "histogram_quantile", "topk", "label_values", "instance",
                "le", "command", "thread", "window", "status"}


def expressions(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("expr", "definition") and isinstance(value, str):
                yield value
            else:
                yield from expressions(value)
    elif isinstance(node, list):
        for value in node:
            yield from expressions(value)


def metric_names(expression):
    # Strip label matchers' values and Grafana's variables, then take the identifiers left.
    bare = re.sub(r'"[^"]*"', "", re.sub(r"\$\w+|\[\$__rate_interval\]", "", expression))
    return {word for word in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", bare)
            if word not in PROMQL_WORDS}


def test_every_expression_names_series_that_mnemod_serves(start_server):
    port = harness.free_port()
    server = start_server("-o", "metrics_port=%d,hot_keys_sample=1" % port)
    deadline = time.monotonic() + harness.TIMEOUT
    while not harness.wait_listening(server.pid, port, timeout=0.1):
        assert time.monotonic() < deadline, "the metrics port never listened"
    with server.connect() as conn:
        conn.call(b"set k 0 0 1\r\nv\r\n" + b"get k\r\n" * 20)
    _, _, text = fetch(port)
    served = {line.split("{")[0].split(" ")[0] for line in text.splitlines()
              if line and not line.startswith("#")}

    with open(DASHBOARD) as f:
        dashboard = json.load(f)
    found = list(expressions(dashboard))
    assert len(found) >= 10, found
    names = set()
    for expression in found:
        named = metric_names(expression)
        assert named, "no metric in %r" % expression
        names |= named
    missing = sorted(names - served)
    assert not missing, "the dashboard reads series mnemod does not serve: %s" % missing
    # The dashboard uses memcached_exporter's names and mnemo's own new figures alike.
    assert {"memcached_commands_total", "mnemo_command_duration_seconds_bucket",
            "mnemo_thread_commands_total", "mnemo_hot_key_requests"} <= names
