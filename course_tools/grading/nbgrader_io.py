"""nbgrader, driven in-process: generate student versions, autograde, read scores.

These are the plain functions the ``course`` CLI and the tests share. Each takes the
course directory (the folder with ``source/``) explicitly, so an instructor can keep a
private course anywhere; nothing here reads the current working directory.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import nbformat

__all__ = [
    "COURSE_DIR", "assignments", "make_config", "generate_student_version", "autograde_submission",
    "notebook_scores", "find_leaks", "LeakError", "RoundTrip", "roundtrip", "CellScore", "NotebookScore",
]

COURSE_DIR = Path(__file__).resolve().parents[2] / "notebooks" / "assessments"

_BLOCK = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\s*\n(.*?)### END \1", re.S)


def assignments(course_dir: Path | str = COURSE_DIR) -> list[str]:
    """Assignment names: the folders of ``source/`` that hold a notebook."""
    src = Path(course_dir) / "source"
    return sorted(p.name for p in src.iterdir() if p.is_dir() and any(p.glob("*.ipynb"))) if src.is_dir() else []


def make_config(course_dir: Path | str, db_path: Path | str | None = None):
    """A traitlets Config equivalent to the course's nbgrader_config.py, rooted at ``course_dir``."""
    from traitlets.config import Config

    course_dir = Path(course_dir).resolve()
    c = Config()
    c.CourseDirectory.root = str(course_dir)
    c.CourseDirectory.course_id = "backend-engineering"
    c.CourseDirectory.db_url = "sqlite:///" + str(Path(db_path or course_dir / "gradebook.db").resolve())
    c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
    c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
    c.ExecutePreprocessor.timeout = 60
    c.ExecutePreprocessor.interrupt_on_timeout = True
    c.Exchange.root = str(course_dir / ".exchange")  # never the system-wide /srv/nbgrader/exchange
    return c


def _ensure_env_bin_on_path() -> None:
    """nbgrader runs ``alembic`` by name: make this interpreter's ``bin/`` findable even
    when the virtual environment was not activated (``.venv/bin/python -m pytest``)."""
    bindir = str(Path(sys.executable).parent)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if bindir not in parts:
        os.environ["PATH"] = os.pathsep.join([bindir, *parts])


def _api(course_dir: Path | str, db_path: Path | str | None = None):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    _ensure_env_bin_on_path()
    config = make_config(course_dir, db_path)
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    """nbgrader logs through traitlets' root logger; keep it out of a learner's notebook output."""
    logger = logging.getLogger("traitlets")
    old = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(old)


class NbgraderError(RuntimeError):
    pass


class LeakError(RuntimeError):
    """A student version would show solution or hidden-test text."""


def _check(result: dict, what: str) -> None:
    if not result.get("success"):
        raise NbgraderError(f"nbgrader {what} failed:\n{result.get('error') or ''}\n{result.get('log') or ''}".strip())


def find_leaks(source_nb: nbformat.NotebookNode, student_nb: nbformat.NotebookNode) -> list[str]:
    """Lines of solution or hidden-test blocks in ``source_nb`` that appear in ``student_nb``."""
    student_text = "\n".join(c.source for c in student_nb.cells)
    leaks = []
    if "BEGIN SOLUTION" in student_text or "BEGIN HIDDEN TESTS" in student_text:
        leaks.append("a BEGIN SOLUTION / BEGIN HIDDEN TESTS marker")
    student_lines = {line.strip() for line in student_text.splitlines()}
    for cell in source_nb.cells:
        for _kind, body in _BLOCK.findall(cell.source):
            for line in body.splitlines():
                s = line.strip()
                # short or generic lines ("pass", "return x", "}") may legitimately appear in stubs
                if len(s) >= 12 and not s.startswith("#") and s in student_lines:
                    leaks.append(s)
    leaks += [f"the text {t!r}" for t in _literal_leaks(source_nb, student_nb) if t not in leaks]
    return leaks


MIN_SECRET_LITERAL = 40   # a hidden string this long (an explanation, a message) is specific; a status phrase is not


def _hidden_literals(body: str) -> set[str]:
    """String constants written in one solution / hidden-test block (by parsing it; by quotes if it does not parse)."""
    import ast
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(body))
        found = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    except SyntaxError:
        found = {m.group(2) for m in re.finditer(r"([\"'])((?:(?!\1).){%d,}?)\1" % MIN_SECRET_LITERAL, body)}
    return {t.strip() for t in found if len(t.strip()) >= MIN_SECRET_LITERAL}


def _literal_leaks(source_nb: nbformat.NotebookNode, student_nb: nbformat.NotebookNode) -> list[str]:
    """Hidden string literals (e.g. per-option explanations passed to check_choice) that appear ANYWHERE
    in the student version: inside a longer line, in a Markdown cell, an output, or metadata."""
    import json

    secrets: set[str] = set()
    for cell in source_nb.cells:
        for _kind, body in _BLOCK.findall(cell.source):
            secrets |= _hidden_literals(body)
    if not secrets:
        return []
    parts = [json.dumps(student_nb.get("metadata", {}), ensure_ascii=False)]
    for cell in student_nb.cells:
        parts.append(cell.source)
        parts.append(json.dumps(cell.get("metadata", {}), ensure_ascii=False))
        parts.append(json.dumps(cell.get("outputs", []), ensure_ascii=False))
    haystack = "\n".join(parts)
    return sorted(t for t in secrets if t in haystack)


def generate_student_version(course_dir: Path | str, assignment: str, *, db_path: Path | str | None = None,
                             check_leaks: bool = True) -> list[Path]:
    """Build ``release/<assignment>/`` from ``source/<assignment>/``; refuse if anything leaks."""
    course_dir = Path(course_dir)
    with _quiet_logs():
        _check(_api(course_dir, db_path).generate_assignment(assignment, force=True, create=True), "generate_assignment")
    released = sorted((course_dir / "release" / assignment).glob("*.ipynb"))
    if check_leaks:
        for student_path in released:
            source_path = course_dir / "source" / assignment / student_path.name
            leaks = find_leaks(nbformat.read(source_path, as_version=4), nbformat.read(student_path, as_version=4))
            if leaks:
                shutil.rmtree(course_dir / "release" / assignment, ignore_errors=True)
                raise LeakError(f"{assignment}/{student_path.name} would leak: " + "; ".join(leaks[:5]))
    return released


def autograde_submission(course_dir: Path | str, assignment: str, student: str, *,
                         db_path: Path | str | None = None) -> None:
    """Run nbgrader autograde for one student's ``submitted/<student>/<assignment>/``."""
    with _quiet_logs():
        _check(_api(course_dir, db_path).autograde(assignment, student, force=True, create=True), "autograde")


@dataclass(frozen=True)
class CellScore:
    grade_id: str
    score: float
    max_score: float
    needs_manual_grade: bool


@dataclass(frozen=True)
class NotebookScore:
    notebook: str
    score: float
    max_score: float
    needs_manual_grade: bool
    cells: tuple[CellScore, ...] = field(default=())


def notebook_scores(db_path: Path | str, assignment: str, student: str) -> list[NotebookScore]:
    """Scores of one student's notebooks for one assignment, read from the gradebook."""
    from nbgrader.api import Gradebook

    out = []
    with Gradebook("sqlite:///" + str(Path(db_path).resolve())) as gb:
        submission = gb.find_submission(assignment, student)
        for nb in submission.notebooks:
            cells = tuple(
                CellScore(g.name, float(g.score), float(g.max_score), bool(g.needs_manual_grade))
                for g in sorted(nb.grades, key=lambda g: g.name)
            )
            out.append(NotebookScore(nb.name, float(nb.score), float(nb.max_score), bool(nb.needs_manual_grade), cells))
    return out


@dataclass(frozen=True)
class RoundTrip:
    assignment: str
    solution: list[NotebookScore]
    student: list[NotebookScore]
    released: list[Path]

    @property
    def max_score(self) -> float:
        return sum(n.max_score for n in self.solution)


def roundtrip(assignment: str, course_dir: Path | str = COURSE_DIR, workdir: Path | str | None = None) -> RoundTrip:
    """Copy ``source/<assignment>`` to a scratch course, generate the student version, then
    autograde the source (as student ``solution``) and the untouched student version
    (as student ``untouched``). Nothing is written to ``course_dir``."""
    with contextlib.ExitStack() as stack:
        root = Path(workdir) if workdir else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="course-rt-")))
        scratch = root / "course"
        shutil.copytree(Path(course_dir) / "source" / assignment, scratch / "source" / assignment)
        db = scratch / "gradebook.db"
        released = generate_student_version(scratch, assignment, db_path=db)
        for student, files in (("solution", sorted((scratch / "source" / assignment).glob("*.ipynb"))),
                               ("untouched", released)):
            dest = scratch / "submitted" / student / assignment
            dest.mkdir(parents=True)
            for f in files:
                shutil.copy(f, dest / f.name)
            autograde_submission(scratch, assignment, student, db_path=db)
        return RoundTrip(assignment, notebook_scores(db, assignment, "solution"),
                         notebook_scores(db, assignment, "untouched"), [p.relative_to(scratch) for p in released])
