"""Does `course autograde` report what needs a person, and what is missing, as such?"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from course_tools.grading.autograde import autograde
from course_tools.grading.results import NEEDS_MANUAL, load_results
from course_tools.grading.sandbox import Limits

pytestmark = [pytest.mark.grading, pytest.mark.slow]

FILES = Path(__file__).resolve().parent / "files" / "course"
A = "fixture_quiz"
LIMITS = Limits(cell_timeout=5, notebook_timeout=30)


def _manual_cell() -> dict:
    return {"cell_type": "markdown", "id": "explain", "source": "Explain write-back in two sentences.",
            "metadata": {"nbgrader": {"grade": True, "solution": True, "locked": False, "points": 2,
                                      "grade_id": "q4_explain", "schema_version": 3, "task": False},
                         "course": {"objectives": ["2.8.1"]}}}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = tmp_path_factory.mktemp("manual") / "course"
    shutil.copytree(FILES, course)
    src = course / "source" / A / f"{A}.ipynb"
    nb = json.loads(src.read_text())
    nb["cells"].append(_manual_cell())
    src.write_text(json.dumps(nb))
    sub = json.loads(src.read_text())
    sub["cells"][-1]["source"] = "Acknowledged writes can be lost."
    for c in sub["cells"]:
        c["source"] = "\n".join(line for line in "".join(c["source"]).splitlines() if "### " not in line)
    d = course / "submitted" / "ann" / A
    d.mkdir(parents=True)
    (d / f"{A}.ipynb").write_text(json.dumps(sub))
    (course / "submitted" / "empty" / A).mkdir(parents=True)
    results = autograde(A, course, jobs=1, limits=LIMITS, progress=False, students=["ann", "empty", "ghost"])
    return course, {r.student: r for r in results}


def test_manual_cells_make_the_submission_need_manual_grading(graded):
    _, results = graded
    r = results["ann"]
    assert r.status == NEEDS_MANUAL and (r.score, r.max_score) == (4, 6)
    manual = [c for c in r.cells() if c.grade_id == "q4_explain"][0]
    assert manual.status == "manual" and manual.points == 0 and manual.objectives == ["2.8.1"]


def test_missing_notebook_and_missing_student_fail_with_a_reason(graded):
    course, results = graded
    assert results["empty"].status.startswith("failed: fixture_quiz.ipynb is missing from")
    assert results["ghost"].status.startswith("failed: no submission folder")
    assert {r.student for r in load_results(course, A)} == {"ann", "empty", "ghost"}
