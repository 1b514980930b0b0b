import random

from course_tools.sim.ttl import ttl_tradeoff


def test_longer_ttl_more_hits_and_more_staleness():
    """The trade-off the lesson plots: both curves rise with the TTL."""
    pts = ttl_tradeoff([0.5, 5, 50], duration=30, rng=random.Random(3))
    hits = [p.hit_rate for p in pts]
    stale = [p.stale_rate for p in pts]
    reads = [p.store_reads for p in pts]
    assert hits == sorted(hits) and stale == sorted(stale) and reads == sorted(reads, reverse=True)
    assert stale[0] < 0.02 < stale[-1]


def test_same_seed_same_points():
    assert ttl_tradeoff([1, 10], duration=10, rng=random.Random(1)) == ttl_tradeoff([1, 10], duration=10, rng=random.Random(1))
