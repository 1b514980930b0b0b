"""course check: a learner grades their own copy and sees the same feedback, without hidden tests.

These tests inject a stub in place of the autograder (``grade_notebook``), so they need no
kernel; the end-to-end run with the real autograder is in test_release.py.
"""

from __future__ import annotations

import shutil
import sys
import types
from pathlib import Path

import pytest

from course_tools.authoring import md, notebook, solution, write
from course_tools.authoring import tests as graded_cell
from course_tools.cli import main
from course_tools.grading import results as R
from course_tools.grading.check import CheckError, check_notebook, find_source
from course_tools.grading.feedback import render_html, render_text

A = "08_caching"
HIDDEN = "check_choice(answer_1, 'c', question=1, hint='Which copy is written first?')"


def _course(tmp_path: Path) -> Path:
    course = tmp_path / "course"
    nb = notebook([
        md("# Caching quiz"),
        solution("### BEGIN SOLUTION\nanswer_1 = 'c'\n### END SOLUTION", grade_id="q1_answer", objectives=["2.8.1"]),
        graded_cell("from course_tools.grading.checks import check_choice, normalise_choice\n"
                    f"normalise_choice(answer_1, question=1)\n### BEGIN HIDDEN TESTS\n{HIDDEN}\n### END HIDDEN TESTS",
                    grade_id="q1_test", points=1, objectives=["2.8.1"]),
    ])
    write(nb, course / "source" / A / f"{A}.ipynb")
    other = notebook([solution("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", grade_id="h1", objectives=["2.1.1"])])
    write(other, course / "source" / "01_http" / "01_http.ipynb")
    return course


class StubGrader:
    """Records its calls and returns a failing result whose message quotes the hidden test."""

    def __init__(self):
        self.calls = []

    def __call__(self, source_nb_path, submission_nb_path, *, isolation=True):
        self.calls.append((Path(source_nb_path), Path(submission_nb_path), isolation))
        msg = (f"Traceback:\n    {HIDDEN}\n"
               "AnswerError: Question 1: 'a' is not the best answer. Hint: Which copy is written first?")
        cells = [R.CellResult("q1_test", 0.0, 1.0, ["2.8.1"], "failed", msg)]
        return R.NotebookResult(Path(submission_nb_path).stem, 0.0, 1.0, cells)


def _mine(course: Path, tmp_path: Path, name: str) -> Path:
    dest = tmp_path / "home" / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(course / "source" / A / f"{A}.ipynb", dest)
    return dest


@pytest.mark.parametrize("name", ["08_caching.ipynb", "08_caching-Copy1.ipynb", "08_caching (2).ipynb"])
def test_assignment_from_file_name(tmp_path, name):
    """Is the assignment found from the notebook's name, also for Jupyter's copy names?"""
    course = _course(tmp_path)
    assert find_source(_mine(course, tmp_path, name), course) == (A, course / "source" / A / f"{A}.ipynb")


def test_assignment_from_nbgrader_metadata_and_unknown(tmp_path):
    """A renamed file: is it matched by its cells' grade ids? A notebook with neither: a clear error?"""
    course = _course(tmp_path)
    assert find_source(_mine(course, tmp_path, "my homework.ipynb"), course)[0] == A
    stranger = write(notebook([md("# nothing graded here")]), tmp_path / "home" / "notes.ipynb")
    with pytest.raises(CheckError, match="cannot tell which assignment"):
        find_source(stranger, course)


def test_check_calls_grader_and_hides_hidden_tests(tmp_path, capsys):
    """Does `course check` grade with grade_notebook(source, copy, isolation=True) and print the
    score, the hint and the objective, but not the hidden test line? Is --html the feedback page?"""
    course = _course(tmp_path)
    mine = _mine(course, tmp_path, "08_caching.ipynb")
    stub = StubGrader()
    result, secrets = check_notebook(mine, course, grader=stub)
    assert stub.calls == [(course / "source" / A / f"{A}.ipynb", mine, True)]
    page = tmp_path / "fb.html"
    fake = types.ModuleType("course_tools.grading.autograde")
    fake.grade_notebook = stub
    with pytest.MonkeyPatch.context() as mp:   # the CLI path imports the real module name
        mp.setitem(sys.modules, "course_tools.grading.autograde", fake)
        assert main(["check", str(mine), "--course-dir", str(course), "--html", str(page)]) == 0
    out = capsys.readouterr().out
    assert "0 / 1" in out and "Which copy is written first?" in out and "2.8.1" in out and "q1_test" in out
    assert HIDDEN not in out and HIDDEN not in page.read_text()
    assert page.read_text() == render_html(result, secrets)    # the same page course feedback would write
    assert len(stub.calls) == 2


def test_check_errors_are_reported(tmp_path, capsys):
    """A missing file, an unknown assignment, a grader that crashes: exit codes 2/2/1 and a message, no traceback?"""
    course = _course(tmp_path)
    assert main(["check", str(tmp_path / "nope.ipynb"), "--course-dir", str(course)]) == 2
    assert "is not a file" in capsys.readouterr().err
    mine = _mine(course, tmp_path, "08_caching.ipynb")
    assert main(["check", str(mine), "--assignment", "99_none", "--course-dir", str(course)]) == 2
    assert "no source notebook" in capsys.readouterr().err

    def crash(source, submission, *, isolation=True):
        raise RuntimeError(f"kernel died while running {HIDDEN}")

    fake = types.ModuleType("course_tools.grading.autograde")
    fake.grade_notebook = crash
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "course_tools.grading.autograde", fake)
        assert main(["check", str(mine), "--course-dir", str(course)]) == 1
    err = capsys.readouterr().err
    assert "grading" in err and "failed" in err and HIDDEN not in err


def test_written_answer_needs_manual_grading(tmp_path):
    """A cell the autograder leaves to a human ('manual'): is the check's status 'needs manual grading',
    shown as 'so far', rather than a final score?"""
    course = _course(tmp_path)

    def grader(source, submission, *, isolation=True):
        cells = [R.CellResult("q1_test", 1.0, 1.0, ["2.8.1"], "passed"),
                 R.CellResult("essay", 0.0, 2.0, ["2.8.3"], "manual")]
        return R.NotebookResult("08_caching", 1.0, 3.0, cells)

    result, _ = check_notebook(_mine(course, tmp_path, "08_caching.ipynb"), course, grader=grader)
    assert result.status == R.NEEDS_MANUAL
    text = render_text(result)
    assert "1 / 3 (so far: needs manual grading)" in text and "to be graded by hand" in text
