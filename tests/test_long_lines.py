"""Multi-get lines of any length, as memcached 1.6.45 answers them (it buffers a get or gets line
of any length: 64 MiB lines are answered, ending with END). mnemod answers such a line as it
streams in instead, key by key (src/protocol/ascii_parser.h), so that its input stays bounded;
the tests marked mnemo_only check where that shows. Run against memcached 1.6.45 with
MNEMO_SERVER=<its binary>, the others pass there too."""

import threading

import pytest

from harness import rss_bytes

BAD_FORMAT = b"CLIENT_ERROR bad command line format\r\n"


def keys_line(command, size, hit_every=1000):
    """A `command` line of about `size` bytes (no newline): keys key00000000..., with "hit" every
    `hit_every` keys; and the reply its keys get when "hit" holds "v"."""
    keys, replies, length, i = [], [], len(command), 0
    while length < size:
        key = b"hit" if i % hit_every == 0 else b"key%08d" % i
        keys.append(key)
        if key == b"hit":
            with_cas = command.split()[0] in (b"gets", b"gats")
            replies.append(b"VALUE hit 0 1%s\r\nv\r\n" % (b" CAS" if with_cas else b""))
        length += len(key) + 1
        i += 1
    return command + b" " + b" ".join(keys), b"".join(replies)


def send_in_background(conn, data):
    """Sends `data` from a thread, so that replies can be read while it goes out (mnemod answers
    before the line has ended; a client that only sent would stall both sides)."""
    errors = []

    def send():
        try:
            conn.send(data)
        except OSError as e:  # reported by the reader's assertion instead
            errors.append(e)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread, errors


def mask_cas(reply):
    """`reply` with the CAS of every "hit" written "CAS", as keys_line writes it."""
    out = []
    for line in reply.split(b"\r\n"):
        if line.startswith(b"VALUE hit 0 1 "):
            line = b"VALUE hit 0 1 CAS"
        out.append(line)
    return b"\r\n".join(out)


@pytest.mark.parametrize("command, size", [(b"get", 2 << 20), (b"get", 8 << 20),
                                           (b"gets", 8 << 20)],
                         ids=["get_2MiB", "get_8MiB", "gets_8MiB"])
def test_a_long_multi_get_line_is_answered_ending_with_end(conn, command, size):
    conn.expect(b"set hit 0 0 1\r\nv\r\n", b"STORED\r\n")
    line, expected = keys_line(command, size)
    thread, errors = send_in_background(conn, line + b"\r\nversion\r\n")
    reply = conn.read_sentinel_reply(timeout=60)
    thread.join(10)
    assert not errors, errors
    assert mask_cas(reply) == expected + b"END\r\n", (len(reply), reply[-200:])
    # The connection is still in step.
    conn.expect(b"get hit\r\n", b"VALUE hit 0 1\r\nv\r\nEND\r\n")


def test_a_long_line_ending_in_a_bare_newline_and_spaces(conn):
    conn.expect(b"set hit 0 0 1\r\nv\r\n", b"STORED\r\n")
    line, expected = keys_line(b"get", 10000, hit_every=100)
    conn.expect(line + b"     \n", expected + b"END\r\n")


def test_a_long_get_line_with_no_key_is_an_error(conn):
    reply = conn.call(b"get" + b" " * 5000 + b"\r\n")
    # memcached 1.6.45 calls it a format error; 1.6.18 and mnemod (short lines too), ERROR.
    assert reply in (b"ERROR\r\n", BAD_FORMAT)


def test_a_long_get_line_waits_for_its_newline_before_end(conn):
    conn.expect(b"set hit 0 0 1\r\nv\r\n", b"STORED\r\n")
    line, expected = keys_line(b"get", 100000, hit_every=100)
    thread, errors = send_in_background(conn, line)
    thread.join(10)
    # mnemod has answered the keys so far (the last one may still be arriving); memcached,
    # nothing yet. Neither has ended the answer.
    early = conn.read_for(0.5)
    assert expected.startswith(early) and not early.endswith(b"END\r\n")
    conn.send(b"\r\n")
    assert early + conn.read_until(b"END\r\n") == expected + b"END\r\n"
    conn.expect(b"get hit\r\n", b"VALUE hit 0 1\r\nv\r\nEND\r\n")


@pytest.mark.mnemo_only
def test_keys_of_a_long_line_are_answered_as_they_arrive(conn):
    conn.expect(b"set hit 0 0 1\r\nv\r\n", b"STORED\r\n")
    line, expected = keys_line(b"get", 100000, hit_every=100)
    conn.send(line + b" ")
    assert conn.read_exact(len(expected)) == expected
    assert conn.read_for(0.2) == b""
    conn.expect(b"\r\n", b"END\r\n")


@pytest.mark.mnemo_only
@pytest.mark.parametrize("command", [b"gat 100", b"gats 100"])
def test_long_gat_lines_are_answered_too(conn, command):
    # memcached 1.6.45 closes the connection when such a line spans its reads.
    conn.expect(b"set hit 0 0 1\r\nv\r\n", b"STORED\r\n")
    line, expected = keys_line(command, 100000)
    assert mask_cas(conn.call(line + b"\r\n")) == expected + b"END\r\n"
    ttl = conn.call(b"mg hit t\r\n")
    assert ttl in (b"HD t100\r\n", b"HD t99\r\n"), ttl


@pytest.mark.mnemo_only
@pytest.mark.parametrize("bad_key, error", [(b"k" * 251, BAD_FORMAT), (b"a\x01b", b"ERROR\r\n")],
                         ids=["too_long", "control_byte"])
def test_a_bad_key_ends_the_answer_to_a_long_line(conn, bad_key, error):
    # memcached 1.6.45 holds the line whole and answers the error alone, then an empty line:
    # "CLIENT_ERROR bad command line format\r\n\r\n". mnemod has answered the keys before it.
    conn.expect(b"set hit 0 0 1\r\nv\r\n", b"STORED\r\n")
    before, expected = keys_line(b"get", 100000)
    after, _ = keys_line(b"x", 100000)
    conn.expect(before + b" " + bad_key + after[1:] + b"\r\n", expected + error)
    conn.expect(b"get hit\r\n", b"VALUE hit 0 1\r\nv\r\nEND\r\n")


@pytest.mark.mnemo_only
def test_a_key_too_long_is_refused_before_it_ends(conn):
    conn.send(b"get" + b" a" * 2000 + b" " + b"k" * 300)
    assert conn.readline() == BAD_FORMAT
    conn.send(b"k" * (1 << 20))
    conn.expect(b"kkk hit\r\n", b"")  # the rest of the line is discarded
    conn.expect(b"get a\r\n", b"END\r\n")


@pytest.mark.mnemo_only
def test_a_long_line_costs_bounded_memory(server):
    """A 64 MiB line that never ends holds no more than a key of it; memcached 1.6.45 holds it
    all (its RSS grows by the line's size)."""
    rss_before = rss_bytes(server.pid)
    with server.connect() as c:
        c.expect(b"set hit 0 0 1\r\nv\r\n", b"STORED\r\n")
        line, expected = keys_line(b"get", 64 << 20, hit_every=100000)
        thread, errors = send_in_background(c, line)
        got = c.read_exact(len(expected), timeout=120)
        thread.join(60)
        assert not errors, errors
        assert got == expected
        assert rss_bytes(server.pid) - rss_before < 16 << 20
        c.expect(b"\r\n", b"END\r\n")
