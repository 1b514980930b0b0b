"""course export --csv: one row per student and assignment; no zero that was not earned; no formulas."""

from __future__ import annotations

import csv
import io
import json

import pytest

from course_tools.cli import main
from course_tools.grading import results as R
from course_tools.grading.export import FIELDS, export_csv, safe_cell

A, B = "08_caching", "01_http"


def _graded(student, assignment=A, score=2.0, max_score=3.0, status=R.GRADED) -> R.SubmissionResult:
    cell = R.CellResult("q1", score, max_score, ["2.8.1"], "passed" if score == max_score else "failed")
    return R.SubmissionResult(student, assignment, status, score, max_score,
                              [R.NotebookResult(assignment, score, max_score, [cell])], "2026-11-27T18:00:00Z")


def _read(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_statuses_and_empty_scores(tmp_path):
    """graded, needs manual grading, failed, broken result file, submitted-but-ungraded, no submission:
    does each get its status, and does only a graded row carry a score?"""
    course = tmp_path / "course"
    R.save_result(course, _graded("ann", score=3.0))
    R.save_result(course, _graded("bea", score=0.0))                                     # earned zero: shown as 0
    R.save_result(course, _graded("cal", score=1.0, status=R.NEEDS_MANUAL))
    R.save_result(course, R.SubmissionResult("dee", A, "failed: kernel died (memory limit 512 MiB)", 0.0, 0.0))
    R.result_path(course, A, "eli").write_text("{broken")
    (course / "grades" / A / ".tmp-x1y2.json").write_text('{"half": ')                   # a result being written
    (course / "submitted" / "fox" / A).mkdir(parents=True)                                # never graded
    R.save_result(course, _graded("gil", assignment=B, score=1.0, max_score=1.0))        # only did B
    out = tmp_path / "grades.csv"
    assert main(["export", "--csv", str(out), A, B, "--course-dir", str(course)]) == 0
    rows = {(r["student"], r["assignment"]): r for r in _read(out)}
    assert list(_read(out)[0]) == FIELDS
    assert len(rows) == 7 * 2
    assert (rows["ann", A]["score"], rows["ann", A]["max_score"], rows["ann", A]["status"]) == ("3", "3", "graded")
    assert rows["bea", A]["score"] == "0" and rows["bea", A]["status"] == "graded"
    assert rows["cal", A]["status"] == "needs manual grading" and rows["cal", A]["score"] == ""
    assert rows["cal", A]["autograded_score"] == "1"
    assert rows["dee", A]["status"] == "failed: kernel died (memory limit 512 MiB)" and rows["dee", A]["score"] == ""
    assert rows["dee", A]["max_score"] == "3"          # known from the graded ones, so a reader sees what is at stake
    assert rows["eli", A]["status"].startswith("failed: result file unreadable") and rows["eli", A]["score"] == ""
    assert rows["fox", A]["status"].startswith("failed: submitted but not graded") and rows["fox", A]["score"] == ""
    assert rows["gil", A]["status"] == "failed: no submission" and rows["gil", A]["score"] == ""
    assert rows["gil", B]["score"] == "1" and rows["ann", B]["status"] == "failed: no submission"
    for r in rows.values():
        assert r["status"] in ("graded", "needs manual grading") or r["status"].startswith("failed: ")
        assert r["status"] == "graded" or r["score"] == ""


def test_formula_injection_is_neutralised(tmp_path):
    """Text cells starting with = + - @ (or tab): are they written as text, with a leading quote?
    And can a student id that starts so (or any id that is not one) reach the CSV at all?"""
    course = tmp_path / "course"
    evil = ["=HYPERLINK(\"evil.example\")", "+1+cmd|' -C calc'!A0", "-2+3", "@SUM(A1)", "\tx"]
    for s in evil:
        with pytest.raises(ValueError, match="student id"):
            R.save_result(course, R.SubmissionResult(s, A, "failed: x", 0, 1))
    for i, s in enumerate(evil):     # a result file written by hand under such a name is refused, not exported
        (course / "grades" / A).mkdir(parents=True, exist_ok=True)
        (course / "grades" / A / f"{s}.json").write_text(json.dumps({"student": s}))
        R.save_result(course, R.SubmissionResult(f"s{i}", A, f"failed: ={i}", 0, 1, warnings=[s]))
    buf = io.StringIO()
    export_csv(course, buf, [A])
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert sorted(r["student"] for r in rows) == [f"s{i}" for i in range(len(evil))]
    assert sorted(r["notes"] for r in rows) == sorted("'" + s for s in evil)
    assert all(r["status"].startswith("failed: =") for r in rows)    # starts with "f": already safe
    for r in rows:
        for k, v in r.items():
            assert not v.startswith(("=", "+", "-", "@", "\t", "\r")), (k, v)
    assert safe_cell("plain") == "plain" and safe_cell("=1") == "'=1" and safe_cell(None) == ""
    assert safe_cell("  =1+1") == "'  =1+1" and safe_cell("\uff1dcmd") == "'\uff1dcmd" and safe_cell("a=1") == "a=1"


def test_default_is_every_assignment_and_stdout(tmp_path, capsys):
    """Without ASSIGNMENT, are all assignments with results exported (not sources nobody submitted yet);
    does --csv - write to standard output?"""
    course = tmp_path / "course"
    (course / "source" / "02_api_design").mkdir(parents=True)
    (course / "source" / "02_api_design" / "02_api_design.ipynb").write_text("{}")
    R.save_result(course, _graded("ann"))
    R.save_result(course, _graded("ann", assignment=B, score=1.0, max_score=1.0))
    assert main(["export", "--csv", "-", "--course-dir", str(course)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {(r["student"], r["assignment"], r["score"]) for r in rows} == {("ann", A, "2"), ("ann", B, "1")}
