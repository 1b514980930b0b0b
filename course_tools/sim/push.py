"""Server push vs polling on a virtual clock: how late a client notices a change, and at what cost.

A client that polls every ``interval`` seconds (first poll at a random phase) notices a
change at its next poll; a client with a pushed connection (WebSocket, gRPC stream,
server-sent events) notices it one network ``latency`` after it happens. :func:`compare`
replays the same seeded change times through both and counts requests spent.
"""

from __future__ import annotations

import bisect
import random
from dataclasses import dataclass

__all__ = ["change_times", "poll", "push", "Outcome"]


@dataclass(frozen=True)
class Outcome:
    style: str
    interval: float | None
    mean_delay: float        # seconds from a change to the client knowing it
    max_delay: float
    requests: int            # requests (polls) or pushed messages over the horizon
    useless: int             # requests that found nothing new


def change_times(n: int, horizon: float, *, rng: random.Random) -> list[float]:
    """``n`` change instants, uniform over ``[0, horizon)``, sorted."""
    return sorted(rng.uniform(0, horizon) for _ in range(n))


def poll(changes: list[float], interval: float, horizon: float, *, latency: float = 0.0,
         rng: random.Random) -> Outcome:
    """Poll every ``interval`` s from a random phase; each poll costs a round trip (``2*latency``)."""
    if interval <= 0:
        raise ValueError("interval must be positive")
    phase = rng.uniform(0, interval)
    polls = []
    t = phase
    while t < horizon + interval:
        polls.append(t)
        t += interval
    delays = []
    for c in changes:
        i = bisect.bisect_left(polls, c)
        delays.append(polls[i] - c + 2 * latency)
    in_horizon = [p for p in polls if p < horizon]
    useful = {bisect.bisect_left(polls, c) for c in changes}
    return Outcome("polling", interval, sum(delays) / len(delays) if delays else 0.0,
                   max(delays, default=0.0), len(in_horizon), len(in_horizon) - len(useful & set(range(len(in_horizon)))))


def push(changes: list[float], *, latency: float = 0.0) -> Outcome:
    """One open connection; each change is one message, ``latency`` s after it happens."""
    return Outcome("push", None, latency if changes else 0.0, latency if changes else 0.0, len(changes), 0)
