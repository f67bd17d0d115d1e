"""The bad-input list's (BAD_INPUTS.md) "Command lines", "Data blocks" and "Arithmetic and CAS"
sections, one test per row, named after it. ("Time" is in test_time.py; "the same pipeline
split at any point" in test_pipelining.py.)

The list's replies marked (1.6.18) are Debian's memcached 1.6.18's; the suite follows memcached
1.6.45 (tests/harness.py's reference_binary()), and each test says where 1.6.45 answers otherwise.
Where a rejected storage command still has a data block behind it, some tests look only at the
first reply line; test_rejected_storage_header_swallows_its_data_block checks the swallowing."""

import os
import re

import pytest

from harness import rss_bytes, stats, wait_for_stat

BAD_FORMAT = b"CLIENT_ERROR bad command line format\r\n"
KEY_250 = b"k" * 250
KEY_251 = b"k" * 251


def first_line(server, request):
    """The first reply line to `request`, on a connection of its own."""
    with server.connect() as c:
        c.send(request)
        return c.readline()


# --- Command lines ---------------------------------------------------------------------------

# 1.6.45 answers ERROR for a command it does not know (the line's first word, up to its first
# space, so a line of spaces too), and a format error for a line under four bytes with its "\n"
# and for a get without a key (1.6.18 answered ERROR to all of them).
@pytest.mark.parametrize("line", [b"bogus", b"GET k", b"    ", b" get k"],
                         ids=["unknown", "wrong_case", "spaces", "leading_space"])
def test_unknown_command_wrong_case_or_spaces_is_error(conn, line):
    conn.expect(line + b"\r\n", b"ERROR\r\n")


@pytest.mark.parametrize("line", [b"", b" ", b"\t", b"x", b"get", b"gets   "],
                         ids=["empty", "space", "tab", "one_byte", "get_without_key",
                              "gets_and_spaces"])
def test_empty_or_short_line_or_keyless_get_is_bad_command_line_format(conn, line):
    conn.expect(line + b"\r\n", BAD_FORMAT)
    conn.expect(line + b"\n", BAD_FORMAT)


@pytest.mark.parametrize("count", [b"-1", b"4294967295", b"2147483647", b"abc"])
def test_bad_byte_count_is_bad_command_line_format(conn, count):
    conn.expect(b"set k 0 0 " + count + b"\r\n", BAD_FORMAT)
    conn.expect(b"get k\r\n", b"END\r\n")


@pytest.mark.parametrize("flags", [b"abc", b"-1", b"1x"])
def test_non_numeric_or_negative_flags_is_bad_command_line_format(server, flags):
    assert first_line(server, b"set k " + flags + b" 0 1\r\nx\r\n") == BAD_FORMAT
    with server.connect() as c:
        c.expect(b"get k\r\n", b"END\r\n")


def test_key_of_250_bytes_is_accepted(conn):
    k = KEY_250
    conn.expect(b"set %s 0 0 1\r\n1\r\n" % k, b"STORED\r\n")
    conn.expect(b"get %s\r\n" % k, b"VALUE %s 0 1\r\n1\r\nEND\r\n" % k)
    conn.expect(b"incr %s 1\r\ntouch %s 100\r\nappend %s 0 0 1\r\nx\r\n" % (k, k, k),
                b"2\r\nTOUCHED\r\nSTORED\r\n")
    conn.expect(b"gat 100 %s\r\n" % k, b"VALUE %s 0 2\r\n2x\r\nEND\r\n" % k)
    conn.expect(b"delete %s\r\n" % k, b"DELETED\r\n")


@pytest.mark.parametrize("command", [b"delete %s", b"incr %s 1", b"decr %s 1", b"touch %s 10"])
def test_key_of_251_bytes_is_bad_command_line_format(conn, command):
    conn.expect(command % KEY_251 + b"\r\n", BAD_FORMAT)


# Deliberate: 1.6.45 follows the error with an empty line (a stray "\r\n" that clients read as
# the next reply); mnemod sends the error alone, as 1.6.18 did.
@pytest.mark.mnemo_only
@pytest.mark.parametrize("command", [b"get %s", b"gets %s", b"gat 10 %s", b"gats 10 %s"])
def test_key_of_251_bytes_in_a_retrieval_is_bad_command_line_format(conn, command):
    conn.expect(command % KEY_251 + b"\r\n", BAD_FORMAT)


@pytest.mark.parametrize("command", [
    b"set %s 0 0 1", b"add %s 0 0 1", b"replace %s 0 0 1", b"append %s 0 0 1",
    b"prepend %s 0 0 1", b"cas %s 0 0 1 1",
])
def test_key_of_251_bytes_in_a_storage_command_is_bad_command_line_format(server, command):
    assert first_line(server, command % KEY_251 + b"\r\nx\r\n") == BAD_FORMAT


@pytest.mark.mnemo_only  # 1.6.45 adds an empty line (see above)
@pytest.mark.parametrize("command", [b"get", b"gets", b"gat 10", b"gats 10"])
def test_multi_get_with_one_251_byte_key_answers_only_bad_command_line_format(conn, command):
    conn.expect(b"set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\n", b"STORED\r\nSTORED\r\n")
    conn.expect(command + b" a " + KEY_251 + b" b\r\n", BAD_FORMAT)


# Deliberate: memcached 1.6.45 takes the NUL as a byte of the key.
@pytest.mark.mnemo_only
@pytest.mark.parametrize("line", [b"set a\x00b 0 0 1", b"get \x00k", b"incr a\x00b 1",
                                  b"touch a\x00b 10"], ids=["set", "get", "incr", "touch"])
def test_key_containing_a_nul_byte_is_error(server, line):
    assert first_line(server, line + b"\r\nx\r\n") == b"ERROR\r\n"
    with server.connect() as c:
        c.expect(b"get a\r\n", b"END\r\n")


@pytest.mark.mnemo_only
@pytest.mark.parametrize("char", [b"\x01", b"\t", b"\x1f", b"\x7f"])
def test_control_characters_are_never_part_of_a_key(server, char):
    key = b"a" + char + b"b"
    assert first_line(server, b"set " + key + b" 0 0 1\r\nx\r\n") == b"ERROR\r\n"
    with server.connect() as c:
        c.expect(b"get " + key + b"\r\n", b"ERROR\r\n")


@pytest.mark.parametrize("request_bytes", [b"x" * 4096, b"set k 0 0 1" + b" " * 4096,
                                           b"mg k" + b" v" * 2048, b"bget" + b" k" * 2048],
                         ids=["junk", "set_and_spaces", "meta_get", "bget"])
def test_more_than_2048_bytes_without_a_newline_closes_the_connection(conn, request_bytes):
    conn.send(request_bytes)
    assert conn.read_to_eof() == b""


def test_a_get_line_past_2048_bytes_without_a_newline_yet_waits_for_the_rest(conn):
    conn.expect(b"set k1 0 0 1\r\n1\r\n", b"STORED\r\n")
    conn.send(b"get" + b" k1" * 2000)
    # memcached answers nothing before the newline; mnemod answers the keys that have arrived
    # whole (the last one may go on), and ends the answer only at the newline (test_long_lines.py).
    early = conn.read_for(0.2)
    assert early in (b"", b"VALUE k1 0 1\r\n1\r\n" * 1999)
    assert early + conn.call(b"\r\n") == b"VALUE k1 0 1\r\n1\r\n" * 2000 + b"END\r\n"


def test_a_short_line_without_a_newline_waits_for_the_rest(conn):
    conn.send(b"x" * 1000)
    assert conn.read_for(0.2) == b""
    conn.expect(b"\r\n", b"ERROR\r\n")


@pytest.mark.parametrize("command", [b"get", b"gets"])
def test_get_line_of_128_kb_with_thousands_of_keys_is_answered(conn, command):
    keys = [b"key%06d" % i for i in range(13000)]
    conn.expect(b"set key000005 0 0 1\r\nv\r\nset key012999 0 0 1\r\nw\r\n", b"STORED\r\n" * 2)
    line = command + b" " + b" ".join(keys) + b"\r\n"
    assert len(line) > 100_000
    reply = conn.call(line)
    assert re.fullmatch(rb"VALUE key000005 0 1( \d+)?\r\nv\r\nVALUE key012999 0 1( \d+)?\r\n"
                        rb"w\r\nEND\r\n", reply), reply
    assert (b" 0 1 " in reply) == (command == b"gets")


def test_http_request_line_closes_the_connection_silently(conn):
    conn.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert conn.read_to_eof() == b""


# 1.6.45 ignores what follows the key (1.6.18 answered "CLIENT_ERROR bad command line format.
# Usage: delete <key> [noreply]").
@pytest.mark.parametrize("argument", [b"10", b"x", b"0 noreply"])
def test_delete_with_a_time_ignores_it(conn, argument):
    reply = b"" if argument.endswith(b"noreply") else b"DELETED\r\n"
    conn.expect(b"set k 0 0 1\r\n1\r\ndelete k " + argument + b"\r\n", b"STORED\r\n" + reply)
    conn.expect(b"get k\r\n", b"END\r\n")


@pytest.mark.parametrize("line", [b"touch k abc", b"gat abc k", b"gats abc k", b"flush_all abc"],
                         ids=["touch", "gat", "gats", "flush_all"])
def test_bad_exptime_on_touch_gat_or_flush_all_is_invalid_exptime_argument(conn, line):
    conn.expect(b"set k 0 0 1\r\n1\r\n" + line + b"\r\n",
                b"STORED\r\nCLIENT_ERROR invalid exptime argument\r\n")
    conn.expect(b"get k\r\n", b"VALUE k 0 1\r\n1\r\nEND\r\n")


def test_multi_get_naming_the_same_key_70000_times(server, conn):
    conn.expect(b"set dup 0 0 3\r\nabc\r\n", b"STORED\r\n")
    rss_before = rss_bytes(server.pid)
    reply = conn.call(b"get" + b" dup" * 70000 + b"\r\n", timeout=60)
    hit = b"VALUE dup 0 3\r\nabc\r\n"
    assert reply.endswith(b"END\r\n")
    hits = len(reply[:-len(b"END\r\n")]) // len(hit)
    # memcached 1.6.18 stops answering a key whose reference count would overflow (after
    # 59999 copies) and treats the rest as misses; whole hits and END are all that may come.
    assert reply == hit * hits + b"END\r\n" and 50000 <= hits <= 70000, len(reply)
    assert rss_bytes(server.pid) - rss_before < 256 << 20
    # No reference is left behind: the item can still be replaced and deleted.
    conn.expect(b"set dup 0 0 1\r\nz\r\nget dup\r\ndelete dup\r\nget dup\r\n",
                b"STORED\r\nVALUE dup 0 1\r\nz\r\nEND\r\nDELETED\r\nEND\r\n")


# --- Data blocks -----------------------------------------------------------------------------

def test_declared_size_above_the_item_size_limit_is_too_large_swallowed_and_drops_the_old_value(
        conn):
    conn.expect(b"set k 0 0 3\r\nold\r\n", b"STORED\r\n")
    size = (1 << 20) + 1
    conn.expect(b"set k 0 0 %d\r\n%s\r\n" % (size, b"x" * size),
                b"SERVER_ERROR object too large for cache\r\n")
    conn.expect(b"get k\r\n", b"END\r\n")


def test_declared_size_above_a_larger_item_size_limit(start_server):
    server = start_server("-I", "2m")
    with server.connect() as c:
        fits, too_large = 3 << 19, (2 << 20) + 1
        c.expect(b"set k 0 0 %d\r\n%s\r\nset j 0 0 %d\r\n%s\r\n"
                 % (fits, b"x" * fits, too_large, b"y" * too_large),
                 b"STORED\r\nSERVER_ERROR object too large for cache\r\n")
        c.expect(b"get j\r\n", b"END\r\n")
        assert len(c.call(b"get k\r\n")) == len(b"VALUE k 0 %d\r\n\r\nEND\r\n" % fits) + fits


def test_declared_size_of_about_2_gb_is_refused_and_others_are_served(server):
    rss_before = rss_bytes(server.pid)
    with server.connect() as stuck:
        stuck.send(b"set huge 0 0 2000000000\r\n")
        stuck.send(b"y" * (4 << 20))
        with server.connect() as other:
            other.expect(b"set a 0 0 1\r\n1\r\nget a\r\n", b"STORED\r\nVALUE a 0 1\r\n1\r\nEND\r\n")
        # Whether the refusal comes at once or after the whole block, it is the only reply.
        assert stuck.read_for(0.2) in (b"", b"SERVER_ERROR object too large for cache\r\n")
        # The declared size is never allocated up front.
        assert rss_bytes(server.pid) - rss_before < 256 << 20
    with server.connect() as other:
        other.expect(b"get huge a\r\n", b"VALUE a 0 1\r\n1\r\nEND\r\n")


# The leftover "z\r\n" is a line under four bytes: a format error in 1.6.45 (ERROR in 1.6.18).
@pytest.mark.parametrize("data, leftover", [(b"xyz\r\n", BAD_FORMAT),
                                            (b"x\nget k\r\n", b"ERROR\r\n")],
                         ids=["longer", "bare_newline"])
def test_data_longer_than_declared_or_ending_in_a_bare_newline_is_bad_data_chunk(conn, data,
                                                                                 leftover):
    conn.expect(b"set k 0 0 1\r\nO\r\n", b"STORED\r\n")
    conn.expect(b"set k 0 0 1\r\n" + data, b"CLIENT_ERROR bad data chunk\r\n" + leftover)
    conn.expect(b"get k\r\n", b"VALUE k 0 1\r\nO\r\nEND\r\n")


def test_data_shorter_than_declared_takes_the_next_bytes_then_is_bad_data_chunk(conn):
    conn.expect(b"set k 0 0 5\r\nabc\r\nget k\r\n", b"CLIENT_ERROR bad data chunk\r\nERROR\r\n")
    conn.expect(b"get k\r\n", b"END\r\n")


@pytest.mark.mnemo_only
@pytest.mark.parametrize("header", [
    b"set k abc 0 9", b"set k -1 0 9", b"set k 0 abc 9", b"set " + KEY_251 + b" 0 0 9",
    b"cas k 0 0 9 abc",
], ids=["bad_flags", "negative_flags", "bad_exptime", "long_key", "bad_cas_token"])
def test_rejected_storage_header_swallows_its_data_block(conn, header):
    conn.expect(b"set keep 0 0 1\r\n1\r\n", b"STORED\r\n")
    conn.expect(header + b"\r\nflush_all\r\n", BAD_FORMAT)
    conn.expect(b"get keep\r\n", b"VALUE keep 0 1\r\n1\r\nEND\r\n")


@pytest.mark.parametrize("value", [
    b"a\r\nb", b"\r\n", b"nul\x00nul", b"\xff\xfe\x80", bytes(range(256)) * 4,
    b"VALUE k 0 1\r\nx\r\nEND\r\n",
], ids=["crlf", "only_crlf", "nul", "high_bytes", "every_byte", "reply_lookalike"])
def test_values_containing_crlf_nul_or_ff_are_stored_and_returned_exactly(conn, value):
    conn.expect(b"set k 9 0 %d\r\n%s\r\n" % (len(value), value), b"STORED\r\n")
    conn.expect(b"get k\r\n", b"VALUE k 9 %d\r\n%s\r\nEND\r\n" % (len(value), value))
    conn.expect(b"append k 0 0 3\r\n\x00\r\n\r\n", b"STORED\r\n")
    conn.expect(b"get k\r\n", b"VALUE k 9 %d\r\n%s\x00\r\n\r\nEND\r\n" % (len(value) + 3, value))


def test_zero_length_values_are_stored_and_returned_exactly(conn):
    conn.expect(b"set k 3 0 0\r\n\r\nadd e 0 0 0\r\n\r\n", b"STORED\r\nSTORED\r\n")
    conn.expect(b"get k e\r\n", b"VALUE k 3 0\r\n\r\nVALUE e 0 0\r\n\r\nEND\r\n")
    conn.expect(b"append k 0 0 2\r\nab\r\n", b"STORED\r\n")
    conn.expect(b"get k\r\n", b"VALUE k 3 2\r\nab\r\nEND\r\n")


@pytest.mark.parametrize("sent", [b"", b"abc", b"abcdefghij", b"abcdefghij\r"],
                         ids=["header_only", "part", "all_data", "data_and_cr"])
def test_client_closing_in_the_middle_of_a_data_block_stores_nothing(server, conn, sent):
    conn.expect(b"set k 0 0 3\r\nold\r\n", b"STORED\r\n")
    connections = stats(conn)["curr_connections"]
    with server.connect() as quitter:
        quitter.send(b"set k 0 0 10\r\n" + sent)
    wait_for_stat(conn, "curr_connections", connections)
    conn.expect(b"get k\r\n", b"VALUE k 0 3\r\nold\r\nEND\r\n")


# --- Arithmetic and CAS ----------------------------------------------------------------------

@pytest.mark.parametrize("value", [b"abc", b"1x", b"-1", b"123456789012345678901",
                                   b"18446744073709551616"],
                         ids=["letters", "trailing_letter", "negative", "21_digits",
                              "two_to_the_64"])
@pytest.mark.parametrize("command", [b"incr", b"decr"])
def test_incr_on_a_non_numeric_or_over_20_digit_value_is_non_numeric(conn, command, value):
    conn.expect(b"set n 0 0 %d\r\n%s\r\n" % (len(value), value), b"STORED\r\n")
    conn.expect(command + b" n 1\r\n",
                b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")
    conn.expect(b"get n\r\n", b"VALUE n 0 %d\r\n%s\r\nEND\r\n" % (len(value), value))


def test_incr_past_2_64_minus_1_wraps_to_0(conn):
    conn.expect(b"set n 0 0 20\r\n18446744073709551615\r\nincr n 1\r\n", b"STORED\r\n0\r\n")
    conn.expect(b"set n 0 0 20\r\n18446744073709551610\r\nincr n 10\r\n", b"STORED\r\n4\r\n")


def test_decr_below_zero_is_0(conn):
    conn.expect(b"set n 0 0 1\r\n5\r\ndecr n 6\r\ndecr n 1\r\n", b"STORED\r\n0\r\n0\r\n")
    conn.expect(b"get n\r\n", b"VALUE n 0 1\r\n0\r\nEND\r\n")


@pytest.mark.parametrize("delta", [b"abc", b"-1", b"18446744073709551616"])
@pytest.mark.parametrize("command", [b"incr", b"decr"])
def test_delta_abc_minus_1_or_2_64_is_invalid_numeric_delta_argument(conn, command, delta):
    conn.expect(b"set n 0 0 1\r\n5\r\n" + command + b" n " + delta + b"\r\n",
                b"STORED\r\nCLIENT_ERROR invalid numeric delta argument\r\n")
    conn.expect(b"get n\r\n", b"VALUE n 0 1\r\n5\r\nEND\r\n")


def test_decr_that_shortens_the_number_keeps_its_length_padded_with_spaces(conn):
    conn.expect(b"set n 0 0 3\r\n100\r\ndecr n 1\r\n", b"STORED\r\n99\r\n")
    conn.expect(b"get n\r\n", b"VALUE n 0 3\r\n99 \r\nEND\r\n")
    conn.expect(b"decr n 90\r\nincr n 1\r\n", b"9\r\n10\r\n")
    conn.expect(b"get n\r\n", b"VALUE n 0 3\r\n10 \r\nEND\r\n")


def test_cas_on_a_missing_key_is_not_found(conn):
    conn.expect(b"cas nope 0 0 1 1\r\nx\r\n", b"NOT_FOUND\r\n")
    conn.expect(b"get nope\r\n", b"END\r\n")


def test_cas_with_a_stale_token_is_exists(conn):
    conn.expect(b"set k 0 0 1\r\na\r\n", b"STORED\r\n")
    token = int(conn.call(b"gets k\r\n").split()[4])
    conn.expect(b"set k 0 0 1\r\nb\r\ncas k 0 0 1 %d\r\nc\r\n" % token,
                b"STORED\r\nEXISTS\r\n")
    conn.expect(b"get k\r\n", b"VALUE k 0 1\r\nb\r\nEND\r\n")


@pytest.mark.parametrize("token", [b"abc", b"-1", b"18446744073709551616"])
def test_cas_with_a_non_numeric_token_is_bad_command_line_format(server, token):
    assert first_line(server, b"cas k 0 0 1 " + token + b"\r\nx\r\n") == BAD_FORMAT


# 1.6.45 answers a format error and swallows the block (1.6.18: ERROR, and the block ran).
@pytest.mark.parametrize("line", [b"cas k 0 0 1", b"cas foo 0 0 1 "], ids=["none", "trailing_space"])
def test_cas_with_no_token_is_bad_command_line_format_and_swallows_its_block(conn, line):
    conn.expect(line + b"\r\nx\r\n", BAD_FORMAT)
    conn.expect(b"get k foo\r\n", b"END\r\n")


@pytest.mark.parametrize("command", [b"append", b"prepend"])
def test_append_that_would_exceed_the_item_size_limit_is_not_stored(conn, command):
    value = os.urandom((1 << 20) - 2048)
    conn.expect(b"set k 0 0 %d\r\n%s\r\n" % (len(value), value), b"STORED\r\n")
    conn.expect(command + b" k 0 0 4096\r\n" + b"z" * 4096 + b"\r\n", b"NOT_STORED\r\n")
    conn.expect(b"get k\r\n", b"VALUE k 0 %d\r\n%s\r\nEND\r\n" % (len(value), value))
