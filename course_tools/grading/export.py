"""Grades as a CSV an instructor can load into a spreadsheet or an LMS.

``course export --csv FILE [ASSIGNMENT...]`` writes one row per student and assignment:

    student, assignment, score, max_score, status, autograded_score, graded_at, notes

``status`` is ``graded``, ``needs manual grading`` or ``failed: <reason>``. Only a graded
row has a ``score``: a failed, ungraded or missing submission has an *empty* score, never
a 0 it did not earn (``autograded_score`` holds the partial automatic score of a row that
needs manual grading). Rows also cover what has no result: a submission under
``submitted/`` that was never graded, a broken result file, and a student who submitted
other assignments but not this one.

Every text cell that a spreadsheet would run as a formula (starting, after any spaces, with
``= + - @`` or their full-width forms, a tab or a carriage return) is prefixed with ``'``
(OWASP's advice on CSV injection).
"""

from __future__ import annotations

import csv
import io
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, TextIO

from course_tools.grading import ids
from course_tools.grading import results as R
from course_tools.grading.nbgrader_io import COURSE_DIR

__all__ = ["ClassResults", "class_results", "rows", "export_csv", "safe_cell", "FIELDS", "run"]

FIELDS = ["student", "assignment", "score", "max_score", "status", "autograded_score", "graded_at", "notes"]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")  # + full-width forms


@dataclass
class ClassResults:
    """Everything known about one assignment: results, plus what could not be read or was not graded."""
    assignment: str
    results: list[R.SubmissionResult] = field(default_factory=list)
    broken: dict[str, str] = field(default_factory=dict)    # student -> why the result file is unreadable
    ungraded: list[str] = field(default_factory=list)       # submitted, but no result file
    refused: list[tuple[str, str]] = field(default_factory=list)   # (shown name, why): not a student id, a link

    @property
    def failed(self) -> list[R.SubmissionResult]:
        return [r for r in self.results if r.failed]

    def students(self) -> set[str]:
        return {r.student for r in self.results} | set(self.broken) | set(self.ungraded)


def class_results(course_dir: Path | str, assignment: str) -> ClassResults:
    """Load ``grades/<assignment>/*.json`` one by one (a broken file costs only its student).
    Names that are not student ids (under ``grades/`` or ``submitted/``) are listed in ``refused``,
    never used: see :mod:`course_tools.grading.ids`."""
    course_dir = Path(course_dir)
    out = ClassResults(assignment)
    for path in sorted((course_dir / "grades" / assignment).glob("*.json")):
        if path.name.startswith("."):   # save_result's temp file while autograde is writing it
            continue
        why = ids.problem(path.stem)
        if why is not None:
            out.refused.append((f"grades/{assignment}/{ids.shown(path.name)[1:-1]}", why))
            continue
        try:
            result = R.load_result(path)
        except Exception as exc:  # malformed JSON, missing keys: report it, keep going
            out.broken[path.stem] = f"failed: result file unreadable ({type(exc).__name__}); run course autograde again"
            continue
        if result.student != path.stem or result.assignment != assignment:
            out.broken[path.stem] = "failed: the result file is for another student or assignment; run course " \
                                    "autograde again"
            continue
        out.results.append(result)
    have = {r.student for r in out.results} | set(out.broken)
    out.ungraded = [s for s in ids.submitted_students(course_dir, assignment, out.refused) if s not in have]
    return out


def _num(x: float | None) -> str:
    return "" if x is None else f"{round(float(x), 6):g}"


def _graded_assignments(course_dir: Path) -> list[str]:
    """Assignments with results or submissions (not every source: one not yet released has no rows)."""
    def dirs(root: Path) -> list[Path]:     # real folders with usable names only: no links, no odd bytes
        try:
            return [Path(e.path) for e in os.scandir(root) if e.is_dir(follow_symlinks=False) and ids.is_valid(e.name)]
        except OSError:
            return []

    names = {p.name for p in dirs(course_dir / "grades")}
    names |= {p.name for s in dirs(course_dir / "submitted") for p in dirs(s)}
    return sorted(names)


def rows(course_dir: Path | str, assignments: Iterable[str] | None = None) -> list[dict[str, str]]:
    """The export's rows, as dicts keyed by :data:`FIELDS` (values not yet injection-guarded)."""
    course_dir = Path(course_dir)
    names = list(assignments) if assignments else _graded_assignments(course_dir)
    per = {a: class_results(course_dir, a) for a in names}
    everyone = set().union(*(c.students() for c in per.values())) if per else set()
    out = []
    for a in names:
        c = per[a]
        by_student = {r.student: r for r in c.results}
        max_known = max((r.max_score for r in c.results if not r.failed and r.max_score), default=None)
        for s in sorted(everyone):
            row = dict.fromkeys(FIELDS, "")
            row.update(student=s, assignment=a)
            r = by_student.get(s)
            if r is not None:
                row["status"] = r.status
                row["graded_at"] = r.graded_at
                row["notes"] = "; ".join(r.warnings)
                if r.status == R.GRADED:
                    row["score"], row["max_score"] = _num(r.score), _num(r.max_score)
                else:
                    row["max_score"] = _num(r.max_score) if r.max_score else _num(max_known)
                    if r.status == R.NEEDS_MANUAL:
                        row["autograded_score"] = _num(r.score)
            elif s in c.broken:
                row["status"], row["max_score"] = c.broken[s], _num(max_known)
            elif s in c.ungraded:
                row["status"], row["max_score"] = "failed: submitted but not graded yet; run course autograde", \
                    _num(max_known)
            else:
                row["status"], row["max_score"] = "failed: no submission", _num(max_known)
            out.append(row)
    return out


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet will show as text, never evaluate as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.lstrip(" \n").startswith(_FORMULA_START) else text


def export_csv(course_dir: Path | str, dest: Path | str | TextIO, assignments: Iterable[str] | None = None) -> int:
    """Write the CSV to ``dest`` (a path or an open text file); return the number of rows."""
    data = rows(course_dir, assignments)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in data:
        # numbers stay numbers: only text columns can start with a formula character
        writer.writerow({k: (v if k in ("score", "max_score", "autograded_score") else safe_cell(v))
                         for k, v in row.items()})
    if hasattr(dest, "write"):
        dest.write(buf.getvalue())
    else:
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        Path(dest).write_text(buf.getvalue(), encoding="utf-8", newline="")
    return len(data)


def run(dest: Path | str, assignments: list[str] | None = None, course_dir: Path | str = COURSE_DIR,
        out: TextIO | None = None) -> int:
    """The ``course export`` command."""
    out = out or sys.stdout
    n = export_csv(course_dir, sys.stdout if str(dest) == "-" else dest, assignments or None)
    if str(dest) != "-":
        print(f"wrote {n} row(s) to {dest}", file=out)
    course_dir = Path(course_dir)
    for a in assignments or _graded_assignments(course_dir):
        for where, why in class_results(course_dir, a).refused:
            print(f"skipped {where}: {why}", file=sys.stderr)
    return 0
