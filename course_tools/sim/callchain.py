"""Requests that cross several services: how latency tails and failures compound.

A monolith answers a request with in-process calls; split into services, the same request
becomes a chain (or a fan-out) of network calls. If every call must succeed, availability
multiplies (0.99 ** 5 is about 0.951), and the slowest call in a fan-out sets the latency, so
rare slow calls at each service become common slow requests at the edge.

- :func:`simulate_chain` draws seeded latencies (log-normal) and failures for each call,
  sequentially (A calls B calls C ...) or as a fan-out (all in parallel, wait for all),
  with optional retries on failure and a per-call timeout.
- :func:`simulate_discovery` compares client-side discovery (clients cache the registry
  and pick an instance themselves) with server-side discovery (a router picks, one extra
  hop) while instances come and go, with the same registry delay, refresh and retries.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["Service", "ChainResult", "simulate_chain", "DiscoveryResult", "simulate_discovery"]


@dataclass(frozen=True)
class Service:
    """One hop: median latency (s), spread (log-normal sigma) and failure probability."""

    name: str
    median: float = 0.010
    sigma: float = 0.5
    failure: float = 0.01

    def draw(self, rng: random.Random) -> tuple[float, bool]:
        return self.median * math.exp(rng.gauss(0.0, self.sigma)), rng.random() >= self.failure


@dataclass
class ChainResult:
    latency: np.ndarray   # seconds, per request (failed requests included: time until failure)
    ok: np.ndarray        # bool per request

    @property
    def success_rate(self) -> float:
        return float(self.ok.mean())

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latency[self.ok], q)) if self.ok.any() else float("nan")

    def summary(self) -> dict[str, float]:
        return {"success": self.success_rate, "p50_ms": 1000 * self.percentile(50),
                "p99_ms": 1000 * self.percentile(99)}


def _call(svc: Service, rng: random.Random, retries: int, timeout: float) -> tuple[float, bool]:
    spent = 0.0
    for _ in range(retries + 1):
        lat, ok = svc.draw(rng)
        if lat > timeout:
            spent += timeout
            continue
        spent += lat
        if ok:
            return spent, True
    return spent, False


def simulate_chain(services: Sequence[Service], *, requests: int = 10_000, rng: random.Random,
                   fanout: bool = False, retries: int = 0, timeout: float = math.inf) -> ChainResult:
    """Send ``requests`` through ``services``: in sequence (default) or as a fan-out."""
    lat = np.empty(requests)
    ok = np.empty(requests, dtype=bool)
    for i in range(requests):
        results = [_call(s, rng, retries, timeout) for s in services]
        if fanout:
            lat[i] = max(t for t, _ in results)
            ok[i] = all(o for _, o in results)
        else:
            total, good = 0.0, True
            for t, o in results:
                total += t
                if not o:
                    good = False
                    break  # the chain stops at the first failure
            lat[i], ok[i] = total, good
    return ChainResult(lat, ok)


@dataclass
class DiscoveryResult:
    mode: str
    requests: int
    failed: int              # requests that found no live instance, retries included
    mean_latency: float
    dead_attempts: int = 0   # attempts that reached an address that was gone (each costs time)

    @property
    def failure_rate(self) -> float:
        return self.failed / self.requests


def simulate_discovery(mode: str, *, rng: random.Random, instances: int = 5, duration: float = 60.0,
                       rate: float = 50.0, churn_every: float = 5.0, registry_delay: float = 0.5,
                       refresh: float = 1.0, retries: int = 1, hop: float = 0.002, call: float = 0.010,
                       dead_cost: float = 0.001, cache_ttl: float | None = None) -> DiscoveryResult:
    """Instances of a service restart on new addresses every ``churn_every`` seconds (one at a time).

    Both modes are treated alike: the registry learns of a move ``registry_delay`` seconds
    after it happens (health checks and deregistration take time); whoever picks the
    instance (``mode="client"``: the calling client; ``mode="server"``: a router or load
    balancer in front of the instances) refreshes its copy of the registry every ``refresh``
    seconds, picks an instance from that copy at random, and on a dead address (which costs
    ``dead_cost`` seconds to find out) retries up to ``retries`` times on another instance.
    What differs: the router adds one network hop (``hop`` seconds) to every call, and it is
    one cache to keep fresh instead of one per client. ``cache_ttl`` is an old name for ``refresh``.
    """
    if mode not in ("client", "server"):
        raise ValueError("mode is 'client' or 'server'")
    if cache_ttl is not None:
        refresh = cache_ttl
    live = [f"10.0.0.{i}" for i in range(instances)]
    next_addr = instances
    registry = list(live)
    pending: list[tuple[float, list[str]]] = []  # registry updates not yet visible, in time order
    view, view_time = list(registry), 0.0
    next_churn = churn_every
    t, n, failed, dead, total_lat = 0.0, 0, 0, 0, 0.0
    while True:
        t += rng.expovariate(rate)
        if t >= duration:
            break
        while t >= next_churn:
            live[rng.randrange(len(live))] = f"10.0.0.{next_addr}"
            next_addr += 1
            pending.append((next_churn + registry_delay, list(live)))
            next_churn += churn_every
        while pending and pending[0][0] <= t:
            registry = pending.pop(0)[1]
        if t - view_time >= refresh:
            view, view_time = list(registry), t
        n += 1
        latency, tried, ok = (hop if mode == "server" else 0.0), set(), False
        for _ in range(retries + 1):
            addr = rng.choice([a for a in view if a not in tried] or view)
            tried.add(addr)
            if addr in live:
                latency += call
                ok = True
                break
            latency += dead_cost
            dead += 1
        failed += not ok
        total_lat += latency
    return DiscoveryResult(mode, n, failed, total_lat / max(n, 1), dead)
