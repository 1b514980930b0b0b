"""course report: class results per question and per objective, as a table and PNG plots."""

from __future__ import annotations

import csv

import pytest

from course_tools.cli import main
from course_tools.grading import results as R
from course_tools.grading.report import build_report, format_table

A = "08_caching"


def _result(student, q1, q2, status=R.GRADED) -> R.SubmissionResult:
    cells = [R.CellResult("q1_test", q1, 1.0, ["2.8.1"], "passed" if q1 == 1 else "failed"),
             R.CellResult("q2_test", q2, 2.0, ["2.8.1", "2.8.2"], "passed" if q2 == 2 else "failed")]
    return R.SubmissionResult(student, A, status, q1 + q2, 3.0, [R.NotebookResult(A, q1 + q2, 3.0, cells)])


@pytest.fixture
def course(tmp_path):
    course = tmp_path / "course"
    R.save_result(course, _result("ann", 1.0, 2.0))
    R.save_result(course, _result("bob", 0.0, 2.0))
    R.save_result(course, _result("cat", 1.0, 0.0))
    R.save_result(course, _result("dan", 1.0, 1.0, status=R.NEEDS_MANUAL))
    R.save_result(course, R.SubmissionResult("eve", A, "failed: notebook timed out (60 s)", 0.0, 3.0))
    R.save_result(course, R.SubmissionResult("fay", A, "failed: notebook timed out (60 s)", 0.0, 3.0))
    (course / "submitted" / "gus" / A).mkdir(parents=True)
    return course


def test_per_question_and_objective_numbers(course):
    """Are per-question means and per-objective shares computed over the usable submissions only,
    with failed and ungraded ones counted, not averaged in as zeros?"""
    rep = build_report(course, A)
    assert rep.counts == {"graded": 3, "needs manual grading": 1, "failed": 2, "ungraded": 1, "total": 7}
    assert rep.failures == {"notebook timed out (60 s)": 2}
    q = {s.grade_id: s for s in rep.questions}
    assert q["q1_test"].n == 4 and q["q1_test"].mean == pytest.approx(0.75) and q["q1_test"].full == 3
    assert q["q2_test"].mean_fraction == pytest.approx(5 / 8) and q["q2_test"].by_status == {"passed": 2, "failed": 2}
    o = {s.id: s for s in rep.objectives}
    assert o["2.8.1"].fraction == pytest.approx((3 + 5) / (4 + 8))    # both questions
    assert o["2.8.2"].fraction == pytest.approx(5 / 8) and o["2.8.2"].questions == ["q2_test"]
    assert o["2.8.1"].mastered == 1        # >= 80 %: ann 3/3; not bob 2/3, cat 1/3, dan 2/3
    assert o["2.8.2"].mastered == 2        # ann 2/2 and bob 2/2; not cat 0/2, dan 1/2
    assert o["2.8.2"].title.startswith("Eviction policies")
    assert rep.mean_score == pytest.approx((3 + 2 + 1) / 3)          # graded only
    assert rep.scores == [1.0, 2.0, 3.0]


def test_cli_prints_table_and_writes_pngs(course, capsys):
    """Does `course report` print both tables and the failure counts, and write non-empty PNGs and
    the tables as CSV under reports/?"""
    assert main(["report", A, "--course-dir", str(course)]) == 0
    out = capsys.readouterr().out
    assert "Per question" in out and "Per objective" in out
    assert "2 failed" in out and "1 not graded yet" in out and "2 × notebook timed out (60 s)" in out
    assert "q1_test" in out and "2.8.2" in out and "Eviction policies" in out
    pngs = sorted((course / "reports" / A).glob("*.png"))
    assert [p.name for p in pngs] == ["objectives.png", "questions.png", "scores.png", "status.png"]
    for p in pngs:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 2000
    with open(course / "reports" / A / "objectives.csv", newline="") as f:
        objs = {r["objective"]: r for r in csv.DictReader(f)}
    assert objs["2.8.2"]["points_fraction"] == "0.625" and objs["2.8.2"]["mastered"] == "2"
    with open(course / "reports" / A / "questions.csv", newline="") as f:
        assert [r["question"] for r in csv.DictReader(f)] == ["q1_test", "q2_test"]


def test_empty_assignment(tmp_path, capsys):
    """With nothing submitted or graded, does report say so and exit non-zero, writing no plots?"""
    assert main(["report", A, "--course-dir", str(tmp_path)]) == 1
    assert "no submissions" in capsys.readouterr().err
    assert not (tmp_path / "reports").exists()
    assert "0 submission(s)" in format_table(build_report(tmp_path, A))


def test_cells_waiting_for_a_human_are_not_zeros(tmp_path):
    """A written-answer cell not yet graded by hand ('manual'): is it counted but left out of the mean?"""
    course = tmp_path / "course"
    for student, status, pts in (("ann", "passed", 2.0), ("bob", "manual", 0.0)):
        cells = [R.CellResult("essay", pts, 2.0, ["2.8.3"], status)]
        R.save_result(course, R.SubmissionResult(student, A, R.GRADED if status == "passed" else R.NEEDS_MANUAL,
                                                 pts, 2.0, [R.NotebookResult(A, pts, 2.0, cells)]))
    rep = build_report(course, A)
    (q,) = rep.questions
    assert (q.n, q.mean_fraction, q.by_status) == (1, 1.0, {"passed": 1, "manual": 1})
    assert rep.objectives[0].fraction == 1.0 and rep.objectives[0].students == {"ann"}
    assert "manual 1" in format_table(rep)


def test_every_submission_failed(tmp_path, capsys):
    """When nothing could be graded, does report still print the counts and reasons and write its plots?"""
    R.save_result(tmp_path, R.SubmissionResult("ann", A, "failed: kernel died", 0.0, 0.0))
    assert main(["report", A, "--course-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "1 failed" in out and "1 × kernel died" in out and "mean score of graded submissions: — / —" in out
    assert len(list((tmp_path / "reports" / A).glob("*.png"))) == 4
