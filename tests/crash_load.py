"""A write load with a model of what the server acknowledged, for the kill -9 drill
(test_crash_recovery.py, bench/crash_restart.py): sets, overwrites, deletes, incr and flush_all
from one client, each recorded once its reply came. An operation whose reply had not come when
the server died may or may not have happened: either outcome is right for its key.

check() compares what a restarted server serves with the model: a value the model says was
deleted, overwritten, flushed or expired is stale; a key the model says is live, whose last write
was acknowledged more than `quiet` seconds before the kill, should hit."""

import random
import threading
import time

from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheUnexpectedCloseError

# What the writer sees when the server is killed under it.
KILLED = (OSError, MemcacheUnexpectedCloseError)

GONE = None  # the model's value of a key that was deleted, flushed or never set


class Load:
    def __init__(self, host, port, keys=50000, counters=50, rate=20000, seed=18):
        self.addr = (host, port)
        self.keys = ["key%d" % i for i in range(keys)]
        self.counters = ["counter%d" % i for i in range(counters)]
        self.rng = random.Random(seed)
        self.model = {}      # key -> (value, time acknowledged)
        self.pending = {}    # key -> value of the operation in flight (GONE for a delete)
        self.flushed_at = None
        self.version = 0
        self.stop = threading.Event()
        self.refilled = threading.Event()  # the flush_all and the refill after it are done
        self.error = None
        self.ops = 0
        self.rate = rate  # operations a second at most, so that most keys are not written last
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        client = Client(self.addr, timeout=10, default_noreply=False)
        now = time.monotonic()
        for at in range(0, len(self.keys), 500):
            batch = {k: self._value(k) for k in self.keys[at:at + 500]}
            assert not client.set_many(batch)
            for key, value in batch.items():
                self.model[key] = (value, now)
        for key in self.counters:
            client.set(key, b"0")
            self.model[key] = (b"0", now)
        client.close()
        self.thread.start()

    def _value(self, key):
        self.version += 1
        return ("%s:%d:" % (key, self.version)).encode() + b"x" * self.rng.randrange(10, 200)

    def _do(self, client, key, value, call):
        self.pending[key] = value
        call()
        self.model[key] = (value, time.monotonic())
        del self.pending[key]
        self.ops += 1

    def _run(self):
        client = Client(self.addr, timeout=10, default_noreply=False)
        try:
            self._flush_and_refill(client)
            self.refilled.set()
            began, done = time.monotonic(), self.ops
            while not self.stop.is_set():
                ahead = (self.ops - done) / self.rate - (time.monotonic() - began)
                if ahead > 0:
                    time.sleep(ahead)
                roll = self.rng.random()
                key = self.rng.choice(self.keys)
                if roll < 0.7:
                    value = self._value(key)
                    self._do(client, key, value, lambda: client.set(key, value))
                elif roll < 0.9:
                    self._do(client, key, GONE, lambda: client.delete(key))
                else:
                    self._incr(client, self.rng.choice(self.counters))
        except Exception as error:  # noqa: BLE001 - the test tells a kill (KILLED) from a failure
            self.error = error

    def _flush_and_refill(self, client):
        """flush_all, then a quarter of the keys stay flushed: each set again later only by
        chance."""
        client.flush_all()
        now = time.monotonic()
        for key in self.model:
            self.model[key] = (GONE, now)
        self.ops += 1
        refill = self.keys[:len(self.keys) * 3 // 4] + self.counters
        for at in range(0, len(refill), 500):
            batch = {k: (b"0" if k.startswith("counter") else self._value(k))
                     for k in refill[at:at + 500]}
            for key, value in batch.items():
                self.pending[key] = value
            assert not client.set_many(batch)
            now = time.monotonic()
            for key, value in batch.items():
                self.model[key] = (value, now)
                del self.pending[key]
            self.ops += len(batch)

    def _incr(self, client, counter):
        value, _ = self.model[counter]
        if value is GONE:
            self._do(client, counter, b"0", lambda: client.set(counter, b"0"))
            return
        after = int(value) + 1

        def call():
            got = client.incr(counter, 1)
            if got != after:
                raise AssertionError("incr %s gave %r, the model %d" % (counter, got, after))
        self._do(client, counter, str(after).encode(), call)

    def finish(self):
        """Waits for the writer to meet the kill: its next operation fails."""
        self.thread.join(10)
        self.stop.set()


def check(load, client, killed_at, quiet=1.0):
    """Returns (stale, hit, eligible): keys served with a value the model says is gone or older,
    and of the keys live and not written in the last `quiet` seconds before `killed_at` (the
    monotonic time the kill was sent), how many hit."""
    stale = []
    hit = eligible = 0
    everything = load.keys + load.counters
    for at in range(0, len(everything), 200):
        batch = everything[at:at + 200]
        got = client.get_many(batch)
        for key in batch:
            value, written = load.model.get(key, (GONE, 0))
            served = got.get(key)
            allowed = {value}
            if key in load.pending:
                allowed.add(load.pending[key])
            if served is not None and served not in allowed:
                stale.append((key, served, value))
            if value is not GONE and key not in load.pending and written < killed_at - quiet:
                eligible += 1
                hit += served == value
    return stale, hit, eligible
