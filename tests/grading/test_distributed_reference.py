"""Do the hidden checks of the 07_distributed assessment pass the reference and catch known mistakes?"""

from functools import partial

import pytest

from course_tools.grading.checks import AnswerError
from course_tools.grading.reference import distributed as ref
from course_tools.sim.quorum_reference import _ask_versions, abd_read, abd_write
from course_tools.sim.ring import HashRing, ModuloRouter


def _no_write_back(replicas, key):
    return max(_ask_versions(replicas, key, 3), key=lambda p: p[0])[1]


def _ignore_partitions_read(replicas, key):
    """Reads one replica, the first that answers: available everywhere, stale under partitions."""
    return abd_read(replicas, key, r=1, w=1)


def test_reference_passes_every_check():
    ref.check_quorum_sizes(5, 3, 3)
    ref.check_quorum_basics(abd_write, abd_read)
    ref.check_quorum_refuses(abd_write, abd_read)
    ref.check_read_repair(abd_read)
    ref.check_quorum_workloads(abd_write, abd_read, seeds=(71, 72, 73, 74, 75))
    ref.check_ring_basics(HashRing)
    ref.check_ring_join(HashRing)
    ref.check_ring_balance(HashRing)


@pytest.mark.parametrize("n, r, w", [(5, 2, 3), (5, 1, 5), (5, 4, 2), (5, 3.0, 3), (4, 3, 3)])
def test_bad_quorum_sizes_are_refused(n, r, w):
    with pytest.raises(AnswerError):
        ref.check_quorum_sizes(n, r, w)


def test_missing_write_back_is_caught():
    with pytest.raises(AnswerError, match="write the value it chose back"):
        ref.check_read_repair(_no_write_back)


def test_the_workload_check_does_not_blame_what_it_cannot_see():
    """A read without write-back passes the seeded workloads (only check_read_repair catches it),
    so the workload check's message must not send the student to the write-back."""
    ref.check_quorum_workloads(abd_write, _no_write_back, seeds=(71, 72, 73, 74, 75))
    with pytest.raises(AnswerError, match="not linearizable") as failed:
        ref.check_quorum_workloads(partial(abd_write, r=2, w=3), partial(abd_read, r=2, w=3), seeds=(71, 72, 73))
    assert "write-back" not in str(failed.value)


def test_small_quorums_fail_the_seeded_workloads():
    """R = 1 reads are available on the minority side: refused, and stale elsewhere."""
    with pytest.raises(AnswerError):
        ref.check_quorum_workloads(partial(abd_write, r=1, w=1), _ignore_partitions_read, seeds=(71, 72, 73, 74, 75))
    with pytest.raises(AnswerError, match="not linearizable"):
        ref.check_quorum_workloads(partial(abd_write, r=2, w=3), partial(abd_read, r=2, w=3),
                                   seeds=(71, 72, 73, 74, 75))


def test_modulo_is_not_a_ring():
    modulo = lambda nodes, vnodes=100: ModuloRouter(nodes)  # noqa: E731
    with pytest.raises(AnswerError):
        ref.check_ring_join(modulo)
    with pytest.raises(AnswerError, match="virtual nodes makes no difference"):
        ref.check_ring_balance(modulo)


def test_one_point_per_node_is_caught():
    """A ring that ignores vnodes is badly balanced."""
    one_point = lambda nodes, vnodes=100: HashRing(nodes, vnodes=1)  # noqa: E731
    with pytest.raises(AnswerError):
        ref.check_ring_balance(one_point)


def test_hanging_code_costs_only_its_question():
    def forever(replicas, key):
        while True:
            pass

    with pytest.raises(AnswerError, match="still running"):
        with ref.time_limit(0.2, question=9):
            forever(None, "k")
