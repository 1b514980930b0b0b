"""Replaying access traces against a real Redis, to watch ``maxmemory`` eviction happen.

Each access runs one tiny Lua script on the server (``GET``; on a miss ``SET``), so a
trace of thousands of accesses costs a few pipelined round trips, and the hit or miss is
decided by Redis itself. Eviction is Redis's own: with ``maxmemory`` set, the server
evicts before running a command whenever memory is over the limit (redis.io "Key eviction").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Iterable, Sequence

import redis as redis_py

__all__ = ["ReplayStats", "replay", "eviction_stats"]

_GET_OR_SET = """
local v = redis.call('GET', KEYS[1])
if v then return 1 end
redis.call('SET', KEYS[1], ARGV[1])
return 0
"""


@dataclass(frozen=True)
class ReplayStats:
    accesses: int
    hits: int
    evicted_keys: int
    keys_held: int      # keys in the database at the end

    @property
    def hit_rate(self) -> float:
        return self.hits / self.accesses if self.accesses else 0.0


def eviction_stats(r: redis_py.Redis) -> dict[str, int]:
    """Counters from ``INFO stats`` that tell eviction from expiry."""
    info = r.info("stats")
    return {"evicted_keys": int(info["evicted_keys"]), "expired_keys": int(info["expired_keys"])}


def replay(r: redis_py.Redis, trace: Iterable[Hashable], *, value_size: int = 200, batch: int = 500,
           prefix: str = "k:") -> ReplayStats:
    """Read-through replay of ``trace`` on ``r``: GET each key, SET it on a miss."""
    script = r.register_script(_GET_OR_SET)
    value = "v" * value_size
    before = eviction_stats(r)["evicted_keys"]
    hits = n = 0
    chunk: list[Hashable] = []

    def flush(keys: Sequence[Hashable]) -> int:
        pipe = r.pipeline(transaction=False)
        for k in keys:
            script(keys=[f"{prefix}{k}"], args=[value], client=pipe)
        return sum(int(x) for x in pipe.execute())

    for key in trace:
        chunk.append(key)
        n += 1
        if len(chunk) >= batch:
            hits += flush(chunk)
            chunk = []
    if chunk:
        hits += flush(chunk)
    return ReplayStats(n, hits, eviction_stats(r)["evicted_keys"] - before, int(r.dbsize()))
