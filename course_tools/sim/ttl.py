"""The TTL trade-off: a longer time-to-live serves more hits and more stale data.

One service caches values that *another* service updates in the store without telling the
cache (so nothing invalidates it: only the TTL bounds how stale a cached copy can get).
Reads and updates arrive as seeded Poisson streams on a virtual clock.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass

from course_tools.clock import VirtualClock
from course_tools.sim.caches import TTLCache
from course_tools.sim.traces import zipf

__all__ = ["TTLPoint", "ttl_tradeoff"]


@dataclass(frozen=True)
class TTLPoint:
    ttl: float
    hit_rate: float
    stale_rate: float      # fraction of reads that returned an outdated value
    store_reads: int


def ttl_tradeoff(ttls: list[float], *, n_keys: int = 200, read_rate: float = 100.0, update_rate: float = 5.0,
                 duration: float = 120.0, rng: random.Random) -> list[TTLPoint]:
    """For each ttl, replay the same seeded reads and updates; count hits and stale reads."""
    events: list[tuple[float, str, int]] = []
    n_reads = int(read_rate * duration)
    read_keys = zipf(n_keys, n_reads, rng=rng)
    t = 0.0
    for key in read_keys:
        t += rng.expovariate(read_rate)
        events.append((t, "read", key))
    t = 0.0
    update_keys = zipf(n_keys, int(update_rate * duration), rng=rng)
    for key in update_keys:
        t += rng.expovariate(update_rate)
        events.append((t, "update", key))
    heapq.heapify(events)
    ordered = [heapq.heappop(events) for _ in range(len(events))]

    points = []
    for ttl in ttls:
        clock = VirtualClock()
        cache = TTLCache(n_keys, ttl=ttl, clock=clock)
        version: dict[int, int] = {}
        stale = reads = store_reads = 0
        for at, kind, key in ordered:
            clock.advance_to(at)
            if kind == "update":
                version[key] = version.get(key, 0) + 1
                continue
            reads += 1
            cached = cache.get(key)
            if cached is None:
                store_reads += 1
                cache.put(key, version.get(key, 0))
            elif cached != version.get(key, 0):
                stale += 1
        points.append(TTLPoint(ttl, cache.hits / reads, stale / reads, store_reads))
    return points
