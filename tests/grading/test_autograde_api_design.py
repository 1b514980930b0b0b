"""Does `course autograde` grade the API design assessment right, and does each plausible wrong
answer lose exactly the points it should?

One batch: the solution, the untouched student version, and submissions that replace one task's
answer with a wrong one — OFFSET pagination, keyset without a tie-breaker, a base64-wrapped offset
(games the opaque-cursor check), a fixed-window "token bucket", an uncapped bucket, a counter that
never refills (games the visible burst check), a handler that stores the key after doing the work,
a handler that claims the key with a get then a set (not atomic), a handler that ignores the payload.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from course_tools.grading.autograde import load_sources
from course_tools.grading.paths import COURSE_DIR
from course_tools.grading.sandbox import Limits
from tests.grading._submissions import assert_full_marks, assert_zero, grade, student_version

pytestmark = [pytest.mark.grading, pytest.mark.slow]

A = "02_api_design"
SOURCE = COURSE_DIR / "source" / A / f"{A}.ipynb"
_spec = importlib.util.spec_from_file_location("api_design_answers", Path(__file__).with_name("api_design_answers.py"))
ANS = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ANS)

# submission -> (answer cell, wrong answer, test cells that must fail)
WRONG = {
    "offset": ("t5_answer", ANS.PAGE_OFFSET, {"t5_test_changes", "t5_test_opaque"}),
    "no_tiebreak": ("t5_answer", ANS.PAGE_NO_TIEBREAK, {"t5_test_basic", "t5_test_ties", "t5_test_changes"}),
    "offset_b64": ("t5_answer", ANS.PAGE_OFFSET_B64, {"t5_test_changes"}),
    "fixed_window": ("t6_answer", ANS.BUCKET_FIXED_WINDOW, {"t6_test_refill", "t6_test_random"}),
    "uncapped": ("t6_answer", ANS.BUCKET_UNCAPPED, {"t6_test_refill", "t6_test_random"}),
    "counter": ("t6_answer", ANS.BUCKET_COUNTER, {"t6_test_refill", "t6_test_random"}),
    "store_after": ("t7_answer", ANS.IDEM_STORE_AFTER, {"t7_test_in_flight"}),
    "get_then_set": ("t7_answer", ANS.IDEM_GET_THEN_SET, {"t7_test_in_flight"}),
    "no_fingerprint": ("t7_answer", ANS.IDEM_NO_FINGERPRINT, {"t7_test_mismatch"}),
}

if not SOURCE.exists():  # pragma: no cover - the assessment is part of the repository
    pytest.skip("the API design assessment is not in this checkout", allow_module_level=True)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    submissions = {"solution": student_version(SOURCE), "untouched": student_version(SOURCE, untouched=True),
                   **{kind: student_version(SOURCE, replace={gid: wrong}) for kind, (gid, wrong, _) in WRONG.items()}}
    return grade(tmp_path_factory.mktemp("api_design"), A, submissions,
                 limits=Limits(cell_timeout=30, notebook_timeout=180))


def test_solution_gets_full_marks(graded):
    assert_full_marks(graded["solution"], A, 23)


def test_untouched_student_version_gets_zero(graded):
    assert_zero(graded["untouched"])


@pytest.mark.parametrize("kind", list(WRONG))
def test_each_wrong_answer_loses_exactly_its_points(graded, kind):
    r = graded[kind]
    cells = {c.grade_id: c for c in r.cells()}
    failed = {g for g, c in cells.items() if c.status != "passed"}
    assert failed == WRONG[kind][2], [(g, cells[g].message) for g in failed]
    lost = sum(cells[g].max_points for g in WRONG[kind][2])
    assert r.score == r.max_score - lost
    for g in WRONG[kind][2]:
        assert "Question" in cells[g].message or "Error" in cells[g].message or cells[g].message


def test_objectives_come_from_the_source(graded):
    src = {c.grade_id: c.objectives for c in load_sources(COURSE_DIR, A)[0].graded}
    for c in graded["solution"].cells():
        assert c.objectives == src[c.grade_id] and c.objectives
