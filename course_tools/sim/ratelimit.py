"""Five rate limiters on a clock you control, and bursty traffic to feed them.

    clock = VirtualClock()
    bucket = TokenBucket(rate=5, burst=10, clock=clock)     # 5 requests/s, bursts of 10
    bucket.allow()            # True or False
    bucket.retry_after()      # seconds until a request would be admitted (0 if now)

Every limiter answers ``allow()`` (admit one request now, or refuse it and change nothing
but its own bookkeeping) and ``retry_after()`` (the exact wait, for a ``Retry-After``
field). ``limit`` requests per ``window`` seconds is the policy they share, so that
``rate = limit / window`` (the IETF RateLimit draft's ``q`` and ``w``):

==========================  ==============================================================
:class:`TokenBucket`        a bucket of ``burst`` tokens refilled at ``rate``/s; bursts pass
:class:`LeakyBucket`        a queue of ``capacity`` drained at ``rate``/s: output is smooth;
                            ``departures`` holds when each admitted request leaves
:class:`FixedWindow`        a counter per window ``[k*w, (k+1)*w)``: 2x limit at an edge
:class:`SlidingLog`         every admitted timestamp of the last ``window`` s: exact, O(limit) memory
:class:`SlidingWindowCounter`  previous and current window counts, blended by overlap
==========================  ==============================================================

(The algorithms' descriptions: Cloudflare blog, *How we built rate limiting capable of
scaling to millions of domains*, 2017, for the sliding-window counter; the token and
leaky bucket are the classic traffic-shaping pair.) All times are seconds of the clock
passed in; :func:`replay` drives a limiter through arrival times on a virtual clock.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from course_tools.clock import VirtualClock

__all__ = [
    "TokenBucket", "LeakyBucket", "FixedWindow", "SlidingLog", "SlidingWindowCounter", "LIMITERS",
    "make_limiter", "bursty_traffic", "edge_burst", "replay", "Replay", "max_in_any_window",
]

EPS = 1e-9


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or math.isinf(value):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return float(value)


def _positive_int(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


class TokenBucket:
    """``burst`` tokens at most; one token per request; ``rate`` tokens added per second."""

    name = "token bucket"

    def __init__(self, rate: float, burst: int, *, clock: Callable[[], float]) -> None:
        self.rate = _positive("rate", rate)
        self.burst = _positive_int("burst", burst)
        self.clock = clock
        self.tokens = float(self.burst)
        self.updated = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def allow(self) -> bool:
        self._refill()
        if self.tokens >= 1 - EPS:
            self.tokens = max(0.0, self.tokens - 1)
            return True
        return False

    def retry_after(self) -> float:
        self._refill()
        return max(0.0, (1 - self.tokens) / self.rate)

    def remaining(self) -> int:
        self._refill()
        return int(self.tokens + EPS)


class LeakyBucket:
    """A queue of at most ``capacity`` requests, served one every ``1/rate`` s (a shaper).

    ``allow()`` admits a request into the queue if there is room; ``departures[i]`` is when
    the i-th admitted request leaves the bucket (is passed on to the server).
    """

    name = "leaky bucket"

    def __init__(self, rate: float, capacity: int, *, clock: Callable[[], float]) -> None:
        self.rate = _positive("rate", rate)
        self.capacity = _positive_int("capacity", capacity)
        self.clock = clock
        self.departures: list[float] = []
        self._queue: deque[float] = deque()   # when each queued request's service slot ends

    def _drain(self) -> None:
        now = self.clock()
        while self._queue and self._queue[0] <= now + EPS:   # its slot [leave, leave + 1/rate) is over
            self._queue.popleft()

    def allow(self) -> bool:
        self._drain()
        if len(self._queue) >= self.capacity:
            return False
        now = self.clock()
        last = self.departures[-1] if self.departures else -math.inf
        leave = max(now, last + 1 / self.rate)
        self._queue.append(leave + 1 / self.rate)
        self.departures.append(leave)
        return True

    def retry_after(self) -> float:
        self._drain()
        if len(self._queue) < self.capacity:
            return 0.0
        return max(0.0, self._queue[0] - self.clock())

    def remaining(self) -> int:
        self._drain()
        return self.capacity - len(self._queue)


class FixedWindow:
    """At most ``limit`` requests in each window ``[k*window, (k+1)*window)``."""

    name = "fixed window"

    def __init__(self, limit: int, window: float, *, clock: Callable[[], float]) -> None:
        self.limit = _positive_int("limit", limit)
        self.window = _positive("window", window)
        self.rate = self.limit / self.window
        self.clock = clock
        self._index, self._count = None, 0

    def _roll(self) -> int:
        index = math.floor(self.clock() / self.window + EPS)
        if index != self._index:
            self._index, self._count = index, 0
        return index

    def allow(self) -> bool:
        self._roll()
        if self._count < self.limit:
            self._count += 1
            return True
        return False

    def retry_after(self) -> float:
        index = self._roll()
        if self._count < self.limit:
            return 0.0
        return max(0.0, (index + 1) * self.window - self.clock())

    def remaining(self) -> int:
        self._roll()
        return self.limit - self._count


class SlidingLog:
    """At most ``limit`` admitted requests in any ``window`` seconds (``now - t < window``)."""

    name = "sliding log"

    def __init__(self, limit: int, window: float, *, clock: Callable[[], float]) -> None:
        self.limit = _positive_int("limit", limit)
        self.window = _positive("window", window)
        self.rate = self.limit / self.window
        self.clock = clock
        self.log: deque[float] = deque()

    def _trim(self) -> None:
        now = self.clock()
        while self.log and now - self.log[0] >= self.window - EPS:
            self.log.popleft()

    def allow(self) -> bool:
        self._trim()
        if len(self.log) < self.limit:
            self.log.append(self.clock())
            return True
        return False

    def retry_after(self) -> float:
        self._trim()
        if len(self.log) < self.limit:
            return 0.0
        return max(0.0, self.log[0] + self.window - self.clock())

    def remaining(self) -> int:
        self._trim()
        return self.limit - len(self.log)


class SlidingWindowCounter:
    """Admit while ``previous * (1 - elapsed/window) + current + 1 <= limit`` (Cloudflare's blend).

    Two counters per client instead of a log: it assumes the previous window's requests
    were spread evenly, so it is an approximation of the sliding log.
    """

    name = "sliding window counter"

    def __init__(self, limit: int, window: float, *, clock: Callable[[], float]) -> None:
        self.limit = _positive_int("limit", limit)
        self.window = _positive("window", window)
        self.rate = self.limit / self.window
        self.clock = clock
        self._index, self._current, self._previous = None, 0, 0

    def _roll(self) -> float:
        """Update the counters for now; return the fraction of the current window elapsed."""
        now = self.clock()
        index = math.floor(now / self.window + EPS)
        if self._index is None:
            self._index = index
        elif index == self._index + 1:
            self._index, self._previous, self._current = index, self._current, 0
        elif index > self._index + 1:
            self._index, self._previous, self._current = index, 0, 0
        return max(0.0, now / self.window - index)

    def _estimate(self, f: float) -> float:
        return self._previous * (1 - f) + self._current

    def allow(self) -> bool:
        f = self._roll()
        if self._estimate(f) + 1 <= self.limit + EPS:
            self._current += 1
            return True
        return False

    def retry_after(self) -> float:
        f = self._roll()
        if self._estimate(f) + 1 <= self.limit + EPS:
            return 0.0
        start = self._index * self.window
        now = self.clock()
        if self._current + 1 <= self.limit and self._previous > 0:
            need = 1 - (self.limit - self._current - 1) / self._previous   # fraction of this window
            if need <= 1:
                return max(0.0, start + need * self.window - now)
        # wait for the next window: previous = current, current = 0
        need = max(0.0, 1 - (self.limit - 1) / self._current) if self._current else 0.0
        return max(0.0, start + self.window * (1 + need) - now)

    def remaining(self) -> int:
        f = self._roll()
        return max(0, int(self.limit - self._estimate(f) + EPS))


LIMITERS = {
    "token bucket": TokenBucket, "leaky bucket": LeakyBucket, "fixed window": FixedWindow,
    "sliding log": SlidingLog, "sliding window counter": SlidingWindowCounter,
}


def make_limiter(name: str, limit: int, window: float, *, clock: Callable[[], float]):
    """One policy, "``limit`` per ``window`` s", as each algorithm understands it.

    The buckets get ``rate = limit / window`` and a size of ``limit`` (bursts of ``limit``),
    the window algorithms ``limit`` per ``window``.
    """
    cls = LIMITERS[name]
    if cls in (TokenBucket, LeakyBucket):
        return cls(limit / window, limit, clock=clock)
    return cls(limit, window, clock=clock)


def bursty_traffic(duration: float, *, base_rate: float, burst_every: float, burst_size: int,
                   burst_spread: float = 0.2, rng: random.Random) -> list[float]:
    """Arrival times: a Poisson stream of ``base_rate``/s plus a burst of ``burst_size``
    requests within ``burst_spread`` s every ``burst_every`` s (jittered). Sorted."""
    times, t = [], 0.0
    while True:
        t += rng.expovariate(base_rate)
        if t >= duration:
            break
        times.append(t)
    start = rng.uniform(0, burst_every)
    while start < duration:
        times.extend(min(duration - EPS, start + rng.uniform(0, burst_spread)) for _ in range(burst_size))
        start += burst_every * rng.uniform(0.7, 1.3)
    return sorted(times)


def edge_burst(limit: int, window: float, *, windows: int = 3, gap: float = 0.01) -> list[float]:
    """``limit`` requests just before each window edge and ``limit`` just after it: the
    traffic that makes a fixed window admit twice its limit within a few milliseconds."""
    times = []
    for k in range(1, windows + 1):
        edge = k * window
        times += [edge - gap + gap * i / limit for i in range(limit)]
        times += [edge + gap * i / limit for i in range(limit)]
    return times


@dataclass
class Replay:
    """What a limiter did with one stream of arrivals."""

    name: str
    arrivals: list[float]
    admitted: list[bool]
    served_at: list[float]   # when each admitted request reaches the server

    @property
    def admitted_count(self) -> int:
        return sum(self.admitted)

    @property
    def rejected_count(self) -> int:
        return len(self.admitted) - self.admitted_count


def replay(limiter_or_factory, arrivals: Sequence[float], *, clock: VirtualClock | None = None) -> Replay:
    """Feed ``arrivals`` (sorted times) to a limiter on a virtual clock.

    Pass a factory ``clock -> limiter`` (the replay makes the clock) or a limiter and the
    :class:`VirtualClock` it reads.
    """
    if clock is None:
        clock = VirtualClock()
        limiter = limiter_or_factory(clock)
    else:
        limiter = limiter_or_factory
    admitted, served = [], []
    for t in arrivals:
        clock.advance_to(max(t, clock()))
        ok = limiter.allow()
        admitted.append(ok)
        if ok:
            served.append(limiter.departures[-1] if isinstance(limiter, LeakyBucket) else clock())
    return Replay(getattr(limiter, "name", type(limiter).__name__), list(arrivals), admitted, served)


def max_in_any_window(times: Iterable[float], width: float) -> int:
    """The most events in any half-open interval of ``width`` seconds."""
    ts = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(ts):
        while t - ts[lo] >= width - EPS:
            lo += 1
        best = max(best, hi - lo + 1)
    return best
