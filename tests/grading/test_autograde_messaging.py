"""Does `course autograde` take from each classic messaging mistake exactly the points it should?

Each submission is the instructor's solution with ONE answer replaced by a plausible wrong
one: acknowledging before processing, a consumer that is not idempotent, a dedupe written
apart from its effect, a relay that marks events sent before publishing them, a relay that
skips a refused publish, a dead-letter rule off by one, and one that hard-codes the visible
test's limit. One autograde batch, one module fixture.
"""

from __future__ import annotations

import pytest

from course_tools.grading.paths import COURSE_DIR
from course_tools.grading.sandbox import Limits
from tests.grading._submissions import assert_full_marks, grade, student_version

pytestmark = [pytest.mark.grading, pytest.mark.slow]

A = "06_messaging"
SOURCE = COURSE_DIR / "source" / A / f"{A}.ipynb"

if not SOURCE.exists():  # pragma: no cover - the assessment is part of the repository
    pytest.skip("the Messaging assessment is not in this checkout", allow_module_level=True)

_CONSUMER = '''def consume_one(queue, store):
    msg = queue.receive()
    if msg is None:
        return False
{body}
    return True
'''
_CREDIT = '''    key = "balance:" + msg["account"]
    store.put(key, (store.get(key) or 0) + msg["amount"])'''

WRONG = {
    # name: (answer cell, {test cell: points it must lose})
    "ack_before": ("t6_answer", _CONSUMER.format(body='    queue.ack(msg["receipt"])\n' + _CREDIT),
                   {"t6_test_basic": 1, "t6_test_crash": 2, "t6_test_hidden": 2}),
    "not_idempotent": ("t6_answer", _CONSUMER.format(body=_CREDIT + '\n    queue.ack(msg["receipt"])'),
                       {"t6_test_basic": 1, "t6_test_crash": 2, "t6_test_hidden": 2}),
    "dedupe_two_writes": ("t6_answer", _CONSUMER.format(body='''    if not store.get("seen:" + msg["id"]):
        key = "balance:" + msg["account"]
        store.put(key, (store.get(key) or 0) + msg["amount"])
        store.put("seen:" + msg["id"], True)
    queue.ack(msg["receipt"])'''), {"t6_test_crash": 2, "t6_test_hidden": 2}),
    "mark_before_publish": ("t7_answer", '''def relay(outbox, broker):
    for event_id, payload in outbox.pending():
        outbox.mark_sent(event_id)
        broker.publish(event_id, payload)
''', {"t7_test_crash": 2, "t7_test_fail": 1}),
    "skip_refused_publish": ("t7_answer", '''from course_tools.sim.broker_errors import PublishError


def relay(outbox, broker):
    for event_id, payload in outbox.pending():
        try:
            broker.publish(event_id, payload)
        except PublishError:
            continue
        outbox.mark_sent(event_id)
''', {"t7_test_fail": 1}),
    "dlq_off_by_one": ("t8_answer", '''from course_tools.sim.broker_errors import ProcessingError


def consume_with_dlq(queue, handler, max_deliveries):
    msg = queue.receive()
    if msg is None:
        return False
    try:
        handler(msg["body"])
    except ProcessingError:
        if msg["receive_count"] > max_deliveries:
            queue.dead_letter(msg["receipt"])
        else:
            queue.release(msg["receipt"])
        return True
    queue.ack(msg["receipt"])
    return True
''', {"t8_test_basic": 1, "t8_test_hidden": 2}),
    "dlq_hard_coded_limit": ("t8_answer", '''from course_tools.sim.broker_errors import ProcessingError


def consume_with_dlq(queue, handler, max_deliveries):
    msg = queue.receive()
    if msg is None:
        return False
    try:
        handler(msg["body"])
    except ProcessingError:
        if msg["receive_count"] >= 3:
            queue.dead_letter(msg["receipt"])
        else:
            queue.release(msg["receipt"])
        return True
    queue.ack(msg["receipt"])
    return True
''', {"t8_test_hidden": 2}),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    submissions = {"solution": student_version(SOURCE),
                   **{kind: student_version(SOURCE, replace={gid: wrong}) for kind, (gid, wrong, _) in WRONG.items()}}
    return grade(tmp_path_factory.mktemp("messaging"), A, submissions,
                 limits=Limits(cell_timeout=60, notebook_timeout=300))


def test_solution_gets_full_marks(graded):
    """The instructor's answers earn every point."""
    assert_full_marks(graded["solution"], A, 17)


@pytest.mark.parametrize("kind", list(WRONG))
def test_each_wrong_answer_loses_exactly_its_points(graded, kind):
    """The wrong answer fails exactly the test cells listed for it, and nothing else."""
    r = graded[kind]
    lose = WRONG[kind][2]
    cells = {c.grade_id: c for c in r.cells()}
    failed = {g for g, c in cells.items() if c.points < c.max_points}
    assert failed == set(lose), [(g, cells[g].message) for g in failed]
    assert all(cells[g].max_points == p and cells[g].points == 0 for g, p in lose.items())
    assert r.score == r.max_score - sum(lose.values())
