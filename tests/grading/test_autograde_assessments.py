"""Does `course autograde` (sandboxed) grade every real assessment right in both directions?

For each assessment under notebooks/assessments/source: the solutions (as a student would
submit them: hidden tests absent) get full marks, the untouched student version gets 0, and
nothing needs manual grading. The HTTP assessment also shows that servers a notebook starts
on its private loopback work inside the sandbox.
"""

from __future__ import annotations

import pytest

from course_tools.grading.nbgrader_io import assignments
from course_tools.grading.paths import COURSE_DIR
from course_tools.grading.sandbox import Limits
from tests.grading._submissions import grade, student_version

pytestmark = [pytest.mark.grading, pytest.mark.slow]


@pytest.mark.parametrize("assignment", assignments(COURSE_DIR))
def test_solutions_full_marks_untouched_zero(assignment, tmp_path):
    sources = sorted((COURSE_DIR / "source" / assignment).glob("*.ipynb"))
    results = grade(tmp_path, assignment, {kind: {src.name: student_version(src, untouched=kind == "untouched")
                                                  for src in sources} for kind in ("solution", "untouched")},
                    limits=Limits(cell_timeout=60, notebook_timeout=300))
    solution, untouched = results["solution"], results["untouched"]
    assert solution.status == untouched.status == "graded"
    assert solution.max_score > 0 and solution.score == solution.max_score, \
        [(c.grade_id, c.status, c.message) for c in solution.cells() if c.status != "passed"]
    assert untouched.score == 0, [c.grade_id for c in untouched.cells() if c.status == "passed"]
