"""Does the deterministic scheduler interleave, block, deadlock and replay exactly as documented?"""

from __future__ import annotations

import functools
import math
import random

import pytest

from course_tools.sim.interleave import (
    DEADLOCK, DONE, ERROR, STEP_LIMIT, Acquire, AtomicAdd, ExplorationLimit, Pause, Program, Read, Release,
    ScheduleError, TryAcquire, Write, check_every_interleaving, count_interleavings, explore, find_cycle,
    find_interleaving, outcomes, run, wait_for_graph,
)


def steps(n: int, label: str = "work"):
    def thread():
        for i in range(n):
            yield Pause(f"{label}{i}")
    return thread


def increment():
    value = yield Read("counter")
    yield Write("counter", value + 1)


def locked_increment():
    yield Acquire("m")
    value = yield Read("counter")
    yield Write("counter", value + 1)
    yield Release("m")


def take(first: str, second: str):
    def thread():
        yield Acquire(first)
        yield Acquire(second)
        yield Release(second)
        yield Release(first)
    return thread


LOST_UPDATE = Program({"T1": increment, "T2": increment}, memory={"counter": 0})
OPPOSITE_ORDER = Program({"T1": take("A", "B"), "T2": take("B", "A")}, locks=["A", "B"])


class TestInterleavingCounts:
    @pytest.mark.parametrize("m,n", [(1, 1), (2, 2), (3, 2), (4, 3), (5, 5)])
    def test_two_threads_give_binomial(self, m, n):
        """Two lock-free threads of m and n steps interleave in exactly C(m+n, m) ways."""
        program = Program([steps(m), steps(n)])
        traces = list(explore(program))
        assert len(traces) == math.comb(m + n, m) == count_interleavings(m, n)
        assert len({t.schedule for t in traces}) == len(traces), "each schedule once"
        assert all(len(t.events) == m + n and t.status == DONE for t in traces)

    def test_three_threads_give_multinomial(self):
        """Three threads of 2, 2 and 1 steps: 5!/(2!2!1!) = 30 interleavings."""
        assert len(list(explore(Program([steps(2), steps(2), steps(1)])))) == 30 == count_interleavings(2, 2, 1)

    def test_schedules_come_in_order(self):
        """Exploration is depth-first in schedule order, so it is itself deterministic."""
        schedules = [t.schedule for t in explore(Program([steps(2), steps(1)]))]
        assert schedules == [("T1", "T1", "T2"), ("T1", "T2", "T1"), ("T2", "T1", "T1")]

    def test_limit(self):
        """More interleavings than max_runs is an error, not a silent truncation."""
        with pytest.raises(ExplorationLimit):
            list(explore(Program([steps(5), steps(5)]), max_runs=10))


class TestRaces:
    def test_lost_update_counts(self):
        """Of the 6 interleavings of two read-then-write increments, 4 lose an update."""
        assert outcomes(LOST_UPDATE) == {1: 4, 2: 2}

    def test_lost_update_schedule(self):
        """Read, read, write, write leaves the counter at 1."""
        trace = run(LOST_UPDATE, ["T1", "T2", "T1", "T2"])
        assert trace.memory == {"counter": 1} and trace.status == DONE
        assert [e.result for e in trace.events] == [0, 0, None, None]

    def test_lock_fixes_lost_update(self):
        """With a lock around the read-modify-write every interleaving ends at 2."""
        program = Program({"T1": locked_increment, "T2": locked_increment}, memory={"counter": 0}, locks=["m"])
        counts = outcomes(program)
        assert set(counts) == {2}
        assert sum(counts.values()) == 2, "only the order of the two critical sections varies"

    def test_atomic_add_fixes_lost_update(self):
        """A fetch-and-add is one step: nothing can come between the read and the write."""
        def atomic():
            yield AtomicAdd("counter", 1)
        assert outcomes(Program([atomic, atomic, atomic], memory={"counter": 0})) == {3: 6}

    def test_check_then_act(self):
        """Two threads that each check `stock > 0` then decrement can oversell one item."""
        def buy():
            stock = yield Read("stock")
            if stock > 0:
                yield Write("stock", stock - 1)
                yield AtomicAdd("sold", 1)
        counts = outcomes(Program([buy, buy], memory={"stock": 1, "sold": 0}), key=lambda t: t.memory["sold"])
        assert counts[2] > 0 and counts[1] > 0

    def test_reduce_keeps_every_final_state(self):
        """State pruning finds the same set of outcomes with fewer runs."""
        program = Program([increment, increment, increment], memory={"counter": 0})
        full = outcomes(program)
        reduced = outcomes(program, reduce=True)
        assert set(full) == set(reduced) == {1, 2, 3}
        assert sum(reduced.values()) < sum(full.values()) == count_interleavings(2, 2, 2)


class TestDeterminism:
    def test_same_seed_same_trace(self):
        """The same seed picks the same interleaving; the schedule replays it exactly."""
        program = Program([steps(4), increment, locked_increment], memory={"counter": 0}, locks=["m"])
        a = run(program, rng=random.Random(7))
        b = run(program, rng=random.Random(7))
        assert a.schedule == b.schedule and a.events == b.events
        replayed = a.replay()
        assert replayed.events == a.events and replayed.memory == a.memory

    def test_different_seeds_differ_somewhere(self):
        """Seeds really change the interleaving (not a constant schedule)."""
        program = Program([steps(4), steps(4)])
        assert len({run(program, rng=random.Random(s)).schedule for s in range(20)}) > 1

    def test_default_is_first_runnable(self):
        """Without schedule or rng, threads run in program order."""
        assert run(Program([steps(2), steps(1)])).schedule == ("T1", "T1", "T2")

    def test_bad_schedule(self):
        """Naming a blocked or finished thread is an error that says why."""
        with pytest.raises(ScheduleError, match="blocked on B"):
            run(OPPOSITE_ORDER, ["T1", "T1", "T2"])
        with pytest.raises(ScheduleError, match="finished"):
            run(Program([steps(1), steps(1)]), ["T1", "T1"])


class TestDeadlock:
    def test_opposite_order_deadlocks(self):
        """Taking two locks in opposite orders deadlocks in exactly 2 of the 6 interleavings."""
        counts = outcomes(OPPOSITE_ORDER, key=lambda t: t.status)
        assert counts == {DONE: 4, DEADLOCK: 2}

    def test_wait_for_graph_has_the_cycle(self):
        """The deadlocked state's wait-for graph is T1 -> T2 -> T1."""
        trace = run(OPPOSITE_ORDER, ["T1", "T2"])
        assert trace.status == DEADLOCK
        assert trace.waiting == {"T1": "B", "T2": "A"}
        assert trace.holders == {"A": ("T1",), "B": ("T2",)}
        graph = wait_for_graph(trace)
        assert graph == {"T1": {"T2"}, "T2": {"T1"}}
        assert find_cycle(graph) == ["T1", "T2", "T1"]

    def test_lock_ordering_never_deadlocks(self):
        """If both threads take A before B, no interleaving deadlocks."""
        program = Program({"T1": take("A", "B"), "T2": take("A", "B")}, locks=["A", "B"])
        assert find_interleaving(program, lambda t: t.deadlocked) is None

    def test_three_way_cycle(self):
        """Three threads in a ring of locks: the cycle has three threads."""
        program = Program([take("A", "B"), take("B", "C"), take("C", "A")], locks="ABC")
        trace = find_interleaving(program, lambda t: t.deadlocked)
        cycle = find_cycle(wait_for_graph(trace))
        assert trace.schedule == ("T1", "T2", "T3") and len(cycle) == 4 and cycle[0] == cycle[-1]

    def test_self_deadlock(self):
        """Taking a non-reentrant lock twice blocks the thread on itself."""
        def twice():
            yield Acquire("m")
            yield Acquire("m")
        trace = run(Program([twice], locks=["m"]))
        assert trace.status == DEADLOCK and find_cycle(wait_for_graph(trace)) == ["T1", "T1"]

    def test_find_cycle_on_plain_graphs(self):
        """Cycle detection is a plain graph function."""
        assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
        assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"b"}}) == ["b", "c", "b"]
        assert find_cycle({}) is None

    def test_try_acquire_backs_off(self):
        """Try-lock with back-off never deadlocks; a spin without bound hits the step limit."""
        def polite(first, second):
            def thread():
                while True:
                    yield Acquire(first)
                    got = yield TryAcquire(second)
                    if got:
                        yield Release(second)
                        yield Release(first)
                        return
                    yield Release(first)
            return thread
        program = Program([polite("A", "B"), polite("B", "A")], locks="AB")
        statuses = {t.status for t in explore(program, reduce=True, max_steps=30)}
        assert DEADLOCK not in statuses and DONE in statuses and STEP_LIMIT in statuses  # livelock is possible


class TestLocksAndSemaphores:
    def test_release_by_non_holder_is_an_error(self):
        """Simulated mutexes are owned: releasing one you do not hold ends the run with an error."""
        def grab():
            yield Acquire("m")
            yield Pause()
        def thief():
            yield Release("m")
        trace = run(Program([grab, thief], locks=["m"]), ["T1", "T2"])
        assert trace.status == ERROR and "held by T1" in trace.error

    def test_semaphore_counts(self):
        """A semaphore of 2 lets two threads in and blocks the third until one leaves."""
        def user():
            yield Acquire("pool")
            n = yield AtomicAdd("in_use", 1)
            yield Write("max", n)  # racy on purpose; only checked under the schedule below
            yield AtomicAdd("in_use", -1)
            yield Release("pool")
        program = Program([user, user, user], memory={"in_use": 0, "max": 0}, semaphores={"pool": 2})
        worst = max(
            max(e.result for e in t.events if isinstance(e.instruction, AtomicAdd)) for t in explore(program, reduce=True)
        )
        assert worst == 2
        trace = run(program, ["T1", "T2", "T1", "T2"], max_steps=4)
        assert trace.status == STEP_LIMIT and trace.holders == {"pool": ("T1", "T2")}
        with pytest.raises(ScheduleError, match="blocked on pool"):
            run(program, ["T1", "T2", "T3"])

    def test_bounded_semaphore_over_release(self):
        """Releasing a semaphore above its initial value is an error (like BoundedSemaphore)."""
        def extra():
            yield Release("s")
        assert run(Program([extra], semaphores={"s": 1})).status == ERROR

    def test_unknown_lock_and_bad_yield(self):
        """Mistakes in a step-program end the run with an error that names them."""
        def bad_lock():
            yield Acquire("nope")
        def bad_yield():
            yield 42
        assert "unknown lock" in run(Program([bad_lock])).error
        assert "not an instruction" in run(Program([bad_yield])).error
        with pytest.raises(TypeError, match="generator"):
            run(Program([lambda: None]))

    def test_crashing_thread(self):
        """An exception inside a thread is reported, not raised."""
        def crash():
            yield Pause()
            raise KeyError("boom")
        trace = run(Program([crash]))
        assert trace.status == ERROR and "KeyError" in trace.error


class TestCheckEveryInterleaving:
    def test_finds_counterexample(self):
        """The checker returns a replayable counterexample for the racy increment."""
        n, bad = check_every_interleaving(LOST_UPDATE, lambda t: t.status == DONE and t.memory["counter"] == 2)
        assert bad is not None and bad.replay().memory == {"counter": 1} and n >= 1

    def test_accepts_correct_program(self):
        """The locked increment passes under every interleaving of three threads."""
        program = Program([locked_increment] * 3, memory={"counter": 0}, locks=["m"])
        n, bad = check_every_interleaving(program, lambda t: t.status == DONE and t.memory["counter"] == 3)
        assert bad is None and n >= 6

    def test_partial_threads(self):
        """Thread functions with arguments go in through functools.partial."""
        def add(k):
            yield AtomicAdd("x", k)
        assert outcomes(Program([functools.partial(add, 2), functools.partial(add, 3)], memory={"x": 0})) == {5: 2}


def _strategies(program):
    """Every way the scheduler picks threads: default order, seeded random, and exhaustive."""
    yield "first runnable", [run(program)]
    yield "seeded", [run(program, rng=random.Random(s)) for s in range(5)]
    yield "exhaustive", list(explore(program))
    yield "reduced", list(explore(program, reduce=True))


PROGRAMS = {
    "locked counter": Program([locked_increment] * 3, memory={"counter": 0}, locks=["m"]),
    "atomic counter": Program([lambda: (yield AtomicAdd("counter", 1))] * 3, memory={"counter": 0}),
    "ordered locks": Program({"T1": take("A", "B"), "T2": take("A", "B")}, locks="AB"),
}


@pytest.mark.parametrize("name", PROGRAMS)
class TestEveryStrategy:
    """Invariants every scheduling strategy must keep, on programs that are correct."""

    def test_replay_is_identical(self, name):
        """Any trace, replayed by its schedule, gives the same steps and memory."""
        for _, traces in _strategies(PROGRAMS[name]):
            for t in traces:
                again = t.replay()
                assert again.events == t.events and again.memory == t.memory and again.status == t.status

    def test_correct_programs_always_finish_right(self, name):
        """No strategy finds a deadlock or a wrong count in a correct program."""
        for _, traces in _strategies(PROGRAMS[name]):
            assert traces and all(t.status == DONE for t in traces)
            assert all(t.memory.get("counter", 3) == 3 for t in traces)
            assert all(not t.holders for t in traces), "every lock released at the end"

    def test_one_step_per_instruction(self, name):
        """Each event is one instruction of the thread the schedule names, numbered from 1."""
        for _, traces in _strategies(PROGRAMS[name]):
            for t in traces:
                assert [e.thread for e in t.events] == list(t.schedule)
                assert [e.step for e in t.events] == list(range(1, len(t.events) + 1))


def test_symmetry_keeps_final_states_with_fewer_runs():
    """Identical workers: symmetry reduction finds the same final states (and deadlocks) in fewer runs."""
    def worker():
        yield Acquire("slots")
        n = yield AtomicAdd("in_use", 1)
        yield Write("peak", n)                     # racy on purpose: several final values possible
        yield AtomicAdd("in_use", -1)
        yield Release("slots")
    program = Program([worker] * 3, memory={"in_use": 0, "peak": 0}, semaphores={"slots": 2})
    plain, sym = {}, {}
    finals = {tuple(sorted(t.memory.items())) for t in explore(program, reduce=True, stats=plain)}
    finals_sym = {tuple(sorted(t.memory.items())) for t in explore(program, reduce=True, symmetry=True, stats=sym)}
    assert finals == finals_sym and len(finals) > 1
    assert sym["runs"] < plain["runs"]
    ring = Program([take("A", "B"), take("A", "B"), take("B", "A")], locks="AB")
    assert any(t.deadlocked for t in explore(ring, reduce=True, symmetry=True))
