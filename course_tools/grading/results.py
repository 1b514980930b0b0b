"""The grading result of one submission: the contract between autograde and everything after it.

``course autograde`` writes one JSON file per student and assignment:

    <course_dir>/grades/<assignment>/<student>.json

and ``course feedback``, ``course export``, ``course report`` and ``course check`` read
only these files (plus the source notebook, for objective ids and hints). A submission
that could not be graded still gets a file, with ``status="failed: <reason>"``, so that
nothing is silently missing and nothing is shown as a zero it did not earn.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["CellResult", "NotebookResult", "SubmissionResult", "result_path", "save_result", "load_result",
           "load_results", "GRADED", "NEEDS_MANUAL"]

GRADED = "graded"
NEEDS_MANUAL = "needs manual grading"
FAILED_PREFIX = "failed: "


@dataclass
class CellResult:
    grade_id: str
    points: float              # earned
    max_points: float
    objectives: list[str] = field(default_factory=list)
    status: str = "passed"     # "passed" | "failed" | "error" | "timeout" | "missing"
    message: str = ""          # what the learner may see: the hint / assertion message, never hidden test source


@dataclass
class NotebookResult:
    name: str                  # notebook file stem
    score: float
    max_score: float
    cells: list[CellResult] = field(default_factory=list)


@dataclass
class SubmissionResult:
    student: str
    assignment: str
    status: str                # GRADED | NEEDS_MANUAL | "failed: <reason an instructor can act on>"
    score: float
    max_score: float
    notebooks: list[NotebookResult] = field(default_factory=list)
    graded_at: str = ""        # ISO 8601 UTC
    seconds: float = 0.0       # wall time spent grading
    warnings: list[str] = field(default_factory=list)  # e.g. isolation means that were unavailable

    @property
    def failed(self) -> bool:
        return self.status.startswith(FAILED_PREFIX)

    def cells(self) -> list[CellResult]:
        return [c for nb in self.notebooks for c in nb.cells]

    @staticmethod
    def from_dict(d: dict) -> "SubmissionResult":
        nbs = [NotebookResult(n["name"], n["score"], n["max_score"], [CellResult(**c) for c in n.get("cells", [])])
               for n in d.get("notebooks", [])]
        return SubmissionResult(d["student"], d["assignment"], d["status"], d["score"], d["max_score"], nbs,
                                d.get("graded_at", ""), d.get("seconds", 0.0), list(d.get("warnings", [])))


def result_path(course_dir: Path | str, assignment: str, student: str) -> Path:
    return Path(course_dir) / "grades" / assignment / f"{student}.json"


def save_result(course_dir: Path | str, result: SubmissionResult) -> Path:
    """Write atomically (temp file + rename): a crash never leaves half a grade. The file name comes
    from the student id, so an id that is not one (see :mod:`course_tools.grading.ids`) is refused."""
    from course_tools.grading import ids

    why = ids.problem(result.student)
    if why is not None:
        raise ValueError(f"student id {ids.shown(result.student)}: {why}")
    path = result_path(course_dir, result.assignment, result.student)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(result), f, indent=1, sort_keys=True)
    os.replace(tmp, path)
    return path


def load_result(path: Path | str) -> SubmissionResult:
    return SubmissionResult.from_dict(json.loads(Path(path).read_text()))


def load_results(course_dir: Path | str, assignment: str | None = None) -> list[SubmissionResult]:
    root = Path(course_dir) / "grades"
    pattern = f"{assignment}/*.json" if assignment else "*/*.json"
    # save_result's temp files (.tmp-*.json) are half-written by definition: never read them
    return [load_result(p) for p in sorted(root.glob(pattern)) if not p.name.startswith(".")]
