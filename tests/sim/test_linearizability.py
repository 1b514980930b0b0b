"""The linearizability checker on histories whose answer is known."""

import pytest

from course_tools.sim.linearizability import History, Op, check, possible_reads


def w(i, value, start, end, *, ok=True, client="a", key="x"):
    return Op(i, client, "write", key, value, start, end if ok else None, ok)


def r(i, value, start, end, *, client="b", key="x"):
    return Op(i, client, "read", key, value, start, end)


def test_sequential_history_is_linearizable():
    """Write then read of the written value: the simplest correct history."""
    assert check([w(0, 1, 0, 1), r(1, 1, 2, 3)])


def test_stale_read_is_rejected_and_named():
    """A read that starts after a write finished but returns the old value breaks it, and the
    checker names that read and what a register could have returned."""
    h = [w(0, 1, 0, 1), w(1, 2, 2, 3), r(2, 1, 4, 5)]
    verdict = check(h)
    assert not verdict
    assert verdict.culprit.id == 2
    assert verdict.allowed == (2,)
    assert "op 2" in verdict.explain()


def test_concurrent_write_may_be_seen_or_not():
    """A read overlapping a write may return either the old or the new value."""
    assert check([w(0, 1, 0, 1), w(1, 2, 2, 4), r(2, 1, 3, 3.5)])
    assert check([w(0, 1, 0, 1), w(1, 2, 2, 4), r(2, 2, 3, 3.5)])


def test_new_old_inversion_is_rejected():
    """Two sequential reads during a write: once one saw the new value, a later one cannot see the old."""
    h = [w(0, 1, 0, 1), w(1, 2, 2, 10), r(2, 2, 3, 4), r(3, 1, 5, 6, client="c")]
    verdict = check(h)
    assert not verdict and verdict.culprit.id == 3


def test_failed_write_may_or_may_not_take_effect():
    """A timed-out write may be visible later, or never; both are fine, but not both in turn."""
    assert check([w(0, 1, 0, 1), w(1, 2, 2, 3, ok=False), r(2, 2, 4, 5)])
    assert check([w(0, 1, 0, 1), w(1, 2, 2, 3, ok=False), r(2, 1, 4, 5)])
    assert not check([w(0, 1, 0, 1), w(1, 2, 2, 3, ok=False), r(2, 2, 4, 5), r(3, 1, 6, 7)])


def test_initial_value_and_read_of_a_value_never_written():
    """Reading None before any write is fine; reading a value nobody wrote is not."""
    assert check([r(0, None, 0, 1), w(1, 1, 2, 3)])
    assert not check([r(0, 7, 0, 1)])


def test_keys_are_checked_independently():
    """A history is linearizable iff each key's is (locality)."""
    h = [w(0, 1, 0, 1, key="x"), w(1, 5, 0, 1, key="y"), r(2, 1, 2, 3, key="x"), r(3, 5, 2, 3, key="y")]
    assert check(History(h))
    h.append(r(4, None, 4, 5, key="y"))
    verdict = check(h)
    assert not verdict and verdict.culprit.key == "y"


def test_possible_reads_lists_every_value_a_register_allows():
    """During two overlapping writes a read may return either."""
    h = [w(0, 1, 0, 5), w(1, 2, 0, 5, client="c")]
    read = r(2, None, 1, 2)
    assert set(possible_reads(h, read)) == {None, 1, 2}


def test_failed_reads_constrain_nothing():
    h = [w(0, 1, 0, 1), Op(1, "b", "read", "x", None, 2, None, False)]
    assert check(h)


def test_unknown_kind_is_an_error():
    with pytest.raises(ValueError):
        check([Op(0, "a", "cas", "x", 1, 0, 1)])


def test_long_histories_are_refused_clearly():
    """The exhaustive search is for small histories; a long one gets a clear error, not a RecursionError."""
    ops = [w(i, i, 2 * i, 2 * i + 1) for i in range(700)]
    with pytest.raises(ValueError, match="small histories"):
        check(ops)
