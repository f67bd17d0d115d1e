"""Moves between real mnemod nodes (docs/design/partitioning.md, docs/cluster.md "Adding and
removing nodes"), without a proxy: nodes share a node list (-o cluster_file, -o replicas=1); the
list changes and SIGHUP makes each node send the keys it no longer owns to their new owners and
then drop them. A joiner is started with the list before it joined (-o cluster_previous).

Where each key lives comes from mnemo-ring (the project's ketama ring). Every outcome is polled
for with a deadline; nothing sleeps a fixed time for one.
"""

import signal
import time

import pytest

import harness
from test_replication_async import Node, item, owners, replica_sets, stat

pytestmark = pytest.mark.mnemo_only

DEADLINE = 20.0


def write_list(path, nodes):
    path.write_text("".join(n.spec() + "\n" for n in nodes))


def load(node, values):
    """Stores {key: value} at `node`, pipelined (ms q, then mn)."""
    conn = node.conn()
    batch = []
    for key, value in values.items():
        batch.append(b"ms %s %d T0 F5 q\r\n%s\r\n" % (key, len(value), value))
    for start in range(0, len(batch), 500):
        conn.send(b"".join(batch[start:start + 500]) + b"mn\r\n")
        assert conn.read_until(b"MN\r\n").endswith(b"MN\r\n")


def wait_moves_done(nodes, deadline=DEADLINE):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if all(stat(n, "move_in_progress") == 0 for n in nodes):
            return
        time.sleep(0.05)
    pytest.fail("the move did not end:\n" + "\n".join(n.server.output()[-3000:] for n in nodes))


def start_nodes(nodes, list_file, extra=()):
    for node in nodes:
        node.flags = ["-o", "cluster_file=%s" % list_file] + list(extra)
        node.start()


def stop_all(nodes):
    complaints = [c for c in (n.server.stop() for n in nodes if n.server) if c]
    if complaints:
        pytest.fail("\n\n".join(complaints), pytrace=False)


@pytest.fixture
def nodes():
    made = []
    yield made
    stop_all(made)


def spread(nodes, keys):
    specs = [n.spec() for n in nodes]
    return owners(specs, keys)


def join(tmp_path, nodes, extra=()):
    """Four nodes, then a fifth joins; returns (old owners, new owners) by key index."""
    old_list = tmp_path / "before.txt"
    list_file = tmp_path / "nodes.txt"
    nodes.extend(Node("node%d" % i, []) for i in range(5))
    write_list(list_file, nodes[:4])
    write_list(old_list, nodes[:4])
    start_nodes(nodes[:4], list_file, extra)
    return old_list, list_file


def start_joiner(nodes, list_file, old_list, options=""):
    """Writes the five nodes' list and starts the fifth on it, told the list before it joined,
    with more -o `options` if given."""
    write_list(list_file, nodes)
    settings = ["cluster_file=%s" % list_file, "cluster_previous=%s" % old_list]
    nodes[4].flags = ["-o", ",".join(settings + ([options] if options else []))]
    nodes[4].start()


def loaded(nodes, values):
    """Stores {key: value} at each key's owner among the first four nodes (the ring before the
    join); returns (owner before, owner after the join, the keys that move), by key."""
    keys = list(values)
    before = spread(nodes[:4], keys)
    after = spread(nodes, keys)
    for index in range(4):
        load(nodes[index], {k: values[k] for k in keys if before[k] == index})
    return before, after, [k for k in keys if after[k] != before[k]]


def test_a_join_moves_the_joiners_keys_and_the_old_owners_drop_them(tmp_path, nodes):
    old_list, list_file = join(tmp_path, nodes)
    keys = [b"key:%d" % i for i in range(4000)]
    before, after, moved = loaded(nodes, {k: b"v-" + k for k in keys})
    assert all(after[k] == 4 for k in moved)  # ketama moves keys to the joiner alone
    assert 0.15 * len(keys) < len(moved) < 0.26 * len(keys)

    # As mnemo-cluster add does: the new list, the joiner, then SIGHUP to the others.
    start_joiner(nodes, list_file, old_list)
    assert stat(nodes[4], "move_in_progress") == 1  # it waits for its keys
    for node in nodes[:4]:
        node.server.proc.send_signal(signal.SIGHUP)
    wait_moves_done(nodes)

    for key in keys:
        assert item(nodes[after[key]], key) == (b"v-" + key, 5, -1), key
    for key in moved:
        assert item(nodes[before[key]], key) is None, key  # never a stale hit on the old owner
    assert stat(nodes[4], "curr_items") == len(moved)
    assert stat(nodes[4], "move_keys_received") == len(moved)
    assert sum(stat(n, "move_keys_sent") for n in nodes[:4]) == len(moved)
    assert sum(stat(n, "move_keys_dropped") for n in nodes[:4]) == len(moved)
    for node in nodes:
        assert stat(node, "move_keys_remaining") == 0
    for index in range(4):
        mine = [k for k in keys if after[k] == index]
        assert stat(nodes[index], "curr_items") == len(mine)
    assert "move: done" in nodes[0].server.output()


def test_a_leaver_hands_every_key_to_its_new_owner(tmp_path, nodes):
    list_file = tmp_path / "nodes.txt"
    nodes.extend(Node("node%d" % i, []) for i in range(5))
    write_list(list_file, nodes)
    start_nodes(nodes, list_file)
    keys = [b"leave:%d" % i for i in range(3000)]
    before = spread(nodes, keys)
    for index in range(5):
        load(nodes[index], {k: b"w-" + k for k in keys if before[k] == index})
    staying = [n for i, n in enumerate(nodes) if i != 1]
    after_by_staying = spread(staying, keys)
    write_list(list_file, staying)
    leavers = [k for k in keys if before[k] == 1]
    for node in staying:
        node.server.proc.send_signal(signal.SIGHUP)
    # The leaver has not read the list yet: its keys' new owners fetch them from it on a miss.
    for key in leavers[:20]:
        new_owner = staying[after_by_staying[key]]
        end = time.monotonic() + DEADLINE
        while stat(new_owner, "move_in_progress") == 0:  # its SIGHUP is handled
            assert time.monotonic() < end
            time.sleep(0.02)
        assert item(new_owner, key) == (b"w-" + key, 5, -1), key
    assert sum(stat(n, "move_fetched_on_miss") for n in staying) == 20
    nodes[1].server.proc.send_signal(signal.SIGHUP)
    wait_moves_done(nodes)
    for key in keys:
        assert item(staying[after_by_staying[key]], key) == (b"w-" + key, 5, -1), key
    assert stat(nodes[1], "curr_items") == 0
    assert stat(nodes[1], "move_keys_sent") == len(leavers)
    assert stat(nodes[1], "move_keys_dropped") == len(leavers)
    assert "it can be stopped" in nodes[1].server.output()


def test_writes_and_deletes_during_a_move_win_over_the_copies(tmp_path, nodes):
    # A slow walk, so that the writes below land while copies are still on their way.
    old_list, list_file = join(tmp_path, nodes, extra=["-o", "move_rate_keys=600"])
    keys = [b"model:%d" % i for i in range(6000)]
    model = {k: b"old-" + k for k in keys}
    before, after, moved = loaded(nodes, dict(model))

    start_joiner(nodes, list_file, old_list, "move_rate_keys=600")
    for node in nodes[:4]:
        node.server.proc.send_signal(signal.SIGHUP)

    # Clients that already follow the new ring write to the joiner; some still write to the
    # old owner (a proxy not yet reconfigured): both must be what stays.
    joiner = nodes[4].conn()
    for n, key in enumerate(moved[:600]):
        if n % 3 == 0:
            # NF: the copy has not come yet.
            assert joiner.call(b"md %s\r\n" % key) in (b"HD\r\n", b"NF\r\n")
            model[key] = None
        elif n % 3 == 1:
            model[key] = b"new-" + key
            joiner.expect(b"ms %s %d T0 F5\r\n%s\r\n" % (key, len(model[key]), model[key]),
                          b"HD\r\n")
        else:
            old = nodes[before[key]].conn()
            model[key] = b"late-" + key
            old.expect(b"ms %s %d T0 F5\r\n%s\r\n" % (key, len(model[key]), model[key]),
                       b"HD\r\n")
    assert stat(nodes[4], "move_in_progress") == 1, "the move ended before the writes"
    wait_moves_done(nodes, deadline=30)
    for key in keys:
        got = item(nodes[after[key]], key)
        expected = None if model[key] is None else (model[key], 5, -1)
        assert got == expected, key
    for key in moved:
        assert item(nodes[before[key]], key) is None, key


def test_a_copy_that_comes_after_the_joiner_stopped_waiting_is_dropped(tmp_path, nodes):
    # The joiner waits move_max_ms (300) for its previous holders, which get their SIGHUP only
    # after that: every copy comes late. The joiner no longer remembers what its clients
    # deleted meanwhile, so it must store none of them (they miss), or a deleted key comes back.
    old_list, list_file = join(tmp_path, nodes)
    keys = [b"late:%d" % i for i in range(2000)]
    before, after, moved = loaded(nodes, {k: b"l-" + k for k in keys})
    start_joiner(nodes, list_file, old_list, "move_max_ms=300")
    wait_moves_done(nodes[4:])
    assert "move_max_ms passed" in nodes[4].server.output()
    joiner = nodes[4].conn()
    for key in moved[0::2]:
        joiner.expect(b"md %s\r\n" % key, b"NF\r\n")  # a client's delete, after the wait
    for node in nodes[:4]:
        node.server.proc.send_signal(signal.SIGHUP)
    wait_moves_done(nodes)
    for key in moved:
        assert item(nodes[4], key) is None, key  # a miss, never a deleted key back
        assert item(nodes[before[key]], key) is None, key
    assert stat(nodes[4], "move_keys_late") == len(moved)
    assert stat(nodes[4], "move_keys_received") == 0
    for key in keys:
        if key not in moved:
            assert item(nodes[after[key]], key) == (b"l-" + key, 5, -1), key


def test_a_walk_longer_than_move_max_ms_keeps_the_joiner_waiting_while_its_copies_come(
        tmp_path, nodes):
    # Each old node walks its 500-odd items at 400 a second (over a second), the joiner waits
    # move_max_ms=400 for a silent peer: it must still be receiving when the last copies come.
    old_list, list_file = join(tmp_path, nodes, extra=["-o", "move_rate_keys=400"])
    keys = [b"walk:%d" % i for i in range(2000)]
    before, after, moved = loaded(nodes, {k: b"w-" + k for k in keys})
    start_joiner(nodes, list_file, old_list, "move_max_ms=400")
    started = time.monotonic()
    for node in nodes[:4]:
        node.server.proc.send_signal(signal.SIGHUP)
    wait_moves_done(nodes)
    assert time.monotonic() - started > 1.0, "the walks were not longer than move_max_ms"
    assert stat(nodes[4], "move_keys_late") == 0
    assert stat(nodes[4], "move_keys_received") == len(moved)
    for key in keys:
        assert item(nodes[after[key]], key) == (b"w-" + key, 5, -1), key
    assert "move_max_ms passed" not in nodes[4].server.output()


def test_a_joiner_fetches_a_key_it_lacks_from_its_previous_owner(tmp_path, nodes):
    old_list, list_file = join(tmp_path, nodes)
    keys = [b"read:%d" % i for i in range(2000)]
    before, after, moved = loaded(nodes, {k: b"r-" + k for k in keys})
    stayed = [k for k in keys if after[k] == before[k]]
    start_joiner(nodes, list_file, old_list)

    # The old owners have not read the new list yet: nothing was sent; a miss asks them.
    joiner = nodes[4].conn()
    for key in moved[:50]:
        assert joiner.call(b"get %s\r\n" % key) == b"VALUE %s 5 %d\r\n%s\r\nEND\r\n" % (
            key, len(b"r-" + key), b"r-" + key)
    assert item(nodes[4], moved[50]) == (b"r-" + moved[50], 5, -1)  # mg too
    reply = joiner.call(b"get %s %s\r\n" % (moved[51], moved[52]))
    assert reply.count(b"VALUE ") == 2, reply
    assert stat(nodes[4], "move_fetched_on_miss") == 53
    # A key the joiner did not gain is not asked for; a deleted one is not brought back.
    assert joiner.call(b"get %s\r\n" % stayed[0]) == b"END\r\n"
    assert joiner.call(b"md %s\r\n" % moved[60]) == b"NF\r\n"
    assert item(nodes[4], moved[60]) is None
    assert stat(nodes[4], "move_fetched_on_miss") == 53
    assert stat(nodes[4], "get_hits") == 53 and stat(nodes[4], "get_misses") == 2

    for node in nodes[:4]:
        node.server.proc.send_signal(signal.SIGHUP)
    wait_moves_done(nodes)
    for key in moved:
        expected = None if key == moved[60] else (b"r-" + key, 5, -1)
        assert item(nodes[4], key) == expected, key
        assert item(nodes[before[key]], key) is None, key


def test_a_miss_the_previous_owner_cannot_answer_is_a_miss(tmp_path, nodes):
    old_list, list_file = join(tmp_path, nodes)
    keys = [b"dead:%d" % i for i in range(400)]
    before = spread(nodes[:4], keys)
    after = spread(nodes, keys)
    moved = [k for k in keys if after[k] != before[k]]
    start_joiner(nodes, list_file, old_list, "repl_timeout_ms=300")
    nodes[before[moved[0]]].kill()
    started = time.monotonic()
    assert nodes[4].conn().call(b"get %s\r\n" % moved[0]) == b"END\r\n"
    assert time.monotonic() - started < 2
    assert stat(nodes[4], "move_fetched_on_miss") == 0


def test_with_replicas_the_copies_follow_the_new_ring(tmp_path, nodes):
    old_list, list_file = join(tmp_path, nodes, extra=["-o", "replicas=2"])
    keys = [b"rep:%d" % i for i in range(2000)]
    before = replica_sets(nodes[:4], keys)
    after = replica_sets(nodes, keys)
    for index in range(4):
        load(nodes[index], {k: b"x-" + k for k in keys if before[k][0] == index})
    end = time.monotonic() + DEADLINE
    while sum(stat(n, "curr_items") for n in nodes[:4]) < 2 * len(keys):
        assert time.monotonic() < end, "replication did not copy every key"
        time.sleep(0.05)

    start_joiner(nodes, list_file, old_list, "replicas=2")
    for node in nodes[:4]:
        node.server.proc.send_signal(signal.SIGHUP)
    wait_moves_done(nodes)
    for key in keys:
        for index, node in enumerate(nodes):
            expected = (b"x-" + key, 5, -1) if index in after[key] else None
            assert item(node, key) == expected, (key, index, before[key], after[key])
    # A copy per gainer (the joiner may have had some first from its rejoin's full resync, which
    # its old peers answer once they read the new list: those copies are not applied again).
    gained = sum(1 for k in keys for m in after[k] if m not in before[k])
    assert sum(stat(n, "move_keys_sent") for n in nodes[:4]) == gained


def test_a_node_killed_mid_move_ends_the_move_cleanly(tmp_path, nodes):
    # A slow walk and a short move_max_ms: the joiner is killed while the old owners send.
    extra = ["-o", "move_rate_keys=500,move_max_ms=2500"]
    old_list, list_file = join(tmp_path, nodes, extra=extra)
    keys = [b"kill:%d" % i for i in range(4000)]
    before, after, moved = loaded(nodes, {k: b"k-" + k for k in keys})
    start_joiner(nodes, list_file, old_list)
    for node in nodes[:4]:
        node.server.proc.send_signal(signal.SIGHUP)
    assert stat(nodes[0], "move_in_progress") == 1
    nodes[4].kill()
    started = time.monotonic()
    wait_moves_done(nodes[:4], deadline=10)
    # Abandoned after move_max_ms: the old owners stop waiting and drop what moved.
    assert time.monotonic() - started < 8
    for key in moved:
        assert item(nodes[before[key]], key) is None, key
    for key in keys:
        if key not in moved:
            assert item(nodes[after[key]], key) == (b"k-" + key, 5, -1), key
    assert "move_max_ms passed" in nodes[0].server.output()
