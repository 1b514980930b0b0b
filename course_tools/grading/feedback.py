"""Per-student feedback from grading results: HTML files for the class, text for ``course check``.

``course feedback ASSIGNMENT`` writes ``feedback/<student>/<assignment>/feedback.html``
for every result in ``grades/<assignment>/``: the score, then per question the points,
the objective ids (with their titles from the syllabus), and the hint or message the
test gave; then the points per objective. It never shows the source of a hidden test or of a solution: messages are
filtered against the source notebook's hidden and solution lines (a traceback that
quotes a hidden line loses that line), and every string is HTML-escaped, since student
ids, outputs and messages are student-controlled.
"""

from __future__ import annotations

import html
import os
import re
import tempfile
from pathlib import Path
from typing import Iterable, TextIO

from course_tools.grading import ids
from course_tools.grading import results as R
from course_tools.grading.nbgrader_io import COURSE_DIR
from course_tools.syllabus import OBJECTIVES

__all__ = ["secret_lines", "redact", "render_html", "render_text", "write_feedback", "feedback_path", "run",
           "REDACTED", "score_text", "per_objective"]

REDACTED = "[a line of a hidden test is not shown]"
_BLOCK = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\s*\n(.*?)### END \1", re.S)
_MIN_SECRET = 8   # shorter lines ("pass", "x = 1") are too generic to be secrets


def secret_lines(source_notebooks: Iterable[Path | str]) -> set[str]:
    """Stripped lines of every hidden-test and solution block of the given source notebooks."""
    import nbformat

    out: set[str] = set()
    for path in source_notebooks:
        try:
            nb = nbformat.read(str(path), as_version=4)
        except Exception:  # an unreadable source hides nothing more; feedback still escapes
            continue
        for cell in nb.cells:
            for _kind, body in _BLOCK.findall(cell.source):
                out.update(s for s in (line.strip() for line in body.splitlines()) if len(s) >= _MIN_SECRET)
    return out


def _source_notebooks(course_dir: Path, assignment: str) -> list[Path]:
    return sorted((Path(course_dir) / "source" / assignment).glob("*.ipynb"))


def redact(message: str, secrets: set[str]) -> str:
    """``message`` with every line that quotes a secret line replaced by :data:`REDACTED`."""
    if not secrets or not message:
        return message
    lines = []
    for line in message.splitlines():
        lines.append(REDACTED if any(s in line for s in secrets) else line)
    return "\n".join(lines)


def _num(x: float) -> str:
    return f"{round(float(x), 6):g}"


def score_text(result: R.SubmissionResult) -> str:
    """``"3 / 5"`` when graded; the status otherwise (a failed submission has no score, not 0)."""
    if result.failed:
        return "no score"
    text = f"{_num(result.score)} / {_num(result.max_score)}"
    return text + " (so far: needs manual grading)" if result.status == R.NEEDS_MANUAL else text


def _objectives(ids: list[str]) -> list[tuple[str, str]]:
    return [(i, OBJECTIVES[i].title if i in OBJECTIVES else "") for i in ids]


def per_objective(result: R.SubmissionResult) -> list[tuple[str, str, float, float]]:
    """``(id, title, earned, possible)`` per objective, over the cells graded so far (not ``manual``)."""
    acc: dict[str, list[float]] = {}
    for c in result.cells():
        if c.status == "manual":
            continue
        for o in c.objectives:
            a = acc.setdefault(o, [0.0, 0.0])
            a[0] += c.points
            a[1] += c.max_points
    key = lambda o: [int(p) if p.isdigit() else 0 for p in o.split(".")]  # noqa: E731
    return [(o, OBJECTIVES[o].title if o in OBJECTIVES else "", e, p) for o, (e, p) in sorted(acc.items(),
                                                                                            key=lambda kv: key(kv[0]))]


_STATUS_WORD = {"passed": "passed", "failed": "failed", "error": "error", "timeout": "timed out",
                "missing": "test cell missing", "manual": "to be graded by hand"}


def render_text(result: R.SubmissionResult, secrets: set[str] = frozenset()) -> str:
    """The learner's feedback as plain text (``course check``)."""
    out = [f"{result.assignment} — {result.student}: {score_text(result)}"]
    if result.status != R.GRADED:
        out.append(f"status: {redact(result.status, secrets)}")
    for nb in result.notebooks:
        if len(result.notebooks) > 1:
            out.append(f"\n{nb.name}: {_num(nb.score)} / {_num(nb.max_score)}")
        for c in nb.cells:
            full = c.status == "passed" and c.points >= c.max_points
            mark = "✓" if full else "?" if c.status == "manual" else "✗"
            objs = ", ".join(c.objectives)
            out.append(f"  {mark} {c.grade_id:<24} {_num(c.points):>4} / {_num(c.max_points):<4} "
                       f"{_STATUS_WORD.get(c.status, c.status):<10} {('objectives ' + objs) if objs else ''}".rstrip())
            msg = redact(c.message, secrets).strip()
            if msg:
                out += ["      " + line for line in msg.splitlines()]
    objs = per_objective(result) if not result.failed else []
    if objs:
        out.append("by objective:")
        out += [f"  {i:<7} {_num(e):>4} / {_num(p):<4} {t}" for i, t, e, p in objs]
    for w in result.warnings:
        out.append(f"note: {redact(w, secrets)}")
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem} table{border-collapse:collapse;width:100%;margin:1rem 0}
th,td{border-bottom:1px solid #ddd;padding:.4rem;text-align:left;vertical-align:top}
td.pts{white-space:nowrap;text-align:right} .passed{color:#009E73} .manual{color:#666}
.failed,.error,.timeout,.missing{color:#D55E00}
pre{white-space:pre-wrap;margin:0;font-size:.9em;background:#f6f6f6;padding:.4rem}
.status{padding:.6rem;background:#fff3e0;border-left:4px solid #E69F00} small{color:#666}
"""


def render_html(result: R.SubmissionResult, secrets: set[str] = frozenset()) -> str:
    """A self-contained HTML page (no scripts, no external resources); everything escaped."""
    e = lambda s: html.escape(str(s), quote=True)  # noqa: E731
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">',
        f"<title>Feedback: {e(result.assignment)} — {e(result.student)}</title><style>{_CSS}</style></head><body>",
        f"<h1>Feedback: {e(result.assignment)}</h1>",
        f"<p>Student: <b>{e(result.student)}</b><br>Score: <b>{e(score_text(result))}</b></p>",
    ]
    if result.status != R.GRADED:
        parts.append(f'<p class="status">Status: {e(redact(result.status, secrets))}</p>')
    for nb in result.notebooks:
        parts.append(f"<h2>{e(nb.name)} <small>{e(_num(nb.score))} / {e(_num(nb.max_score))}</small></h2>")
        parts.append("<table><thead><tr><th>Question</th><th>Points</th><th>Result</th><th>Objectives</th>"
                     "<th>Hint / message</th></tr></thead><tbody>")
        for c in nb.cells:
            objs = "<br>".join(f"<b>{e(i)}</b> {e(t)}" for i, t in _objectives(c.objectives))
            msg = redact(c.message, secrets).strip()
            parts.append(
                f"<tr><td>{e(c.grade_id)}</td><td class=\"pts\">{e(_num(c.points))} / {e(_num(c.max_points))}</td>"
                f'<td class="{e(c.status if c.status in _STATUS_WORD else "error")}">'
                f"{e(_STATUS_WORD.get(c.status, c.status))}</td><td>{objs}</td>"
                f"<td>{'<pre>' + e(msg) + '</pre>' if msg else ''}</td></tr>")
        parts.append("</tbody></table>")
    objs = per_objective(result) if not result.failed else []
    if objs:
        parts.append("<h2>By learning objective</h2><table><thead><tr><th>Objective</th><th>Points</th></tr></thead>"
                     "<tbody>" + "".join(f"<tr><td><b>{e(i)}</b> {e(t)}</td><td class=\"pts\">{e(_num(got))} / "
                                         f"{e(_num(pos))}</td></tr>" for i, t, got, pos in objs) + "</tbody></table>")
    if result.warnings:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(redact(w, secrets))}</li>" for w in result.warnings)
                     + "</ul>")
    if result.graded_at:
        parts.append(f"<p><small>Graded {e(result.graded_at)}</small></p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def feedback_path(course_dir: Path | str, assignment: str, student: str) -> Path:
    why = ids.problem(student)
    if why is not None:       # the file name comes from the student id: never let it point anywhere else
        raise ValueError(f"student id {ids.shown(student)}: {why}")
    return Path(course_dir) / "feedback" / student / assignment / "feedback.html"


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".html")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _class(course_dir: Path, assignment: str):
    from course_tools.grading.export import class_results

    return class_results(course_dir, assignment)


def write_feedback(course_dir: Path | str, assignment: str, students: Iterable[str] | None = None) -> list[Path]:
    """Write ``feedback/<student>/<assignment>/feedback.html`` for each result; return the paths."""
    course_dir = Path(course_dir)
    secrets = secret_lines(_source_notebooks(course_dir, assignment))
    wanted = set(students) if students else None
    written = []
    for result in _class(course_dir, assignment).results:  # a broken file costs only its student
        if wanted is not None and result.student not in wanted:
            continue
        if not ids.is_valid(result.student):     # class_results already refused such names
            continue
        path = feedback_path(course_dir, assignment, result.student)
        _write_text(path, render_html(result, secrets))
        written.append(path)
    return written


def run(assignment: str, course_dir: Path | str = COURSE_DIR, *, students: list[str] | None = None,
        out: TextIO | None = None) -> int:
    """The ``course feedback`` command."""
    import sys

    out = out or sys.stdout
    paths = write_feedback(course_dir, assignment, students)
    for p in paths:
        print(f"wrote {p}", file=out)
    if not paths:
        print(f"no grading results under {Path(course_dir) / 'grades' / assignment} (run course autograde first)",
              file=sys.stderr)
        return 1
    print(f"{len(paths)} feedback file(s) for {assignment}", file=out)
    c = _class(Path(course_dir), assignment)
    for student, reason in sorted(c.broken.items()):
        print(f"no feedback for {student}: {reason}", file=out)
    for student in c.ungraded:
        print(f"no feedback for {student}: submitted but not graded yet (run course autograde)", file=out)
    for where, why in c.refused:
        print(f"skipped {where}: {why}", file=out)
    return 0
