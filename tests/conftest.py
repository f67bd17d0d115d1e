"""Fixtures: servers started per test (or per module where a test file shares one wait), raw
connections and pymemcache clients to them. Every server a fixture starts is stopped by it, and a
server that crashed or exited uncleanly fails the test that used it."""

import os

import pytest
from pymemcache.client.base import Client

import harness


def pytest_report_header(config):
    return "server under test: %s (MNEMO_SERVER)" % harness.server_binary()


def pytest_collection_modifyitems(config, items):
    if not harness.is_memcached():
        return
    skip = pytest.mark.skip(reason="checks a behaviour of mnemod that memcached (1.6.45, the "
                                   "reference) lacks or answers otherwise on purpose")
    for item in items:
        if "mnemo_only" in item.keywords:
            item.add_marker(skip)


def pytest_sessionstart(session):
    binary = harness.server_binary()
    if not os.access(binary, os.X_OK):
        raise pytest.UsageError("no server binary at %s: build mnemod or set MNEMO_SERVER" % binary)


class ServerSet:
    """Starts servers and stops all of them at the end of its scope."""

    def __init__(self):
        self.servers = []

    def start(self, *flags, env=None, binary=None):
        server = harness.Server(flags, binary=binary, env=env)
        self.servers.append(server)
        return server.start()

    def stop_all(self):
        complaints = [c for c in (s.stop() for s in self.servers) if c]
        if complaints:
            pytest.fail("\n\n".join(complaints), pytrace=False)


@pytest.fixture
def start_server():
    """start_server(*flags, env=None, binary=None) starts a server (the one under test unless
    `binary` says otherwise) with the base flags plus `flags`."""
    servers = ServerSet()
    yield servers.start
    servers.stop_all()


@pytest.fixture(scope="module")
def start_module_server():
    """Like start_server, for servers that a whole test file shares (one sleep per file)."""
    servers = ServerSet()
    yield servers.start
    servers.stop_all()


@pytest.fixture
def server(start_server):
    """A fresh server with default options."""
    return start_server()


@pytest.fixture
def conn(server):
    with server.connect() as c:
        yield c


def make_client(server):
    return Client((harness.HOST, server.port), connect_timeout=harness.TIMEOUT,
                  timeout=harness.TIMEOUT, default_noreply=False)


@pytest.fixture
def client(server):
    """A pymemcache client of `server` that waits for every reply."""
    c = make_client(server)
    yield c
    c.close()
