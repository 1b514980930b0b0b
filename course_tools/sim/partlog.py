"""A partitioned log with consumer groups, on a virtual clock (the ideas of Kafka, simulated).

- A *topic* is split into partitions; a record with a key goes to ``hash(key) % partitions``
  (Kafka's default partitioner hashes the key too, with murmur2; we use CRC-32), so records
  of one key stay in one partition, in the order they were appended. Each record has an
  *offset*: its position in its partition.
- A *consumer group* divides the partitions among its members: each partition is read by
  exactly one member. Members *poll* records from their partitions and *commit* the offset
  they have processed up to. When a member joins or leaves, the group *rebalances*: the
  partitions are reassigned, and a new owner starts from the last **committed** offset — so
  records processed but not yet committed are delivered again (at-least-once).
- Several groups read the same log independently (each has its own offsets): fan-out.

:func:`simulate` runs producers and one group on a :class:`~course_tools.clock.VirtualClock`
with a seeded ``rng`` (who polls when); the same seed gives the same trace.
"""

from __future__ import annotations

import random
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Sequence

from course_tools.clock import VirtualClock

__all__ = ["Record", "PartitionedLog", "ConsumerGroup", "Delivery", "GroupRun", "simulate", "assign_range"]


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: str
    value: str
    at: float


class PartitionedLog:
    """An append-only topic of ``partitions`` partitions."""

    def __init__(self, partitions: int = 3) -> None:
        if partitions < 1:
            raise ValueError("a topic needs at least one partition")
        self.partitions: list[list[Record]] = [[] for _ in range(partitions)]

    def partition_for(self, key: str) -> int:
        return zlib.crc32(key.encode()) % len(self.partitions)

    def append(self, key: str, value: str, at: float = 0.0) -> Record:
        p = self.partition_for(key)
        rec = Record(p, len(self.partitions[p]), key, value, at)
        self.partitions[p].append(rec)
        return rec

    def end_offsets(self) -> list[int]:
        return [len(p) for p in self.partitions]


def assign_range(partitions: int, members: Sequence[str]) -> dict[str, list[int]]:
    """Contiguous ranges of partitions per member, in sorted member order (like Kafka's range assignor)."""
    members = sorted(members)
    out: dict[str, list[int]] = {m: [] for m in members}
    if not members:
        return out
    per, extra = divmod(partitions, len(members))
    start = 0
    for i, m in enumerate(members):
        n = per + (1 if i < extra else 0)
        out[m] = list(range(start, start + n))
        start += n
    return out


class ConsumerGroup:
    """One group's view of a log: who owns which partition, fetch positions, committed offsets."""

    def __init__(self, log: PartitionedLog, members: Sequence[str], name: str = "group") -> None:
        self.log, self.name = log, name
        self.committed = [0] * len(log.partitions)
        self.position = [0] * len(log.partitions)
        self.members: list[str] = []
        self.assignment: dict[str, list[int]] = {}
        self.rebalances = 0
        self.rebalance(members)

    def rebalance(self, members: Sequence[str]) -> None:
        """Reassign partitions; every partition resumes from its committed offset."""
        self.members = sorted(members)
        self.assignment = assign_range(len(self.log.partitions), self.members)
        self.position = list(self.committed)
        self.rebalances += 1

    def owner(self, partition: int) -> str | None:
        return next((m for m, ps in self.assignment.items() if partition in ps), None)

    def poll(self, member: str, max_records: int = 1) -> list[Record]:
        out: list[Record] = []
        for p in self.assignment.get(member, []):
            part = self.log.partitions[p]
            while self.position[p] < len(part) and len(out) < max_records:
                out.append(part[self.position[p]])
                self.position[p] += 1
        return out

    def commit(self, member: str) -> None:
        for p in self.assignment.get(member, []):
            self.committed[p] = self.position[p]

    def lag(self) -> list[int]:
        """Per partition: records appended but not yet committed by this group."""
        return [end - c for end, c in zip(self.log.end_offsets(), self.committed)]


@dataclass(frozen=True)
class Delivery:
    at: float
    member: str
    record: Record


@dataclass
class GroupRun:
    log: PartitionedLog
    group: ConsumerGroup
    deliveries: list[Delivery] = field(default_factory=list)
    events: list[str] = field(default_factory=list)

    def processed_values(self, key: str | None = None) -> list[str]:
        return [d.record.value for d in self.deliveries if key is None or d.record.key == key]

    def in_order_per_key(self) -> bool:
        """Did every key's records arrive in the order they were produced (redeliveries aside)?"""
        return all(_first_seen_sorted(self.processed_values(k)) for k in {d.record.key for d in self.deliveries})

    def in_global_order(self) -> bool:
        """Did records arrive in the order they were produced across all keys?"""
        firsts = _first_seen([(d.record.at, d.record.value) for d in self.deliveries])
        return firsts == sorted(firsts)

    def duplicates(self) -> int:
        seen: dict[tuple[int, int], int] = defaultdict(int)
        for d in self.deliveries:
            seen[(d.record.partition, d.record.offset)] += 1
        return sum(n - 1 for n in seen.values())


def _first_seen(items: list) -> list:
    seen, out = set(), []
    for it in items:
        if it not in seen:
            seen.add(it)
            out.append(it)
    return out


def _first_seen_sorted(values: list[str]) -> bool:
    seqs = [int(v.rsplit("#", 1)[1]) for v in _first_seen(values)]
    return seqs == sorted(seqs)


def simulate(*, keys: Sequence[str] = ("order-1", "order-2", "order-3", "order-4"), records_per_key: int = 6,
             partitions: int = 3, members: Sequence[str] = ("c1", "c2"), commit_every: int = 3,
             leave: tuple[str, float] | None = None, join: tuple[str, float] | None = None,
             rate: float = 20.0, burst: int = 3, rng: random.Random, clock: VirtualClock | None = None) -> GroupRun:
    """Produce ``records_per_key`` records per key (values ``key#1``, ``key#2``, …) in a random
    key order, ``burst`` records per tick (``rate`` ticks per second); members poll one record at a time in random turns and
    commit every ``commit_every`` records. ``leave=("c1", t)``: that member dies at time t
    without committing; ``join=("c3", t)``: a member joins. Both trigger a rebalance."""
    clock = clock or VirtualClock()
    log = PartitionedLog(partitions)
    group = ConsumerGroup(log, members)
    run = GroupRun(log, group)
    pending = [k for k in keys for _ in range(records_per_key)]
    rng.shuffle(pending)
    seq: dict[str, int] = defaultdict(int)
    since_commit: dict[str, int] = defaultdict(int)
    alive = list(members)
    changes = sorted((t, kind, m) for kind, change in (("leave", leave), ("join", join)) if change
                     for m, t in [change])
    dt = 1.0 / rate
    idle_rounds = 0
    while pending or idle_rounds < 3:
        clock.advance(dt)
        while changes and changes[0][0] <= clock() + 1e-9:     # (float ticks: 10 x 0.05 < 0.5)
            t, kind, m = changes.pop(0)
            for other in alive:              # survivors commit when their partitions are revoked
                if other != m:
                    group.commit(other)
                    since_commit[other] = 0
            alive = [a for a in alive if a != m] if kind == "leave" else sorted(set(alive) | {m})
            since_commit.pop(m, None)
            group.rebalance(alive)
            run.events.append(f"t={clock():.2f}s {m} {'died; what it processed but had not committed will be read again' if kind == 'leave' else 'joined'}"
                              f"; rebalance -> {group.assignment}")
        for _ in range(min(burst, len(pending))):
            k = pending.pop(0)
            seq[k] += 1
            log.append(k, f"{k}#{seq[k]}", at=clock())
        got_any = False
        for m in rng.sample(alive, len(alive)):
            for rec in group.poll(m, 1):
                got_any = True
                run.deliveries.append(Delivery(clock(), m, rec))
                since_commit[m] += 1
                if since_commit[m] >= commit_every:
                    group.commit(m)
                    since_commit[m] = 0
        idle_rounds = 0 if (got_any or pending) else idle_rounds + 1
    for m in alive:
        group.commit(m)
    return run
