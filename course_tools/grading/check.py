"""``course check NOTEBOOK``: a learner grades their own copy and sees the class's feedback.

The notebook is graded by the same function ``course autograde`` uses,
``course_tools.grading.autograde.grade_notebook(source, submission, isolation=True)``,
against the source notebook in the course directory, and the result is shown exactly as
``course feedback`` would show it (same renderer, hidden-test and solution lines
filtered out), as text and optionally as an HTML file.

Which assignment: ``assignment=`` if given; else the source notebook whose name the file
carries (``08_caching.ipynb``, ``08_caching-Copy1.ipynb``, ``08_caching (2).ipynb``);
else the source notebook sharing the most nbgrader ``grade_id`` s with it (a renamed file).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Callable, TextIO

from course_tools.grading import results as R
from course_tools.grading.feedback import redact, render_html, render_text, secret_lines
from course_tools.grading.nbgrader_io import COURSE_DIR

__all__ = ["find_source", "check_notebook", "run", "Grader"]

Grader = Callable[..., R.NotebookResult]


class CheckError(RuntimeError):
    """The notebook cannot be checked (unknown assignment, unreadable file); the message says why."""


def _grade_ids(path: Path) -> set[str]:
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
        return {c["metadata"]["nbgrader"]["grade_id"] for c in nb.get("cells", [])
                if isinstance(c, dict) and isinstance(c.get("metadata", {}).get("nbgrader"), dict)
                and c["metadata"]["nbgrader"].get("grade_id")}
    except (OSError, ValueError, TypeError, AttributeError, KeyError):
        return set()


def find_source(notebook: Path | str, course_dir: Path | str = COURSE_DIR,
                assignment: str | None = None) -> tuple[str, Path]:
    """``(assignment, source notebook path)`` for a learner's notebook; :class:`CheckError` if unknown."""
    notebook, course_dir = Path(notebook), Path(course_dir)
    sources = sorted((course_dir / "source").glob("*/*.ipynb"))
    if assignment:
        sources = [s for s in sources if s.parent.name == assignment]
        if not sources:
            raise CheckError(f"no source notebook for assignment {assignment!r} under {course_dir / 'source'}")
        if len(sources) == 1:
            return assignment, sources[0]
    if not sources:
        raise CheckError(f"no source notebooks under {course_dir / 'source'} (is --course-dir right?)")
    stem = notebook.stem.lower()
    named = [s for s in sources if stem == s.stem.lower()] or [s for s in sources if stem.startswith(s.stem.lower())]
    if named:
        best = max(named, key=lambda s: len(s.stem))
        return best.parent.name, best
    mine = _grade_ids(notebook)
    if mine:
        overlap = max(sources, key=lambda s: len(mine & _grade_ids(s)))
        if mine & _grade_ids(overlap):
            return overlap.parent.name, overlap
    raise CheckError(f"cannot tell which assignment {notebook.name} belongs to: keep the file name "
                     f"({', '.join(s.name for s in sources)}) or pass --assignment")


def _default_grader() -> Grader:
    from course_tools.grading.autograde import grade_notebook  # the autograder's own entry point

    return grade_notebook


def check_notebook(notebook: Path | str, course_dir: Path | str = COURSE_DIR, *, assignment: str | None = None,
                   grader: Grader | None = None, isolation: bool = True) -> tuple[R.SubmissionResult, set[str]]:
    """Grade ``notebook`` against its source; return the result (as a one-notebook submission)
    and the secret lines the renderers must filter out."""
    notebook = Path(notebook)
    if not notebook.is_file():
        raise CheckError(f"{notebook} is not a file")
    name, source = find_source(notebook, course_dir, assignment)
    grade = grader or _default_grader()
    nb_result = grade(source, notebook, isolation=isolation)
    if not nb_result.cells:
        status = R.FAILED_PREFIX + "no graded cell could be checked in this notebook"
    elif any(c.status == "manual" for c in nb_result.cells):
        status = R.NEEDS_MANUAL   # a written answer: your teacher grades it
    else:
        status = R.GRADED
    result = R.SubmissionResult(student=notebook.name, assignment=name, status=status, score=nb_result.score,
                                max_score=nb_result.max_score, notebooks=[nb_result])
    return result, secret_lines([source])


def run(notebook: Path | str, course_dir: Path | str = COURSE_DIR, *, assignment: str | None = None,
        html: Path | str | None = None, grader: Grader | None = None, out: TextIO | None = None) -> int:
    """The ``course check`` command: 0 when the notebook was graded (whatever the score)."""
    out = out or sys.stdout
    try:
        result, secrets = check_notebook(notebook, course_dir, assignment=assignment, grader=grader)
    except CheckError as exc:
        print(f"course check: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # the grader could not run at all: say so, without a traceback of its internals
        _, source = find_source(notebook, course_dir, assignment)
        message = redact(f"{type(exc).__name__}: {exc}", secret_lines([source]))
        print(f"course check: grading {notebook} failed: {message}", file=sys.stderr)
        return 1
    print(render_text(result, secrets), file=out)
    isolation = getattr(result.notebooks[0], "isolation", "") if result.notebooks else ""
    if isolation:
        print(isolation, file=out)
    from course_tools.progress import record_check

    record_check(result.assignment, result.cells())   # the learner's own progress map (00_start.ipynb)
    if html:
        Path(html).parent.mkdir(parents=True, exist_ok=True)
        Path(html).write_text(render_html(result, secrets), encoding="utf-8")
        print(f"wrote {html}", file=out)
    return 0
