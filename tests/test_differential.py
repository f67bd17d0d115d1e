"""Random pipelined streams of valid commands give the same replies from the server under test as
from Debian's memcached 1.6.18 (see differential.py; run it directly for longer searches)."""

import os

import pytest

import differential


@pytest.mark.parametrize("seed", range(1, 11))
def test_random_pipelined_stream_matches_memcached(start_server, seed):
    if not os.access(differential.REFERENCE, os.X_OK):
        pytest.fail("no reference server at %s" % differential.REFERENCE, pytrace=False)
    report = differential.compare(seed, 400, lambda: start_server(binary=differential.REFERENCE),
                                  start_server)
    assert report is None, report
