"""`stats hotkeys`: the sampled top keys of a Zipf workload, in the right order (hot_keys.h).

The workload is seeded, so the true counts are known: with every request sampled
(hot_keys_sample=1) the top keys come out exactly, and with 1 in 8 sampled over several
connections (several workers' sketches merged) the top few still do, their counts near the
truth.
"""

import collections
import random
import time

import pytest

import harness

pytestmark = pytest.mark.mnemo_only

KEYS = 1000


def zipf_stream(seed, requests, exponent=1.2):
    """`requests` (verb, key) pairs, key ranks Zipf(exponent) over KEYS keys, 1 set in 10."""
    rng = random.Random(seed)
    weights = [1 / rank ** exponent for rank in range(1, KEYS + 1)]
    # The ranks land on scattered key names, so that order is not alphabetical by accident.
    names = ["key:%d" % rng.randrange(10 ** 9) for _ in range(KEYS)]
    ranks = rng.choices(range(KEYS), weights=weights, k=requests)
    return [("set" if rng.random() < 0.1 else "get", names[rank]) for rank in ranks]


def send(conn, stream):
    for at in range(0, len(stream), 500):
        request = b"".join(
            (b"set %s 0 0 1 noreply\r\nv\r\n" if verb == "set" else b"get %s\r\n")
            % key.encode() for verb, key in stream[at:at + 500])
        conn.call(request)


def hotkeys(conn, window=b""):
    text = conn.call(b"stats hotkeys" + (b" " + window if window else b"") + b"\r\n")
    assert text.endswith(b"END\r\n"), text
    return [(line.split(b" ")[1].decode(), int(line.split(b" ")[2]))
            for line in text.split(b"\r\n")[:-2]]


def true_top(stream):
    return collections.Counter(key for _, key in stream).most_common()


def test_names_the_hottest_keys_in_order_when_every_request_counts(start_server):
    server = start_server("-o", "hot_keys_sample=1")
    stream = zipf_stream(22, 30000)
    with server.connect() as conn:
        send(conn, stream)
        report = hotkeys(conn)
    truth = true_top(stream)
    assert len(report) == 20
    assert [key for key, _ in report[:8]] == [key for key, _ in truth[:8]]
    # One connection, one worker's sketch: the heavy keys, there from the start, count exactly.
    assert report[:8] == truth[:8]


def test_a_one_in_eight_sample_over_several_workers_still_orders_the_top(start_server):
    server = start_server("-t", "4", "-o", "hot_keys_sample=8")
    # One stream's requests, each connection in an order of its own.
    stream = zipf_stream(22, 25000)
    streams = [random.Random(i).sample(stream, len(stream)) for i in range(4)]
    conns = [server.connect() for _ in streams]
    try:
        for conn, stream in zip(conns, streams):
            send(conn, stream)
        report = hotkeys(conns[0])
    finally:
        for conn in conns:
            conn.close()
    truth = true_top([pair for stream in streams for pair in stream])
    assert [key for key, _ in report[:4]] == [key for key, _ in truth[:4]]
    for (_, estimate), (_, count) in zip(report[:4], truth[:4]):
        # Sampling noise (a few percent here) plus each sketch's overestimate.
        assert abs(estimate - count) < 0.15 * count, (report[:4], truth[:4])


def test_last_second_window_and_reset(start_server):
    server = start_server("-o", "hot_keys_sample=1")
    with server.connect() as conn:
        conn.call(b"get a\r\n" * 50 + b"ms b 1\r\nx\r\n" + b"mg b v\r\n" * 20)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            last = hotkeys(conn, b"second")
            if last:
                break
            time.sleep(0.05)
        # The requests' second once it is whole (a burst that straddles a tick shows its part).
        assert last[0][0] == "a" and last[0][1] <= 50, last
        assert hotkeys(conn) == [("a", 50), ("b", 21)]
        time.sleep(2.1)
        assert hotkeys(conn, b"second") == []
        assert conn.call(b"stats hotkeys minute\r\n") == b"ERROR\r\n"
        assert conn.call(b"stats reset\r\n") == b"RESET\r\n"
        assert hotkeys(conn) == []


def test_off_reports_nothing(start_server):
    server = start_server("-o", "hot_keys_sample=0")
    with server.connect() as conn:
        conn.call(b"get a\r\n" * 10)
        assert hotkeys(conn) == []
        assert harness.stats(conn, b"settings")["hot_keys_sample"] == "0"
