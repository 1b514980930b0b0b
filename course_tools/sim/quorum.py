"""A quorum lab: replicas you call one at a time, on a virtual clock, through partitions.

Where :mod:`course_tools.sim.cluster` runs a whole protocol on an event loop, this module
hands you N replicas as plain objects so that *you* write the coordinator:

    lab = QuorumLab(n=5, rng=rng, partitions=[Cut(1.0, 2.0, {"n1", "n2"})])
    replicas = lab.replicas("n4")          # as seen from a client next to n4, in the order they answer
    version, value = replicas[0].get("x")  # may raise Unreachable (it costs a timeout)
    replicas[0].put("x", (1, "alice"), "hello")

A replica keeps, per key, a ``(version, value)`` pair; versions are ``(counter, writer)``
tuples compared as tuples; ``put`` keeps the newer of the stored and the given version.
Every call advances the clock by a seeded latency; a call to a replica on the other side
of an open partition raises :class:`Unreachable` after ``timeout`` seconds.

:func:`run_workload` drives your ``write(replicas, key, value, writer)`` and
``read(replicas, key)`` functions with seeded clients on every node, through seeded
partitions, and records a :class:`~course_tools.sim.linearizability.History` for
:func:`~course_tools.sim.linearizability.check`. The reference coordinator (the majority-quorum
register of Attiya, Bar-Noy & Dolev, JACM 42(1), 1995) lives in :mod:`course_tools.sim.quorum_reference`,
a module the Distributed assessment hides from the student's process; ``abd_write`` / ``abd_read``
are still importable from here outside the jail (loaded lazily from there).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from course_tools.clock import VirtualClock
from course_tools.moved import moved_to
from course_tools.sim.linearizability import History, Op

__all__ = ["Unreachable", "QuorumUnavailable", "Cut", "RemoteReplica", "QuorumLab", "WorkloadRun",
           "run_workload", "random_cuts", "INITIAL_VERSION"]

INITIAL_VERSION = (0, "")


class Unreachable(ConnectionError):
    """The replica did not answer before the timeout (a partition, from where you stand)."""


class QuorumUnavailable(RuntimeError):
    """Raise this when fewer replicas than the quorum answered: the operation is refused."""


@dataclass(frozen=True)
class Cut:
    """From ``start`` to ``end`` the nodes in ``side`` cannot talk to the others."""

    start: float
    end: float
    side: frozenset

    def __init__(self, start: float, end: float, side: Iterable[str]) -> None:
        object.__setattr__(self, "start", float(start))
        object.__setattr__(self, "end", float(end))
        object.__setattr__(self, "side", frozenset(side))

    def separates(self, a: str, b: str, t: float) -> bool:
        return self.start <= t < self.end and ((a in self.side) != (b in self.side))


class QuorumLab:
    """N replicas ``n1..nN`` behind a seeded network with scheduled :class:`Cut` s."""

    def __init__(self, n: int = 5, *, rng: random.Random, clock: VirtualClock | None = None,
                 partitions: Sequence[Cut] = (), latency: tuple[float, float] = (0.002, 0.008),
                 timeout: float = 0.05) -> None:
        self.n = n
        self.nodes = [f"n{i + 1}" for i in range(n)]
        self.rng = rng
        self.clock = clock if clock is not None else VirtualClock()
        self.partitions = list(partitions)
        self.latency, self.timeout = latency, timeout
        self.data: dict[str, dict[str, tuple[tuple, Any]]] = {node: {} for node in self.nodes}
        self.calls = 0

    def separated(self, a: str, b: str, t: float | None = None) -> bool:
        t = self.clock() if t is None else t
        return any(p.separates(a, b, t) for p in self.partitions)

    def replicas(self, client_node: str) -> list["RemoteReplica"]:
        """Every replica, as seen from ``client_node``, in a seeded order (the order they answer)."""
        if client_node not in self.nodes:
            raise ValueError(f"unknown node {client_node!r}")
        handles = [RemoteReplica(self, client_node, node) for node in self.nodes]
        self.rng.shuffle(handles)
        return handles

    def _call(self, src: str, dst: str) -> None:
        self.calls += 1
        if self.separated(src, dst):
            self.clock.advance(self.timeout)
            raise Unreachable(f"{dst} did not answer {src} within {self.timeout:g} s")
        self.clock.advance(0.0 if src == dst else self.rng.uniform(*self.latency))
        if self.separated(src, dst):  # the partition opened while the request was in flight
            raise Unreachable(f"{dst} did not answer {src}: the network was cut")


class RemoteReplica:
    """One replica as a client sees it: ``get`` and ``put`` over the (simulated) network."""

    __slots__ = ("_lab", "_src", "name")

    def __init__(self, lab: QuorumLab, src: str, name: str) -> None:
        self._lab, self._src, self.name = lab, src, name

    def get(self, key: str) -> tuple[tuple, Any]:
        """``(version, value)`` stored for ``key``; ``((0, ""), None)`` if never written."""
        self._lab._call(self._src, self.name)
        return self._lab.data[self.name].get(key, (INITIAL_VERSION, None))

    def put(self, key: str, version: tuple, value: Any) -> None:
        """Store ``(version, value)`` unless the replica already has a newer version."""
        if not (isinstance(version, tuple) and len(version) == 2 and isinstance(version[0], int)):
            raise TypeError("a version is a tuple (counter: int, writer: str)")
        self._lab._call(self._src, self.name)
        stored = self._lab.data[self.name].get(key, (INITIAL_VERSION, None))
        if version > stored[0]:
            self._lab.data[self.name][key] = (version, value)

    def __repr__(self) -> str:
        return f"<replica {self.name} seen from {self._src}>"


# -- a seeded workload -------------------------------------------------------------------
@dataclass
class WorkloadRun:
    history: History
    lab: QuorumLab

    def _majority_reachable(self, node: str, t: float) -> bool:
        reachable = [n for n in self.lab.nodes if not self.lab.separated(node, n, t)]
        return len(reachable) > self.lab.n // 2

    def side(self, op: Op, window: float = 0.5) -> str:
        """``"majority"`` if a majority was reachable from the op's node throughout
        ``[start, start + window]``, ``"minority"`` if at no point of it, else ``"changing"``."""
        ts = [op.start + window * i / 20 for i in range(21)]
        seen = {self._majority_reachable(op.node, t) for t in ts}
        return "changing" if len(seen) == 2 else ("majority" if seen == {True} else "minority")

    def availability(self) -> dict[str, float]:
        """Fraction of operations served on each side (``nan`` if none started there)."""
        out = {}
        for side in ("majority", "minority"):
            ops = [op for op in self.history if self.side(op) == side]
            out[side] = sum(op.ok for op in ops) / len(ops) if ops else float("nan")
        return out


def random_cuts(rng: random.Random, nodes: Sequence[str], *, count: int = 2, duration: float = 6.0) -> list[Cut]:
    """``count`` non-overlapping partitions, each isolating a random minority."""
    cuts = []
    slot = duration / count
    minority = (len(nodes) - 1) // 2
    for i in range(count):
        start = i * slot + rng.uniform(0.1, 0.4) * slot
        end = start + rng.uniform(0.3, 0.5) * slot
        cuts.append(Cut(start, end, rng.sample(list(nodes), minority)))
    return cuts


def run_workload(write: Callable, read: Callable, *, rng: random.Random, n: int = 5, ops: int = 80,
                 partitions: Sequence[Cut] | None = None, duration: float = 6.0, keys: Sequence[str] = ("x", "y"),
                 write_ratio: float = 0.5) -> WorkloadRun:
    """Call ``write(replicas, key, value, writer)`` / ``read(replicas, key)`` ``ops`` times from
    clients next to random nodes, spread over ``duration`` virtual seconds, through
    ``partitions`` (default: :func:`random_cuts`). A :class:`QuorumUnavailable` from your code
    is recorded as a refused operation; any other exception propagates."""
    workload_rng = random.Random(rng.getrandbits(64))  # what clients do: independent of your code
    lab = QuorumLab(n, rng=random.Random(rng.getrandbits(64)))
    lab.partitions = list(random_cuts(workload_rng, lab.nodes, duration=duration) if partitions is None else partitions)
    history = History()
    run = WorkloadRun(history, lab)
    gap = duration / ops
    counter = 0
    for i in range(ops):
        target = (i + workload_rng.random()) * gap
        if lab.clock() < target:
            lab.clock.advance_to(target)
        node = workload_rng.choice(lab.nodes)
        client = f"c@{node}"
        key = workload_rng.choice(list(keys))
        replicas = lab.replicas(node)
        start = lab.clock()
        if workload_rng.random() < write_ratio:
            counter += 1
            value = f"v{counter}"
            try:
                write(replicas, key, value, client)
                ok, info = True, ""
            except QuorumUnavailable as exc:
                ok, info = False, f"refused: {exc}"
            history.add(Op(i, client, "write", key, value, start, lab.clock() if ok else None, ok, node, info))
        else:
            try:
                value = read(replicas, key)
                ok, info = True, ""
            except QuorumUnavailable as exc:
                value, ok, info = None, False, f"refused: {exc}"
            history.add(Op(i, client, "read", key, value, start, lab.clock() if ok else None, ok, node, info))
    return run


# the reference coordinator (abd_write, abd_read), kept out of this module so that it can be hidden
__getattr__ = moved_to("course_tools.sim.quorum_reference", {"abd_write", "abd_read"}, __name__)
