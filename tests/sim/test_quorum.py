"""The quorum lab used by the 2.7 assessment, with the reference (ABD) coordinator."""

import random
from functools import partial

import pytest

from course_tools.sim.linearizability import check
from course_tools.sim.quorum import Cut, QuorumLab, QuorumUnavailable, RemoteReplica, Unreachable, run_workload
from course_tools.sim.quorum_reference import abd_read, abd_write


@pytest.mark.parametrize("seed", range(8))
def test_reference_is_linearizable_and_available_on_the_majority_side(seed):
    """R = W = 3 of 5 with write-back: linearizable, majority side served, minority refused."""
    run = run_workload(abd_write, abd_read, rng=random.Random(seed))
    assert check(run.history), check(run.history).explain()
    avail = run.availability()
    assert avail["majority"] == 1.0 and avail["minority"] == 0.0


def test_small_quorums_are_caught():
    """R + W <= N gives stale reads under partitions, which the checker finds."""
    bad = [not check(run_workload(partial(abd_write, r=2, w=3), partial(abd_read, r=2, w=3),
                                  rng=random.Random(s)).history) for s in range(5)]
    assert sum(bad) >= 3


def test_read_writes_back():
    """A read that returned a value has stored it on a quorum: a later read from elsewhere sees it."""
    lab = QuorumLab(5, rng=random.Random(0))
    lab.data["n1"]["x"] = ((2, "w"), "new")
    for n in ("n2", "n3", "n4", "n5"):
        lab.data[n]["x"] = ((1, "w"), "old")
    first = [RemoteReplica(lab, "n1", n) for n in ("n1", "n2", "n3", "n4", "n5")]
    assert abd_read(first, "x") == "new"
    second = [RemoteReplica(lab, "n5", n) for n in ("n5", "n4", "n2", "n3", "n1")]
    assert abd_read(second, "x") == "new"


def test_unreachable_costs_a_timeout_and_workload_is_reproducible():
    lab = QuorumLab(3, rng=random.Random(0), partitions=[Cut(0, 10, {"n1"})], timeout=0.05)
    rep = RemoteReplica(lab, "n1", "n2")
    with pytest.raises(Unreachable):
        rep.get("x")
    assert lab.clock() == pytest.approx(0.05)
    with pytest.raises(QuorumUnavailable):
        abd_write(lab.replicas("n1"), "x", 1, "a", r=2, w=2)
    a = run_workload(abd_write, abd_read, rng=random.Random(3))
    b = run_workload(abd_write, abd_read, rng=random.Random(3))
    assert [(o.kind, o.value, o.start, o.ok) for o in a.history] == [(o.kind, o.value, o.start, o.ok) for o in b.history]


def test_versions_must_be_tuples():
    lab = QuorumLab(3, rng=random.Random(0))
    with pytest.raises(TypeError):
        lab.replicas("n1")[0].put("x", 3, "v")
