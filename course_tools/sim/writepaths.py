"""Cache write paths against a slow store, on a virtual clock.

Four ways an application, a cache and a store can share the work (Azure Architecture
Center, "Cache-Aside pattern"; the write-behind risk: data acknowledged but not yet
stored is lost if the cache fails):

- **cache-aside**: the application reads the cache, on a miss reads the store and fills the
  cache; on a write it updates the store and *invalidates* the cached copy.
- **read-through**: the application only talks to the cache; on a miss the cache loads from
  the store itself. Same costs as cache-aside, different owner of the logic.
- **write-through**: a write goes to the cache and synchronously to the store before the
  application is answered: reads stay fresh, writes pay the store's latency.
- **write-back** (write-behind): a write goes to the cache and is acknowledged at once; dirty
  entries are flushed to the store in batches later. Fast writes and coalescing, but a
  crash before the flush loses writes that were already acknowledged.

:func:`run` replays one seeded workload through a pattern and reports latencies and store
load; ``crash_at`` stops the cache at that time and counts acknowledged writes lost.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from course_tools.clock import VirtualClock
from course_tools.sim.caches import LRUCache

__all__ = ["Latencies", "Op", "workload", "PatternResult", "run", "PATTERNS"]

PATTERNS = ("cache-aside", "read-through", "write-through", "write-back")


@dataclass(frozen=True)
class Latencies:
    """Seconds per operation (illustrative: an in-memory cache vs a disk-backed database)."""

    cache: float = 0.0005
    store_read: float = 0.020
    store_write: float = 0.030


@dataclass(frozen=True)
class Op:
    at: float
    kind: str  # "read" | "write"
    key: int
    value: int = 0


def workload(n_ops: int = 5000, *, n_keys: int = 500, write_ratio: float = 0.2, rate: float = 200.0,
             rng: random.Random) -> list[Op]:
    """Poisson arrivals at ``rate`` per second; keys Zipf-like (s=1); ``write_ratio`` writes."""
    from course_tools.sim.traces import zipf

    keys = zipf(n_keys, n_ops, rng=rng)
    t, ops = 0.0, []
    for i, key in enumerate(keys):
        t += rng.expovariate(rate)
        if rng.random() < write_ratio:
            ops.append(Op(t, "write", key, i))
        else:
            ops.append(Op(t, "read", key))
    return ops


@dataclass
class PatternResult:
    pattern: str
    read_latencies: list[float] = field(default_factory=list)
    write_latencies: list[float] = field(default_factory=list)
    store_reads: int = 0
    store_writes: int = 0
    acked_writes: int = 0
    lost_writes: int = 0          # acknowledged, then lost in the crash
    lost_keys: int = 0            # keys whose store value differs from the last acknowledged write
    stale_reads: int = 0          # reads that returned something other than the last acknowledged write
    crashed_at: float | None = None

    @staticmethod
    def _mean(xs: list[float]) -> float:
        return sum(xs) / len(xs) if xs else 0.0

    @property
    def mean_read_ms(self) -> float:
        return 1000 * self._mean(self.read_latencies)

    @property
    def mean_write_ms(self) -> float:
        return 1000 * self._mean(self.write_latencies)

    def summary(self) -> dict[str, float]:
        return {
            "pattern": self.pattern, "mean read ms": round(self.mean_read_ms, 2),
            "mean write ms": round(self.mean_write_ms, 2), "store reads": self.store_reads,
            "store writes": self.store_writes, "acked writes lost": self.lost_writes,
        }


def run(pattern: str, ops: list[Op], *, capacity: int = 100, ttl: float | None = None,
        flush_interval: float = 1.0, crash_at: float | None = None,
        latencies: Latencies = Latencies(), clock: VirtualClock | None = None) -> PatternResult:
    """Replay ``ops`` through ``pattern``. Deterministic: no randomness inside."""
    if pattern not in PATTERNS:
        raise ValueError(f"pattern must be one of {PATTERNS}")
    clock = clock or VirtualClock()
    store: dict[int, int] = {}
    truth: dict[int, int] = {}          # what clients were told is stored (acknowledged)
    dirty: dict[int, int] = {}          # write-back: acknowledged, not yet in the store
    pending_acks: dict[int, int] = {}   # write-back: acknowledged writes per key since last flush
    res = PatternResult(pattern)
    lat = latencies
    next_flush = flush_interval

    def write_back_on_evict(key: int, value: int) -> None:
        if key in dirty:  # a dirty entry must reach the store before it leaves the cache
            store[key] = dirty.pop(key)
            pending_acks.pop(key, None)
            res.store_writes += 1

    cache = LRUCache(capacity, ttl=ttl, clock=clock,
                     on_evict=write_back_on_evict if pattern == "write-back" else None)

    def flush() -> None:
        res.store_writes += len(dirty)   # coalesced: one store write per dirty key
        store.update(dirty)
        dirty.clear()
        pending_acks.clear()

    for op in ops:
        if crash_at is not None and op.at >= crash_at:
            break
        while pattern == "write-back" and op.at >= next_flush:
            clock.advance_to(max(clock(), next_flush))
            flush()
            next_flush += flush_interval
        clock.advance_to(max(clock(), op.at))
        if op.kind == "read":
            value = cache.get(op.key)
            latency = lat.cache
            if value is None:
                res.store_reads += 1
                latency += lat.store_read
                value = store.get(op.key, 0)
                cache.put(op.key, value)   # cache-aside: the app fills; read-through: the cache does
                latency += lat.cache
            if value != truth.get(op.key, 0):
                res.stale_reads += 1
            res.read_latencies.append(latency)
        else:
            res.acked_writes += 1
            truth[op.key] = op.value
            if pattern in ("cache-aside", "read-through"):
                store[op.key] = op.value
                res.store_writes += 1
                cache.delete(op.key)       # invalidate; the next read reloads
                latency = lat.store_write + lat.cache
            elif pattern == "write-through":
                cache.put(op.key, op.value)
                store[op.key] = op.value
                res.store_writes += 1
                latency = lat.cache + lat.store_write
            else:  # write-back
                cache.put(op.key, op.value)
                dirty[op.key] = op.value
                pending_acks[op.key] = pending_acks.get(op.key, 0) + 1
                latency = lat.cache
            res.write_latencies.append(latency)
    else:
        if pattern == "write-back":
            flush()  # a clean shutdown flushes
    if crash_at is not None:
        res.crashed_at = crash_at
        res.lost_writes = sum(pending_acks.values())
        res.lost_keys = sum(1 for k, v in truth.items() if store.get(k, 0) != v)
    return res
