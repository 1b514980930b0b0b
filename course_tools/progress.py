"""A learner's own progress, per objective, kept in a plain local file (never in a notebook).

Two things are recorded, as the learner does them:

* **self-checks**: every answer checked in a lesson's quiz (``self_check`` widgets, ``check_answer``);
* **course check** results: the points earned per objective when ``course check`` grades the learner's
  own copy of a chapter assessment.

From those, each objective has one status, the highest it has reached:

* ``not started`` — nothing recorded;
* ``practised`` — at least one self-check answer or graded item touched it;
* ``self-checked`` — every self-check question on it has been answered right at least once;
* ``passed`` — in the learner's latest ``course check`` of an assessment, at least 75 % of the points of the
  items tagged with it.

The file is ``$COURSE_PROGRESS_FILE`` if set, else ``$XDG_DATA_HOME/backend-course/progress.json``
(``~/.local/share/...``): it survives a fresh clone and stays out of git. A missing or damaged file reads
as "nothing done yet" (a damaged one is set aside, not overwritten).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from course_tools.syllabus import CHAPTERS, OBJECTIVES

__all__ = ["progress_file", "record_self_check", "record_check", "load_events", "objective_status",
           "STATUSES", "PASS_FRACTION", "course_map", "ObjectiveProgress"]

STATUSES = ("not started", "practised", "self-checked", "passed")
PASS_FRACTION = 0.75


def progress_file() -> Path:
    explicit = os.environ.get("COURSE_PROGRESS_FILE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "backend-course" / "progress.json"


def load_events(path: Path | None = None) -> list[dict]:
    path = path or progress_file()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        events = data["events"]
        if not isinstance(events, list):
            raise ValueError("events is not a list")
        return [e for e in events if isinstance(e, dict) and "kind" in e]
    except FileNotFoundError:
        return []
    except (OSError, ValueError, KeyError, TypeError):
        try:   # keep the damaged file for the learner to look at; start afresh
            path.replace(path.with_suffix(f".damaged-{int(time.time())}.json"))
        except OSError:
            pass
        return []


def _append(event: dict, path: Path | None = None) -> None:
    path = path or progress_file()
    try:
        events = load_events(path)
        events.append({**event, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"version": 1, "events": events}, indent=1), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        pass  # progress is a convenience: never break a lesson because the file cannot be written


def record_self_check(key: str, objectives, correct: bool) -> None:
    """One checked answer to the self-check question ``key`` ("<slug>:<id>")."""
    _append({"kind": "self-check", "key": key, "objectives": [o for o in objectives if o in OBJECTIVES],
             "correct": bool(correct)})


def record_check(assignment: str, cells) -> None:
    """A ``course check`` result: ``cells`` are CellResult-like (objectives, points, max_points)."""
    per: dict[str, list[float]] = {}
    for c in cells:
        for o in getattr(c, "objectives", []) or []:
            if o in OBJECTIVES:
                got = per.setdefault(o, [0.0, 0.0])
                got[0] += float(c.points)
                got[1] += float(c.max_points)
    _append({"kind": "check", "assignment": assignment, "objectives": per})


@dataclass
class ObjectiveProgress:
    id: str
    status: str
    self_checks_right: int = 0
    self_checks_total: int = 0
    best_check: float | None = None      # fraction of points in the latest course check touching it


def _bank_questions_by_objective() -> dict[str, set[str]]:
    from course_tools.quiz.bank import bank_slugs, load_bank

    out: dict[str, set[str]] = {}
    for slug in bank_slugs():
        for bq in load_bank(slug):
            for o in bq.question.objectives:
                out.setdefault(o, set()).add(bq.key)
    return out


def objective_status(events: list[dict] | None = None) -> dict[str, ObjectiveProgress]:
    events = load_events() if events is None else events
    questions = _bank_questions_by_objective()
    right: dict[str, set[str]] = {}
    touched: set[str] = set()
    latest_check: dict[tuple[str, str], list[float]] = {}     # (assignment, objective) -> [points, max]
    for e in events:
        if e.get("kind") == "self-check":
            for o in e.get("objectives", []):
                touched.add(o)
                if e.get("correct"):
                    right.setdefault(o, set()).add(e.get("key"))
        elif e.get("kind") == "check":
            for o, pm in (e.get("objectives") or {}).items():
                touched.add(o)
                latest_check[(e.get("assignment"), o)] = pm     # later events replace earlier ones
    out = {}
    for oid in OBJECTIVES:
        fractions = [p / m for (a, o), (p, m) in latest_check.items() if o == oid and m]
        best = max(fractions) if fractions else None
        need = questions.get(oid, set())
        done = right.get(oid, set()) & need
        if best is not None and best >= PASS_FRACTION:
            status = "passed"
        elif need and done == need:
            status = "self-checked"
        elif oid in touched:
            status = "practised"
        else:
            status = "not started"
        out[oid] = ObjectiveProgress(oid, status, len(done), len(need), best)
    return out


def course_map(events: list[dict] | None = None, *, notebooks: Path | None = None) -> str:
    """The course map as text: chapters, objectives, minutes, whether the chapter is ready, and the
    learner's status per objective."""
    notebooks = notebooks or Path(__file__).resolve().parents[1] / "notebooks"
    status = objective_status(events)
    lines = []
    for ch in CHAPTERS:
        ready = (notebooks / f"{ch.slug}.ipynb").exists()
        star = " ★" if ch.core else ""
        lines.append(f"{ch.number} {ch.title}{star} — {ch.minutes} min — "
                     f"{'lesson ' + ch.slug + '.ipynb' if ready else 'planned'}")
        for o in ch.objectives:
            p = status[o.id]
            extra = f" (self-check {p.self_checks_right}/{p.self_checks_total})" if p.self_checks_total else ""
            lines.append(f"    {o.id}{' ★' if o.core else '  '} {p.status:<13}{extra}  {o.title}")
    counts = {s: sum(p.status == s for p in status.values()) for s in STATUSES}
    lines.append("")
    lines.append("  ".join(f"{s}: {n}" for s, n in counts.items()) + f"  (of {len(status)} objectives)")
    return "\n".join(lines)
