"""Rate limits on the wire and in a shared Redis.

- :class:`RateLimitedApp` wraps an ``app(request) -> Response`` for
  :class:`course_tools.net.http.HTTPServer` with one limiter per client: ``429 Too Many
  Requests`` (RFC 6585 §4) with ``Retry-After`` (RFC 9110 §10.2.3) when refused, and the
  IETF draft's ``RateLimit-Policy`` / ``RateLimit`` fields (draft-ietf-httpapi-ratelimit-headers)
  on every answer.
- :class:`NaiveRedisBucket` and :class:`AtomicRedisBucket` keep a token bucket for many
  clients (many app servers) in one Redis hash. The naive one reads the state, computes in
  Python and writes it back: two clients that read before either writes both spend the
  same token. Its two halves, :meth:`NaiveRedisBucket.read` and
  :meth:`NaiveRedisBucket.write`, are public so that an experiment can interleave clients
  on purpose. The atomic one runs the same arithmetic in a Lua script, which Redis executes
  as one command, so no other client's command can run in between (Redis docs, *Scripting
  with Lua*: scripts are executed atomically).

Time is passed in (``now``), from a virtual clock: the Redis experiments are deterministic.
"""

from __future__ import annotations

import math
import threading
from typing import Callable

from course_tools.net.http import Request, Response

__all__ = ["RateLimitedApp", "ratelimit_fields", "NaiveRedisBucket", "AtomicRedisBucket", "lockstep"]


def ratelimit_fields(policy: str, limit: int, window: float, remaining: int, reset: float) -> dict[str, str]:
    """``RateLimit-Policy`` (quota ``q`` per window ``w`` s) and ``RateLimit`` (remaining ``r``,
    seconds to reset ``t``) as Structured Fields, in the syntax of the IETF draft."""
    return {
        "RateLimit-Policy": f'"{policy}";q={int(limit)};w={int(math.ceil(window))}',
        "RateLimit": f'"{policy}";r={max(0, int(remaining))};t={int(math.ceil(max(0.0, reset)))}',
    }


class RateLimitedApp:
    """One limiter per client (named by the ``Client-Id`` header, else the peer address).

    ``make_limiter()`` returns a fresh limiter (``allow()``, ``retry_after()``, ``remaining()``)
    on the clock the experiment controls; ``limit`` and ``window`` are the published policy.
    """

    def __init__(self, app: Callable[[Request], Response], make_limiter: Callable[[], object], *,
                 limit: int, window: float, policy: str = "default") -> None:
        self.app = app
        self.make_limiter = make_limiter
        self.limit, self.window, self.policy = limit, window, policy
        self.limiters: dict[str, object] = {}
        self.refused = 0
        self._lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        client = request.headers.get("Client-Id") or request.client[0]
        with self._lock:   # the server is threaded; one decision at a time per app
            limiter = self.limiters.get(client)
            if limiter is None:
                limiter = self.limiters[client] = self.make_limiter()
            admitted = limiter.allow()
            wait = 0.0 if admitted else limiter.retry_after()
            remaining = limiter.remaining()
        if not admitted:
            self.refused += 1
            fields = ratelimit_fields(self.policy, self.limit, self.window, 0, wait)
            body = {"type": "about:blank", "title": "Too Many Requests", "status": 429,
                    "detail": f"{self.limit} requests per {self.window:g} s; retry in {math.ceil(wait)} s"}
            return Response.json(429, body, content_type="application/problem+json",
                                 **{"Retry-After": str(max(1, math.ceil(wait))), **fields})
        resp = self.app(request)
        headers = dict(resp.headers)
        headers.update(ratelimit_fields(self.policy, self.limit, self.window, remaining,
                                        (self.limit - remaining) * self.window / self.limit))
        return Response(resp.status, headers, resp.body)


class NaiveRedisBucket:
    """A token bucket in a Redis hash, updated by read-modify-write from the client (racy)."""

    def __init__(self, redis, key: str, *, rate: float, burst: int) -> None:
        self.r, self.key, self.rate, self.burst = redis, key, float(rate), int(burst)

    def read(self, now: float) -> tuple[float, float]:
        """Step 1: read ``(tokens, updated)`` (a full bucket if the key does not exist)."""
        tokens, updated = self.r.hmget(self.key, "tokens", "updated")
        if tokens is None:
            return float(self.burst), now
        return float(tokens), float(updated)

    def write(self, state: tuple[float, float], now: float) -> bool:
        """Step 2: refill, spend a token if there is one, write the state back."""
        tokens, updated = state
        tokens = min(self.burst, tokens + (now - updated) * self.rate)
        admitted = tokens >= 1
        if admitted:
            tokens -= 1
        self.r.hset(self.key, mapping={"tokens": repr(tokens), "updated": repr(now)})
        return admitted

    def allow(self, now: float) -> bool:
        return self.write(self.read(now), now)


_BUCKET_LUA = """
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens, updated = tonumber(state[1]), tonumber(state[2])
if tokens == nil then tokens, updated = burst, now end
tokens = math.min(burst, tokens + (now - updated) * rate)
local admitted = 0
if tokens >= 1 then tokens = tokens - 1; admitted = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return admitted
"""


class AtomicRedisBucket:
    """The same token bucket, with read, refill, spend and write in one Lua script (atomic)."""

    def __init__(self, redis, key: str, *, rate: float, burst: int) -> None:
        self.r, self.key, self.rate, self.burst = redis, key, float(rate), int(burst)
        self._script = redis.register_script(_BUCKET_LUA)

    def allow(self, now: float) -> bool:
        return bool(self._script(keys=[self.key], args=[self.rate, self.burst, now]))


def lockstep(buckets: list, now: float) -> list[bool]:
    """Every client asks at the same instant, interleaved the worst way for a read-then-write
    limiter: all reads first, then all writes. Atomic buckets just ask in turn."""
    if all(isinstance(b, NaiveRedisBucket) for b in buckets):
        states = [b.read(now) for b in buckets]
        return [b.write(s, now) for b, s in zip(buckets, states)]
    return [b.allow(now) for b in buckets]
