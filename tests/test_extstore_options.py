"""-o ext_path and the other ext_* options: the flash device opened at start, memcached's
`stats settings` lines, and memcached's refusals."""

import os
import subprocess

import pytest

import harness

EXT_LINES = ("ext_item_size", "ext_item_age", "ext_low_ttl", "ext_recache_rate", "ext_wbuf_size",
             "ext_compact_under", "ext_drop_under", "ext_max_sleep", "ext_max_frag",
             "slab_automove_freeratio", "ext_drop_unread")


def run(*args, binary=None):
    """Runs a server that must exit by itself (a refusal); returns its status and stderr."""
    try:
        proc = subprocess.run([binary or harness.server_binary(),
                               *harness.base_flags(harness.free_port()), *args],
                              capture_output=True, text=True, timeout=harness.TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail("%s kept running" % " ".join(args), pytrace=False)
    return proc.returncode, proc.stderr


def ext_settings(server):
    with server.connect() as conn:
        reply = conn.call(b"stats settings\r\n")
    lines = [line.split(" ", 2)[1:] for line in reply.decode().split("\r\n")
             if line.startswith("STAT ")]
    return [(name, value) for name, value in lines if name in EXT_LINES]


def test_without_ext_path_the_ext_lines_show_memcacheds_defaults(server):
    assert ext_settings(server) == [
        ("ext_item_size", "512"), ("ext_item_age", "4294967295"), ("ext_low_ttl", "0"),
        ("ext_recache_rate", "2000"), ("ext_wbuf_size", "4194304"), ("ext_compact_under", "0"),
        ("ext_drop_under", "0"), ("ext_max_sleep", "1000000"), ("ext_max_frag", "0.80"),
        ("slab_automove_freeratio", "0.010"), ("ext_drop_unread", "no")]


def test_ext_path_starts_the_server_and_the_options_show_in_stats_settings(start_server,
                                                                         tmp_path):
    path = tmp_path / "flash"
    server = start_server("-o", "ext_path=%s:128m,ext_item_size=1024,ext_max_frag=0.5,"
                          "ext_wbuf_size=8,ext_drop_unread" % path)
    settings = dict(ext_settings(server))
    assert settings["ext_item_size"] == "1024"
    assert settings["ext_max_frag"] == "0.50"
    assert settings["ext_wbuf_size"] == str(8 << 20)
    assert settings["ext_drop_unread"] == "yes"
    # 1% of the file's two 64m pages, raised to 1, as memcached derives them.
    assert settings["ext_compact_under"] == "1"
    assert settings["ext_drop_under"] == "1"
    assert path.exists()
    if not harness.is_memcached(server.binary):
        assert path.stat().st_size == 128 << 20  # memcached's grows as pages are written


def test_the_ext_lines_are_memcacheds(start_server, tmp_path):
    reference = harness.reference_binary()
    help_text = subprocess.run([reference, "-h"], capture_output=True, text=True).stdout
    if "ext_path" not in help_text:
        pytest.skip("%s is built without extstore" % reference)
    flags = "ext_item_age=30,ext_low_ttl=5,ext_recache_rate=7,ext_max_sleep=9,ext_max_frag=0.25," \
            "slab_automove_freeratio=0.5,ext_compact_under=4,ext_drop_under=3"
    ours = start_server("-o", "ext_path=%s:1g,%s" % (tmp_path / "ours", flags))
    theirs = start_server("-o", "ext_path=%s:1g,%s" % (tmp_path / "theirs", flags),
                          binary=reference)
    assert ext_settings(ours) == ext_settings(theirs)


def test_an_ext_path_that_cannot_be_opened_refuses_to_start(tmp_path):
    missing = tmp_path / "no" / "such" / "flash"
    rc, err = run("-o", "ext_path=%s:64m" % missing)
    assert rc != 0
    assert "Failed to initialize external storage" in err, err
    if not harness.is_memcached():
        assert str(missing) in err and "No such file or directory" in err, err


def test_a_file_another_server_uses_is_refused(start_server, tmp_path):
    path = tmp_path / "flash"
    start_server("-o", "ext_path=%s:64m" % path)
    rc, err = run("-o", "ext_path=%s:64m" % path)
    assert rc != 0
    assert "Failed to initialize external storage" in err, err


@pytest.mark.parametrize("option, message", [
    ("ext_item_size=abc", "could not parse argument to ext_item_size"),
    ("ext_max_frag=x", "could not parse argument to ext_max_frag"),
    ("ext_path=/tmp/f", "must supply size to ext_path, ie: ext_path=/f/e:64m (M|G|T|P supported)"),
    ("ext_path=/tmp/f:64k", "must supply size to ext_path, ie: ext_path=/f/e:64m (m|g|t|p "
                            "supported)"),
    ("ext_path=/tmp/f:64m:hot", "Unknown extstore bucket: hot"),
    ("ext_path=/tmp/f:32m", "supplied ext_path has zero size, cannot use"),
    ("ext_page_size=3,ext_path=/tmp/f:64m",
     "Failed to initialize external storage: page_size must be divisible by wbuf_size"),
], ids=["ext_item_size", "ext_max_frag", "no size", "size unit", "bucket", "smaller than a page",
        "page and wbuf sizes"])
def test_bad_ext_values_are_refused_in_memcacheds_words(option, message):
    rc, err = run("-o", option)
    assert rc != 0
    assert message in err, err


@pytest.mark.mnemo_only
def test_an_ext_path_smaller_than_two_segments_is_refused(tmp_path):
    """memcached needs one of its pages (ext_page_size); mnemod needs two of its segments."""
    path = tmp_path / "flash"
    rc, err = run("-m", "1024", "-o",
                  "segment_size=4m,ext_page_size=2,ext_wbuf_size=2,ext_path=%s:6m" % path)
    assert rc != 0
    assert "hold 1 flash segments of 4194304 bytes; at least 2 needed" in err, err


@pytest.mark.mnemo_only
def test_ext_path_on_tmpfs_starts_with_or_without_direct_io(start_server):
    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm")
    path = "/dev/shm/mnemo-test-flash-%d" % os.getpid()
    try:
        server = start_server("-o", "ext_path=%s:64m" % path)
        assert dict(ext_settings(server))["ext_compact_under"] == "1"
    finally:
        if os.path.exists(path):
            os.unlink(path)


def test_several_ext_paths_are_each_opened(start_server, tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    server = start_server("-o", "ext_path=%s:64m,ext_path=%s:128m" % (first, second))
    # memcached derives ext_compact_under from the last ext_path given: 2 pages, 1% of them, 1.
    assert dict(ext_settings(server))["ext_compact_under"] == "1"
    assert first.exists() and second.exists()
    if not harness.is_memcached(server.binary):
        assert (first.stat().st_size, second.stat().st_size) == (64 << 20, 128 << 20)
