"""Submissions made from an assessment's source notebook, graded by `course autograde` (for tests).

``student_version`` turns the instructor's source into what a student would hand in: hidden tests
gone, and either the solutions in (their markers removed) or, ``untouched``, the student version's
``raise NotImplementedError()`` in their place; then answer cells swapped for wrong ones by grade id.
``grade`` writes a throwaway course holding the source and the submissions, grades it and returns
each student's result.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Callable, Mapping

from course_tools.grading.autograde import autograde, load_sources
from course_tools.grading.paths import COURSE_DIR
from course_tools.grading.sandbox import Limits

_HIDDEN_TESTS = re.compile(r"[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", re.S)
_SOLUTION = re.compile(r"### BEGIN SOLUTION.*?### END SOLUTION", re.S)
_SOLUTION_MARKERS = re.compile(r"[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?")


def student_version(source: str | Path | dict, *, untouched: bool = False, replace: Mapping[str, str] | None = None,
                    edit: Callable[[str, str], str] | None = None) -> dict:
    """The notebook a student would submit, from ``source`` (a path, the notebook's JSON text, or
    the notebook itself, which is not changed). ``replace`` maps a grade id to the source its cell
    gets instead; ``edit(grade_id, source)`` returns a cell's new source ("" for cells without one)."""
    if isinstance(source, Path):
        source = source.read_text()
    nb = json.loads(source if isinstance(source, str) else json.dumps(source))
    for c in nb["cells"]:
        s = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        s = _HIDDEN_TESTS.sub("", s)
        if untouched:
            s = _SOLUTION.sub("# YOUR CODE HERE\nraise NotImplementedError()", s)
        else:
            s = _SOLUTION_MARKERS.sub("", s)
        gid = (c.get("metadata", {}).get("nbgrader") or {}).get("grade_id") or ""
        if replace and gid in replace:
            s = replace[gid]
        if edit is not None:
            s = edit(gid, s)
        c["source"] = s
    return nb


def grade(tmp: Path, assignment: str, submissions: Mapping[str, dict | Mapping[str, dict]], *,
          limits: Limits) -> dict:
    """Grade ``submissions`` (student -> notebook, or student -> {notebook file name: notebook}; a
    bare notebook is ``<assignment>.ipynb``) of ``assignment`` from the course's own source, in a
    course written under ``tmp``, two jobs at a time. Returns {student: result}."""
    course = tmp / "course"
    shutil.copytree(COURSE_DIR / "source" / assignment, course / "source" / assignment)
    for student, nbs in submissions.items():
        if "cells" in nbs:
            nbs = {f"{assignment}.ipynb": nbs}
        d = course / "submitted" / student / assignment
        d.mkdir(parents=True)
        for name, nb in nbs.items():
            (d / name).write_text(json.dumps(nb))
    return {r.student: r for r in autograde(assignment, course, jobs=2, limits=limits, progress=False)}


def grade_cases(tmp: Path, assignment: str, cases: Mapping[str, tuple], *, limits: Limits) -> dict:
    """Grade one submission per case, ``cases`` being name -> (grade id -> source of the answer cells it
    replaces, what the case expects): the solution with those cells swapped. Returns {name: result}."""
    source = COURSE_DIR / "source" / assignment / f"{assignment}.ipynb"
    return grade(tmp, assignment, {name: student_version(source, replace=case[0]) for name, case in cases.items()},
                 limits=limits)


def assert_full_marks(result, assignment: str, max_score: int | None = None) -> None:
    """``result`` (graded) earns every point the assignment's source offers, and the source offers
    ``max_score`` when it is given."""
    offered = load_sources(COURSE_DIR, assignment)[0].max_score
    assert result.status == "graded" and result.max_score == offered, (result.status, result.max_score, offered)
    if max_score is not None:
        assert offered == max_score, offered
    assert result.score == result.max_score, [(c.grade_id, c.status, c.message) for c in result.cells()]


def assert_zero(result) -> None:
    """``result`` was graded and earns no point."""
    assert result.status == "graded" and result.score == 0, \
        (result.status, [(c.grade_id, c.status) for c in result.cells() if c.status == "passed"])
