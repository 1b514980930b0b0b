"""429 + Retry-After + RateLimit fields on the wire; token buckets shared through real Redis."""

from __future__ import annotations

import pytest

from course_tools.clock import VirtualClock
from course_tools.net.http import HTTPServer, Response
from course_tools.net.ratelimit import AtomicRedisBucket, NaiveRedisBucket, RateLimitedApp, lockstep, ratelimit_fields
from course_tools.net.redis import redis_client
from course_tools.net.wire import send
from course_tools.sim.ratelimit import TokenBucket


def test_fields_follow_the_draft_syntax():
    f = ratelimit_fields("default", 100, 10, 50, 29.2)
    assert f == {"RateLimit-Policy": '"default";q=100;w=10', "RateLimit": '"default";r=50;t=30'}


@pytest.mark.network
def test_429_with_retry_after_and_ratelimit_fields():
    clock = VirtualClock()
    app = RateLimitedApp(lambda req: Response.text(200, "ok"), lambda: TokenBucket(0.5, 3, clock=clock),
                         limit=3, window=6)
    with HTTPServer(app) as srv:
        got = [send(srv.url, "GET", "/", headers={"Client-Id": "a"}) for _ in range(4)]
        other = send(srv.url, "GET", "/", headers={"Client-Id": "b"})
        clock.advance(2)
        later = send(srv.url, "GET", "/", headers={"Client-Id": "a"})
    assert [r.status for r in got] == [200, 200, 200, 429]
    assert got[0].header("RateLimit-Policy") == '"default";q=3;w=6'
    assert got[2].header("RateLimit") == '"default";r=0;t=6'
    assert got[3].header("Retry-After") == "2" and got[3].header("Content-Type") == "application/problem+json"
    assert other.status == 200 and later.status == 200 and app.refused == 1


@pytest.mark.redis
def test_read_then_write_over_admits_when_clients_interleave_and_lua_does_not():
    with redis_client() as r:
        naive = [NaiveRedisBucket(r, "naive", rate=1, burst=5) for _ in range(12)]
        atomic = [AtomicRedisBucket(r, "atomic", rate=1, burst=5) for _ in range(12)]
        assert sum(lockstep(naive, 100.0)) == 12          # every client saw 5 tokens
        assert sum(lockstep(atomic, 100.0)) == 5
        # one client at a time, the naive bucket is right too: the bug is the interleaving
        assert sum(b.allow(200.0) for b in naive) == 5
        assert sum(lockstep(atomic, 101.0)) == 1           # refilled one token per second
        assert 0 < r.ttl("atomic") <= 6
