"""Pipelining: many commands in one send are answered in order, exactly as if they had been sent
one at a time, however the stream is cut into reads."""

import random

import pytest

import harness
from differential import StreamGenerator, normalise, run, split_randomly

# Errors the server must answer the same way wherever the stream is cut.
ERRORS = [b"bogus command\r\n", b"incr key:1 abc\r\n", b"set key:2 0 0 1\r\nxyz\r\n",
          b"delete key:3 10\r\n", b"touch key:4 soon\r\n", b"set key:5 0 0 -1\r\n", b"\r\n"]


def mixed_commands(seed, count, large_values):
    commands = StreamGenerator(seed, large_values=large_values).stream(count)
    rng = random.Random(seed)
    for error in ERRORS:
        commands.insert(rng.randrange(len(commands)), error)
    return commands


def one_at_a_time(server, commands):
    with server.connect() as c:
        return b"".join(c.call(command) for command in commands)


@pytest.fixture
def replies(start_server):
    """replies(commands, how) -> the normalised replies of a fresh server to `commands`."""

    def get(commands, how):
        server = start_server()
        if how == "one_at_a_time":
            return normalise(one_at_a_time(server, commands))
        stream = b"".join(commands)
        if how == "one_send":
            pieces = [stream]
        elif how == "byte_by_byte":
            pieces = [stream[i:i + 1] for i in range(len(stream))]
        else:
            pieces = split_randomly(stream, random.Random(how))
        return normalise(run(server, pieces))

    return get


def test_hundreds_of_mixed_commands_in_one_send_are_answered_in_order(replies):
    commands = mixed_commands(seed=7, count=400, large_values=True)
    assert replies(commands, "one_send") == replies(commands, "one_at_a_time")


@pytest.mark.parametrize("how", ["byte_by_byte", 1, 2, 3])
def test_same_pipeline_sent_one_byte_at_a_time_or_split_at_random_points_gives_identical_replies(
        replies, how):
    commands = mixed_commands(seed=11, count=300, large_values=how != "byte_by_byte")
    assert replies(commands, how) == replies(commands, "one_send")


def test_pipelined_gets_answer_every_key_in_order(conn):
    keys = [b"p%d" % i for i in range(300)]
    conn.expect(b"".join(b"set %s 0 0 %d\r\n%s\r\n" % (k, len(k), k) for k in keys),
                b"STORED\r\n" * len(keys))
    conn.expect(b"".join(b"get %s nope %s\r\n" % (k, k) for k in keys),
                b"".join(b"VALUE %s 0 %d\r\n%s\r\nVALUE %s 0 %d\r\n%s\r\nEND\r\n"
                         % (k, len(k), k, k, len(k), k) for k in keys))


def test_replies_of_a_pipeline_the_client_reads_late_are_all_delivered(server):
    value = b"v" * 100_000
    with server.connect() as c:
        c.expect(b"set big 0 0 %d\r\n%s\r\n" % (len(value), value), b"STORED\r\n")
        c.send(b"get big\r\n" * 200)
        one = b"VALUE big 0 %d\r\n%s\r\nEND\r\n" % (len(value), value)
        assert c.read_exact(len(one) * 200, timeout=60) == one * 200
        c.expect(b"", b"")


def test_noreply_commands_in_a_pipeline_leave_no_trace_in_the_replies(conn):
    conn.expect(b"set a 0 0 1 noreply\r\n1\r\nget a\r\nincr a 5 noreply\r\nget a\r\n"
                b"delete a noreply\r\nget a\r\n",
                b"VALUE a 0 1\r\n1\r\nEND\r\nVALUE a 0 1\r\n6\r\nEND\r\nEND\r\n")


def test_a_connection_split_mid_command_keeps_its_state_between_reads(conn):
    conn.send(b"se")
    assert conn.read_for(0.05) == b""
    conn.send(b"t k 0 0 5\r\nhel")
    assert conn.read_for(0.05) == b""
    conn.expect(b"lo\r\nget k\r\n", b"STORED\r\nVALUE k 0 5\r\nhello\r\nEND\r\n")


def test_clients_do_not_see_each_others_replies(server):
    with server.connect() as a, server.connect() as b:
        a.send(b"set a 0 0 1\r\n")
        b.expect(b"set b 0 0 1\r\n2\r\n", b"STORED\r\n")
        a.expect(b"1\r\n", b"STORED\r\n")
        assert harness.stats(a)["curr_items"] == "2"
