"""Amdahl, the USL, their fits, the simulated service and the call-chain simulator."""

import math
import random

import numpy as np
import pytest

from course_tools.sim.callchain import Service, simulate_chain, simulate_discovery
from course_tools.sim.scaling import amdahl, fit_amdahl, fit_usl, measure, usl, usl_peak

NS = [1, 2, 4, 8, 12, 16, 24, 32, 48, 64]


def test_amdahl_limit():
    """Speed-up never exceeds 1 / (1 - p)."""
    assert amdahl(1, 0.9) == pytest.approx(1.0)
    assert amdahl(10**9, 0.9) == pytest.approx(10.0, rel=1e-6)


def test_usl_peak_formula():
    """Throughput peaks at sqrt((1 - alpha) / beta) and declines after it."""
    a, b = 0.03, 0.001
    peak = usl_peak(a, b)
    assert peak == pytest.approx(math.sqrt(0.97 / 0.001))
    n = np.arange(1, 200)
    assert abs(n[np.argmax(usl(n, a, b))] - peak) <= 1
    assert usl_peak(0.1, 0.0) == math.inf


def test_fit_usl_recovers_known_coefficients():
    """Fitting exact USL data gives back alpha, beta and lambda."""
    n = np.array(NS, dtype=float)
    fit = fit_usl(n, usl(n, 0.05, 0.0008, 120.0))
    assert fit.alpha == pytest.approx(0.05, abs=1e-6)
    assert fit.beta == pytest.approx(0.0008, rel=1e-4)
    assert fit.lam == pytest.approx(120.0)


def test_fit_amdahl_recovers_p():
    n = np.array(NS, dtype=float)
    assert fit_amdahl(n, amdahl(n, 0.95)) == pytest.approx(0.95)


def test_simulated_service_is_deterministic_and_retrograde():
    """Same seed, same throughput; with coherency cost the measured curve rises then falls,
    and the fitted USL puts the peak inside the measured range."""
    x1 = measure(NS, rng=random.Random(1))
    assert np.array_equal(x1, measure(NS, rng=random.Random(1)))
    peak = int(np.argmax(x1))
    assert 0 < peak < len(NS) - 1 and x1[-1] < 0.7 * x1[peak]
    fit = fit_usl(NS, x1)
    assert NS[1] < fit.peak < NS[-1] and fit.beta > 0


def test_without_coherency_no_retrograde():
    """With contention only, throughput saturates but does not fall much."""
    x = measure(NS, rng=random.Random(1), coherency=0.0)
    assert x[-1] >= 0.95 * x.max()


def test_call_chain_compounds_failures_and_latency():
    """Five services in sequence: success about 0.99**5 and a larger median than one service."""
    one = simulate_chain([Service("a")], requests=4000, rng=random.Random(3))
    five = simulate_chain([Service(c) for c in "abcde"], requests=4000, rng=random.Random(3))
    assert five.success_rate == pytest.approx(0.99 ** 5, abs=0.015)
    assert five.percentile(50) > 3 * one.percentile(50)
    fan = simulate_chain([Service(c) for c in "abcde"], requests=4000, rng=random.Random(3), fanout=True)
    assert one.percentile(50) < fan.percentile(50) < five.percentile(50)
    retried = simulate_chain([Service(c) for c in "abcde"], requests=4000, rng=random.Random(3), retries=1)
    assert retried.success_rate > 0.99


def test_discovery_modes_are_compared_on_equal_terms():
    """Same registry delay, refresh and retries: the same share of calls reach dead addresses
    (same seed, same choices); the router adds exactly one hop to every call."""
    kw = dict(registry_delay=0.5, refresh=1.0, retries=0)
    client = simulate_discovery("client", rng=random.Random(2), **kw)
    server = simulate_discovery("server", rng=random.Random(2), **kw)
    assert client.failed == server.failed > 0
    assert server.mean_latency == pytest.approx(client.mean_latency + 0.002)


def test_staleness_comes_from_the_registry_delay_and_refresh_not_the_mode():
    """A caller that refreshes rarely hits more dead addresses; a retry on another instance hides most of them."""
    rare = simulate_discovery("client", rng=random.Random(2), refresh=10.0, retries=0)
    often = simulate_discovery("client", rng=random.Random(2), refresh=0.1, retries=0)
    assert rare.failed > often.failed > 0  # even refreshing often, the registry itself lags 0.5 s
    instant = simulate_discovery("client", rng=random.Random(2), registry_delay=0.0, refresh=0.0, retries=0)
    assert instant.failed == 0
    retried = simulate_discovery("client", rng=random.Random(2), refresh=10.0, retries=1)
    assert retried.failed < rare.failed / 5 and retried.dead_attempts > 0


def test_the_simulated_service_matches_its_exact_analysis():
    """Mean value analysis of the same closed model gives the simulated throughput (within sampling noise),
    and the throughput peaks near the knee where the lock saturates."""
    from course_tools.sim.scaling import knee, lock_bound, mva_throughput, simulate_service

    for n in (1, 4, 12, 16, 32, 64):
        sim = simulate_service(n, rng=random.Random(n), duration=40.0)
        assert sim == pytest.approx(mva_throughput(n), rel=0.04), n
        assert mva_throughput(n) <= lock_bound(n) + 1e-9
    best = max(range(1, 65), key=mva_throughput)
    assert knee() <= best <= knee() + 4  # queueing blurs the corner: the peak comes a little after it
