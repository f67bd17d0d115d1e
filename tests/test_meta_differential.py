"""Random pipelined streams of meta commands (mixed with text commands on the same keys) give the
same replies from the server under test as from memcached 1.6.45 (the reference,
harness.reference_binary()), once the accepted differences are normalised (see
differential_meta.py, whose docstring lists them with their reasons; run it directly for longer
searches)."""

import os

import pytest

import differential_meta


@pytest.mark.parametrize("seed", range(1, 11))
def test_random_meta_stream_matches_memcached(start_server, seed):
    if not os.access(differential_meta.REFERENCE, os.X_OK):
        pytest.fail("no reference server at %s" % differential_meta.REFERENCE, pytrace=False)
    report = differential_meta.compare(
        seed, 400, lambda: start_server(binary=differential_meta.REFERENCE), start_server)
    assert report is None, report


def test_normalise_keeps_what_must_agree():
    normalise = differential_meta.normalise
    # CAS values, ms's s and seconds are made equal; c0, t-1, codes, keys and opaques are not.
    assert normalise(b"HD c123 s5 t30 l2 kfoo O9\r\n") == b"HD cCAS t+ l kfoo O9\r\n"
    assert normalise(b"NS c0\r\n") == b"NS c0\r\n"
    assert normalise(b"VA 3 s3 t-1 c7\r\n12 \r\n") == b"VA 2 s3 t-1 cCAS\r\n12\r\n"
    assert normalise(b"ME k exp=-30 la=2 cas=9 fetch=yes cls=1 size=61\r\n") == \
        b"ME k fetch=yes\r\n"
    assert normalise(b"EN Ocap3\r\nMN\r\n") == b"EN Ocap3\r\nMN\r\n"
