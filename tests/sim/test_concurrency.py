"""Do the core-timeline and pool simulations show concurrency and parallelism as claimed?"""

from __future__ import annotations

import random

import pytest

from course_tools.clock import VirtualClock
from course_tools.sim.concurrency import cpu_tasks, schedule_tasks, simulate_pool


def test_one_core_interleaves_two_cores_overlap():
    """Two 3 s CPU tasks: 6 s on one core (never two at once), 3 s on two (two at once)."""
    one, two = schedule_tasks(cpu_tasks(2, 3.0), cores=1), schedule_tasks(cpu_tasks(2, 3.0), cores=2)
    assert one.makespan == 6.0 and one.max_parallel() == 1
    assert two.makespan == 3.0 and two.max_parallel() == 2
    assert one.busy == two.busy == 6.0
    assert one.utilisation() == pytest.approx(1.0) and two.utilisation() == pytest.approx(1.0)


def test_round_robin_takes_turns():
    """With a 1 s quantum the single core alternates A, B, A, B, ..."""
    tl = schedule_tasks(cpu_tasks(2, 2.0), cores=1, quantum=1.0)
    assert [s.task for s in tl.segments] == ["A", "B", "A", "B"]


def test_io_overlaps_on_one_core():
    """I/O waits need no core: two tasks of 1 s CPU + 3 s I/O + 1 s CPU finish in 6 s, not 10 s."""
    task = [("cpu", 1.0), ("io", 3.0), ("cpu", 1.0)]
    tl = schedule_tasks({"A": task, "B": task}, cores=1)
    assert tl.makespan == 6.0 and tl.max_parallel() == 1
    assert all(s.core is None for s in tl.segments if s.kind == "io")


def test_timeline_uses_the_clock():
    """The schedule advances the virtual clock it is given (and nothing else)."""
    clock = VirtualClock(10.0)
    tl = schedule_tasks(cpu_tasks(3, 1.0), cores=1, clock=clock)
    assert clock.now == 13.0 and tl.makespan == 3.0


def test_bad_segments():
    """Unknown segment kinds and zero cores are rejected."""
    with pytest.raises(ValueError):
        schedule_tasks({"A": [("disk", 1.0)]})
    with pytest.raises(ValueError):
        schedule_tasks(cpu_tasks(1, 1.0), cores=0)


@pytest.mark.parametrize("capacity", [1, 2, 3])
def test_pool_never_exceeds_capacity(capacity):
    """A counting semaphore of k never lets more than k requests hold a connection."""
    run = simulate_pool(40, capacity=capacity, rng=random.Random(5))
    assert run.max_in_use == capacity  # the load is heavy enough to reach it
    assert all(s >= a for a, s in zip(run.arrivals, run.starts))
    assert all(e - s == pytest.approx(1.0) for s, e in zip(run.starts, run.ends))


def test_unbounded_pool_never_waits():
    """Without a limit nobody waits, and more connections are used at once."""
    bounded = simulate_pool(40, capacity=2, rng=random.Random(5))
    free = simulate_pool(40, capacity=None, rng=random.Random(5))
    assert max(free.waits) == 0 and free.max_in_use > bounded.max_in_use and max(bounded.waits) > 0


def test_pool_is_seeded():
    """Same seed, same run."""
    a = simulate_pool(20, capacity=2, rng=random.Random(9))
    b = simulate_pool(20, capacity=2, rng=random.Random(9))
    assert a.steps == b.steps


def test_below_capacity_waits_stay_short_and_overload_makes_them_grow():
    """Regression: the lesson's pool ran at utilisation 1.33 while the text said it smooths peaks.
    Below 1 do waits stay bounded; above 1, with waiting only, do they grow with time?"""
    stable = simulate_pool(400, capacity=3, mean_gap=0.5, rng=random.Random(3))
    over = simulate_pool(400, capacity=3, mean_gap=0.25, rng=random.Random(3))
    assert stable.utilisation < 1 < over.utilisation
    half = len(stable.waits) // 2
    assert max(stable.waits) < 5 * stable.service
    assert sum(over.waits[half:]) / half > 3 * sum(over.waits[:half]) / half   # the queue keeps growing
    assert over.max_waiting > 10 * stable.max_waiting


def test_acquire_timeout_and_load_shedding_bound_every_wait():
    """Does a timeout bound every served request's wait, and does shedding cap the queue —
    at the price of requests refused, which the run counts?"""
    timed = simulate_pool(400, capacity=3, mean_gap=0.25, rng=random.Random(3), acquire_timeout=1.0)
    shed = simulate_pool(400, capacity=3, mean_gap=0.25, rng=random.Random(3), max_waiting=3)
    assert max(timed.waits) <= 1.0 and set(timed.rejected.values()) == {"timeout"}
    assert shed.max_waiting <= 3 and set(shed.rejected.values()) == {"shed"}
    for run in (timed, shed):
        assert run.served + len(run.rejected) == 400 and run.max_in_use <= 3
        assert all(run.starts[r] is None for r in run.rejected)
