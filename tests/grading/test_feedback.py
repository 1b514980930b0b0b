"""course feedback: per-student HTML with scores, objectives and hints, never hidden tests."""

from __future__ import annotations

import html
import re
from pathlib import Path

from course_tools.authoring import md, notebook, solution, write
from course_tools.authoring import tests as graded_cell
from course_tools.cli import main
from course_tools.grading import results as R
from course_tools.grading.feedback import REDACTED, feedback_path, per_objective, render_html, render_text, secret_lines
from course_tools.syllabus import OBJECTIVES

A = "08_caching"
HIDDEN_1 = "check_choice(answer_1, 'b', question=1, hint='Re-read Write paths')"
HIDDEN_2 = "assert lru_hits(trace_from_seed(77)) == 41, 'hidden LRU trace differs'"
SOLUTION = "answer_1 = 'b'  # write-through writes the store synchronously"


def _source(course: Path) -> Path:
    nb = notebook([
        md("# Caching quiz"),
        solution(f"### BEGIN SOLUTION\n{SOLUTION}\n### END SOLUTION", grade_id="q1_answer", objectives=["2.8.1"]),
        graded_cell("from course_tools.grading.checks import check_choice, normalise_choice\n"
              "normalise_choice(answer_1, question=1)\n"
              f"### BEGIN HIDDEN TESTS\n{HIDDEN_1}\n### END HIDDEN TESTS",
              grade_id="q1_test", points=1, objectives=["2.8.1"]),
        graded_cell(f"assert callable(lru_hits)\n### BEGIN HIDDEN TESTS\n{HIDDEN_2}\n### END HIDDEN TESTS",
              grade_id="q2_test", points=2, objectives=["2.8.2"]),
    ])
    return write(nb, course / "source" / A / f"{A}.ipynb")


def _result(student: str, *, q1=("passed", 1.0, ""), q2=("failed", 0.0, ""), status=R.GRADED) -> R.SubmissionResult:
    cells = [R.CellResult("q1_test", q1[1], 1.0, ["2.8.1"], q1[0], q1[2]),
             R.CellResult("q2_test", q2[1], 2.0, ["2.8.2"], q2[0], q2[2])]
    nb = R.NotebookResult(A, sum(c.points for c in cells), 3.0, cells)
    return R.SubmissionResult(student, A, status, nb.score, 3.0, [nb], "2026-11-27T18:00:00Z", 1.5)


def test_hidden_tests_never_appear_in_feedback(tmp_path):
    """A message quoting hidden-test lines (a traceback, say): do none of the hidden or solution
    lines reach the HTML or the text, while the hint itself still does?"""
    course = tmp_path / "course"
    _source(course)
    traceback = (f"Traceback (most recent call last):\n  Cell In[3], line 2\n    {HIDDEN_2}\n"
                 "AssertionError: hidden LRU trace differs")
    hint = "Question 1: 'a' is not the best answer. Hint: Re-read Write paths"
    R.save_result(course, _result("amy", q1=("failed", 0.0, hint + "\n" + HIDDEN_1), q2=("failed", 0.0, traceback)))
    assert main(["feedback", A, "--course-dir", str(course)]) == 0
    page = feedback_path(course, A, "amy").read_text()
    res = R.load_result(R.result_path(course, A, "amy"))
    text = render_text(res, secret_lines([course / "source" / A / f"{A}.ipynb"]))
    for out in (page, text):
        for secret in (HIDDEN_1, HIDDEN_2, SOLUTION):
            assert secret not in out and html.escape(secret) not in out and html.escape(secret, quote=False) not in out
        assert "Re-read Write paths" in html.unescape(out)
        assert REDACTED in html.unescape(out)


def test_feedback_shows_score_questions_objectives_and_hint(tmp_path):
    """Does each page show the total, points per question, objective ids with titles, and the message?"""
    course = tmp_path / "course"
    _source(course)
    R.save_result(course, _result("bob", q2=("failed", 0.0, "Question 2: your cache evicted the wrong key.")))
    R.save_result(course, _result("cy", q2=("passed", 2.0, "")))
    assert main(["feedback", A, "--course-dir", str(course)]) == 0
    bob = feedback_path(course, A, "bob").read_text()
    assert "1 / 3" in bob and "q1_test" in bob and "q2_test" in bob
    assert "0 / 2" in bob and "2.8.2" in bob and "Eviction policies LRU / LFU / FIFO / TTL" in bob
    assert "your cache evicted the wrong key" in bob
    assert "3 / 3" in feedback_path(course, A, "cy").read_text()
    assert "By learning objective" in bob
    assert per_objective(R.load_result(R.result_path(course, A, "bob"))) == [
        ("2.8.1", OBJECTIVES["2.8.1"].title, 1.0, 1.0), ("2.8.2", OBJECTIVES["2.8.2"].title, 0.0, 2.0)]


def test_failed_submission_has_no_score_not_zero(tmp_path):
    """A submission that could not be graded: does its page give the reason and no '0 / 3'?"""
    course = tmp_path / "course"
    _source(course)
    R.save_result(course, R.SubmissionResult("dan", A, "failed: notebook is not valid JSON", 0.0, 3.0))
    assert main(["feedback", A, "--course-dir", str(course)]) == 0
    page = feedback_path(course, A, "dan").read_text()
    assert "notebook is not valid JSON" in page and "no score" in page and "0 / 3" not in page


def test_student_strings_cannot_inject_html(tmp_path):
    """Student-controlled strings (messages, grade ids, warnings): are they escaped, with no live tag or script?"""
    evil = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'&'
    cells = [R.CellResult(f"q1{evil}", 0, 1, ["2.8.1", evil], "failed", evil),
             R.CellResult("q2", 1, 1, ["2.8.2"], evil, "")]
    res = R.SubmissionResult("eve", A, R.GRADED, 1, 2, [R.NotebookResult(evil, 1, 2, cells)], evil, 0, [evil])
    page = render_html(res)
    assert "<script" not in page.lower() and "<img" not in page.lower() and "onerror=alert" not in page.replace(
        "onerror=alert(2)&gt;", "")
    assert page.count(html.escape(evil, quote=True)) >= 5
    # the only tags in the page are the renderer's own
    tags = set(re.findall(r"<\s*([a-zA-Z!/][a-zA-Z0-9]*)", page))
    assert tags <= {"!DOCTYPE", "html", "/html", "head", "/head", "meta", "title", "/title", "style", "/style",
                    "body", "/body", "h1", "/h1", "h2", "/h2", "p", "/p", "b", "/b", "br", "small", "/small", "table",
                    "/table", "thead", "/thead", "tbody", "/tbody", "tr", "/tr", "th", "/th", "td", "/td", "pre",
                    "/pre", "ul", "/ul", "li", "/li"}


def test_only_requested_students(tmp_path, capsys):
    """Does --student limit the output, and does a result without grades tell the instructor to autograde?"""
    course = tmp_path / "course"
    _source(course)
    for s in ("fay", "gus"):
        R.save_result(course, _result(s))
    assert main(["feedback", A, "--student", "gus", "--course-dir", str(course)]) == 0
    assert feedback_path(course, A, "gus").exists() and not feedback_path(course, A, "fay").exists()
    assert main(["feedback", "no_such", "--course-dir", str(course)]) == 1
    assert "run course autograde" in capsys.readouterr().err


def test_a_broken_result_file_costs_only_its_student(tmp_path):
    """One malformed grades/<a>/<s>.json: are the other students' pages still written?"""
    course = tmp_path / "course"
    _source(course)
    R.save_result(course, _result("hal"))
    R.result_path(course, A, "ivy").write_text("{not json")
    assert main(["feedback", A, "--course-dir", str(course)]) == 0
    assert feedback_path(course, A, "hal").exists() and not feedback_path(course, A, "ivy").exists()
