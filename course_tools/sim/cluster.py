"""A replicated key-value store on a simulated network, driven by a discrete-event loop.

Everything happens on a virtual clock (``clock=``) and every random choice comes from one
generator (``rng=``): the same seed gives the same messages, the same history and the
same plots, on any machine.

- :class:`EventLoop` runs callbacks in time order; protocol code is written as generators
  that ``yield`` a command (sleep, or "ask these replicas and wait for k replies").
- :class:`Network` delivers messages after a seeded latency, loses a fraction of them, and
  drops every message that would cross an open **partition** (partitions open and heal at
  chosen virtual times; ``network.messages`` records every message and its fate).
- :class:`Cluster` holds N replicas and runs client operations in one of two modes:

  ``mode="cp"``  a majority-quorum register in the style of Attiya, Bar-Noy & Dolev
      ("Sharing memory robustly in message-passing systems", JACM 42(1), 1995): a write
      reads the highest version from a majority, then stores version+1 on a majority; a
      read takes the highest version from a majority and writes it back before answering.
      Linearizable; a coordinator that cannot reach a majority *times out* (it cannot tell
      a partition from slow peers), so the minority side of a partition is unavailable.
  ``mode="ap"``  every replica accepts reads and writes locally and answers at once, then
      replicates asynchronously (a push to every peer plus periodic anti-entropy gossip).
      Available on both sides of a partition; replicas diverge and are reconciled later:
      ``reconcile="lww"`` keeps the write with the highest (clock, node) timestamp and
      silently loses the other; ``reconcile="vv"`` uses version vectors and keeps
      concurrent writes as *siblings* for the application to merge (as in Dynamo,
      DeCandia et al., SOSP 2007).

Every client operation is recorded in ``cluster.history`` (a
:class:`course_tools.sim.linearizability.History`) for the checker and the timeline plots.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Generator, Iterable, Sequence

from course_tools.clock import VirtualClock
from course_tools.sim.linearizability import History, Op

__all__ = [
    "EventLoop", "Sleep", "Message", "Partition", "Network", "Replica", "Cluster", "Timeout",
    "LoadBalancer", "run_partition_scenario", "ScenarioResult", "latency_percentiles",
    "stale_reads", "convergence_times", "ryw_violations", "lost_updates",
]

INF = math.inf


# -- the event loop ---------------------------------------------------------------------
class EventLoop:
    """Callbacks ordered by virtual time (ties by insertion order), on a :class:`VirtualClock`."""

    def __init__(self, clock: VirtualClock | None = None) -> None:
        self.clock = clock if clock is not None else VirtualClock()
        if not hasattr(self.clock, "advance_to"):
            raise TypeError("the event loop needs a VirtualClock (something with advance_to())")
        self._queue: list[tuple[float, int, Callable, tuple]] = []
        self._seq = itertools.count()

    @property
    def now(self) -> float:
        return self.clock()

    def at(self, t: float, fn: Callable, *args: Any) -> None:
        heapq.heappush(self._queue, (max(t, self.now), next(self._seq), fn, args))

    def after(self, dt: float, fn: Callable, *args: Any) -> None:
        self.at(self.now + dt, fn, *args)

    def spawn(self, gen: Generator, at: float | None = None) -> "Process":
        proc = Process(self, gen)
        self.at(self.now if at is None else at, proc.resume, None)
        return proc

    def run(self, until: float | None = None) -> None:
        while self._queue:
            t = self._queue[0][0]
            if until is not None and t > until:
                break
            _, _, fn, args = heapq.heappop(self._queue)
            self.clock.advance_to(t)
            fn(*args)
        if until is not None and self.now < until:
            self.clock.advance_to(until)

    @property
    def pending(self) -> int:
        return len(self._queue)


class Process:
    """A generator driven by the loop: each ``yield``ed command resumes it later with a result."""

    def __init__(self, loop: EventLoop, gen: Generator) -> None:
        self.loop, self.gen, self.done = loop, gen, False

    def resume(self, value: Any) -> None:
        try:
            command = self.gen.send(value)
        except StopIteration:
            self.done = True
            return
        command.start(self)


@dataclass
class Sleep:
    seconds: float

    def start(self, proc: Process) -> None:
        proc.loop.after(self.seconds, proc.resume, None)


class _TimeoutType:
    def __repr__(self) -> str:
        return "Timeout"


Timeout = _TimeoutType()  # what a Gather resumes with when its deadline passes first


# -- the network ------------------------------------------------------------------------
@dataclass
class Message:
    id: int
    src: str
    dst: str
    payload: Any
    sent: float
    arrive: float
    fate: str = "in flight"   # "delivered" | "lost" | "partitioned"


@dataclass(frozen=True)
class Partition:
    """Between ``start`` and ``end`` nodes in different ``groups`` cannot exchange messages."""

    start: float
    end: float
    groups: tuple[frozenset, ...]

    def separates(self, a: str, b: str) -> bool:
        ga = next((i for i, g in enumerate(self.groups) if a in g), None)
        gb = next((i for i, g in enumerate(self.groups) if b in g), None)
        return ga != gb

    def overlaps(self, t0: float, t1: float) -> bool:
        return self.start <= t1 and t0 < self.end

    def label(self) -> str:
        return " | ".join("{" + ",".join(sorted(g)) + "}" for g in self.groups)


class Network:
    """Seeded latency (uniform in ``latency``), loss probability ``loss``, and partitions.

    A message is dropped if a partition separating its two ends is open at any moment of
    its flight (send to arrival): no message ever crosses a partition.
    """

    def __init__(self, loop: EventLoop, nodes: Sequence[str], *, rng: random.Random,
                 latency: tuple[float, float] = (0.005, 0.020), loss: float = 0.0) -> None:
        self.loop, self.nodes, self.rng = loop, list(nodes), rng
        self.latency, self.loss = latency, loss
        self.partitions: list[Partition] = []
        self.messages: list[Message] = []
        self._ids = itertools.count()

    def partition(self, *groups: Iterable[str], start: float, end: float = INF) -> Partition:
        """Open a partition at ``start`` and heal it at ``end``. Nodes not listed form one more group."""
        gs = [frozenset(g) for g in groups]
        listed = frozenset().union(*gs) if gs else frozenset()
        unknown = listed - set(self.nodes)
        if unknown:
            raise ValueError(f"unknown nodes {sorted(unknown)}")
        rest = frozenset(self.nodes) - listed
        if rest:
            gs.append(rest)
        if end <= start:
            raise ValueError("a partition must heal after it opens")
        p = Partition(float(start), float(end), tuple(gs))
        self.partitions.append(p)
        return p

    def separated(self, a: str, b: str, t0: float, t1: float | None = None) -> bool:
        t1 = t0 if t1 is None else t1
        return any(p.overlaps(t0, t1) and p.separates(a, b) for p in self.partitions)

    def reachable(self, a: str, t: float | None = None) -> list[str]:
        t = self.loop.now if t is None else t
        return [b for b in self.nodes if not self.separated(a, b, t)]

    def send(self, src: str, dst: str, payload: Any, handler: Callable[[Message], None]) -> Message:
        now = self.loop.now
        if src == dst:
            delay, lost = 0.0, False
        else:
            delay = self.rng.uniform(*self.latency)
            lost = self.rng.random() < self.loss
        msg = Message(next(self._ids), src, dst, payload, now, now + delay)
        self.messages.append(msg)
        if lost:
            msg.fate = "lost"
        elif self.separated(src, dst, msg.sent, msg.arrive):
            msg.fate = "partitioned"
        else:
            self.loop.at(msg.arrive, self._deliver, msg, handler)
        return msg

    def _deliver(self, msg: Message, handler: Callable[[Message], None]) -> None:
        if self.separated(msg.src, msg.dst, msg.sent, msg.arrive):  # a partition added mid-flight
            msg.fate = "partitioned"
            return
        msg.fate = "delivered"
        handler(msg)


# -- replicas ---------------------------------------------------------------------------
def _vv_merge(a: dict, b: dict) -> dict:
    return {k: max(a.get(k, 0), b.get(k, 0)) for k in set(a) | set(b)}


def _vv_leq(a: dict, b: dict) -> bool:
    return all(v <= b.get(k, 0) for k, v in a.items())


def _vv_key(vv: dict) -> tuple:
    return tuple(sorted(vv.items()))


@dataclass
class Replica:
    """One node's copy of the data. ``store[key]`` is, by mode:

    - cp:  ``(version, value)`` with version ``(counter, writer)``
    - lww: ``(timestamp, value, history)`` with timestamp ``(clock reading, node)``; ``history``
      is a version vector kept only to *measure* which writes LWW discarded (never to decide)
    - vv:  a list of siblings ``(version_vector, value)``, none dominating another
    """

    name: str
    mode: str
    reconcile: str = "lww"
    store: dict = field(default_factory=dict)

    # cp --------------------------------------------------------------
    def cp_get(self, key: str) -> tuple:
        return self.store.get(key, ((0, ""), None))

    def cp_put(self, key: str, version: tuple, value: Any) -> bool:
        if version > self.cp_get(key)[0]:
            self.store[key] = (version, value)
            return True
        return False

    # ap --------------------------------------------------------------
    def ap_state(self, key: str):
        if self.reconcile == "lww":
            return self.store.get(key, ((-INF, ""), None, {}))
        return self.store.get(key, [])

    def ap_merge(self, key: str, incoming) -> bool:
        """Merge a peer's state for ``key``; True if ours changed."""
        if self.reconcile == "lww":
            if incoming[0] > self.ap_state(key)[0]:
                self.store[key] = incoming
                return True
            return False
        ours = self.ap_state(key)
        combined = {(_vv_key(vv), repr(v)): (vv, v) for vv, v in list(ours) + list(incoming)}
        sibs = list(combined.values())
        kept = [(vv, v) for vv, v in sibs
                if not any(_vv_leq(vv, o) and vv != o for o, _ in sibs)]
        kept.sort(key=lambda s: (_vv_key(s[0]), repr(s[1])))
        changed = [(_vv_key(a), repr(b)) for a, b in kept] != [(_vv_key(a), repr(b)) for a, b in ours]
        if changed:
            self.store[key] = kept
        return changed

    def ap_value(self, key: str):
        """What a read returns: the value (lww) or the sorted tuple of sibling values (vv)."""
        if self.reconcile == "lww":
            return self.ap_state(key)[1]
        values = sorted({v for _, v in self.ap_state(key)}, key=repr)
        if not values:
            return None
        return values[0] if len(values) == 1 else tuple(values)

    def ap_version(self, key: str):
        if self.reconcile == "lww":
            return self.ap_state(key)[0]
        vv: dict = {}
        for s, _ in self.ap_state(key):
            vv = _vv_merge(vv, s)
        return vv

    def ap_causal(self, key: str) -> dict:
        """The version vector of everything the current state descends from."""
        if self.reconcile == "lww":
            return self.ap_state(key)[2]
        return self.ap_version(key)

    def covers(self, key: str, token) -> bool:
        """Has this replica seen the write that produced ``token``? (read-your-writes)"""
        if token is None:
            return True
        if self.reconcile == "lww":
            return self.ap_state(key)[0] >= token
        return _vv_leq(token, self.ap_version(key))


# -- gathering replies ------------------------------------------------------------------
class Gather:
    """Send ``payload`` from ``coord`` to ``targets``; resume with the first ``need`` replies
    (a list of ``(node, reply)``) or with :data:`Timeout` at ``deadline``."""

    def __init__(self, cluster: "Cluster", coord: str, targets: Sequence[str], payload: dict,
                 need: int, deadline: float) -> None:
        self.cluster, self.coord, self.targets = cluster, coord, list(targets)
        self.payload, self.need, self.deadline = payload, need, deadline
        self.replies: list[tuple[str, Any]] = []
        self.done = False

    def start(self, proc: Process) -> None:
        self.proc = proc
        for t in self.targets:
            self.cluster._rpc(self.coord, t, self.payload, self._on_reply)
        proc.loop.at(self.deadline, self._on_timeout)

    def _on_reply(self, node: str, reply: Any) -> None:
        if self.done:
            return
        self.replies.append((node, reply))
        if len(self.replies) >= self.need:
            self.done = True
            self.proc.resume(list(self.replies))

    def _on_timeout(self) -> None:
        if not self.done:
            self.done = True
            self.proc.resume(Timeout)


class LoadBalancer:
    """Routes each request of a client to a replica: ``"random"`` (seeded) or ``"sticky"``."""

    def __init__(self, nodes: Sequence[str], *, policy: str = "random", rng: random.Random) -> None:
        if policy not in ("random", "sticky"):
            raise ValueError("policy is 'random' or 'sticky'")
        self.nodes, self.policy, self.rng = list(nodes), policy, rng
        self._sticky: dict[str, str] = {}

    def route(self, client: str) -> str:
        if self.policy == "sticky":
            if client not in self._sticky:
                self._sticky[client] = self.rng.choice(self.nodes)
            return self._sticky[client]
        return self.rng.choice(self.nodes)


# -- the cluster ------------------------------------------------------------------------
class Cluster:
    """N replicas, a network, clients and a history. See the module docstring.

    ``timeout``: how long a CP coordinator waits for a majority before giving up.
    ``local``: client <-> its replica round trip (clients sit next to a replica).
    ``clock_skew``: each node's wall clock is off by up to this many seconds (LWW timestamps).
    ``gossip_interval``: AP anti-entropy period (each node pushes its state to one random peer).
    """

    def __init__(self, n: int = 3, mode: str = "cp", *, rng: random.Random, clock: VirtualClock | None = None,
                 latency: tuple[float, float] = (0.005, 0.020), loss: float = 0.0, timeout: float = 0.5,
                 reconcile: str = "lww", replicate: bool = True, gossip_interval: float | None = 0.25,
                 clock_skew: float = 0.0, local: float = 0.001) -> None:
        if mode not in ("cp", "ap"):
            raise ValueError("mode is 'cp' or 'ap'")
        if reconcile not in ("lww", "vv"):
            raise ValueError("reconcile is 'lww' or 'vv'")
        if n < 1:
            raise ValueError("a cluster needs at least one replica")
        self.rng = rng
        self.mode, self.reconcile, self.timeout, self.local = mode, reconcile, timeout, local
        self.replicate, self.gossip_interval = replicate, gossip_interval
        self.loop = EventLoop(clock)
        self.nodes = [f"n{i + 1}" for i in range(n)]
        self.network = Network(self.loop, self.nodes, rng=rng, latency=latency, loss=loss)
        self.replicas = {name: Replica(name, mode, reconcile) for name in self.nodes}
        self.skew = {name: rng.uniform(-clock_skew, clock_skew) if clock_skew else 0.0 for name in self.nodes}
        self.history = History()
        self.applied: list[tuple[float, str, str, Any]] = []  # (time, node, key, version) state changes
        self.causal: dict[tuple[str, Any], dict] = {}  # AP: (key, value written) -> its version vector
        self._op_ids = itertools.count()
        self._gossipers: dict[str, Process] = {}
        self._gossip_until = 0.0
        self.majority = n // 2 + 1

    # -- set-up ----------------------------------------------------------------------
    @property
    def now(self) -> float:
        return self.loop.now

    def partition(self, *groups: Iterable[str], at: float, heal: float = INF) -> Partition:
        """Cut the network into ``groups`` from ``at`` until ``heal`` (virtual seconds)."""
        return self.network.partition(*groups, start=at, end=heal)

    @property
    def partitions(self) -> list[Partition]:
        return self.network.partitions

    def run(self, until: float) -> "Cluster":
        """Run the event loop up to virtual time ``until`` (call again to go further)."""
        self._gossip_until = until
        if self.mode == "ap" and self.gossip_interval:
            for i, node in enumerate(self.nodes):
                proc = self._gossipers.get(node)
                if proc is None or proc.done:
                    offset = self.gossip_interval * (i + 1) / len(self.nodes)
                    start = offset if proc is None else self.now + offset
                    self._gossipers[node] = self.loop.spawn(self._gossip(node), at=start)
        self.loop.run(until)
        return self

    # -- messaging ---------------------------------------------------------------------
    def _rpc(self, src: str, dst: str, payload: dict, on_reply: Callable[[str, Any], None]) -> None:
        def at_server(msg: Message) -> None:
            reply = self._handle(dst, payload)
            self.network.send(dst, src, reply, lambda m: on_reply(dst, m.payload))

        self.network.send(src, dst, payload, at_server)

    def _handle(self, node: str, req: dict) -> Any:
        r = self.replicas[node]
        kind = req["type"]
        if kind == "get":
            return r.cp_get(req["key"])
        if kind == "put":
            if r.cp_put(req["key"], req["version"], req["value"]):
                self.applied.append((self.now, node, req["key"], req["version"]))
            return "ack"
        if kind == "merge":
            if r.ap_merge(req["key"], req["state"]):
                self.applied.append((self.now, node, req["key"], r.ap_version(req["key"])))
            return "ack"
        if kind == "state":
            return r.ap_state(req["key"])
        raise ValueError(f"unknown request {kind!r}")

    def _push(self, src: str, dst: str, key: str, state: Any) -> None:
        self.network.send(src, dst, {"type": "merge", "key": key, "state": state},
                          lambda m: self._handle(dst, m.payload))

    def _gossip(self, node: str):
        while self.now + self.gossip_interval <= self._gossip_until:
            peers = [p for p in self.nodes if p != node]
            if peers:
                peer = self.rng.choice(peers)
                for key in sorted(self.replicas[node].store):
                    self._push(node, peer, key, self.replicas[node].ap_state(key))
            yield Sleep(self.gossip_interval)

    # -- client operations -------------------------------------------------------------
    def submit(self, client: str, node: str | LoadBalancer, kind: str, key: str, value: Any = None,
               *, at: float | None = None, session: dict | None = None) -> None:
        """Schedule one operation by ``client`` through ``node`` (a replica name or a load balancer)."""
        self.loop.spawn(self._op(client, node, kind, key, value, session), at=at)

    def op(self, client: str, node: str | LoadBalancer, kind: str, key: str, value: Any = None,
           session: dict | None = None):
        """The operation as a generator (``yield from cluster.op(...)`` inside a client process);
        returns the recorded :class:`Op`."""
        return self._op(client, node, kind, key, value, session)

    def _op(self, client, node, kind, key, value, session):
        if kind not in ("read", "write"):
            raise ValueError("kind is 'read' or 'write'")
        coord = node.route(client) if isinstance(node, LoadBalancer) else node
        start = self.now
        op_id = next(self._op_ids)
        if self.mode == "cp":
            ok, result, version, info = yield from self._cp(coord, client, kind, key, value, start)
        else:
            ok, result, version, info = yield from self._ap(coord, kind, key, value, session)
        end = self.now if ok else None
        if kind == "write":
            result = value
        op = Op(op_id, client, kind, key, result if ok or kind == "write" else None, start, end, ok, coord, info, version)
        self.history.add(op)
        return op

    # CP: majority quorum register (read-max then write-back; write: read-max then store max+1)
    def _cp(self, coord, client, kind, key, value, start):
        deadline = start + self.timeout
        yield Sleep(self.local / 2)
        replies = yield Gather(self, coord, self.nodes, {"type": "get", "key": key}, self.majority, deadline)
        if replies is Timeout:
            return False, None, None, "timeout: no majority"
        best_version, best_value = max((r for _, r in replies), key=lambda vr: vr[0])
        if kind == "write":
            version, stored = (best_version[0] + 1, client), value
        else:
            version, stored = best_version, best_value
            if all(r[0] == best_version for _, r in replies):  # already on a majority: no write-back
                yield Sleep(self.local / 2)
                return True, best_value, best_version, ""
        acks = yield Gather(self, coord, self.nodes, {"type": "put", "key": key, "version": version,
                                                      "value": stored}, self.majority, deadline)
        if acks is Timeout:
            return False, None, None, "timeout: no majority"
        yield Sleep(self.local / 2)
        return True, stored, version, ""

    # AP: local read/write, async push, anti-entropy
    def _ap(self, coord, kind, key, value, session):
        r = self.replicas[coord]
        yield Sleep(self.local / 2)
        if kind == "write":
            vv = dict(r.ap_causal(key))
            vv[coord] = vv.get(coord, 0) + 1
            if self.reconcile == "lww":
                ts = (self.now + self.skew[coord], coord)
                state = (ts, value, vv)
            else:
                state = [(vv, value)]
            self.causal[(key, value)] = vv
            r.ap_merge(key, state)
            version = state[0] if self.reconcile == "lww" else state[0][0]
            self.applied.append((self.now, coord, key, r.ap_version(key)))
            if self.replicate:
                for peer in self.nodes:
                    if peer != coord:
                        self._push(coord, peer, key, r.ap_state(key))
            if session is not None:
                session[key] = (version, coord)
            yield Sleep(self.local / 2)
            return True, value, version, ""
        # read
        token = session.get(key) if session is not None else None
        if token is not None and not r.covers(key, token[0]):
            # version token: this replica is behind the client's own write; fetch from the replica that took it
            origin = token[1]
            replies = yield Gather(self, coord, [origin], {"type": "state", "key": key}, 1, self.now + self.timeout)
            if replies is Timeout:
                return False, None, None, "timeout: behind the session's version token"
            if r.ap_merge(key, replies[0][1]):
                self.applied.append((self.now, coord, key, r.ap_version(key)))
        yield Sleep(self.local / 2)
        return True, r.ap_value(key), r.ap_version(key), ""

    # -- workloads -------------------------------------------------------------------
    def client(self, name: str, node: str | LoadBalancer, *, until: float, rng: random.Random,
               keys: Sequence[str] = ("x",), write_ratio: float = 0.5, think: tuple[float, float] = (0.05, 0.15),
               session: bool = False, start: float = 0.0) -> None:
        """A closed-loop client: think, then one read or write, until ``until``. Written values are
        unique (``"<name>1"``, ``"<name>2"`` ...), which keeps histories easy to read and check."""
        sess = {} if session else None

        def loop():
            i = 0
            yield Sleep(start + rng.uniform(*think))
            while self.now < until:
                key = rng.choice(list(keys))
                if rng.random() < write_ratio:
                    i += 1
                    yield from self._op(name, node, "write", key, f"{name}{i}", sess)
                else:
                    yield from self._op(name, node, "read", key, None, sess)
                yield Sleep(rng.uniform(*think))

        self.loop.spawn(loop())


# -- measurements on a history ------------------------------------------------------------
def latency_percentiles(ops: Iterable[Op], qs: Sequence[float] = (50, 99)) -> dict[str, dict[float, float]]:
    """Latency percentiles (seconds) of successful ops, by kind."""
    import numpy as np

    out: dict[str, dict[float, float]] = {}
    for kind in ("read", "write"):
        lat = [op.end - op.start for op in ops if op.ok and op.kind == kind and op.end is not None]
        out[kind] = {q: float(np.percentile(lat, q)) if lat else float("nan") for q in qs}
    return out


def stale_reads(history: History) -> list[tuple[Op, float]]:
    """Reads that returned a value already *certainly* overwritten: some write began after the
    returned write had finished and itself finished before the read began. Returns each such
    read with its staleness: seconds since the first such overwrite completed."""
    out = []
    writes = [w for w in history if w.is_write and w.ok]
    by_value = {(w.key, w.value): w for w in history if w.is_write}
    for r in history:
        if not (r.is_read and r.ok):
            continue
        returned = r.value if isinstance(r.value, tuple) else (r.value,)
        ages = []
        for v in returned:
            src = by_value.get((r.key, v))
            after = src.end if (src is not None and src.ok) else (-INF if src is None else None)
            if after is None:  # a failed write: it may have taken effect at any time
                ages.append(None)
                continue
            newer = [w.end for w in writes if w.key == r.key and w.start > after and w.end < r.start]
            ages.append(r.start - min(newer) if newer else None)
        if ages and all(a is not None for a in ages):
            out.append((r, min(ages)))
    return out


def convergence_times(cluster: Cluster) -> list[float]:
    """For each successful write: seconds until every replica held it (or something newer).
    Writes never fully replicated by the end of the run are left out (see :func:`lost_updates`)."""
    out = []
    for w in cluster.history:
        if not (w.is_write and w.ok):
            continue
        t_all = []
        for node in cluster.nodes:
            t = next((t for t, n, k, v in cluster.applied
                      if n == node and k == w.key and t >= w.start and _covers(cluster, v, w.version)), None)
            t_all.append(t)
        if all(t is not None for t in t_all):
            out.append(max(t_all) - w.start)
    return out


def _covers(cluster: Cluster, have, want) -> bool:
    if cluster.mode == "ap" and cluster.reconcile == "vv":
        return _vv_leq(want, have)
    return have >= want


def lost_updates(cluster: Cluster, key: str | None = None) -> list[Op]:
    """Acknowledged writes that no replica's final state descends from: no reader can ever see
    them again, and no later write *knew* of them (it did not replace them, it ignored them).

    AP: measured with version vectors (under LWW they are kept on the side, only to measure).
    CP: a write is lost if every replica ends with an older version (never happens).
    """
    out = []
    for w in cluster.history:
        if not (w.is_write and w.ok) or (key is not None and w.key != key):
            continue
        if cluster.mode == "cp":
            if all(r.cp_get(w.key)[0] < w.version for r in cluster.replicas.values()):
                out.append(w)
            continue
        vv = cluster.causal[(w.key, w.value)]
        if not any(_vv_leq(vv, r.ap_causal(w.key)) for r in cluster.replicas.values()):
            out.append(w)
    return out


def ryw_violations(history: History) -> list[Op]:
    """Reads that did not show the same client's own last acknowledged write (read-your-writes,
    Terry et al., 1994). Needs comparable versions (CP or LWW)."""
    out = []
    last: dict[tuple[str, str], Any] = {}
    for op in sorted(history, key=lambda o: (o.start, o.id)):
        if not op.ok:
            continue
        k = (op.client, op.key)
        if op.is_write:
            last[k] = op.version
        elif k in last and (op.version is None or op.version < last[k]):
            out.append(op)
    return out


# -- a ready-made experiment -----------------------------------------------------------
@dataclass
class ScenarioResult:
    cluster: Cluster
    history: History
    partitions: list[Partition]
    until: float

    def summary(self) -> dict[str, Any]:
        from course_tools.sim.linearizability import check

        ops = self.history.ops
        during = [op for op in ops if any(p.overlaps(op.start, op.start) for p in self.partitions)]
        return {
            "ops": len(ops),
            "ok": sum(op.ok for op in ops),
            "failed": sum(not op.ok for op in ops),
            "failed during partition": sum(not op.ok for op in during),
            "linearizable": bool(check(self.history)),
        }


def run_partition_scenario(mode: str = "cp", *, open_at: float = 1.0, heal_at: float = 2.5, until: float = 4.0,
                           n: int = 5, minority: Sequence[str] = ("n1", "n2"), rng: random.Random,
                           reconcile: str = "lww", clients_per_node: int = 1, write_ratio: float = 0.5,
                           think: tuple[float, float] = (0.08, 0.2), **cluster_kw: Any) -> ScenarioResult:
    """N replicas, one client next to each, and one partition cutting off ``minority``
    from ``open_at`` to ``heal_at``. Everything derives from ``rng``."""
    cluster = Cluster(n, mode, rng=rng, reconcile=reconcile, **cluster_kw)
    if heal_at > open_at:
        cluster.partition(list(minority), at=open_at, heal=heal_at)
    names = iter("abcdefghijklmnopqrstuvwxyz")
    for node in cluster.nodes:
        for _ in range(clients_per_node):
            name = next(names)
            cluster.client(name, node, until=until, rng=random.Random(rng.random()), write_ratio=write_ratio,
                           think=think)
    cluster.run(until + cluster.timeout + 1.0)
    return ScenarioResult(cluster, cluster.history, list(cluster.partitions), until)
