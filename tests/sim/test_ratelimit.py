"""Rate limiters: one invariant suite every algorithm passes, then each algorithm's own rule."""

from __future__ import annotations

import random

import pytest

from course_tools.clock import VirtualClock
from course_tools.sim import ratelimit as rl

LIMIT, WINDOW = 10, 2.0
RATE = LIMIT / WINDOW


class LimiterInvariants:
    """Every limiter, configured as "LIMIT requests per WINDOW s", must pass these."""

    name = ""

    def make(self, clock, limit=LIMIT, window=WINDOW):
        return rl.make_limiter(self.name, limit, window, clock=clock)

    def test_rejects_bad_parameters(self, clock):
        cls = rl.LIMITERS[self.name]
        for args in ((0, 1), (1, 0), (-1, 5), (1.5, float("inf"))):
            with pytest.raises(ValueError):
                cls(*args, clock=clock)

    def test_a_fresh_limiter_admits_a_full_burst_then_refuses(self, clock):
        lim = self.make(clock)
        assert [lim.allow() for _ in range(LIMIT)] == [True] * LIMIT
        assert lim.allow() is False and lim.remaining() == 0

    @pytest.mark.parametrize("seed", [1, 2, 3])
    def test_never_admits_more_than_limit_plus_rate_times_elapsed(self, seed):
        """From a cold start, admitted requests in [0, T] <= LIMIT + RATE * T, for every T."""
        arrivals = rl.bursty_traffic(60, base_rate=8, burst_every=7, burst_size=40, rng=random.Random(seed))
        r = rl.replay(lambda c: self.make(c), arrivals)
        served = sorted(r.served_at)
        for i, t in enumerate(served, 1):
            assert i <= LIMIT + RATE * t + 1e-9

    def test_sustained_overload_is_held_to_the_rate(self):
        """Ten times the allowed rate for 200 s: the admitted rate is close to the policy's rate
        (the sliding-window counter's blend is conservative: it admits ~10 % less)."""
        arrivals = [i / (10 * RATE) for i in range(int(200 * 10 * RATE))]
        r = rl.replay(lambda c: self.make(c), arrivals)
        assert 0.85 * RATE * 200 <= r.admitted_count <= LIMIT + RATE * 200

    @pytest.mark.parametrize("seed", [4, 5])
    def test_retry_after_is_the_exact_wait(self, seed):
        """After a refusal, waiting retry_after() admits the next request; waiting a little less does not."""
        rng = random.Random(seed)
        clock = VirtualClock()
        lim = self.make(clock)
        checked = 0
        for _ in range(300):
            clock.advance(rng.choice([0, 0, 0.01, 0.1, 0.5]))
            if lim.allow():
                assert lim.retry_after() >= 0
                continue
            wait = lim.retry_after()
            assert wait > 0
            if wait > 2e-3:
                probe = VirtualClock(clock())
                twin = self._clone(lim, probe)
                probe.advance(wait - 1e-3)
                assert twin.allow() is False
            clock.advance(wait)
            assert lim.allow() is True
            checked += 1
        assert checked > 20

    def _clone(self, lim, clock):
        import copy

        twin = copy.deepcopy(lim)
        twin.clock = clock
        return twin

    def test_capacity_comes_back_after_idle_but_not_more(self, clock):
        lim = self.make(clock)
        for _ in range(3 * LIMIT):
            lim.allow()
        clock.advance(100 * WINDOW)
        got = [lim.allow() for _ in range(LIMIT + 2)]
        assert got == [True] * LIMIT + [False, False]


class TestTokenBucket(LimiterInvariants):
    name = "token bucket"

    def test_bursts_pass_and_refill_is_steady(self, clock):
        b = rl.TokenBucket(rate=4, burst=3, clock=clock)
        assert [b.allow() for _ in range(4)] == [True, True, True, False]
        clock.advance(0.25)
        assert b.allow() and not b.allow()

    def test_in_any_window_at_most_burst_plus_refill(self):
        arrivals = rl.bursty_traffic(60, base_rate=8, burst_every=5, burst_size=50, rng=random.Random(9))
        r = rl.replay(lambda c: rl.TokenBucket(RATE, LIMIT, clock=c), arrivals)
        assert rl.max_in_any_window(r.served_at, WINDOW) <= LIMIT + RATE * WINDOW


class TestLeakyBucket(LimiterInvariants):
    name = "leaky bucket"

    def test_output_is_smooth(self):
        """Whatever comes in, requests leave at most one every 1/rate s (a shaper)."""
        arrivals = rl.bursty_traffic(30, base_rate=8, burst_every=5, burst_size=50, rng=random.Random(2))
        r = rl.replay(lambda c: rl.LeakyBucket(RATE, LIMIT, clock=c), arrivals)
        gaps = [b - a for a, b in zip(r.served_at, r.served_at[1:])]
        assert min(gaps) >= 1 / RATE - 1e-9
        assert all(s >= a for s, a in zip(r.served_at, [t for t, ok in zip(r.arrivals, r.admitted) if ok]))


class TestFixedWindow(LimiterInvariants):
    name = "fixed window"

    def test_admits_twice_the_limit_across_a_window_edge(self):
        r = rl.replay(lambda c: rl.FixedWindow(LIMIT, WINDOW, clock=c), rl.edge_burst(LIMIT, WINDOW, windows=1))
        assert r.admitted_count == 2 * LIMIT
        assert rl.max_in_any_window(r.served_at, 0.05) == 2 * LIMIT


class TestSlidingLog(LimiterInvariants):
    name = "sliding log"

    @pytest.mark.parametrize("seed", [1, 2])
    def test_never_more_than_limit_in_any_window(self, seed):
        arrivals = rl.bursty_traffic(60, base_rate=8, burst_every=5, burst_size=50, rng=random.Random(seed))
        arrivals += rl.edge_burst(LIMIT, WINDOW, windows=5)
        r = rl.replay(lambda c: rl.SlidingLog(LIMIT, WINDOW, clock=c), sorted(arrivals))
        assert rl.max_in_any_window(r.served_at, WINDOW) == LIMIT


class TestSlidingWindowCounter(LimiterInvariants):
    name = "sliding window counter"

    def test_previous_window_is_weighted_by_overlap(self, clock):
        lim = rl.SlidingWindowCounter(LIMIT, WINDOW, clock=clock)
        for _ in range(LIMIT):
            assert lim.allow()
        clock.advance_to(WINDOW * 1.5)    # half of the previous window still overlaps
        admitted = sum(lim.allow() for _ in range(LIMIT))
        assert admitted == LIMIT // 2

    def test_edge_burst_is_damped(self):
        r = rl.replay(lambda c: rl.SlidingWindowCounter(LIMIT, WINDOW, clock=c), rl.edge_burst(LIMIT, WINDOW, windows=1))
        assert r.admitted_count <= LIMIT + 1


def test_edge_burst_and_traffic_are_seeded():
    a = rl.bursty_traffic(10, base_rate=3, burst_every=4, burst_size=5, rng=random.Random(1))
    b = rl.bursty_traffic(10, base_rate=3, burst_every=4, burst_size=5, rng=random.Random(1))
    assert a == b == sorted(a) and all(0 <= t < 10 for t in a)
    assert len(rl.edge_burst(5, 1.0, windows=2)) == 20
