"""Random pipelined streams give the same replies from the server under test as from memcached
1.6.45, the reference (harness.reference_binary(); see differential.py, and run it directly for
longer searches): streams of valid commands, and streams where malformed commands are mixed in."""

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


@pytest.mark.mnemo_only  # the accepted differences are mnemod's replies
@pytest.mark.parametrize("seed", range(1, 11))
def test_random_malformed_stream_matches_memcached(start_server, seed):
    """Valid and malformed commands mixed (differential.MalformedStreamGenerator): the same
    replies, and the same point where each server resumes after a malformed one; the differences
    mnemod makes on purpose are listed in differential.ACCEPTED_DIFFERENCES."""
    if not os.access(differential.REFERENCE, os.X_OK):
        pytest.fail("no reference server at %s" % differential.REFERENCE, pytrace=False)
    report = differential.compare_malformed(
        seed, 300, lambda: start_server(binary=differential.REFERENCE), start_server)
    assert report is None, report
