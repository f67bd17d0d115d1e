"""The meta protocol: mn, mg, ms, md, ma and me, every flag, quiet mode, opaque tokens, base64
keys, errors, and text and meta commands sharing items.

Every expectation here is what memcached 1.6.45 answers, byte for byte, except in the tests marked
mnemo_only (skipped against memcached), which check where mnemo differs on purpose
(docs/memcached-differences.md). CAS values are read from the server rather than assumed: each
server numbers its own way."""

import re
import time

import pytest

from harness import gets_cas, parse_stats, stats


def mg_cas(conn, key):
    """The CAS of `key`, via mg c."""
    reply = conn.call(b"mg " + key + b" c\r\n")
    match = re.fullmatch(rb"HD c(\d+)(?: [A-Z])*\r\n", reply)
    assert match, reply
    return int(match.group(1))


# --- mn --------------------------------------------------------------------------------------

def test_mn_answers_mn(conn):
    conn.expect(b"mn\r\n", b"MN\r\n")


def test_mn_ignores_what_follows_it(conn):
    conn.expect(b"mn whatever 1 2\r\n", b"MN\r\n")


# --- mg --------------------------------------------------------------------------------------

def test_mg_miss_is_en(conn):
    conn.expect(b"mg nope\r\nmg nope v\r\n", b"EN\r\nEN\r\n")


def test_mg_miss_echoes_opaque_and_key(conn):
    conn.expect(b"mg nope O123 k v\r\n", b"EN O123 knope\r\n")


def test_mg_quiet_hides_a_miss_but_not_a_hit(conn):
    conn.expect(b"ms k 1\r\nx\r\n", b"HD\r\n")
    conn.expect(b"mg nope q v\r\nmg k q\r\nmg k q v\r\nmn\r\n",
                b"HD\r\nVA 1\r\nx\r\nMN\r\n")


def test_mg_hit_without_flags_is_hd(conn):
    conn.expect(b"set k 0 0 1\r\nx\r\nmg k\r\n", b"STORED\r\nHD\r\n")


def test_mg_v_returns_the_value(conn):
    value = b"a\r\nb\x00\xff"
    conn.expect(b"ms k %d\r\n%s\r\nmg k v\r\n" % (len(value), value),
                b"HD\r\nVA %d\r\n%s\r\n" % (len(value), value))
    conn.expect(b"ms empty 0\r\n\r\nmg empty v\r\n", b"HD\r\nVA 0\r\n\r\n")


def test_mg_return_flags_in_request_order(conn):
    conn.expect(b"set k 42 0 5\r\nhello\r\n", b"STORED\r\n")
    cas = gets_cas(conn, b"k")
    conn.expect(b"mg k k s f t c v O99\r\n",
                b"VA 5 kk s5 f42 t-1 c%d O99\r\nhello\r\n" % cas)
    conn.expect(b"mg k O99 c t f s k\r\n", b"HD O99 c%d t-1 f42 s5 kk\r\n" % cas)


def test_mg_t_is_the_remaining_ttl(conn):
    conn.expect(b"ms k 1 T100\r\nx\r\nmg k t\r\n", b"HD\r\nHD t100\r\n")
    conn.expect(b"ms k 1 T0\r\nx\r\nmg k t\r\n", b"HD\r\nHD t-1\r\n")


def test_mg_h_says_whether_the_item_was_read_before(conn):
    conn.expect(b"ms k 1\r\nx\r\nmg k h\r\nmg k h\r\n", b"HD\r\nHD h0\r\nHD h1\r\n")


def test_mg_u_reads_without_counting_a_hit(conn):
    conn.expect(b"ms k 1\r\nx\r\nmg k u h\r\nmg k u h\r\nmg k h\r\nmg k h\r\n",
                b"HD\r\nHD h0\r\nHD h0\r\nHD h0\r\nHD h1\r\n")


def test_mg_l_is_zero_after_a_write(conn):
    conn.expect(b"ms k 1\r\nx\r\nmg k l\r\n", b"HD\r\nHD l0\r\n")


def test_mg_c_is_the_cas_of_gets(conn):
    conn.expect(b"set k 0 0 1\r\nx\r\n", b"STORED\r\n")
    assert mg_cas(conn, b"k") == gets_cas(conn, b"k")


def test_mg_C_sends_the_value_only_if_the_cas_changed(conn):
    # The protocol document's C on mg; 1.6.18 ignores it and always sends the value.
    conn.expect(b"ms k 1\r\nx\r\n", b"HD\r\n")
    cas = mg_cas(conn, b"k")
    conn.expect(b"mg k v C%d\r\n" % cas, b"HD\r\n")
    conn.expect(b"mg k v C%d\r\n" % (cas + 1), b"VA 1\r\nx\r\n")


def test_mg_T_updates_the_ttl_and_keeps_the_cas(conn):
    conn.expect(b"ms k 1 T100\r\nx\r\n", b"HD\r\n")
    cas = mg_cas(conn, b"k")
    # t reports the TTL where it stands: before T the old one, after T the new one.
    conn.expect(b"mg k t T500\r\n", b"HD t100\r\n")
    conn.expect(b"mg k T200 t\r\n", b"HD t200\r\n")
    conn.expect(b"mg k T0 t c\r\n", b"HD t-1 c%d\r\n" % cas)
    conn.expect(b"mg k T30 t c\r\n", b"HD t30 c%d\r\n" % cas)
    assert gets_cas(conn, b"k") == cas


def test_mg_T_with_a_past_exptime_expires_the_item(conn):
    conn.expect(b"ms k 1\r\nx\r\nmg k T-1 v\r\nmg k v\r\n", b"HD\r\nVA 1\r\nx\r\nEN\r\n")


def test_mg_N_creates_a_stub_and_its_creator_wins(conn):
    conn.expect(b"mg k N30 s v t\r\n", b"VA 0 s0 t30 W\r\n\r\n")
    conn.expect(b"mg k N30 s v t\r\n", b"VA 0 s0 t30 Z\r\n\r\n")
    conn.expect(b"mg k v\r\n", b"VA 0 Z\r\n\r\n")
    conn.expect(b"get k\r\n", b"VALUE k 0 0\r\n\r\nEND\r\n")
    # The winner stores the value: the item is an ordinary one again.
    conn.expect(b"ms k 3 T30\r\nnew\r\nmg k N30 v\r\n", b"HD\r\nVA 3\r\nnew\r\n")


def test_mg_N_reports_t_in_request_order(conn):
    conn.expect(b"mg k t N30\r\nmg k t\r\n", b"HD t-1 W\r\nHD t30 Z\r\n")
    conn.expect(b"mg j N30 t T60\r\nmg j t\r\n", b"HD t30 W\r\nHD t60 Z\r\n")


def test_mg_R_wins_once_when_the_ttl_runs_low(conn):
    conn.expect(b"ms k 1 T100\r\nx\r\n", b"HD\r\n")
    conn.expect(b"mg k R30\r\n", b"HD\r\n")
    conn.expect(b"mg k R200 v\r\n", b"VA 1 W\r\nx\r\n")
    conn.expect(b"mg k R200 v\r\n", b"VA 1 Z\r\nx\r\n")
    conn.expect(b"mg k R30\r\n", b"HD Z\r\n")
    # An item that never expires never needs recaching early.
    conn.expect(b"ms f 1\r\nx\r\nmg f R200\r\n", b"HD\r\nHD\r\n")


def test_mg_E_sets_the_cas_of_a_created_item(conn):
    conn.expect(b"mg k N30 E777 c\r\n", b"HD c777 W\r\n")
    assert gets_cas(conn, b"k") == 777


def test_mg_b_takes_a_base64_key_and_echoes_it(conn):
    # "Zm9v" is "foo": the same item text commands name foo.
    conn.expect(b"set foo 0 0 2\r\nhi\r\nmg Zm9v b k v\r\n", b"STORED\r\nVA 2 kfoo\r\nhi\r\n")
    conn.expect(b"mg Zm9v b k s\r\n", b"HD kfoo s2\r\n")
    conn.expect(b"mg YmFy b k v\r\n", b"EN kYmFy b\r\n")
    # An item stored with a base64 key shows it so, whoever asks.
    conn.expect(b"ms YmFy 1 b\r\nx\r\nmg bar k v\r\nget bar\r\n",
                b"HD\r\nVA 1 kYmFy b\r\nx\r\nVALUE bar 0 1\r\nx\r\nEND\r\n")


def test_mg_binary_key_round_trips(conn):
    conn.expect(b"ms AP8gCg== 1 b\r\nx\r\nmg AP8gCg== b k v\r\n",
                b"HD\r\nVA 1 kAP8gCg== b\r\nx\r\n")


def test_mg_errors(conn):
    conn.expect(b"mg\r\n", b"CLIENT_ERROR bad command line format\r\n")
    conn.expect(b"mg " + b"k" * 251 + b" v\r\n", b"CLIENT_ERROR bad command line format\r\n")
    conn.expect(b"mg " + b"k" * 250 + b" v\r\n", b"EN\r\n")
    conn.expect(b"mg k v v\r\n", b"CLIENT_ERROR duplicate flag\r\n")
    conn.expect(b"mg k Z\r\n", b"CLIENT_ERROR invalid flag\r\n")
    # A flag token that starts with neither a digit nor one of 'A' to 'z' makes the line malformed.
    conn.expect(b"mg k v !\r\n", b"CLIENT_ERROR bad command line format\r\n")
    conn.expect(b"mg k Tabc\r\n", b"CLIENT_ERROR bad token in command line format\r\n")
    conn.expect(b"mg !!!! b\r\n", b"CLIENT_ERROR error decoding key\r\n")
    conn.expect(b"mg k O" + b"o" * 32 + b"\r\n", b"CLIENT_ERROR opaque token too long\r\n")
    # 20 tokens are accepted, 21 are not.
    conn.expect(b"mg k " + b" ".join([b"k", b"c", b"f", b"h", b"l", b"t", b"s", b"u", b"O1", b"T1",
                                      b"R1", b"P", b"L", b"x", b"E1", b"F1", b"D1", b"J1"]) + b"\r\n",
                b"EN kk O1\r\n")
    conn.expect(b"mg k " + b" ".join(b"O%d" % i for i in range(19)) + b"\r\n",
                b"CLIENT_ERROR options flags are too long\r\n")


def test_meta_quiet_mode_never_hides_an_error(conn):
    conn.expect(b"mg k q Tabc\r\nms k 1 q MZ\r\nx\r\nmd k q Cabc\r\nma k q Dabc\r\nmn\r\n",
                b"CLIENT_ERROR bad token in command line format\r\n"
                b"CLIENT_ERROR invalid mode for ms M token\r\n"
                b"CLIENT_ERROR bad token in command line format\r\n"
                b"CLIENT_ERROR invalid or duplicate flag\r\nMN\r\n")


# --- ms --------------------------------------------------------------------------------------

def test_ms_stores_and_text_commands_read_it(conn):
    conn.expect(b"ms k 5 F9 T0\r\nhello\r\nget k\r\n",
                b"HD\r\nVALUE k 9 5\r\nhello\r\nEND\r\n")


def test_ms_without_F_stores_flags_0(conn):
    conn.expect(b"set k 5 0 1\r\nx\r\nms k 1\r\ny\r\nmg k f\r\n", b"STORED\r\nHD\r\nHD f0\r\n")


def test_ms_T_sets_the_ttl(conn):
    conn.expect(b"ms k 1 T100\r\nx\r\nmg k t\r\n", b"HD\r\nHD t100\r\n")
    conn.expect(b"ms k 1 T-1\r\nx\r\nmg k v\r\n", b"HD\r\nEN\r\n")


def test_ms_echoes_opaque_key_and_cas(conn):
    reply = conn.call(b"ms k 1 O5 k c\r\nx\r\n")
    match = re.fullmatch(rb"HD O5 kk c(\d+)\r\n", reply)
    assert match, reply
    assert int(match.group(1)) == gets_cas(conn, b"k")


def test_ms_quiet_hides_hd_only(conn):
    conn.expect(b"ms k 1 q\r\nx\r\nms k 1 q ME\r\ny\r\nms n 1 q MR\r\ny\r\nmn\r\n",
                b"NS\r\nNS\r\nMN\r\n")


def test_ms_modes(conn):
    conn.expect(b"ms k 1 MR\r\nx\r\n", b"NS\r\n")
    conn.expect(b"ms k 1 ME\r\nx\r\n", b"HD\r\n")
    conn.expect(b"ms k 1 ME\r\ny\r\n", b"NS\r\n")
    conn.expect(b"ms k 1 MA\r\nb\r\nms k 1 MP\r\na\r\n", b"HD\r\nHD\r\n")
    conn.expect(b"ms k 1 MR\r\nz\r\nmg k v\r\n", b"HD\r\nVA 1\r\nz\r\n")
    conn.expect(b"ms k 1 MS\r\ns\r\nmg k v\r\n", b"HD\r\nVA 1\r\ns\r\n")
    conn.expect(b"ms n 1 MA\r\nx\r\nms n 1 MP\r\nx\r\n", b"NS\r\nNS\r\n")


def test_ms_append_keeps_flags_and_ttl(conn):
    conn.expect(b"ms k 2 F3 T100\r\nab\r\nms k 2 MA F9 T0\r\ncd\r\nmg k f t v\r\n",
                b"HD\r\nHD\r\nVA 4 f3 t100\r\nabcd\r\n")


def test_ms_C_compares_the_cas(conn):
    conn.expect(b"ms k 1 C1\r\nx\r\n", b"NF\r\n")
    conn.expect(b"ms k 1\r\nx\r\n", b"HD\r\n")
    cas = mg_cas(conn, b"k")
    conn.expect(b"ms k 1 C%d\r\ny\r\n" % (cas + 1), b"EX\r\n")
    conn.expect(b"ms k 1 C%d\r\ny\r\nmg k v\r\n" % cas, b"HD\r\nVA 1\r\ny\r\n")
    cas = mg_cas(conn, b"k")
    conn.expect(b"ms k 1 MR C%d\r\nz\r\n" % (cas + 1), b"EX\r\n")
    # With append and prepend, C is a check; with add it is ignored.
    conn.expect(b"ms k 1 MA C%d\r\nz\r\n" % (cas + 1), b"EX\r\n")
    conn.expect(b"ms k 1 MA C%d\r\nz\r\nmg k v\r\n" % cas, b"HD\r\nVA 2\r\nyz\r\n")
    conn.expect(b"ms k 1 ME C1\r\nz\r\n", b"NS\r\n")


def test_ms_c_is_0_when_nothing_was_stored(conn):
    conn.expect(b"ms k 1\r\nx\r\nms k 1 ME c\r\ny\r\nms n 1 C5 c k\r\ny\r\n",
                b"HD\r\nNS c0\r\nNF c0 kn\r\n")


def test_ms_b_stores_under_the_decoded_key(conn):
    conn.expect(b"ms Zm9v 2 b k O1\r\nhi\r\nget foo\r\n",
                b"HD kZm9v b O1\r\nVALUE foo 0 2\r\nhi\r\nEND\r\n")


def test_ms_I_with_an_older_cas_stores_a_stale_value(conn):
    conn.expect(b"ms k 1 T100\r\na\r\n", b"HD\r\n")
    old = mg_cas(conn, b"k")
    conn.expect(b"ms k 1 T100\r\nb\r\n", b"HD\r\n")
    conn.expect(b"ms k 1 C%d\r\nc\r\n" % old, b"EX\r\n")
    conn.expect(b"ms k 1 I C%d T5\r\nc\r\n" % old, b"HD\r\n")
    # Stale, with the value written and the TTL it had; its first reader wins the recache.
    conn.expect(b"mg k v t\r\n", b"VA 1 t100 X W\r\nc\r\n")
    conn.expect(b"mg k v\r\n", b"VA 1 Z X\r\nc\r\n")
    # Without C, I does nothing: a plain set makes the item fresh.
    conn.expect(b"ms k 1 I\r\nd\r\nmg k v\r\n", b"HD\r\nVA 1\r\nd\r\n")


# A token the cache never issued for the key (memcached: one above the item's CAS, as any token
# is on a fresh server; mnemo: one below every CAS it derives) is not older: EX, nothing stored.
def test_ms_I_with_a_cas_never_issued_answers_EX(conn):
    conn.expect(b"ms k 1\r\na\r\n", b"HD\r\n")
    conn.expect(b"ms k 1 I C99\r\nb\r\n", b"EX\r\n")
    conn.expect(b"ms k 1 I C%d\r\nb\r\n" % (2 ** 64 - 1), b"EX\r\n")
    conn.expect(b"mg k v\r\n", b"VA 1\r\na\r\n")


def test_ms_I_compares_cas_values_a_client_chose(conn):
    conn.expect(b"ms k 1 E50\r\na\r\n", b"HD\r\n")
    conn.expect(b"ms k 1 I C70\r\nb\r\n", b"EX\r\n")
    conn.expect(b"ms k 1 I C30\r\nc\r\n", b"HD\r\n")
    conn.expect(b"mg k v\r\n", b"VA 1 X W\r\nc\r\n")


def test_ms_errors_swallow_the_data_block(conn):
    conn.expect(b"ms k 1 MZ\r\nx\r\nmg k v\r\n",
                b"CLIENT_ERROR invalid mode for ms M token\r\nEN\r\n")
    conn.expect(b"ms k 1 M\r\nx\r\n", b"CLIENT_ERROR invalid mode for ms M token\r\n")
    conn.expect(b"ms k 1 v v\r\nx\r\n", b"CLIENT_ERROR duplicate flag\r\n")
    conn.expect(b"ms k 1 Tabc\r\nx\r\n", b"CLIENT_ERROR bad token in command line format\r\n")
    conn.expect(b"ms k abc\r\n", b"CLIENT_ERROR bad command line format\r\n")
    conn.expect(b"ms k\r\n", b"CLIENT_ERROR bad command line format\r\n")
    conn.expect(b"ms k 1 O" + b"o" * 32 + b"\r\nx\r\n",
                b"CLIENT_ERROR opaque token too long\r\n")


def test_ms_bad_data_chunk(conn):
    # The "\n" left after the declared block is a line too short to be a command.
    conn.expect(b"ms k 2\r\nabc\r\n",
                b"CLIENT_ERROR bad data chunk\r\nCLIENT_ERROR bad command line format\r\n")


def test_ms_too_large_removes_the_old_value(conn):
    conn.expect(b"ms k 1\r\nx\r\n", b"HD\r\n")
    big = (1 << 20) + 1
    conn.expect(b"ms k %d T0\r\n%s\r\nmg k v\r\n" % (big, b"x" * big),
                b"SERVER_ERROR object too large for cache\r\nEN\r\n")


def test_ms_s_echoes_the_stored_size(conn):
    conn.expect(b"ms k 2 s\r\nab\r\nms k 3 MA s\r\ncde\r\nms n 1 MA s\r\nx\r\n",
                b"HD s2\r\nHD s5\r\nNS s1\r\n")


def test_ms_append_with_N_vivifies_on_a_miss(conn):
    conn.expect(b"ms k 2 MA N30 F4\r\nab\r\nmg k v t f\r\n", b"HD\r\nVA 2 t30 f4\r\nab\r\n")
    conn.expect(b"ms k 2 MA N30\r\ncd\r\nmg k v\r\n", b"HD\r\nVA 4\r\nabcd\r\n")


def test_ms_E_sets_the_new_cas(conn):
    conn.expect(b"ms k 1 E12345 c\r\nx\r\n", b"HD c12345\r\n")
    assert gets_cas(conn, b"k") == 12345
    conn.expect(b"cas k 0 0 1 12345\r\ny\r\n", b"STORED\r\n")
    assert gets_cas(conn, b"k") != 12345
    conn.expect(b"ms k 1 MA E99 c\r\nz\r\n", b"HD c99\r\n")


# --- md --------------------------------------------------------------------------------------

def test_md_deletes(conn):
    conn.expect(b"ms k 1\r\nx\r\nmd k\r\nmg k v\r\nmd k\r\n", b"HD\r\nHD\r\nEN\r\nNF\r\n")


def test_md_quiet_hides_hd_but_not_nf(conn):
    conn.expect(b"ms k 1\r\nx\r\nmd k q\r\nmd k q\r\nmn\r\n", b"HD\r\nNF\r\nMN\r\n")


def test_md_echoes_opaque_and_key(conn):
    conn.expect(b"ms k 1\r\nx\r\nmd k O1 k\r\nmd k k O2\r\n", b"HD\r\nHD O1 kk\r\nNF kk O2\r\n")
    conn.expect(b"ms Zm9v 1 b\r\nx\r\nmd Zm9v b k\r\n", b"HD\r\nHD kZm9v b\r\n")


def test_md_C_compares_the_cas(conn):
    conn.expect(b"ms k 1\r\nx\r\n", b"HD\r\n")
    cas = mg_cas(conn, b"k")
    conn.expect(b"md k C%d q\r\nmn\r\n" % (cas + 1), b"EX\r\nMN\r\n")
    conn.expect(b"md k C%d\r\nmg k\r\n" % cas, b"HD\r\nEN\r\n")


def test_md_I_marks_stale_with_a_new_cas_and_T(conn):
    conn.expect(b"ms k 3 T100\r\nold\r\n", b"HD\r\n")
    cas = mg_cas(conn, b"k")
    conn.expect(b"md k I T30\r\n", b"HD\r\n")
    reply = conn.call(b"mg k v c t\r\n")
    match = re.fullmatch(rb"VA 3 c(\d+) t30 X W\r\nold\r\n", reply)
    assert match, reply
    assert int(match.group(1)) != cas
    conn.expect(b"mg k\r\n", b"HD Z X\r\n")
    # Invalidated again, the next reader wins again.
    conn.expect(b"md k I q\r\nmn\r\nmg k\r\nmg k\r\n", b"MN\r\nHD X W\r\nHD Z X\r\n")


def test_md_T_without_I_just_deletes(conn):
    conn.expect(b"ms k 1\r\nx\r\nmd k T30\r\nmg k\r\n", b"HD\r\nHD\r\nEN\r\n")


def test_md_x_empties_the_value_and_keeps_the_item(conn):
    conn.expect(b"ms k 3 F5 T100\r\nabc\r\n", b"HD\r\n")
    cas = mg_cas(conn, b"k")
    conn.expect(b"md k x\r\nmg k v f t c\r\n", b"HD\r\nVA 0 f0 t-1 c%d\r\n\r\n" % cas)
    conn.expect(b"ms k 3\r\nabc\r\nmd k x I T30 F2\r\nmg k v f t\r\n",
                b"HD\r\nHD\r\nVA 0 f2 t30 X W\r\n\r\n")


def test_md_E_sets_the_cas_of_an_invalidated_item(conn):
    conn.expect(b"ms k 1\r\nx\r\nmd k I E4242\r\nmg k c\r\n", b"HD\r\nHD\r\nHD c4242 X W\r\n")


# --- ma --------------------------------------------------------------------------------------

def test_ma_increments(conn):
    conn.expect(b"set n 0 0 2\r\n10\r\nma n\r\nma n v\r\nget n\r\n",
                b"STORED\r\nHD\r\nVA 2\r\n12\r\nVALUE n 0 2\r\n12\r\nEND\r\n")


def test_ma_miss_is_nf_even_when_quiet(conn):
    conn.expect(b"ma n\r\nma n q\r\nmn\r\n", b"NF\r\nNF\r\nMN\r\n")


# 1.6.45 hides it under q as any other success (1.6.18 always sent it).
def test_ma_N_creates_with_J_and_q_hides_that_reply(conn):
    conn.expect(b"ma n N0 J5 q v\r\nmn\r\n", b"MN\r\n")
    conn.expect(b"ma n v\r\n", b"VA 1\r\n6\r\n")
    conn.expect(b"ma n N0 J5 q v\r\nma n q\r\nmn\r\nma n v\r\n", b"MN\r\nVA 1\r\n9\r\n")
    conn.expect(b"ma m N0 q\r\nma m v\r\n", b"VA 1\r\n1\r\n")


def test_ma_modes_and_delta(conn):
    conn.expect(b"ms n 2\r\n10\r\n", b"HD\r\n")
    conn.expect(b"ma n v D5\r\nma n v MI\r\nma n v M+ D2\r\n",
                b"VA 2\r\n15\r\nVA 2\r\n16\r\nVA 2\r\n18\r\n")
    conn.expect(b"ma n v MD\r\nma n v M- D7\r\nma n v MD D100\r\n",
                b"VA 2\r\n17\r\nVA 2\r\n10\r\nVA 1\r\n0\r\n")
    conn.expect(b"ms n 20\r\n18446744073709551615\r\nma n v\r\n", b"HD\r\nVA 1\r\n0\r\n")


def test_ma_echoes_flags_in_request_order(conn):
    conn.expect(b"ms n 1 T100\r\n1\r\n", b"HD\r\n")
    reply = conn.call(b"ma n O1 k t c v\r\n")
    match = re.fullmatch(rb"VA 1 O1 kn t100 c(\d+)\r\n2\r\n", reply)
    assert match, reply
    assert int(match.group(1)) == gets_cas(conn, b"n")
    conn.expect(b"ma nope O1 k t c v\r\n", b"NF O1 knope\r\n")


def test_ma_T_updates_the_ttl_where_it_stands(conn):
    conn.expect(b"ma n N0 J10 T100 t v\r\n", b"VA 2 t100\r\n10\r\n")
    conn.expect(b"ma n t T200 v\r\n", b"VA 2 t100\r\n11\r\n")
    conn.expect(b"ma n T300 t v\r\n", b"VA 2 t300\r\n12\r\n")
    conn.expect(b"mg n t\r\n", b"HD t300\r\n")


def test_ma_C_compares_the_cas(conn):
    conn.expect(b"ms n 1\r\n5\r\n", b"HD\r\n")
    cas = mg_cas(conn, b"n")
    conn.expect(b"ma n C%d v q\r\nmn\r\n" % (cas + 1), b"EX\r\nMN\r\n")
    conn.expect(b"ma n C%d v\r\n" % cas, b"VA 1\r\n6\r\n")
    assert mg_cas(conn, b"n") != cas


def test_ma_errors(conn):
    conn.expect(b"ms n 1\r\nx\r\nma n\r\n",
                b"HD\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n")
    conn.expect(b"ma n MX\r\n", b"CLIENT_ERROR invalid mode for ma M token\r\n")
    conn.expect(b"ma n Dabc\r\n", b"CLIENT_ERROR invalid or duplicate flag\r\n")
    conn.expect(b"ma n N0 Jx\r\n", b"CLIENT_ERROR invalid or duplicate flag\r\n")
    conn.expect(b"ma\r\n", b"CLIENT_ERROR bad command line format\r\n")
    conn.expect(b"ma n D+1\r\n", b"CLIENT_ERROR invalid or duplicate flag\r\n")


def test_ma_E_sets_the_new_cas(conn):
    conn.expect(b"ma n N0 J1 E50 c\r\nma n E60 c v\r\n", b"HD c50\r\nVA 1 c60\r\n2\r\n")


# --- me --------------------------------------------------------------------------------------

ME_LINE = re.compile(rb"ME (\S+) exp=(-?\d+) la=(\d+) cas=(\d+) fetch=(yes|no) cls=1 size=(\d+)\r\n")


def test_me_miss_is_en(conn):
    conn.expect(b"me nope\r\n", b"EN\r\n")


def test_me_describes_an_item(conn):
    conn.expect(b"set k 0 0 5\r\nhello\r\n", b"STORED\r\n")
    match = ME_LINE.fullmatch(conn.call(b"me k\r\n"))
    assert match
    assert match.group(1) == b"k"
    assert match.group(2) == b"-1"
    assert int(match.group(4)) == gets_cas(conn, b"k")
    assert int(match.group(6)) > 5
    # me itself is no fetch; the gets above was.
    assert ME_LINE.fullmatch(conn.call(b"me k\r\n")).group(5) == b"yes"
    conn.expect(b"set j 0 0 1\r\nx\r\n", b"STORED\r\n")
    assert ME_LINE.fullmatch(conn.call(b"me j\r\n")).group(5) == b"no"
    assert ME_LINE.fullmatch(conn.call(b"me j\r\n")).group(5) == b"no"


# 1.6.45 decodes me's key only when a token follows the b: "me Zm9v b" looks up "Zm9v" itself.
def test_me_b_shows_the_key_in_base64(conn):
    conn.expect(b"ms Zm9v 1 b\r\nx\r\n", b"HD\r\n")
    conn.expect(b"me Zm9v b\r\n", b"EN\r\n")
    assert ME_LINE.fullmatch(conn.call(b"me Zm9v b x\r\n")).group(1) == b"Zm9v"
    assert ME_LINE.fullmatch(conn.call(b"me foo\r\n")).group(1) == b"Zm9v"


def test_me_exp_is_the_remaining_ttl(conn):
    conn.expect(b"set k 0 100 1\r\nx\r\n", b"STORED\r\n")
    assert ME_LINE.fullmatch(conn.call(b"me k\r\n")).group(2) == b"100"


# --- time ------------------------------------------------------------------------------------

def test_mg_l_and_t_count_seconds(conn):
    conn.expect(b"ms k 1 T100\r\nx\r\n", b"HD\r\n")
    time.sleep(2.1)
    reply = conn.call(b"mg k l t\r\n")
    match = re.fullmatch(rb"HD l(\d+) t(\d+)\r\n", reply)
    assert match, reply
    assert int(match.group(1)) >= 2
    assert 96 <= int(match.group(2)) <= 98


@pytest.mark.mnemo_only
def test_mg_l_restarts_at_each_read(conn):
    # memcached moves an item's last access only when it bumps the item in its LRU, which
    # depends on the LRU the item sits in; mnemod counts every read that is not u.
    conn.expect(b"ms k 1\r\nx\r\n", b"HD\r\n")
    time.sleep(1.1)
    conn.expect(b"mg k u\r\nmg k\r\n", b"HD\r\nHD\r\n")
    conn.expect(b"mg k l\r\n", b"HD l0\r\n")


# --- text and meta together ------------------------------------------------------------------

def test_text_and_meta_share_items_and_cas(conn):
    conn.expect(b"set k 3 0 2\r\nab\r\nmg k f v\r\n", b"STORED\r\nVA 2 f3\r\nab\r\n")
    cas = gets_cas(conn, b"k")
    assert mg_cas(conn, b"k") == cas
    conn.expect(b"cas k 0 0 1 %d\r\nx\r\nms k 1 C%d\r\ny\r\n" % (cas, cas),
                b"STORED\r\nEX\r\n")
    cas = mg_cas(conn, b"k")
    conn.expect(b"cas k 0 0 1 %d\r\nz\r\n" % cas, b"STORED\r\n")
    conn.expect(b"ms n 1\r\n1\r\nincr n 5\r\nma n v\r\ndecr n 1\r\n",
                b"HD\r\n6\r\nVA 1\r\n7\r\n6\r\n")
    conn.expect(b"touch k 100\r\nmg k t\r\ndelete k\r\nmg k\r\n",
                b"TOUCHED\r\nHD t100\r\nDELETED\r\nEN\r\n")


def test_meta_commands_count_in_stats(conn):
    conn.expect(b"mg a v\r\nms a 1\r\nx\r\nmg a v\r\nmg a T10\r\nmg b T10\r\nmg c N10\r\n"
                b"md a\r\nmd a\r\nma n\r\nma n N0\r\nma n\r\nma n MD\r\nme zz\r\nmn\r\n",
                b"EN\r\nHD\r\nVA 1\r\nx\r\nHD\r\nEN\r\nHD W\r\nHD\r\nNF\r\nNF\r\nHD\r\nHD\r\nHD\r\n"
                b"EN\r\nMN\r\n")
    assert ME_LINE.fullmatch(conn.call(b"me n\r\n"))
    got = stats(conn)
    # As memcached counts them: a hit with T is a touch, a miss with T a get miss, a creation
    # by N a get hit; ma's creation counts nowhere; me counts in cmd_meta.
    expected = {"cmd_get": "4", "get_hits": "2", "get_misses": "2", "cmd_touch": "1",
                "touch_hits": "1", "cmd_set": "1", "delete_hits": "1", "delete_misses": "1",
                "incr_misses": "1", "incr_hits": "1", "decr_hits": "1", "cmd_meta": "2"}
    assert {k: got[k] for k in expected} == expected


def test_stats_items_reports_the_oldest_items_age(conn):
    conn.expect(b"ms k 1\r\nx\r\n", b"HD\r\n")
    time.sleep(1.1)
    items = parse_stats(conn.call(b"stats items\r\n"))
    assert int(items["items:1:age"]) >= 1
