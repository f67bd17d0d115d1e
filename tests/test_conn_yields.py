"""-R (reqs_per_event) and the conn_yields statistic, counted as memcached 1.6.45 counts them: a
connection takes -R steps per event (a command run, a batch of replies sent, the start of an
event after a yield) and yields once they run out. The expected counts were measured on memcached
1.6.45 with the same requests; these tests pass against it too (MNEMO_SERVER=<its binary>)."""

import pytest

import harness

# (-R, commands sent in one write) -> conn_yields, as memcached 1.6.45 counts them.
MEASURED = {
    1: {1: 1, 2: 1, 3: 2, 4: 3, 5: 4, 6: 5, 10: 9, 11: 10, 12: 11},
    2: {1: 0, 2: 1, 3: 1, 4: 2, 5: 2, 6: 3, 10: 5, 11: 5, 12: 6},
    5: {1: 0, 2: 0, 3: 0, 4: 0, 5: 1, 6: 1, 10: 2, 11: 2, 12: 2},
}


@pytest.fixture(scope="module", params=sorted(MEASURED), ids=lambda r: "-R %d" % r)
def yielding_server(request, start_module_server):
    return request.param, start_module_server("-R", str(request.param), "-t", "1")


def conn_yields(server):
    with server.connect() as conn:
        conn.send(b"stats\r\n")
        return int(harness.parse_stats(conn.read_until(b"END\r\n"))["conn_yields"])


@pytest.mark.parametrize("commands", [1, 2, 3, 4, 5, 6, 10, 11, 12])
def test_conn_yields_counts_as_memcached_counts(yielding_server, commands):
    reqs_per_event, server = yielding_server
    before = conn_yields(server)
    with server.connect() as conn:
        conn.send(b"version\r\n" * commands)  # one write: the commands arrive in one read
        for _ in range(commands):
            assert conn.readline().startswith(b"VERSION ")
    # The stats connection's own steps: with -R 1, its one command and the batch it sends.
    own = 1 if reqs_per_event == 1 else 0
    assert conn_yields(server) - before - own == MEASURED[reqs_per_event][commands]


def test_reqs_per_event_is_shown_in_settings(start_server):
    with start_server("-R", "7").connect() as conn:
        assert harness.stats(conn, b"settings")["reqs_per_event"] == "7"


def test_a_long_pipeline_is_served_whole_with_a_small_reqs_per_event(start_server):
    with start_server("-R", "1", "-t", "1").connect() as conn:
        requests = b"".join(b"set k%d 0 0 1\r\nx\r\nget k%d\r\n" % (i, i) for i in range(500))
        expected = b"".join(b"STORED\r\nVALUE k%d 0 1\r\nx\r\nEND\r\n" % i for i in range(500))
        conn.expect(requests, expected)
