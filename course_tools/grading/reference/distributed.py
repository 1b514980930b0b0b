"""Checks for the Distributed systems assessment (07_distributed).

The quorum task runs the learner's ``quorum_write`` / ``quorum_read`` in
:mod:`course_tools.sim.quorum` (seeded partitions, virtual clock) and judges the history with
:func:`course_tools.sim.linearizability.check`. The ring task compares key movement and load
with what consistent hashing guarantees (Karger et al. 1997). Failure messages describe the
behaviour that went wrong, never the hidden seeds, keys or histories.
"""

from __future__ import annotations

import random
from typing import Callable

from course_tools.grading.checks import call_each, fail as _fail, time_limit as _time_limit
from course_tools.sim.linearizability import check
from course_tools.sim.quorum import INITIAL_VERSION, Cut, QuorumLab, QuorumUnavailable, RemoteReplica, run_workload

__all__ = ["time_limit", "check_quorum_sizes", "check_quorum_basics", "check_quorum_refuses", "check_read_repair",
           "check_quorum_workloads", "check_ring_basics", "check_ring_join", "check_ring_balance"]




time_limit = _time_limit


# -- the quorum task --------------------------------------------------------------------
def check_quorum_sizes(n: object, r: object, w: object, *, question: object = "?") -> None:
    """R and W: ints, R + W > N, and small enough that 3 of 5 replicas can serve both."""
    for name, v in (("N", n), ("R", r), ("W", w)):
        if type(v) is not int:
            _fail(question, f"{name} should be an int, got {type(v).__name__}.")
    if n != 5:
        _fail(question, "N is the number of replicas in the lab: 5.")
    if not (1 <= r <= n and 1 <= w <= n):
        _fail(question, "R and W count replicas: each must be between 1 and N.")
    if r + w <= n:
        _fail(question, "with R + W <= N a read quorum can miss every replica of the last write quorum.")
    majority = n // 2 + 1
    if r > majority or w > majority:
        _fail(question, f"when 2 of the 5 replicas are cut off, only {majority} can answer: a quorum larger than that "
                        "makes the majority side unavailable too.")


def _fresh_lab(n: int = 5, partitions=()) -> QuorumLab:
    return QuorumLab(n, rng=random.Random(0), partitions=partitions)


def _ordered(lab: QuorumLab, src: str, order) -> list[RemoteReplica]:
    return [RemoteReplica(lab, src, name) for name in order]


def check_quorum_basics(write: Callable, read: Callable, *, question: object = "?") -> None:
    """Without partitions: a read returns the last write; versions grow; unknown keys read None."""
    lab = _fresh_lab()
    with time_limit(10, question):
        got = read(lab.replicas("n1"), "nothing-here")
        if got is not None:
            _fail(question, "reading a key nobody wrote should return None (the replicas' initial value).")
        write(lab.replicas("n1"), "k", "first", "alice")
        write(lab.replicas("n4"), "k", "second", "bob")
        got = read(lab.replicas("n2"), "k")
    if got != "second" or type(got) is not str:
        _fail(question, "after two writes, a read from another node must return the last value written.")
    versions = [lab.data[n].get("k", (INITIAL_VERSION, None))[0] for n in lab.nodes]
    top = max(versions)
    if top[0] != 2 or top[1] != "bob":
        _fail(question, "the second write should store version (highest counter seen + 1, writer) = a counter of 2 "
                        "with the writer's name.")
    if sum(v == top for v in versions) < 3:
        _fail(question, "a write must be stored on at least W replicas before it returns.")


def check_quorum_refuses(write: Callable, read: Callable, *, question: object = "?") -> None:
    """A client cut off with a minority gets QuorumUnavailable for both reads and writes."""
    lab = _fresh_lab(partitions=[Cut(0.0, 1e9, {"n1", "n2"})])
    with time_limit(10, question):
        for what, call in (("write", lambda: write(lab.replicas("n1"), "k", "v", "alice")),
                           ("read", lambda: read(lab.replicas("n2"), "k"))):
            try:
                call()
            except QuorumUnavailable:
                continue
            _fail(question, f"a {what} from a node that can reach only 2 of 5 replicas must raise QuorumUnavailable.")
        write(lab.replicas("n3"), "k", "v", "carol")  # the majority side still works
        if read(lab.replicas("n5"), "k") != "v":
            _fail(question, "the majority side (3 of 5 replicas) must keep serving reads and writes.")


def check_read_repair(read: Callable, *, question: object = "?") -> None:
    """A value one read returned must be returned by every later read (write-back)."""
    lab = _fresh_lab()
    lab.data["n1"]["x"] = ((2, "w"), "new")                 # a write that reached only one replica
    for node in ("n2", "n3", "n4", "n5"):
        lab.data[node]["x"] = ((1, "w"), "old")
    with time_limit(10, question):
        first = read(_ordered(lab, "n1", ["n1", "n2", "n3", "n4", "n5"]), "x")
        second = read(_ordered(lab, "n5", ["n5", "n4", "n2", "n3", "n1"]), "x")
    if first != "new":
        _fail(question, "a read must return the value with the highest version among the R replies.")
    if second != "new":
        _fail(question, "one read returned a value and a later read returned an older one. Before returning, a read "
                        "must write the value it chose back to W replicas.")


def check_quorum_workloads(write: Callable, read: Callable, *, seeds=(1,), question: object = "?",
                           ops: int = 80) -> None:
    """Seeded clients and partitions: linearizable, majority side served, minority refused."""
    for seed in seeds:
        with time_limit(20, question):
            run = run_workload(write, read, rng=random.Random(seed), ops=ops)
        verdict = check(run.history)
        if not verdict:
            _fail(question, "under partitions your reads and writes were not linearizable: a read returned a value "
                            "that was already overwritten, or an older value after a newer one. Check R + W > N, "
                            "the version you write, and the write-back of reads.")
        avail = run.availability()
        if avail["majority"] < 1.0:
            _fail(question, "an operation on the majority side of a partition was refused although 3 replicas "
                            "could answer: skip replicas that raise Unreachable and keep going.")
        if avail["minority"] > 0.0:
            _fail(question, "an operation from the minority side of a partition succeeded; it must raise "
                            "QuorumUnavailable.")


# -- the ring task ------------------------------------------------------------------------
def _keys(n: int, salt: str) -> list[str]:
    return [f"{salt}:{i}" for i in range(n)]


def _make(cls: Callable, nodes, vnodes: int, question: object):
    try:
        return cls(list(nodes), vnodes=vnodes)
    except TypeError:
        _fail(question, "construct the ring as Ring(nodes, vnodes=...).")


def check_ring_basics(cls: Callable, *, question: object = "?") -> None:
    nodes = [f"node{i}" for i in range(4)]
    ring = _make(cls, nodes, 50, question)
    keys = _keys(2000, "basic")
    owners = _owners(ring, keys, question)
    if any(o not in nodes for o in owners):
        _fail(question, "node_for must return the name (a str) of one of the ring's nodes.")
    if owners != _owners(_make(cls, nodes, 50, question), keys, question):
        _fail(question, "two rings built the same way must place every key on the same node (use stable_hash, "
                        "not hash()).")
    if len(set(owners)) < len(nodes):
        _fail(question, "some node owns no key at all among 2000: are all its virtual nodes on the ring?")


def check_ring_join(cls: Callable, *, question: object = "?") -> None:
    """Joining moves about K/(n+1) keys, all to the new node; leaving moves only the leaver's keys."""
    keys = _keys(12_000, "join")
    for n in (4, 7, 10):
        nodes = [f"srv-{i}" for i in range(n)]
        before, after = _make(cls, nodes, 150, question), _make(cls, nodes, 150, question)
        after.add("srv-new")
        was, now = _owners(before, keys, question), _owners(after, keys, question)
        moved = [k for k, a, b in zip(keys, was, now) if a != b]
        share = len(keys) / (n + 1)
        if any(b != "srv-new" for a, b in zip(was, now) if a != b):
            _fail(question, "when a node joins, a key may only move TO the new node, never between old nodes.")
        if not 0.5 * share <= len(moved) <= 1.5 * share:
            _fail(question, f"when one node joined {n}, {len(moved) / len(keys):.0%} of the keys moved; consistent "
                            f"hashing should move about 1/(n+1) = {1 / (n + 1):.0%}.")
        after.remove("srv-new")
        if was[:3000] != _owners(after, keys[:3000], question):
            _fail(question, "after the new node left again, every key should be back on its old node.")


def _owners(ring, keys: list[str], question: object) -> list[str]:
    """``ring.node_for(k)`` for every key (batched for a student's ring); each must be a str."""
    owners = call_each(ring, "node_for", [(k,) for k in keys])
    if any(type(o) is not str for o in owners):
        _fail(question, "node_for must return the name (a str) of one of the ring's nodes.")
    return owners


def _busiest(ring, keys, question: object = "?") -> int:
    counts: dict[str, int] = {}
    for o in _owners(ring, keys, question):
        counts[o] = counts.get(o, 0) + 1
    return max(counts.values())


def check_ring_balance(cls: Callable, *, question: object = "?") -> None:
    """With 200 virtual nodes the busiest node holds less than 1.3x the even share, and virtual
    nodes make a difference (one point per node is visibly less even)."""
    nodes = [f"shard{i}" for i in range(8)]
    keys = _keys(24_000, "load")
    many = _busiest(_make(cls, nodes, 200, question), keys, question)
    one = _busiest(_make(cls, nodes, 1, question), keys, question)
    if many > 1.3 * len(keys) / len(nodes):
        _fail(question, "with 200 virtual nodes per node, one node still got far more than its share of keys: "
                        "does every virtual node get its own position (e.g. stable_hash(f'{node}#{i}'))?")
    if one <= 1.1 * many:
        _fail(question, "the number of virtual nodes makes no difference to the load: place each node at `vnodes` "
                        "points on the circle and look keys up on that circle.")
