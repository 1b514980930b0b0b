"""How the class did, per question and per learning objective.

``course report ASSIGNMENT`` prints two tables (questions, objectives) and the counts of
graded / needs-manual / failed / ungraded submissions, and writes them as CSV, with PNG
plots, under ``reports/<assignment>/``. Objective ids come from the result cells (autograde copies
them from ``metadata.course.objectives``); titles from :mod:`course_tools.syllabus`.

Statistics use every submission that has per-question results (graded, or needing manual
grading for some other cell). Failed and ungraded submissions, and cells still waiting for
a human (status ``manual``), are *counted*, never averaged in as zeros. For an assessment with
a pass mark, :mod:`course_tools.grading.section_report` adds the pass line and pass rate and
mastery per chapter and per objective (lowest first), with two more plots.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from course_tools.grading import results as R
from course_tools.grading.export import class_results
from course_tools.grading.nbgrader_io import COURSE_DIR
from course_tools.syllabus import OBJECTIVES

__all__ = ["QuestionStats", "ObjectiveStats", "Report", "build_report", "format_table", "write_plots", "write_tables",
           "run"]


@dataclass
class QuestionStats:
    grade_id: str
    notebook: str
    max_points: float
    objectives: list[str]
    n: int = 0                # submissions with a result for this question
    earned: float = 0.0       # sum of points
    full: int = 0             # full marks
    by_status: dict[str, int] = field(default_factory=dict)

    @property
    def mean(self) -> float | None:
        return self.earned / self.n if self.n else None

    @property
    def mean_fraction(self) -> float | None:
        return self.earned / (self.n * self.max_points) if self.n and self.max_points else None


@dataclass
class ObjectiveStats:
    id: str
    title: str
    questions: list[str] = field(default_factory=list)
    earned: float = 0.0
    possible: float = 0.0
    students: set[str] = field(default_factory=set)
    mastered: int = 0         # students with >= 80 % of this objective's points

    @property
    def fraction(self) -> float | None:
        return self.earned / self.possible if self.possible else None


@dataclass
class Report:
    assignment: str
    questions: list[QuestionStats]
    objectives: list[ObjectiveStats]
    counts: dict[str, int]            # graded, needs manual grading, failed, ungraded, total
    failures: dict[str, int]          # failure reason -> number of submissions
    mean_score: float | None
    max_score: float | None
    scores: list[float] = field(default_factory=list)   # total scores of the graded submissions


MASTERY = 0.8


def build_report(course_dir: Path | str, assignment: str) -> Report:
    """Aggregate ``grades/<assignment>/`` (read through :mod:`course_tools.grading.results`)."""
    c = class_results(course_dir, assignment)
    usable = [r for r in c.results if not r.failed]
    failures: dict[str, int] = {}
    for r in c.failed:
        reason = r.status[len(R.FAILED_PREFIX):]
        failures[reason] = failures.get(reason, 0) + 1
    for reason in c.broken.values():
        failures[reason[len(R.FAILED_PREFIX):]] = failures.get(reason[len(R.FAILED_PREFIX):], 0) + 1

    questions: dict[tuple[str, str], QuestionStats] = {}
    objectives: dict[str, ObjectiveStats] = {}
    per_student_obj: dict[tuple[str, str], list[float]] = {}
    for r in usable:
        for nb in r.notebooks:
            for cell in nb.cells:
                q = questions.setdefault((nb.name, cell.grade_id),
                                         QuestionStats(cell.grade_id, nb.name, cell.max_points, list(cell.objectives)))
                q.max_points = max(q.max_points, cell.max_points)
                for o in cell.objectives:
                    if o not in q.objectives:
                        q.objectives.append(o)
                q.by_status[cell.status] = q.by_status.get(cell.status, 0) + 1
                if cell.status == "manual":   # not graded yet: counted, never averaged in as 0
                    continue
                q.n += 1
                q.earned += cell.points
                q.full += cell.max_points > 0 and cell.points >= cell.max_points
                for o in cell.objectives:
                    title = OBJECTIVES[o].title if o in OBJECTIVES else "(unknown id)"
                    s = objectives.setdefault(o, ObjectiveStats(o, title))
                    if cell.grade_id not in s.questions:
                        s.questions.append(cell.grade_id)
                    s.earned += cell.points
                    s.possible += cell.max_points
                    s.students.add(r.student)
                    acc = per_student_obj.setdefault((o, r.student), [0.0, 0.0])
                    acc[0] += cell.points
                    acc[1] += cell.max_points
    for (o, _student), (earned, possible) in per_student_obj.items():
        if possible and earned / possible >= MASTERY:
            objectives[o].mastered += 1

    graded = [r for r in usable if r.status == R.GRADED]
    counts = {
        "graded": len(graded),
        "needs manual grading": sum(r.status == R.NEEDS_MANUAL for r in usable),
        "failed": len(c.failed) + len(c.broken),
        "ungraded": len(c.ungraded),
    }
    counts["total"] = sum(counts.values())
    return Report(
        assignment,
        list(questions.values()),
        sorted(objectives.values(), key=lambda s: [int(p) if p.isdigit() else p for p in s.id.split(".")]),
        counts, failures,
        sum(r.score for r in graded) / len(graded) if graded else None,
        max((r.max_score for r in usable), default=None),
        sorted(r.score for r in graded),
    )


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{100 * x:.0f} %"


def _num(x: float | None) -> str:
    return "—" if x is None else f"{round(x, 2):g}"


def _table(header: list[str], body: list[list[str]]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(header)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in body)]


def format_table(rep: Report) -> str:
    """The report as text for the terminal."""
    c = rep.counts
    out = [f"{rep.assignment}: {c['total']} submission(s) — {c['graded']} graded, "
           f"{c['needs manual grading']} need manual grading, {c['failed']} failed, {c['ungraded']} not graded yet",
           f"mean score of graded submissions: {_num(rep.mean_score)} / {_num(rep.max_score)}", ""]
    out.append("Per question")
    out += _table(["question", "points", "n", "mean", "mean %", "full marks", "not passed", "objectives"],
                  [[q.grade_id, _num(q.max_points), str(q.n), _num(q.mean), _pct(q.mean_fraction),
                    f"{q.full}/{q.n}", ", ".join(f"{k} {v}" for k, v in sorted(q.by_status.items()) if k != "passed"),
                    ", ".join(q.objectives)] for q in rep.questions])
    out += ["", "Per objective"]
    out += _table(["objective", "questions", "students", "points %", f"mastered (>= {MASTERY:.0%})", "title"],
                  [[o.id, str(len(o.questions)), str(len(o.students)), _pct(o.fraction),
                    f"{o.mastered}/{len(o.students)}", o.title] for o in rep.objectives])
    if rep.failures:
        out += ["", "Failed submissions, by reason"]
        out += [f"  {n} × {reason}" for reason, n in sorted(rep.failures.items(), key=lambda kv: -kv[1])]
    return "\n".join(out)


def write_plots(rep: Report, out_dir: Path | str) -> list[Path]:
    """PNG plots (Agg canvas, course style): per question, per objective, submission status, scores."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    from course_tools.viz.style import PALETTE, RC, course_style

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig: Figure, name: str) -> None:
        FigureCanvasAgg(fig)
        path = out_dir / name
        fig.savefig(path, format="png")
        written.append(path)

    w, h = RC["figure.figsize"]
    with course_style():
        fig = Figure(figsize=(w, max(h, 0.35 * len(rep.questions) + 1.2)), layout="constrained")
        ax = fig.add_subplot()
        labels = [q.grade_id for q in rep.questions][::-1]
        vals = [100 * (q.mean_fraction or 0) for q in rep.questions][::-1]
        ax.barh(labels, vals, color=PALETTE[0])
        ax.set_xlim(0, 100)
        ax.set_xlabel("mean % of points")
        n = rep.counts["graded"] + rep.counts["needs manual grading"]
        ax.set_title(f"{rep.assignment}: per question (n = {n})")
        save(fig, "questions.png")

        fig = Figure(figsize=(w, max(h, 0.35 * len(rep.objectives) + 1.2)), layout="constrained")
        ax = fig.add_subplot()
        objs = rep.objectives[::-1]
        ax.barh([o.id for o in objs], [100 * (o.fraction or 0) for o in objs], color=PALETTE[2], label="points %")
        ax.barh([o.id for o in objs], [100 * o.mastered / len(o.students) if o.students else 0 for o in objs],
                height=0.35, color=PALETTE[1], label=f"students with >= {MASTERY:.0%}")
        ax.set_xlim(0, 100)
        ax.set_xlabel("%")
        ax.set_title(f"{rep.assignment}: per objective")
        fig.legend(loc="outside lower center", ncols=2)
        save(fig, "objectives.png")

        fig = Figure(figsize=(w, h), layout="constrained")
        ax = fig.add_subplot()
        keys = ["graded", "needs manual grading", "failed", "ungraded"]
        ax.bar(keys, [rep.counts[k] for k in keys], color=[PALETTE[2], PALETTE[1], PALETTE[3], PALETTE[7]])
        ax.set_ylabel("submissions")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{rep.assignment}: submissions by status")
        save(fig, "status.png")

        fig = Figure(figsize=(w, h), layout="constrained")
        ax = fig.add_subplot()
        top = rep.max_score or max(rep.scores, default=1.0) or 1.0
        ax.hist(rep.scores, bins=min(20, max(1, int(top))), range=(0, top), color=PALETTE[0])
        ax.set_xlabel("score")
        ax.set_ylabel("graded submissions")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{rep.assignment}: scores (n = {len(rep.scores)})")
        save(fig, "scores.png")
    return written


def write_tables(rep: Report, out_dir: Path | str) -> list[Path]:
    """``questions.csv`` and ``objectives.csv``: the two tables, for a spreadsheet."""
    import csv

    from course_tools.grading.export import safe_cell

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    r6 = lambda x: "" if x is None else f"{round(x, 6):g}"  # noqa: E731
    tables = {
        "questions.csv": (["notebook", "question", "max_points", "n", "mean", "mean_fraction", "full_marks",
                           "statuses", "objectives"],
                          [[q.notebook, q.grade_id, r6(q.max_points), q.n, r6(q.mean), r6(q.mean_fraction), q.full,
                            "; ".join(f"{k} {v}" for k, v in sorted(q.by_status.items())), " ".join(q.objectives)]
                           for q in rep.questions]),
        "objectives.csv": (["objective", "title", "questions", "students", "points_fraction", "mastered"],
                           [[o.id, o.title, " ".join(o.questions), len(o.students), r6(o.fraction), o.mastered]
                            for o in rep.objectives]),
    }
    written = []
    for name, (header, body) in tables.items():
        with open(out_dir / name, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(header)
            w.writerows([[v if isinstance(v, int) else safe_cell(v) for v in row] for row in body])
        written.append(out_dir / name)
    return written


def run(assignment: str, course_dir: Path | str = COURSE_DIR, *, plots: bool = True, out: TextIO | None = None) -> int:
    """The ``course report`` command: tables on ``out``; CSVs and plots under ``reports/<assignment>/``."""
    out = out or sys.stdout
    rep = build_report(course_dir, assignment)
    print(format_table(rep), file=out)
    if rep.counts["total"] == 0:
        print(f"no submissions or results for {assignment} under {course_dir}", file=sys.stderr)
        return 1
    out_dir = Path(course_dir) / "reports" / assignment
    from course_tools.grading.section_report import extend   # pass line, pass rate, mastery per chapter

    text, extra = extend(course_dir, assignment, out_dir, plots=plots)
    if text:
        print(text, file=out)
    for p in write_tables(rep, out_dir) + (write_plots(rep, out_dir) if plots else []) + extra:
        print(f"wrote {p}", file=out)
    return 0
