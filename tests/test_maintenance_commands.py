"""memcached's maintenance commands, `slabs reassign|automove`, `lru_crawler` and `lru`: accepted
with memcached 1.6.45's replies, OK or its error text for bad arguments, byte for byte. In mnemod
they change nothing (segments have no slab pages to move or LRUs to tune; see
src/server/maintenance_commands.h and docs/memcached-differences.md)."""

import pytest

BAD_FORMAT = b"CLIENT_ERROR bad command line format\r\n"


@pytest.mark.parametrize("line, reply", [
    (b"slabs automove 0", b"OK\r\n"),
    (b"slabs automove 1", b"OK\r\n"),
    (b"slabs automove 2", b"OK\r\n"),
    (b"slabs automove 3", b"ERROR\r\n"),
    (b"slabs automove x", BAD_FORMAT),
    (b"slabs a 1", b"OK\r\n"),
    (b"slabs automove ratio 0.5", b"OK\r\n"),
    (b"slabs automove ratio x", b"ERROR\r\n"),
    (b"slabs automove ratio", b"ERROR\r\n"),
    (b"slabs automove freeratio 0.1", b"OK\r\n"),
    (b"slabs automove window 30", b"OK\r\n"),
    (b"slabs automove window 2", b"CLIENT_ERROR automove window too low or too high\r\n"),
    (b"slabs automove window 1801", b"CLIENT_ERROR automove window too low or too high\r\n"),
    (b"slabs automove window x", BAD_FORMAT),
    (b"slabs automove", b"ERROR\r\n"),
    (b"slabs reassign 1 1", b"SAME src and dst class are identical\r\n"),
    (b"slabs reassign 1 2", b"NOSPARE source class has no spare pages\r\n"),
    (b"slabs reassign -1 2", b"BADCLASS invalid src or dst class id\r\n"),
    (b"slabs reassign 100 2", b"BADCLASS invalid src or dst class id\r\n"),
    (b"slabs reassign -2 2", b"BADCLASS invalid src or dst class id\r\n"),
    (b"slabs reassign x 2", BAD_FORMAT),
    (b"slabs reassign 1 2 3", b"ERROR\r\n"),
    (b"slabs", b"ERROR\r\n"),
    (b"slabs bogus", b"ERROR\r\n"),
])
def test_slabs(conn, line, reply):
    conn.expect(line + b"\r\n", reply)


@pytest.mark.parametrize("line, reply", [
    (b"lru_crawler crawl all", b"OK\r\n"),
    (b"lru_crawler crawl 1,2", b"OK\r\n"),
    (b"lru_crawler crawl 1,,3", b"OK\r\n"),
    (b"lru_crawler crawl ,", b"NOTSTARTED no items to crawl\r\n"),
    (b"lru_crawler crawl 0", b"BADCLASS invalid class id\r\n"),
    (b"lru_crawler crawl 64", b"BADCLASS invalid class id\r\n"),
    (b"lru_crawler crawl x", b"BADCLASS invalid class id\r\n"),
    (b"lru_crawler crawl hash", b"ERROR an unknown error happened\r\n"),
    (b"lru_crawler tocrawl 10", b"OK\r\n"),
    (b"lru_crawler tocrawl x", BAD_FORMAT),
    (b"lru_crawler sleep 100", b"OK\r\n"),
    (b"lru_crawler sleep 1000001", b"CLIENT_ERROR sleep must be one second or less\r\n"),
    (b"lru_crawler enable", b"ERROR failed to start lru crawler thread\r\n"),
    (b"lru_crawler bogus", b"ERROR\r\n"),
    (b"lru_crawler", b"ERROR\r\n"),
    (b"lru_crawler crawl all extra", b"ERROR\r\n"),
])
def test_lru_crawler(conn, line, reply):
    conn.expect(line + b"\r\n", reply)


def test_lru_crawler_disable_and_enable(conn):
    conn.expect(b"lru_crawler disable\r\n", b"OK\r\n")
    conn.expect(b"lru_crawler disable\r\n", b"OK\r\n")
    conn.expect(b"lru_crawler crawl all\r\n", b"CLIENT_ERROR lru crawler disabled\r\n")
    conn.expect(b"lru_crawler enable\r\n", b"OK\r\n")
    conn.expect(b"lru_crawler crawl all\r\n", b"OK\r\n")


def test_the_crawler_off_from_the_start(start_server):
    server = start_server("-o", "no_lru_crawler")
    with server.connect() as c:
        c.expect(b"lru_crawler crawl all\r\n", b"CLIENT_ERROR lru crawler disabled\r\n")


@pytest.mark.parametrize("line, reply", [
    (b"lru tune 10 10 0.1 2", b"OK\r\n"),
    (b"lru tune 50 40 0.1 2", b"ERROR hot and warm pcts must not exceed 80\r\n"),
    (b"lru tune 10 10 0 2", b"ERROR hot/warm age factors must be greater than 0\r\n"),
    (b"lru tune 10 x 0.1 2", b"ERROR\r\n"),
    (b"lru tune 10 10 0.1", b"ERROR\r\n"),
    (b"lru mode flat", b"OK\r\n"),
    (b"lru mode segmented", b"OK\r\n"),
    (b"lru mode bogus", b"ERROR\r\n"),
    (b"lru temp_ttl 10", b"OK\r\n"),
    (b"lru temp_ttl -1", b"OK\r\n"),
    (b"lru temp_ttl x", b"ERROR\r\n"),
    (b"lru bogus", b"ERROR\r\n"),
    (b"lru", b"ERROR\r\n"),
])
def test_lru(conn, line, reply):
    conn.expect(line + b"\r\n", reply)


def test_noreply_hides_their_replies(conn):
    conn.expect(b"slabs automove 1 noreply\r\nlru_crawler bogus noreply\r\nlru mode flat noreply\r\n",
                b"")
