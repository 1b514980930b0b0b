"""Pass marks, "pass / not yet", the lesson section to revisit, and option explanations after grading.

An assessment with a pass mark stores it in its source notebook's metadata::

    {"metadata": {"course": {"pass_mark": 0.75}}}

(a fraction of the maximum score; the section assessment uses 0.75). A submission *passes*
when ``score >= pass_mark * max_score`` (exactly 75 % passes). Assessments without a pass
mark have no pass/fail: :func:`passed` returns ``None`` and exports leave the column blank.

Each graded cell of such an assessment may carry ``metadata.course.revisit``
(``{"title": ..., "href": ...}``, the lesson section that teaches it, also linked in its
prompt); ``course check`` lists it for every question that lost points. Multiple-choice
tests pass per-option explanations to ``check_choice(..., explanations={...})`` inside their
hidden part: a wrong answer's message explains the chosen option only, and
:func:`explanations` reads them back from the source so that feedback can show every
option's explanation for a question the learner got right (never for one they missed, so
the right option is never revealed).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from course_tools.grading import results as R

__all__ = ["pass_mark_of", "pass_mark", "passed", "verdict", "revisits", "explanations", "check_summary",
           "feedback_html"]

_HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\s*\n(.*?)### END HIDDEN TESTS", re.S)
_EPS = 1e-9


def _read(path: Path | str):
    import nbformat

    return nbformat.read(str(path), as_version=4)


def pass_mark_of(notebook: Path | str) -> float | None:
    """The pass mark stored in a source notebook (a fraction in (0, 1]), or None."""
    try:
        mark = _read(notebook).metadata.get("course", {}).get("pass_mark")
    except Exception:  # an unreadable source has no pass mark; grading reports the problem elsewhere
        return None
    if type(mark) in (int, float) and 0 < mark <= 1:
        return float(mark)
    return None


def _sources(course_dir: Path | str, assignment: str) -> list[Path]:
    return sorted((Path(course_dir) / "source" / assignment).glob("*.ipynb"))


def pass_mark(course_dir: Path | str, assignment: str) -> float | None:
    """The assignment's pass mark: that of its (first) source notebook that has one."""
    for path in _sources(course_dir, assignment):
        mark = pass_mark_of(path)
        if mark is not None:
            return mark
    return None


def passed(score: float, max_score: float, mark: float | None) -> bool | None:
    """True if ``score`` reaches ``mark`` of ``max_score`` (exactly at the mark passes); None without a mark."""
    if mark is None or not max_score:
        return None
    return score + _EPS >= mark * max_score


def verdict(ok: bool | None) -> str:
    return "" if ok is None else ("pass" if ok else "not yet")


def revisits(notebook: Path | str) -> dict[str, dict]:
    """``{grade_id: {"title", "href"}}`` of the graded cells that name a lesson section to revisit."""
    out = {}
    for cell in _read(notebook).cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        rv = cell.metadata.get("course", {}).get("revisit")
        if gid and isinstance(rv, dict) and rv.get("title"):
            out[gid] = {"title": str(rv["title"]), "href": str(rv.get("href", ""))}
    return out


def explanations(notebook: Path | str) -> dict[str, dict[str, str]]:
    """``{grade_id: {letter: explanation}}`` read from the ``check_choice(..., explanations={...})``
    calls in the hidden part of each test cell of a SOURCE notebook (instructor side only)."""
    out: dict[str, dict[str, str]] = {}
    for cell in _read(notebook).cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        for body in _HIDDEN.findall(cell.source):
            try:
                tree = ast.parse(body)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "check_choice":
                    for kw in node.keywords:
                        if kw.arg == "explanations":
                            try:
                                value = ast.literal_eval(kw.value)
                            except ValueError:
                                continue
                            if gid and isinstance(value, dict):
                                out[gid] = {str(k): str(v) for k, v in value.items()}
    return out


def _full(cell: R.CellResult) -> bool:
    return cell.status == "passed" and cell.points >= cell.max_points


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def check_summary(result: R.SubmissionResult, source: Path | str) -> str:
    """What ``course check`` adds for an assessment with a pass mark: pass / not yet, the lesson
    section to revisit for each question that lost points, and why each option is right or wrong
    for the questions answered right. Empty for an assessment without a pass mark."""
    mark = pass_mark_of(source)
    if mark is None or result.failed:
        return ""
    ok = passed(result.score, result.max_score, mark)
    need = mark * result.max_score
    lines = []
    expl = explanations(source)
    right = [c for c in result.cells() if _full(c) and c.grade_id in expl]
    if right:   # first, so that the verdict and what to revisit end the output
        lines.append("Why each option is right or wrong, for the multiple-choice questions you answered right:")
        for c in right:
            lines.append(f"  {c.grade_id}:")
            lines += [f"    ({k}) {v}" for k, v in sorted(expl[c.grade_id].items())]
    lines.append(f"Result: {verdict(ok).upper()} — {result.score:g} / {result.max_score:g} points "
                 f"({_pct(result.score / result.max_score if result.max_score else 0)}); the pass mark is "
                 f"{_pct(mark)} ({need:g} points).")
    where = revisits(source)
    missed = [c for c in result.cells() if not _full(c)]
    if missed:
        lines.append("To revisit (questions that lost points):")
        for c in missed:
            rv = where.get(c.grade_id)
            title = rv["title"] if rv else "the lesson of objective(s) " + ", ".join(c.objectives)
            href = f" — notebooks/{rv['href'].lstrip('./')}" if rv and rv.get("href") else ""
            lines.append(f"  - {c.grade_id}: {title}{href}")
    return "\n".join(lines)


def feedback_html(result: R.SubmissionResult, source: Path | str) -> str:
    """The same as :func:`check_summary`, as an escaped HTML fragment for ``course feedback``."""
    import html

    text = check_summary(result, source)
    return f'<h2>Pass mark and what to revisit</h2><pre>{html.escape(text)}</pre>' if text else ""
