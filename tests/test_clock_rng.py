import random

import pytest

from course_tools.clock import RealClock, VirtualClock, as_clock
from course_tools.rng import make_rng, seed, spawn


def test_virtual_clock_moves_only_when_told():
    """Does the virtual clock stay put until advance(), and refuse to go backwards?"""
    c = VirtualClock(10)
    assert c() == 10 and c.now == 10
    assert c.advance(2.5) == 12.5
    c.sleep(0.5)
    assert c() == 13.0
    c.advance_to(20)
    assert c() == 20
    with pytest.raises(ValueError):
        c.advance(-1)
    with pytest.raises(ValueError):
        c.advance_to(5)


def test_as_clock_defaults_to_real_time():
    assert isinstance(as_clock(None), RealClock)
    vc = VirtualClock()
    assert as_clock(vc) is vc


def test_seed_is_reproducible_and_touches_no_global_state():
    """Does the same seed give the same numbers, without seeding the random module?"""
    random.seed(99)
    expected_global = random.random()
    random.seed(99)
    a, b = seed(7), seed(7)
    assert [a.random.random() for _ in range(5)] == [b.random.random() for _ in range(5)]
    assert (a.numpy.integers(0, 1000, 5) == b.numpy.integers(0, 1000, 5)).all()
    assert random.random() == expected_global


def test_spawned_streams_are_independent_and_stable():
    s = seed(7)
    x = [s.spawn("lru").random() for _ in range(1)]
    assert x == [spawn(7, "lru").random()]
    assert spawn(7, "lru").random() != spawn(7, "lfu").random()
    r = random.Random(3)
    assert make_rng(r) is r
    assert make_rng(5).random() == random.Random(5).random()
