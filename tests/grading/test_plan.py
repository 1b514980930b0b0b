"""Does the grading plan restore tests from the source whatever the student did, without running anything?"""

from __future__ import annotations

import json

import pytest

from course_tools.grading.plan import (PlanError, free_names, load_source, make_plan, read_notebook_json,
                                       student_version)

from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "files" / "course" / "source" / "fixture_quiz" / "fixture_quiz.ipynb"


@pytest.fixture
def src():
    return load_source(SOURCE)


def _student(src_path=SOURCE) -> dict:
    nb = json.loads(src_path.read_text())
    for c in nb["cells"]:
        c["source"] = student_version("".join(c["source"]) if isinstance(c["source"], list) else c["source"])
    return nb


def test_source_roles_points_and_objectives(src):
    graded = {c.grade_id: (c.role, c.points, c.objectives) for c in src.graded}
    assert graded == {"q1_test": ("test", 1.0, ["2.8.1"]), "q2_test": ("test", 1.0, ["2.8.2"]),
                      "q3_test": ("test", 2.0, ["2.8.2"])}
    assert src.max_score == 4 and "course_tools.grading.checks" in src.preload()


def test_tests_run_from_the_source_with_hidden_parts(src):
    """The student's copy has no hidden tests; the plan runs the source's, once each, in order."""
    nb = _student()
    plan = make_plan(src, nb)
    tests = [c for c in plan.cells if c["kind"] == "test"]
    assert [c["grade_id"] for c in tests] == ["q1_test", "q2_test", "q3_test"]
    assert all("BEGIN HIDDEN TESTS" in c["source"] for c in tests)
    assert plan.missing == [] and plan.warnings == []


def test_edited_duplicated_deleted_and_flagged_cells(src):
    nb = _student()
    cells = nb["cells"]
    ids = [c["metadata"].get("nbgrader", {}).get("grade_id") for c in cells]
    cells[ids.index("q1_test")]["source"] = "pass"                                  # edited
    cells[ids.index("q3_test")]["metadata"]["nbgrader"].update(grade=False, points=99)  # flipped
    cells.append(json.loads(json.dumps(cells[ids.index("q3_test")])))               # duplicated
    del cells[ids.index("q2_test")]                                                  # deleted
    del cells[ids.index("setup")]                                                    # deleted locked cell
    plan = make_plan(src, nb)
    tests = [c["grade_id"] for c in plan.cells if c["kind"] == "test"]
    assert tests == ["q1_test", "q3_test"] and plan.missing == ["q2_test"]
    assert plan.cells[0]["source"] == "import math\nCAPACITY = 2"                      # restored in place
    text = " | ".join(plan.warnings)
    assert "q1_test: test cell was edited" in text and "q3_test: duplicated" in text and "setup: locked" in text


@pytest.mark.parametrize("data, reason", [
    (b"{", "not valid JSON"),
    (b"\xff\xfe", "not UTF-8"),
    (b"[" * 5000 + b"]" * 5000, "nested"),
    (b'{"nbformat": 3, "cells": []}', "nbformat 3"),
    (b'{"cells": 7}', "no list of cells"),
])
def test_unreadable_files_say_why(data, reason):
    with pytest.raises(PlanError, match=reason):
        read_notebook_json(data, "x.ipynb")


def test_free_names_of_a_test_cell():
    src = "from m import check\nx = 1\ncheck(answer_1, x)\ndef f(a):\n    return a + helper\nprint(len(y))"
    assert free_names(src) == ["answer_1", "helper", "y"]
    assert free_names("%time x") is None


def test_a_test_cell_turned_into_markdown_is_restored(src):
    nb = _student()
    ids = [c["metadata"].get("nbgrader", {}).get("grade_id") for c in nb["cells"]]
    nb["cells"][ids.index("q2_test")]["cell_type"] = "markdown"
    plan = make_plan(src, nb)
    assert [c["grade_id"] for c in plan.cells if c["kind"] == "test"] == ["q1_test", "q2_test", "q3_test"]
    assert plan.missing == [] and any("turned into markdown" in w for w in plan.warnings)
