"""The linearizability checker on histories whose answer is known, and against a reference search."""

import importlib.util
import random
import sys
from pathlib import Path

import pytest

from course_tools.sim import linearizability as lin
from course_tools.sim.linearizability import History, Op, check, from_jepsen, possible_reads


def _load_bench():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "linearizability.py"
    spec = importlib.util.spec_from_file_location("bench_linearizability", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load_bench()


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


def cas(i, expected, new, start, end, *, ok=True, client="c", key="x"):
    return Op(i, client, "cas", key, (expected, new), start, end if ok else None, ok)


def app(i, x, start, end, *, ok=True, client="a", key="l"):
    return Op(i, client, "append", key, x, start, end if ok else None, ok)


def test_cas_succeeds_only_on_the_expected_value():
    """A successful cas(1 -> 2) needs the register to hold 1 at its linearization point."""
    assert check([w(0, 1, 0, 1), cas(1, 1, 2, 2, 3), r(2, 2, 4, 5)])
    assert not check([w(0, 1, 0, 1), cas(1, 0, 2, 2, 3)])  # the register held 1, not 0
    assert not check([w(0, 1, 0, 1), cas(1, 1, 2, 2, 3), r(2, 1, 4, 5)])  # stale after the swap


def test_cas_of_unknown_outcome_may_or_may_not_have_happened():
    """A timed-out cas may have swapped (later reads see 2) or not (they see 1), but not both in turn."""
    assert check([w(0, 1, 0, 1), cas(1, 1, 2, 2, 3, ok=False), r(2, 2, 4, 5)])
    assert check([w(0, 1, 0, 1), cas(1, 1, 2, 2, 3, ok=False), r(2, 1, 4, 5)])
    assert not check([w(0, 1, 0, 1), cas(1, 1, 2, 2, 3, ok=False), r(2, 2, 4, 5), r(3, 1, 6, 7)])


def test_concurrent_cas_only_one_can_win():
    """Two overlapping cas(0 -> x) both reported successful: only one could have seen 0."""
    assert not check([w(0, 0, 0, 1), cas(1, 0, 1, 2, 4, client="b"), cas(2, 0, 2, 2, 4, client="c")])
    assert check([w(0, 0, 0, 1), cas(1, 0, 1, 2, 4, client="b"), cas(2, 1, 2, 2, 4, client="c")])


def test_appends_build_a_list_that_reads_must_agree_on():
    """Reads of an appended key return lists; their order must be one order of the appends."""
    h = [app(0, 1, 0, 1), app(1, 2, 2, 5), app(2, 3, 2, 5, client="b"),
         r(3, [1], 0.5, 1.5, key="l"), r(4, [1, 3, 2], 6, 7, key="l")]
    assert check(h)
    assert check([r(0, [], 0, 1, key="l"), app(1, 1, 2, 3)])  # the initial value reads as []
    assert not check(h + [r(5, [1, 2, 3], 8, 9, key="l")])  # 2 and 3 in the other order
    assert not check([app(0, 1, 0, 1), r(1, [], 2, 3, key="l")])  # lost append


def test_append_of_unknown_outcome_may_show_up_later():
    """A timed-out append may appear in a later read, or never, but cannot disappear once seen."""
    assert check([app(0, 1, 0, 1, ok=False), r(1, [1], 2, 3, key="l")])
    assert check([app(0, 1, 0, 1, ok=False), r(1, [], 2, 3, key="l")])
    assert not check([app(0, 1, 0, 1, ok=False), r(1, [1], 2, 3, key="l"), r(2, [], 4, 5, key="l")])


def test_unknown_kind_is_an_error():
    with pytest.raises(ValueError, match="unknown operation kind 'increment'"):
        check([Op(0, "a", "increment", "x", 1, 0, 1)])


def test_every_operation_is_validated_before_any_key_is_checked():
    """A bad operation on a later key is reported even though an earlier key already fails."""
    h = [w(0, 1, 0, 1, key="a"), r(1, 7, 2, 3, key="a"), Op(2, "c", "cass", "z", 1, 0, 1)]
    with pytest.raises(ValueError, match="op 2: unknown operation kind 'cass'"):
        check(h)


@pytest.mark.parametrize("op, message", [
    (Op(0, "a", "cas", "x", 1, 0, 1), "a cas value must be \\(expected, new\\)"),
    (Op(0, "a", "read", "x", 1, 5, 1), "end must be None or a number >= start"),
    (Op(0, "a", "write", ["x"], 1, 0, 1), "not hashable"),
])
def test_malformed_operations_get_a_clear_error(op, message):
    with pytest.raises(ValueError, match=message):
        check([op])


def test_a_long_sequential_history_is_checked_without_recursion():
    """700 operations on one key: the search is iterative, so no RecursionError and no size cap."""
    ops = [w(i, i, 2 * i, 2 * i + 1) for i in range(700)] + [r(700, 699, 1400, 1401)]
    assert check(ops)


def test_an_intractable_history_fails_with_a_clear_error(monkeypatch):
    """When the search exceeds its state budget it says so instead of running for hours."""
    monkeypatch.setattr(lin, "STATE_LIMIT", 5)
    ops = [w(i, i % 3, 0, 10, client=f"c{i}") for i in range(8)] + [r(8, 5, 11, 12)]
    with pytest.raises(RuntimeError, match="too concurrent"):
        check(ops)


def test_the_explanation_is_computed_only_when_asked():
    """check() does one search per key; the culprit search runs on first use of the verdict's explanation."""
    h = [w(0, 1, 0, 1), w(1, 2, 2, 3), r(2, 1, 4, 5)]
    verdict = check(h)
    assert not verdict and "_cut" not in verdict.__dict__
    assert verdict.culprit.id == 2 and "_cut" in verdict.__dict__


def test_jepsen_events_are_read_as_recorded():
    """invoke/ok/fail/info events: fail is dropped, info is of unknown outcome, reads take the completion's value."""
    events = [
        {"type": "invoke", "f": "write", "value": 1, "process": 0, "time": 0},
        {"type": "ok", "f": "write", "value": 1, "process": 0, "time": 1},
        {"type": "invoke", "f": "cas", "value": [1, 2], "process": 1, "time": 2},
        {"type": "info", "f": "cas", "value": [1, 2], "process": 1, "time": 3},
        {"type": "invoke", "f": "cas", "value": [5, 6], "process": 2, "time": 2},
        {"type": "fail", "f": "cas", "value": [5, 6], "process": 2, "time": 3},
        {"type": "invoke", "f": "read", "value": None, "process": 2, "time": 4},
        {"type": "ok", "f": "read", "value": 2, "process": 2, "time": 5},
    ]
    h = from_jepsen(events)
    assert [(op.kind, op.ok, op.end) for op in h] == [("write", True, 1), ("cas", False, None), ("read", True, 5)]
    assert check(h)
    assert not check(from_jepsen(events + [
        {"type": "invoke", "f": "read", "value": None, "process": 0, "time": 6},
        {"type": "ok", "f": "read", "value": 1, "process": 0, "time": 7}]))


def test_jepsen_process_reuse_after_info_is_an_error():
    """A Jepsen process never invokes twice without a completion: such a history is refused, not guessed at."""
    events = [{"type": "invoke", "f": "write", "value": 1, "process": 0, "time": 0},
              {"type": "invoke", "f": "write", "value": 2, "process": 0, "time": 1}]
    with pytest.raises(ValueError, match="invokes again"):
        from_jepsen(events)


@pytest.mark.parametrize("kinds", [("read", "write"), ("read", "write", "cas"), ("read", "append")])
def test_agrees_with_the_reference_search_on_random_histories(kinds):
    """On 150 seeded histories per kind mix (linearizable by construction, or with reads corrupted),
    check() gives the verdict of a straightforward Wing & Gong search with memoization."""
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))
    rng = random.Random(17)
    outcomes = set()
    for trial in range(150):
        corrupt = trial % 3
        h = bench.generate(rng, rng.randrange(4, 25), processes=rng.randrange(2, 6), kinds=kinds,
                           keys=("x", "y")[: 1 + trial % 2], p_timeout=0.15, values=3, corrupt=corrupt)
        expected = bench.reference_check(h)
        assert bool(check(h)) == expected, f"trial {trial}: {[op.describe() for op in h]}"
        if corrupt == 0:
            assert expected, f"trial {trial}: a history built linearizable was rejected"
        outcomes.add(expected)
    assert outcomes == {True, False}  # both verdicts were exercised


def test_jepsen_edn_keywords_and_independent_keys():
    """':ok'-style keywords are accepted, and jepsen.independent's [key, value] pairs split into keys."""
    events = [
        {"type": ":invoke", "f": ":write", "value": ["a", 1], "process": 0, "time": 0},
        {"type": ":ok", "f": ":write", "value": ["a", 1], "process": 0, "time": 1},
        {"type": ":invoke", "f": ":read", "value": ["b", None], "process": 1, "time": 2},
        {"type": ":ok", "f": ":read", "value": ["b", None], "process": 1, "time": 3},
        {"type": ":invoke", "f": ":read", "value": ["a", None], "process": 1, "time": 4},
        {"type": ":ok", "f": ":read", "value": ["a", 1], "process": 1, "time": 5},
    ]
    h = from_jepsen(events, independent=True)
    assert [(op.kind, op.key, op.value) for op in h] == [("write", "a", 1), ("read", "b", None), ("read", "a", 1)]
    assert check(h)
    with pytest.raises(ValueError, match="key, value"):
        from_jepsen([{"type": "invoke", "f": "write", "value": 1, "process": 0, "time": 0}], independent=True)
