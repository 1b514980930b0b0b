"""A cache stampede (dog-piling) on one hot key, and two ways to stop it. Virtual clock.

When a popular cached value expires, every request that arrives before someone has
recomputed it misses, and each one recomputes: the backend sees a burst of identical,
expensive work. Mitigations (sources: notebooks/sources/08_caching.md):

- **single-flight** (request coalescing / a lock per key): the first miss recomputes, later
  misses wait for that one result.
- **probabilistic early expiration** ("XFetch": Vattani, Chierichetti & Lowenstein, *Optimal
  Probabilistic Cache Stampede Prevention*, PVLDB 8(8), 2015): each hit recomputes early
  with a probability that rises as expiry nears, ``now - delta*beta*ln(u) >= expiry`` with
  ``u`` uniform in (0, 1] and ``delta`` the recompute time, so one request usually refreshes
  the value before it expires and nobody waits.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

__all__ = ["StampedeResult", "arrivals", "simulate", "MITIGATIONS"]

MITIGATIONS = ("none", "single-flight", "xfetch")


@dataclass
class StampedeResult:
    mitigation: str
    requests: int = 0
    recomputes: int = 0
    waited: int = 0                            # requests that had to wait for a recompute
    max_concurrent_recomputes: int = 0
    recompute_starts: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        lat = sorted(self.latencies)
        p99 = lat[int(0.99 * (len(lat) - 1))] if lat else 0.0
        return {"mitigation": self.mitigation, "requests": self.requests, "recomputes": self.recomputes,
                "max concurrent recomputes": self.max_concurrent_recomputes, "requests that waited": self.waited,
                "p99 latency ms": round(1000 * p99, 1)}


def arrivals(rate: float, duration: float, *, rng: random.Random) -> list[float]:
    """Poisson arrival times at ``rate`` per second over ``duration`` seconds."""
    t, out = 0.0, []
    while True:
        t += rng.expovariate(rate)
        if t >= duration:
            return out
        out.append(t)


def simulate(times: list[float], *, ttl: float = 10.0, recompute: float = 0.5, mitigation: str = "none",
             beta: float = 1.0, hit_latency: float = 0.001, rng: random.Random) -> StampedeResult:
    """Serve requests at ``times`` for one key cached with ``ttl`` whose value takes
    ``recompute`` seconds to rebuild. The cache starts warm (expires at ``ttl``)."""
    if mitigation not in MITIGATIONS:
        raise ValueError(f"mitigation must be one of {MITIGATIONS}")
    res = StampedeResult(mitigation)
    expiry = ttl
    in_flight: list[float] = []   # finish times of running recomputes

    def start(now: float) -> float:
        finish = now + recompute
        in_flight.append(finish)
        res.recomputes += 1
        res.recompute_starts.append(now)
        res.max_concurrent_recomputes = max(res.max_concurrent_recomputes, len(in_flight))
        return finish

    for now in times:
        res.requests += 1
        # recomputes that finished by now refresh the value
        for finish in sorted(f for f in in_flight if f <= now):
            in_flight.remove(finish)
            expiry = max(expiry, finish + ttl)
        if now < expiry:  # fresh hit
            res.latencies.append(hit_latency)
            if mitigation == "xfetch" and not in_flight:
                u = 1.0 - rng.random()  # (0, 1]
                if now - recompute * beta * math.log(u) >= expiry:
                    start(now)  # refresh in the background; this request is served from cache
            continue
        # a miss
        if mitigation == "single-flight" and in_flight:
            res.waited += 1
            res.latencies.append(min(in_flight) - now)
            continue
        finish = start(now)
        res.waited += 1
        res.latencies.append(finish - now)
    return res
