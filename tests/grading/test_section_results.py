"""Do export, report and check apply the section assessment's 75 % pass mark — and only where there is one?

The slow test grades real submissions of section_2 with the real autograder: the solutions (full
marks, passed), the untouched student version (0, not yet), one answering exactly 75 % of the points
right (passes) and one a point below (does not). The fast tests feed synthetic results to export and
report, including an assessment without a pass mark (blank ``passed``, no pass line).
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil

import nbformat
import pytest

from course_tools.grading import results as R
from course_tools.grading.nbgrader_io import COURSE_DIR
from course_tools.grading.passmark import explanations

A = "section_2"
SOURCE = COURSE_DIR / "source" / A / f"{A}.ipynb"
NB = nbformat.read(SOURCE, as_version=4)
GRADED = [c for c in NB.cells if c.metadata.get("nbgrader", {}).get("grade")]
POINTS = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in GRADED}
TOTAL = sum(POINTS.values())
# answered wrong in the "exactly 75 %" submission: the four hard outline questions and three medium ones
WRONG_75 = ["q_outline_01_pagination", "q_outline_02_mutex_semaphore", "q_outline_03_cp_partition",
            "q_outline_04_writeback_risk", "q_outline_05_validation_status", "q_outline_06_mobile_overfetch",
            "q_outline_07_internal_rpc"]
WRONG_BELOW = WRONG_75 + ["q_outline_08_jwt_downside"]


def _answer_cells() -> dict[str, nbformat.NotebookNode]:
    return {c.metadata["nbgrader"]["grade_id"][: -len("_answer")]: c for c in NB.cells
            if c.metadata.get("nbgrader", {}).get("solution")}


def _wrong_source(item: str) -> str:
    cell = _answer_cells()[item]
    name, right = re.search(r"^(\w+) = \"([a-d])\"$", cell.source, re.M).groups()
    return f'{name} = "{next(x for x in "abcd" if x != right)}"'


def _submission(kind: str, wrong: list[str] = ()) -> str:
    """The source as a learner would hand it in: hidden tests gone; solutions kept, stubbed or made wrong."""
    nb = json.loads(SOURCE.read_text())
    for c in nb["cells"]:
        s = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        s = re.sub(r"[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", "", s, flags=re.S)
        gid = c["metadata"].get("nbgrader", {}).get("grade_id", "")
        if kind == "untouched":
            s = re.sub(r"### BEGIN SOLUTION.*?### END SOLUTION", "# YOUR CODE HERE\nraise NotImplementedError()", s,
                       flags=re.S)
        elif gid.endswith("_answer") and gid[: -len("_answer")] in wrong:
            s = _wrong_source(gid[: -len("_answer")])
        else:
            s = re.sub(r"[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", "", s)
        c["source"] = s
    return json.dumps(nb)


def test_the_chosen_subsets_sit_exactly_at_and_just_below_the_pass_line():
    """Are the test's submissions built right: 33 of 44 points exactly at 75 %, 32 just below?"""
    assert TOTAL == 44
    assert TOTAL - sum(POINTS[i] for i in WRONG_75) == TOTAL * 3 // 4 == 33
    assert TOTAL - sum(POINTS[i] for i in WRONG_BELOW) == 32


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    """section_2 graded by the real autograder for four submissions (one autograde run for the module)."""
    from course_tools.grading.autograde import autograde

    course = tmp_path_factory.mktemp("section") / "course"
    shutil.copytree(COURSE_DIR / "source" / A, course / "source" / A)
    subs = {"solution": _submission("solution"), "untouched": _submission("untouched"),
            "exactly75": _submission("solution", WRONG_75), "below75": _submission("solution", WRONG_BELOW)}
    for student, text in subs.items():
        d = course / "submitted" / student / A
        d.mkdir(parents=True)
        (d / f"{A}.ipynb").write_text(text)
    results = {r.student: r for r in autograde(A, course, jobs=2, progress=False)}
    return course, results


@pytest.mark.grading
@pytest.mark.slow
def test_grading_round_trip_against_the_pass_mark(graded_course):
    """Source -> full marks and passed; untouched -> 0 and not yet; exactly 75 % passes, a point less does not:
    in the results, in `course export --csv`'s passed column, and in `course report`'s pass rate and plots."""
    from course_tools.cli import main

    course, results = graded_course
    assert {s: (r.status, r.score, r.max_score) for s, r in results.items()} == {
        "solution": ("graded", 44, 44), "untouched": ("graded", 0, 44),
        "exactly75": ("graded", 33, 44), "below75": ("graded", 32, 44)}, \
        {s: [(c.grade_id, c.message) for c in r.cells() if c.status != "passed"] for s, r in results.items()}
    missed = {c.grade_id for c in results["below75"].cells() if c.points < c.max_points}
    assert missed == set(WRONG_BELOW)

    assert main(["export", "--csv", str(course / "grades.csv"), A, "--course-dir", str(course)]) == 0
    with open(course / "grades.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert {s: r["passed"] for s, r in rows.items()} == {
        "solution": "yes", "untouched": "no", "exactly75": "yes", "below75": "no"}

    out = io.StringIO()
    from course_tools.grading.report import run as report

    assert report(A, course, out=out) == 0
    text = out.getvalue()
    assert "Pass mark 75 % (pass line 33 / 44): 2 of 4 graded learner(s) passed — pass rate 50 %" in text
    assert "Per chapter" in text and "Objectives most learners miss" in text
    assert re.search(r"^2\.2\.4 +1/4 ", text, re.M), text    # pagination: only the full-marks learner mastered it
    for png in ("pass_line.png", "chapters.png", "scores.png", "objectives.png"):
        assert (course / "reports" / A / png).stat().st_size > 0


@pytest.mark.grading
@pytest.mark.slow
def test_check_says_not_yet_and_what_to_revisit_without_the_right_option(graded_course, tmp_path):
    """Does `course check` (with the autograder's result) say NOT YET below the line and PASS at it, list the
    lesson section of each missed question, and never show a missed question's right option or its
    explanation — while explaining every option of a question answered right?"""
    from course_tools.grading.check import run

    course, results = graded_course
    expl = explanations(SOURCE)
    right_letter = {}
    for gid in WRONG_BELOW:
        test = next(c for c in GRADED if c.metadata["nbgrader"]["grade_id"] == gid)
        right_letter[gid] = re.search(r'check_choice\(\w+, "([a-d])"', test.source).group(1)
    for student, word in (("below75", "NOT YET"), ("exactly75", "PASS")):
        mine = tmp_path / student / f"{A}.ipynb"
        mine.parent.mkdir()
        mine.write_text((course / "submitted" / student / A / f"{A}.ipynb").read_text())
        out = io.StringIO()
        fake = lambda source, nb, isolation=True, r=results[student]: r.notebooks[0]  # noqa: E731
        html = tmp_path / student / "fb.html"
        assert run(mine, course, grader=fake, out=out, html=html) == 0
        text = out.getvalue()
        assert f"Result: {word} — " in text, text
        wrong = WRONG_BELOW if student == "below75" else WRONG_75
        for gid in wrong:
            assert re.search(rf"- {gid}: \d\.\d [^\n]* › ", text), gid              # the section to revisit
            assert expl[gid][right_letter[gid]] not in text + html.read_text()      # never the right option
            assert f"  {gid}:\n" not in text                                        # no per-option list for it
        ok = "q_outline_12_concurrency_parallelism"
        assert all(v in text for v in expl[ok].values())                            # a right answer: all options
        assert "NOT YET" in html.read_text() or "PASS" in html.read_text()


def _fake_result(student: str, assignment: str, score: float, max_score: float, status: str = R.GRADED):
    cells = [R.CellResult("q1", score, max_score, ["2.8.1"], "passed" if score == max_score else "failed")]
    return R.SubmissionResult(student, assignment, status, score, max_score, [R.NotebookResult(assignment, score,
                                                                                              max_score, cells)])


def test_export_passed_column_only_where_there_is_a_pass_mark(tmp_path):
    """With synthetic results: is `passed` yes/no for graded section_2 rows (exactly 75 % = yes), and blank for
    an assessment without a pass mark, a failed submission and a missing one?"""
    from course_tools.grading.export import FIELDS, export_csv

    course = tmp_path / "course"
    shutil.copytree(COURSE_DIR / "source" / A, course / "source" / A)
    shutil.copytree(COURSE_DIR / "source" / "08_caching", course / "source" / "08_caching")
    for r in (_fake_result("ann", A, 33, 44), _fake_result("ben", A, 32.5, 44),
              _fake_result("cat", A, 0, 44, status="failed: notebook unreadable"),
              _fake_result("ann", "08_caching", 17, 17), _fake_result("ben", "08_caching", 0, 17)):
        R.save_result(course, r)
    buf = io.StringIO()
    export_csv(course, buf)
    rows = {(r["student"], r["assignment"]): r["passed"] for r in csv.DictReader(io.StringIO(buf.getvalue()))}
    assert FIELDS[-1] == "passed"
    assert rows == {("ann", A): "yes", ("ben", A): "no", ("cat", A): "",
                    ("ann", "08_caching"): "", ("ben", "08_caching"): "", ("cat", "08_caching"): ""}


def test_report_adds_the_pass_line_only_with_a_pass_mark(tmp_path):
    """Does `course report` show the pass line, pass rate and per-chapter mastery for section_2 (synthetic
    results), and nothing of the kind for an assessment without a pass mark?"""
    from course_tools.grading.report import run as report

    course = tmp_path / "course"
    shutil.copytree(COURSE_DIR / "source" / A, course / "source" / A)
    shutil.copytree(COURSE_DIR / "source" / "08_caching", course / "source" / "08_caching")
    for student, score in (("ann", 44), ("ben", 33), ("cat", 10)):
        R.save_result(course, _fake_result(student, A, score, 44))
        R.save_result(course, _fake_result(student, "08_caching", score / 44 * 17, 17))
    out = io.StringIO()
    assert report(A, course, out=out, plots=True) == 0
    text = out.getvalue()
    assert "2 of 3 graded learner(s) passed — pass rate 67 %" in text and "1 below the pass line" in text
    assert re.search(r"^2\.8 +66 % +1/3 +Caching", text, re.M), text   # 75 % of the points is not mastery (80 %)
    assert (course / "reports" / A / "pass_line.png").exists() and (course / "reports" / A / "chapters.png").exists()
    out = io.StringIO()
    assert report("08_caching", course, out=out, plots=True) == 0
    assert "Pass mark" not in out.getvalue() and not (course / "reports" / "08_caching" / "pass_line.png").exists()


def test_section_plots_have_a_clean_layout(tmp_path):
    """Are the pass-line and per-chapter plots readable: no legend over a title, nothing cut off, with all eight
    chapters' long titles on the axis?"""
    from course_tools.grading.section_report import Mastery, SectionReport, figures
    from course_tools.syllabus import CHAPTERS
    from course_tools.viz.style import layout_problems

    s = SectionReport(A, 0.75, 44, scores=[10, 20, 31, 33, 33, 40, 44], passed=4,
                      chapters=[Mastery(c.number, c.title, 3 * i, 24, 7, i % 7) for i, c in enumerate(CHAPTERS, 1)])
    figs = figures(s)
    assert set(figs) == {"pass_line.png", "chapters.png"}
    for name, fig in figs.items():
        assert layout_problems(fig) == [], name
        fig.savefig(tmp_path / name)


def test_feedback_pages_say_not_yet_and_what_to_revisit(tmp_path):
    """Does `course feedback` add the pass verdict and the sections to revisit to the HTML page of a section_2
    learner who missed one question, naming its section without its right option's explanation (and explaining
    every option of a question answered right)?"""
    from course_tools.grading.feedback import write_feedback

    course = tmp_path / "course"
    shutil.copytree(COURSE_DIR / "source" / A, course / "source" / A)
    gid = "q_outline_01_pagination"
    cells = [R.CellResult(c.metadata["nbgrader"]["grade_id"], 0 if c.metadata["nbgrader"]["grade_id"] == gid
                          else POINTS[c.metadata["nbgrader"]["grade_id"]], POINTS[c.metadata["nbgrader"]["grade_id"]],
                          c.metadata["course"]["objectives"],
                          "failed" if c.metadata["nbgrader"]["grade_id"] == gid else "passed") for c in GRADED]
    r = R.SubmissionResult("dora", A, R.GRADED, TOTAL - 2, TOTAL, [R.NotebookResult(A, TOTAL - 2, TOTAL, cells)])
    R.save_result(course, r)
    [page] = write_feedback(course, A)
    html = page.read_text()
    test = next(c for c in GRADED if c.metadata["nbgrader"]["grade_id"] == gid)
    right = re.search(r'check_choice\(\w+, "([a-d])"', test.source).group(1)
    assert "Result: PASS — 42 / 44" in html and f"{gid}: 2.2 API design" in html
    import html as H

    assert H.escape(explanations(SOURCE)[gid][right]) not in html
    assert H.escape(explanations(SOURCE)["q_outline_12_concurrency_parallelism"]["a"]) in html
