"""Do the Concurrency assessment's checks pass the reference answers and catch the classic mistakes?"""

from __future__ import annotations

import pytest

from course_tools.grading.checks import AnswerError
from course_tools.grading.reference import concurrency as ref
from course_tools.sim.interleave import PRUNED, Acquire, AtomicAdd, Program, Read, Release, TryAcquire, Write, explore

BANK = {"A": 100, "B": 100, "C": 100}
RING = [("A", "B", 10), ("B", "C", 20), ("C", "A", 5)]


def test_references_pass():
    """The instructor's answers pass every check, including the hidden configurations."""
    assert ref.check_deposit(ref.reference_safe_deposit, amounts=[5, 7, 11], start=3) > 0
    assert ref.check_transfer(ref.reference_ordered_transfer, transfers=RING, balances=BANK, strict_locking=True) > 0
    for workers, connections in [(2, 1), (2, 2), (3, 1), (3, 2)]:
        assert ref.check_pool(ref.reference_borrow, ref.reference_give_back, workers=workers, connections=connections) > 0


def test_atomic_deposit_is_accepted():
    """An atomic add is a correct fix too."""
    def atomic(amount):
        yield AtomicAdd("balance", amount)
    ref.check_deposit(atomic, amounts=[1, 2, 3], start=0)


def test_racy_deposit_fails_with_its_schedule():
    """The racy deposit fails; the visible message shows the losing schedule, the hidden one does not."""
    with pytest.raises(AnswerError, match=r"\['T1', 'T2', 'T1', 'T2'\]"):
        ref.check_deposit(ref.unsafe_deposit, amounts=[10, 20], start=100, question=8, show_schedule=True)
    with pytest.raises(AnswerError) as hidden:
        ref.check_deposit(ref.unsafe_deposit, amounts=[10, 20], start=100, question=8)
    assert "T1" not in str(hidden.value) and "20" not in str(hidden.value)


def test_constant_answer_fails_other_amounts():
    """Writing the expected number without reading fails on other amounts."""
    def cheat(amount):
        yield Write("balance", 130)
    ref.check_deposit(cheat, amounts=[10, 20], start=100)
    with pytest.raises(AnswerError, match="lost"):
        ref.check_deposit(cheat, amounts=[1, 2], start=0)


def test_forgotten_release_fails():
    """A thread that keeps the lock fails (and the next one deadlocks)."""
    def keeps_lock(amount):
        yield Acquire("balance_lock")
        current = yield Read("balance")
        yield Write("balance", current + amount)
    with pytest.raises(AnswerError, match="deadlocked|still held"):
        ref.check_deposit(keeps_lock, amounts=[1, 2], start=0)


def test_unordered_transfer_deadlocks():
    """Opposite orders deadlock; the check says so instead of hanging."""
    with pytest.raises(AnswerError, match="deadlocked"):
        ref.check_transfer(ref.unordered_transfer, transfers=[("A", "B", 1), ("B", "A", 1)], balances={"A": 5, "B": 5})


def test_unlocked_write_is_caught_by_strict_locking():
    """Releasing a lock before the last write is found, although the balances still add up."""
    def early_release(src, dst, amount):
        low, high = sorted([src, dst])
        yield Acquire("lock_" + low)
        yield Acquire("lock_" + high)
        before = yield Read(src)
        yield Write(src, before - amount)
        yield Release("lock_" + high)
        before = yield Read(dst)
        yield Write(dst, before + amount)
        yield Release("lock_" + low)
    ref.check_transfer(early_release, transfers=[("A", "B", 1)], balances={"A": 5, "B": 5})  # one thread: fine
    with pytest.raises(AnswerError, match="without holding"):
        ref.check_transfer(early_release, transfers=RING, balances=BANK, strict_locking=True)


def test_pool_mistakes():
    """No semaphore crashes on an empty pool; no lock loses or duplicates a connection."""
    def borrow_no_slots():
        yield Acquire("pool_lock")
        available = yield Read("free")
        yield Write("free", available[1:])
        yield Release("pool_lock")
        return available[0]

    def give_back_no_slots(conn):
        yield Acquire("pool_lock")
        available = yield Read("free")
        yield Write("free", available + (conn,))
        yield Release("pool_lock")

    def borrow_no_lock():
        yield Acquire("slots")
        available = yield Read("free")
        yield Write("free", available[1:])
        return available[0]

    with pytest.raises(AnswerError, match="IndexError"):
        ref.check_pool(borrow_no_slots, give_back_no_slots, workers=3, connections=2)
    with pytest.raises(AnswerError, match="same connection|free"):
        ref.check_pool(borrow_no_lock, ref.reference_give_back, workers=3, connections=2)


def test_spinning_and_endless_loops_cost_only_the_question():
    """A spin that yields hits the step limit; a loop that never yields hits the time limit."""
    def spin():
        while True:
            yield TryAcquire("slots")

    def endless():
        while True:
            pass
        yield  # pragma: no cover

    with pytest.raises(AnswerError, match="still running after"):
        ref.check_pool(spin, ref.reference_give_back, workers=2, connections=1)
    with pytest.raises(AnswerError, match="still running after 1 s"):
        ref.check_pool(endless, ref.reference_give_back, workers=2, connections=1, seconds=1)


def test_not_a_generator():
    """A stub that raises NotImplementedError (the student version) is rejected with a clear message."""
    def stub(amount):
        raise NotImplementedError()
    with pytest.raises(AnswerError, match="generator function"):
        ref.check_deposit(stub, amounts=[1], start=0)
    with pytest.raises(AnswerError, match="define"):
        ref.check_pool(None, None, workers=1, connections=1)


def test_pruned_runs_cover_every_transition():
    """With pruning, the new steps of all runs together take every transition of every reachable state."""
    def inc():
        value = yield Read("x")
        yield Write("x", value + 1)
    program = Program([inc, inc, inc], memory={"x": 0})
    full = {(tuple(t.schedule[:i]), t.schedule[i]) for t in explore(program) for i in range(len(t.schedule))}
    # states reached by different prefixes may coincide, so compare transitions by the state they start from
    def state_of(prefix):
        from course_tools.sim.interleave import run
        tr = run(program, prefix, max_steps=len(prefix))
        return (tuple(sorted(tr.memory.items())), tuple(tuple(e.result for e in tr.events if e.thread == n)
                                                           for n in program.names))
    want = {(state_of(p), n) for p, n in full}
    got = set()
    for t in explore(program, reduce=True, include_pruned=True, new_events_only=True):
        first_new = len(t.schedule) - len(t.events)
        for i in range(first_new, len(t.schedule)):
            got.add((state_of(t.schedule[:i]), t.schedule[i]))
    assert got == want
    assert any(t.status == PRUNED for t in explore(program, reduce=True, include_pruned=True))


def one_lock_at_a_time(src, dst, amount):
    """The wrong answer of issue 17: never holds both locks, so no deadlock and right final
    balances — but the transfer is not atomic."""
    yield Acquire(f"lock_{src}")
    before = yield Read(src)
    yield Write(src, before - amount)
    yield Release(f"lock_{src}")
    yield Acquire(f"lock_{dst}")
    before = yield Read(dst)
    yield Write(dst, before + amount)
    yield Release(f"lock_{dst}")


def test_a_transfer_that_never_holds_both_locks_loses_the_points():
    """Regression: it passed every Task 9 check (no deadlock, each write under its own lock,
    right final balances). Does the auditor, summing while holding every lock, catch it in
    the visible and the hidden configurations?"""
    two = [("A", "B", 10), ("B", "A", 20)]
    ref.check_transfer(one_lock_at_a_time, transfers=two, balances={"A": 100, "B": 100}, strict_locking=True)
    with pytest.raises(AnswerError, match="auditor"):
        ref.check_transfer(one_lock_at_a_time, transfers=two, balances={"A": 100, "B": 100}, audit=True)
    with pytest.raises(AnswerError, match="auditor"):
        ref.check_transfer(one_lock_at_a_time, transfers=RING, balances=BANK, strict_locking=True, audit=True)


def test_the_reference_passes_the_audit_and_a_self_transfer_finishes():
    """A transfer from an account to itself changes nothing and must not deadlock on its own
    (non-re-entrant) lock; the reference passes every audited configuration."""
    assert ref.check_transfer(ref.reference_ordered_transfer, transfers=RING, balances=BANK, strict_locking=True,
                              audit=True) > 0
    assert ref.check_transfer(ref.reference_ordered_transfer, transfers=[("A", "A", 5), ("A", "B", 3)],
                              balances={"A": 10, "B": 0}, strict_locking=True, audit=True) > 0


def test_locking_the_same_account_twice_deadlocks_on_a_self_transfer():
    """A transfer that takes lock_src and then lock_dst with no special case waits for itself
    when src == dst (the locks are not re-entrant); the self-transfer check says so."""
    with pytest.raises(AnswerError, match="deadlocked"):
        ref.check_transfer(ref.unordered_transfer, transfers=[("A", "A", 5)], balances={"A": 10, "B": 0})
