"""stats and its sub-commands: memcached's names, shapes and meanings."""

import random
import re
import time

import pytest

from harness import parse_stats, stats, wait_for_stat

STAT_LINE = re.compile(rb"STAT [^ \r\n]+ [^\r\n]*\r\n")


def assert_listing(reply):
    """A well-formed 'STAT name value' listing ending in END."""
    assert reply.endswith(b"END\r\n"), reply[-200:]
    body = reply[:-len(b"END\r\n")]
    assert STAT_LINE.sub(b"", body) == b"", body


def test_general_stats_describe_the_server(server, conn):
    s = stats(conn)
    assert int(s["pid"]) == server.pid
    assert abs(int(s["time"]) - time.time()) <= 2
    assert 0 <= int(s["uptime"]) <= 60
    assert conn.call(b"version\r\n") == b"VERSION %s\r\n" % s["version"].encode()
    assert s["pointer_size"] == "64"
    assert s["limit_maxbytes"] == str(64 * 1024 * 1024)
    assert s["max_connections"] == "1024"
    assert s["threads"] == "4"
    for name in ("rusage_user", "rusage_system"):
        assert re.fullmatch(r"\d+\.\d{6}", s[name]), s[name]
    for name in ("curr_items", "total_items", "bytes", "evictions", "cmd_get", "cmd_set",
                 "get_hits", "get_misses", "bytes_read", "bytes_written", "curr_connections",
                 "total_connections", "rejected_connections", "accepting_conns", "reclaimed",
                 "expired_unfetched", "evicted_unfetched", "get_expired", "get_flushed",
                 "store_too_large", "store_no_memory", "hash_power_level", "hash_bytes"):
        assert s[name].isdigit(), (name, s.get(name))


def test_general_stats_reflect_the_flags(start_server):
    server = start_server("-m", "10", "-c", "50", "-t", "2")
    with server.connect() as c:
        s = stats(c)
    assert s["limit_maxbytes"] == str(10 * 1024 * 1024)
    assert s["max_connections"] == "50"
    assert s["threads"] == "2"


def test_command_counters(conn):
    conn.call(b"set a 0 0 1\r\n1\r\nset b 0 0 1\r\n2\r\nget a c\r\nget a\r\ngets b\r\n"
              b"gat 100 a nope\r\ndelete b\r\ndelete b\r\nincr a 1\r\nincr zz 1\r\ndecr a 1\r\n"
              b"decr zz 1\r\ntouch a 10\r\ntouch zz 10\r\ncas zz 0 0 1 1\r\nx\r\n"
              b"cas a 0 0 1 1\r\nx\r\nadd a 0 0 1\r\n1\r\nappend a 0 0 1\r\n1\r\n")
    conn.call(b"cas a 0 0 1 %d\r\ny\r\n" % int(conn.call(b"gets a\r\n").split()[4]))
    conn.call(b"flush_all\r\n")
    s = stats(conn)
    expected = {
        "cmd_get": 5, "get_hits": 4, "get_misses": 1,  # keys of get and gets
        "cmd_touch": 4, "touch_hits": 2, "touch_misses": 2,  # keys of gat, and touch
        "cmd_set": 7,  # every storage command, refused or not
        "delete_hits": 1, "delete_misses": 1, "incr_hits": 1, "incr_misses": 1,
        "decr_hits": 1, "decr_misses": 1, "cas_hits": 1, "cas_misses": 1, "cas_badval": 1,
        "cmd_flush": 1,
    }
    assert {name: int(s[name]) for name in expected} == expected


def test_item_counters(conn):
    # Incompressible, so that `bytes` counts the value whole on a server that compresses.
    value = random.Random(1).randbytes(10000)
    conn.call(b"".join(b"set k%d 0 0 %d\r\n%s\r\n" % (i, len(value), value) for i in range(5)))
    s = stats(conn)
    assert s["curr_items"] == "5"
    assert s["total_items"] == "5"
    assert 5 * len(value) <= int(s["bytes"]) <= int(s["limit_maxbytes"])
    conn.call(b"delete k0\r\n")
    assert stats(conn)["curr_items"] == "4"


def test_too_large_stores_are_counted(conn):
    size = 2 * 1024 * 1024
    conn.expect(b"set big 0 0 %d\r\n%s\r\n" % (size, b"x" * size),
                b"SERVER_ERROR object too large for cache\r\n")
    assert stats(conn)["store_too_large"] == "1"


def test_byte_counters_count_the_traffic(conn):
    before = stats(conn)
    request = b"set k 0 0 100\r\n" + b"x" * 100 + b"\r\n"
    conn.call(request)
    after = stats(conn)
    assert int(after["bytes_read"]) - int(before["bytes_read"]) >= len(request)
    assert int(after["bytes_written"]) > int(before["bytes_written"])


def test_connection_counters(server, conn):
    before = stats(conn)
    others = [server.connect() for _ in range(3)]
    for other in others:
        other.call(b"")
    s = stats(conn)
    assert s["curr_connections"] == str(int(before["curr_connections"]) + 3)
    assert int(s["total_connections"]) == int(before["total_connections"]) + 3
    for other in others:
        other.close()
    assert wait_for_stat(conn, "curr_connections", before["curr_connections"]) == \
        before["curr_connections"]


def test_stats_reset_zeroes_the_counters_but_not_the_items(conn):
    conn.call(b"set a 0 0 1\r\n1\r\nget a\r\nget b\r\n")
    conn.expect(b"stats reset\r\n", b"RESET\r\n")
    s = stats(conn)
    for name in ("cmd_get", "cmd_set", "get_hits", "get_misses", "total_items"):
        assert s[name] == "0", name
    assert s["curr_items"] == "1"
    conn.expect(b"get a\r\n", b"VALUE a 0 1\r\n1\r\nEND\r\n")


def test_stats_settings(start_server):
    server = start_server("-m", "32", "-c", "100", "-t", "3", "-I", "2m", "-M", "-A",
                          "-o", "idle_timeout=7")
    with server.connect() as c:
        reply = c.call(b"stats settings\r\n")
        assert_listing(reply)
        s = parse_stats(reply)
    assert {name: s[name] for name in (
        "maxbytes", "maxconns", "tcpport", "udpport", "num_threads", "item_size_max",
        "evictions", "cas_enabled", "shutdown_command", "idle_timeout", "flush_enabled")} == {
        "maxbytes": str(32 * 1024 * 1024), "maxconns": "100", "tcpport": str(server.port),
        "udpport": "0", "num_threads": "3", "item_size_max": str(2 * 1024 * 1024),
        "evictions": "off", "cas_enabled": "yes", "shutdown_command": "yes",
        "idle_timeout": "7", "flush_enabled": "yes"}


def test_stats_settings_defaults(server, conn):
    s = stats(conn, b"settings")
    assert (s["evictions"], s["shutdown_command"], s["item_size_max"], s["verbosity"]) == (
        "on", "no", "1048576", "0")
    conn.expect(b"verbosity 1\r\n", b"OK\r\n")
    assert stats(conn, b"settings")["verbosity"] == "1"


def test_stats_items(conn):
    conn.call(b"set a 0 0 1\r\n1\r\nset b 0 0 3\r\n222\r\n")
    reply = conn.call(b"stats items\r\n")
    assert_listing(reply)
    items = parse_stats(reply)
    names = set()
    total = 0
    for name, value in items.items():
        match = re.fullmatch(r"items:(\d+):(\w+)", name)
        assert match, name
        names.add(match.group(2))
        if match.group(2) == "number":
            total += int(value)
    assert {"number", "evicted", "outofmemory", "reclaimed"} <= names
    assert total == 2


def test_stats_slabs(conn):
    conn.call(b"set a 0 0 1\r\n1\r\n")
    reply = conn.call(b"stats slabs\r\n")
    assert_listing(reply)
    slabs = parse_stats(reply)
    per_class = {re.fullmatch(r"\d+:(\w+)", n).group(1) for n in slabs if n[0].isdigit()}
    assert {"chunk_size", "total_pages", "used_chunks", "free_chunks", "get_hits"} <= per_class
    assert int(slabs["active_slabs"]) >= 1
    assert int(slabs["total_malloced"]) > 0


def test_stats_sizes(conn):
    conn.expect(b"stats sizes\r\n", b"STAT sizes_status disabled\r\nEND\r\n")


def test_stats_conns_lists_this_connection(conn):
    reply = conn.call(b"stats conns\r\n")
    assert_listing(reply)
    me = b"tcp:127.0.0.1:%d" % conn.sock.getsockname()[1]
    assert re.search(rb"STAT \d+:addr " + re.escape(me) + rb"\r\n", reply), reply
    assert re.search(rb"STAT \d+:state \w+\r\n", reply), reply


def test_unknown_stats_group_is_an_error(conn):
    conn.expect(b"stats nonsense\r\n", b"ERROR\r\n")


def test_pymemcache_stats(client):
    client.set("a", b"1")
    client.get("a")
    s = client.stats()
    assert s[b"cmd_get"] == 1 and s[b"get_hits"] == 1 and s[b"curr_items"] == 1
    assert client.stats("settings")[b"item_size_max"] == 1048576


@pytest.mark.mnemo_only
def test_mnemo_segment_stats(conn):
    conn.call(b"set a 0 0 1\r\n1\r\n")
    s = stats(conn)
    total, used, free = (int(s[n]) for n in ("segments_total", "segments_in_use", "segments_free"))
    assert used >= 1 and used + free <= total
    assert int(s["segment_size"]) * total <= int(s["limit_maxbytes"])
    for name in ("segment_merges", "segment_evictions", "segments_expired",
                 "items_copied_forward"):
        assert s[name].isdigit(), name
    settings = stats(conn, b"settings")
    assert settings["segment_size"] == s["segment_size"]
    assert settings["eviction_policy"] in ("merge", "fifo")


def test_log_stats_are_zero_without_a_watcher(conn):
    conn.expect(b"set k 0 0 1\r\nx\r\nget k nope\r\ndelete k\r\n",
                b"STORED\r\nVALUE k 0 1\r\nx\r\nEND\r\nDELETED\r\n")
    general = stats(conn)
    assert [general[name] for name in ("log_worker_dropped", "log_worker_written",
                                       "log_watcher_skipped", "log_watcher_sent",
                                       "log_watchers")] == ["0"] * 5
