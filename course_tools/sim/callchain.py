"""Requests that cross several services: how latency tails and failures compound.

A monolith answers a request with in-process calls; split into services, the same request
becomes a chain (or a fan-out) of network calls. If every call must succeed, availability
multiplies (0.99 ** 5 is about 0.951), and the slowest call in a fan-out sets the latency, so
rare slow calls at each service become common slow requests at the edge.

- :func:`simulate_chain` draws seeded latencies (log-normal) and failures for each call,
  sequentially (A calls B calls C ...) or as a fan-out (all in parallel, wait for all),
  with optional retries on failure and a per-call timeout.
- :func:`simulate_discovery` compares client-side discovery (clients cache the registry
  and pick an instance themselves) with server-side discovery (a router that always has
  the current registry, one extra hop) while instances come and go.
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
    failed: int
    mean_latency: float

    @property
    def failure_rate(self) -> float:
        return self.failed / self.requests


def simulate_discovery(mode: str, *, rng: random.Random, instances: int = 5, duration: float = 60.0,
                       rate: float = 50.0, churn_every: float = 5.0, cache_ttl: float = 10.0,
                       hop: float = 0.002, call: float = 0.010) -> DiscoveryResult:
    """Instances of a service restart on new addresses every ``churn_every`` seconds (one at a time).

    ``mode="client"``: the client refreshes its copy of the registry every ``cache_ttl``
    seconds and calls an instance directly; a call to an address that is gone fails.
    ``mode="server"``: a router/load balancer that tracks the registry forwards each call:
    never a stale address, but one more network hop (``hop`` seconds) per call.
    """
    if mode not in ("client", "server"):
        raise ValueError("mode is 'client' or 'server'")
    live = [f"10.0.0.{i}" for i in range(instances)]
    next_addr = instances
    cache, cache_time = list(live), 0.0
    next_churn = churn_every
    t, n, failed, total_lat = 0.0, 0, 0, 0.0
    while True:
        t += rng.expovariate(rate)
        if t >= duration:
            break
        while t >= next_churn:
            victim = rng.randrange(len(live))
            live[victim] = f"10.0.0.{next_addr}"
            next_addr += 1
            next_churn += churn_every
        n += 1
        if mode == "server":
            total_lat += hop + call
            continue
        if t - cache_time >= cache_ttl:
            cache, cache_time = list(live), t
        addr = rng.choice(cache)
        if addr in live:
            total_lat += call
        else:
            failed += 1
            total_lat += call  # a connection error still costs time
    return DiscoveryResult(mode, n, failed, total_lat / max(n, 1))
