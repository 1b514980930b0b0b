"""Does `course autograde` (sandboxed) grade every real assessment right in both directions?

For each assessment under notebooks/assessments/source: the solutions (as a student would
submit them: hidden tests absent) get full marks, the untouched student version gets 0, and
nothing needs manual grading. The HTTP assessment also shows that servers a notebook starts
on its private loopback work inside the sandbox.
"""

from __future__ import annotations

import json
import re
import shutil

import pytest

from course_tools.grading.autograde import autograde
from course_tools.grading.nbgrader_io import assignments
from course_tools.grading.paths import COURSE_DIR
from course_tools.grading.sandbox import Limits

pytestmark = [pytest.mark.grading, pytest.mark.slow]


def _submission(text: str, kind: str) -> str:
    nb = json.loads(text)
    for c in nb["cells"]:
        s = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        s = re.sub(r"[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", "", s, flags=re.S)
        if kind == "untouched":
            s = re.sub(r"### BEGIN SOLUTION.*?### END SOLUTION", "# YOUR CODE HERE\nraise NotImplementedError()", s,
                       flags=re.S)
        else:
            s = re.sub(r"[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", "", s)
        c["source"] = s
    return json.dumps(nb)


@pytest.mark.parametrize("assignment", assignments(COURSE_DIR))
def test_solutions_full_marks_untouched_zero(assignment, tmp_path):
    course = tmp_path / "course"
    shutil.copytree(COURSE_DIR / "source" / assignment, course / "source" / assignment)
    for src in (course / "source" / assignment).glob("*.ipynb"):
        for kind in ("solution", "untouched"):
            d = course / "submitted" / kind / assignment
            d.mkdir(parents=True, exist_ok=True)
            (d / src.name).write_text(_submission(src.read_text(), kind))
    results = {r.student: r for r in autograde(assignment, course, jobs=2, progress=False,
                                               limits=Limits(cell_timeout=60, notebook_timeout=300))}
    solution, untouched = results["solution"], results["untouched"]
    assert solution.status == untouched.status == "graded"
    assert solution.max_score > 0 and solution.score == solution.max_score, \
        [(c.grade_id, c.status, c.message) for c in solution.cells() if c.status != "passed"]
    assert untouched.score == 0, [c.grade_id for c in untouched.cells() if c.status == "passed"]
