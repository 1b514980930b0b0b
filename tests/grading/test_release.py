"""course release refuses leaks; and the whole instructor pipeline, end to end:
release -> collect -> autograde -> export / report / feedback, plus a learner's course check."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
import zipfile
from pathlib import Path

import nbformat
import pytest

from course_tools.authoring import md, notebook, solution, write
from course_tools.authoring import tests as graded_cell
from course_tools.cli import build_parser, main

A = "08_caching"
SOLUTION_LINE = "answer_1 = 'b'  # write-through updates the store first"
HIDDEN_LINE = "check_choice(answer_1, 'b', question=1, hint='Which copy is written first?')"
HIDDEN_CODE = "assert hits([1, 2, 1, 3, 1], 2) == 2, 'Question 2: count a hit when the key is cached.'"


def _cells(extra=()):
    return [
        md("# Caching quiz (tiny)"),
        solution(f"answer_1 = None\n### BEGIN SOLUTION\n{SOLUTION_LINE}\n### END SOLUTION",
                 grade_id="q1_answer", objectives=["2.8.1"]),
        graded_cell("from course_tools.grading.checks import check_choice, normalise_choice\n"
                    "normalise_choice(answer_1, question=1)\n"
                    f"### BEGIN HIDDEN TESTS\n{HIDDEN_LINE}\n### END HIDDEN TESTS",
                    grade_id="q1_test", points=1, objectives=["2.8.1"]),
        solution("def hits(trace, capacity):\n    ### BEGIN SOLUTION\n    cache, n = [], 0\n"
                 "    for k in trace:\n        if k in cache:\n            n += 1\n            cache.remove(k)\n"
                 "        elif len(cache) == capacity:\n            cache.pop(0)\n        cache.append(k)\n"
                 "    return n\n    ### END SOLUTION", grade_id="q2_answer", objectives=["2.8.2"]),
        graded_cell(f"assert hits([], 1) == 0\n### BEGIN HIDDEN TESTS\n{HIDDEN_CODE}\n### END HIDDEN TESTS",
                    grade_id="q2_test", points=2, objectives=["2.8.2"]),
        *extra,
    ]


def _source(course: Path, extra=()) -> Path:
    return write(notebook(_cells(extra)), course / "source" / A / f"{A}.ipynb")


LEAKS = {
    "leak_solution": md(f"Model answer, for the record:\n\n{SOLUTION_LINE}"),    # solution text in markdown
    "leak_hidden": md(f"```python\n{HIDDEN_LINE}\n```"),                       # hidden test in markdown
}


@pytest.fixture(scope="module")
def released_course(tmp_path_factory) -> tuple[Path, Path, int, str, str]:
    """One `course release` of three sources, for this module (nbgrader takes seconds per run): the
    clean 08_caching and two that leak. Returns (course, student version, exit code, stdout, stderr)."""
    course = tmp_path_factory.mktemp("released") / "course"
    _source(course)
    for name, leak in LEAKS.items():
        write(notebook(_cells([leak])), course / "source" / name / f"{name}.ipynb")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["release", "--course-dir", str(course)])
    return course, course / "release" / A / f"{A}.ipynb", code, out.getvalue(), err.getvalue()


@pytest.mark.grading
def test_release_refuses_a_leak(released_course):
    """Sources whose solution or hidden-test text is also written in a plain cell: does `course
    release` refuse each (exit 1, a message naming the assignment and the leaked line) and leave
    no student version of them behind?"""
    course, _, code, _, err = released_course
    assert code == 1
    assert "REFUSED leak_solution" in err and SOLUTION_LINE in err
    assert "REFUSED leak_hidden" in err and HIDDEN_LINE in err
    assert err.count("would leak") == 2
    for name in LEAKS:
        assert not (course / "release" / name).exists()


@pytest.mark.grading
def test_release_of_a_clean_source(released_course):
    """Next to refused ones, is a clean source still released, with stubs and without solution or hidden lines?"""
    course, released, _, out, err = released_course
    assert str(released) in out and f"REFUSED {A}" not in err
    text = released.read_text()
    assert SOLUTION_LINE not in text and HIDDEN_LINE not in text and "raise NotImplementedError()" in text


def _answer(released: Path, dest: Path, answers: dict[str, str]) -> Path:
    """A student's copy of the released notebook with the given answer cells filled in."""
    nb = nbformat.read(released, as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in answers:
            cell.source = answers[gid]
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)
    return dest


def _has_autograde() -> bool:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return "autograde" in sub.choices


def _right_answers(released: Path, dest: Path) -> Path:
    return _answer(released, dest, {
        "q1_answer": "answer_1 = 'b'",
        "q2_answer": "def hits(trace, capacity):\n    cache, n = [], 0\n    for k in trace:\n"
                     "        if k in cache:\n            n += 1\n            cache.remove(k)\n"
                     "        elif len(cache) == capacity:\n            cache.pop(0)\n        cache.append(k)\n"
                     "    return n"})


def _copy_of(released_course, tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the released course (the module's fixture stays pristine)."""
    assert released_course[1].exists()
    if not _has_autograde():
        pytest.skip("`course autograde` is not in course_tools.cli yet")
    course = tmp_path / "course"
    shutil.copytree(released_course[0], course)
    return course, course / "release" / A / f"{A}.ipynb"


def _everything_shown(course: Path, *texts: str) -> str:
    return "\n".join([*texts, *(p.read_text() for p in (course / "feedback").glob(f"*/{A}/feedback.html"))])


SECRETS = (HIDDEN_LINE, HIDDEN_CODE, SOLUTION_LINE)


@pytest.mark.grading
@pytest.mark.slow
def test_pipeline_end_to_end(released_course, tmp_path, capsys):
    """Three tiny submissions in an LMS zip (right, untouched, broken JSON): after collect and
    autograde, do export, report and feedback agree — full marks, an earned 0, a failure with
    no score — and does no hidden test or solution line reach any of them?"""
    course, released = _copy_of(released_course, tmp_path)
    right = _right_answers(released, tmp_path / "work" / "right.ipynb")
    with zipfile.ZipFile(tmp_path / "lms.zip", "w") as zf:
        zf.write(right, "export/alice_101_201_08_caching.ipynb")
        zf.write(released, "export/bob_102_202_08_caching.ipynb")
        zf.writestr("export/carl_103_203_08_caching.ipynb", '{"cells": [ oops')
    assert main(["collect", str(tmp_path / "lms.zip"), A, "--course-dir", str(course)]) == 0
    assert main(["autograde", A, "--jobs", "2", "--course-dir", str(course)]) == 1  # 1: carl's notebook failed
    capsys.readouterr()

    assert main(["export", "--csv", str(tmp_path / "grades.csv"), A, "--course-dir", str(course)]) == 0
    with open(tmp_path / "grades.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert (rows["alice"]["status"], rows["alice"]["score"], rows["alice"]["max_score"]) == ("graded", "3", "3")
    assert (rows["bob"]["status"], rows["bob"]["score"]) == ("graded", "0")
    assert rows["carl"]["status"].startswith("failed: ") and rows["carl"]["score"] == ""

    assert main(["report", A, "--course-dir", str(course)]) == 0
    report = capsys.readouterr().out
    assert "2 graded" in report and "1 failed" in report and "2.8.2" in report
    assert len(list((course / "reports" / A).glob("*.png"))) == 4

    assert main(["feedback", A, "--course-dir", str(course)]) == 0
    capsys.readouterr()
    pages = {p.parts[-3]: p.read_text() for p in (course / "feedback").glob(f"*/{A}/feedback.html")}
    assert {"alice", "bob", "carl"} <= set(pages)
    assert "3 / 3" in pages["alice"] and "0 / 3" in pages["bob"] and "no score" in pages["carl"]
    assert "Question 1: no answer yet" in pages["bob"]

    shown = _everything_shown(course, report, (tmp_path / "grades.csv").read_text())
    results = "\n".join(json.dumps(json.loads(p.read_text())) for p in (course / "grades" / A).glob("*.json"))
    for secret in SECRETS:
        assert secret not in shown, "a hidden test or solution line reached the class"
        assert secret not in results, "autograde wrote a hidden test or solution line into a result message"


@pytest.mark.grading
@pytest.mark.slow
def test_check_end_to_end(released_course, tmp_path, capsys):
    """With the real autograder: does `course check` give a learner's right answers full marks,
    show the hint for a wrong one, and never show the hidden test or the solution?"""
    course, released = _copy_of(released_course, tmp_path)
    right = _right_answers(released, tmp_path / "work" / "right.ipynb")
    assert main(["check", str(right), "--course-dir", str(course)]) == 0
    right_out = capsys.readouterr().out
    wrong = _answer(released, tmp_path / "work" / "08_caching.ipynb", {"q1_answer": "answer_1 = 'a'"})
    assert main(["check", str(wrong), "--course-dir", str(course), "--html", str(tmp_path / "fb.html")]) == 0
    wrong_out = capsys.readouterr().out
    assert "3 / 3" in right_out, right_out
    assert "0 / 3" in wrong_out and "Which copy is written first?" in wrong_out    # the hint is shown ...
    for secret in SECRETS:                                                          # ... never the test
        assert secret not in right_out + wrong_out + (tmp_path / "fb.html").read_text()
