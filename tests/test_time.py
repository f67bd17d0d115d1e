"""The bad-input list's (BAD_INPUTS.md) "Time" section, one test per row: exptime rules, clock
jumps, noreply.

Everything that has to wait shares one sleep: the module fixture `slept` stores its keys on two
servers (one of them with a wall clock that libfaketime moves), then sleeps once."""

import os
import time
from pathlib import Path

import pytest

from harness import gets_cas

# exptime 1 has passed on any server counting whole seconds.
EXPIRY_WAIT = 2.1
THIRTY_DAYS = 2592000
FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


def get(server, key):
    with server.connect() as c:
        return c.call(b"get " + key + b"\r\n")


def hit(key, value=b"x"):
    return b"VALUE %s 0 %d\r\n%s\r\nEND\r\n" % (key, len(value), value)


def faketime_env(offset_file):
    """An environment in which the server's wall clock reads `offset_file` ("+1d", "-1d"),
    while its monotonic clock is left alone."""
    env = dict(os.environ, LD_PRELOAD=FAKETIME_LIB, FAKETIME_TIMESTAMP_FILE=str(offset_file),
               FAKETIME_NO_CACHE="1", FAKETIME_DONT_FAKE_MONOTONIC="1")
    # An ASan runtime insists on coming first among the loaded libraries.
    env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"),
                                                 "verify_asan_link_order=0"]))
    return env


@pytest.fixture(scope="module")
def slept(start_module_server, tmp_path_factory):
    """Both servers after the one sleep, and what the jumping one answered along the way."""
    if not os.path.exists(FAKETIME_LIB):
        pytest.fail("libfaketime is not installed (scripts/install-deps.sh installs it)")
    plain = start_module_server()
    now = int(time.time())
    with plain.connect() as c:
        c.expect(b"set relative_1 0 1 1\r\nx\r\n"
                 b"set relative_30_days 0 %d 1\r\nx\r\n"
                 b"set absolute_soon 0 %d 1\r\nx\r\n"
                 b"set absolute_later 0 %d 1\r\nx\r\n" % (THIRTY_DAYS, now + 1, now + 100),
                 b"STORED\r\n" * 4)

    offset = tmp_path_factory.mktemp("faketime") / "offset"
    offset.write_text("+0\n")
    jumping = start_module_server(env=faketime_env(offset))
    maps = Path("/proc/%d/maps" % jumping.pid).read_text()
    assert "libfaketime" in maps, "the server did not load libfaketime (static binary?)"
    seen = {}
    with jumping.connect() as c:
        c.expect(b"set long 0 100 1\r\nx\r\nset short 0 1 1\r\nx\r\n", b"STORED\r\n" * 2)
        offset.write_text("+1d\n")
        seen["long, after a jump forward"] = c.call(b"get long\r\n")
        offset.write_text("-1d\n")
        c.expect(b"set after_jump_back 0 100 1\r\nx\r\n", b"STORED\r\n")

    time.sleep(EXPIRY_WAIT)
    seen["short, after a jump back"] = get(jumping, b"short")
    seen["long, after a jump back"] = get(jumping, b"long")
    seen["after_jump_back"] = get(jumping, b"after_jump_back")
    return plain, seen


@pytest.mark.parametrize("exptime", [b"-1", b"-2592000", b"-9999999999"])
def test_negative_exptime_expires_the_item_at_once(conn, exptime):
    conn.expect(b"set k 0 " + exptime + b" 1\r\nx\r\nadd k 0 0 1\r\ny\r\n",
                b"STORED\r\nSTORED\r\n")
    conn.expect(b"get k\r\n", hit(b"k", b"y"))
    conn.expect(b"set k 0 " + exptime + b" 1\r\nx\r\n", b"STORED\r\n")
    conn.expect(b"get k\r\n", b"END\r\n")


def test_exptime_up_to_30_days_is_relative_seconds(slept):
    plain, _ = slept
    assert get(plain, b"relative_1") == b"END\r\n"
    assert get(plain, b"relative_30_days") == hit(b"relative_30_days")


def test_exptime_above_30_days_is_an_absolute_unix_time(slept):
    plain, _ = slept
    assert get(plain, b"absolute_soon") == b"END\r\n"
    assert get(plain, b"absolute_later") == hit(b"absolute_later")


@pytest.mark.parametrize("exptime", [lambda: THIRTY_DAYS + 1, lambda: int(time.time()) - 10],
                         ids=["1970", "ten_seconds_ago"])
def test_exptime_above_30_days_in_the_past_expires_the_item_at_once(conn, exptime):
    conn.expect(b"set k 0 %d 1\r\nx\r\n" % exptime(), b"STORED\r\n")
    conn.expect(b"get k\r\n", b"END\r\n")


def test_wall_clock_jumps_do_not_move_expiry(slept):
    _, seen = slept
    assert seen == {
        "long, after a jump forward": hit(b"long"),
        "short, after a jump back": b"END\r\n",
        "long, after a jump back": hit(b"long"),
        "after_jump_back": hit(b"after_jump_back"),
    }


def test_noreply_suppresses_every_reply_of_that_command_errors_included(conn):
    too_large = (1 << 20) + 1
    conn.expect(b"set k 0 0 1 noreply\r\nx\r\n", b"")
    stale = gets_cas(conn, b"k") + 1
    conn.expect(b"add k 0 0 1 noreply\r\ny\r\n"                   # NOT_STORED
                b"replace nope 0 0 1 noreply\r\ny\r\n"            # NOT_STORED
                b"append nope 0 0 1 noreply\r\ny\r\n"             # NOT_STORED
                b"prepend nope 0 0 1 noreply\r\ny\r\n"            # NOT_STORED
                b"cas k 0 0 1 %d noreply\r\ny\r\n"                # EXISTS
                b"cas nope 0 0 1 1 noreply\r\ny\r\n"              # NOT_FOUND
                b"set big 0 0 %d noreply\r\n%s\r\n"               # SERVER_ERROR too large
                b"incr k 1 noreply\r\n"                           # CLIENT_ERROR non-numeric
                b"incr k abc noreply\r\n"                         # CLIENT_ERROR bad delta
                b"decr nope 1 noreply\r\n"                        # NOT_FOUND
                b"touch nope 10 noreply\r\n"                      # NOT_FOUND
                b"touch k abc noreply\r\n"                        # CLIENT_ERROR bad exptime
                b"delete nope noreply\r\n"                        # NOT_FOUND
                b"bogus noreply\r\n"                              # ERROR
                b"flush_all abc noreply\r\n"                      # CLIENT_ERROR bad exptime
                b"verbosity 1 noreply\r\n" % (stale, too_large, b"z" * too_large), b"")
    conn.expect(b"get k big nope\r\n", hit(b"k"))
    # A format error found before noreply is looked for (a bad byte count) is answered.
    conn.expect(b"set k 0 0 -1 noreply\r\n", b"CLIENT_ERROR bad command line format\r\n")


def test_meta_quiet_mode_never_hides_errors(conn):
    conn.expect(b"set n 0 0 1\r\na\r\nma n q\r\nmg missing v q\r\nmn\r\n",
                b"STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
                b"MN\r\n")
