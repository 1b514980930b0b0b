"""From a source notebook and a student's file to the list of cells a worker executes.

Runs in the trusted instructor process and never executes anything. The student's file is
read defensively (size, JSON, nesting depth, nbformat, missing metadata); every test and
locked cell is taken from the SOURCE notebook by ``grade_id``, whatever the student did to
their copy:

* edited test/locked cell → the source version runs;
* duplicated → only the first copy runs;
* metadata stripped → recognised by its text (the student version of the source cell);
* deleted test cell → not run; it counts as failed (status ``missing``), never as "needs manual";
* deleted locked cell → re-inserted where the source has it;
* flipped flags (``grade``, ``solution``, ``points``) → ignored: roles and points come from the source;
* cells the student added → run as student code; unknown kernelspec → ignored (always Python).
"""

from __future__ import annotations

import ast
import builtins
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["SourceCell", "SourceNotebook", "Plan", "PlanError", "load_source", "make_plan", "read_notebook_json"]

MAX_BYTES = 20 << 20
MAX_DEPTH = 64
_HIDDEN = re.compile(r"[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.S)


class PlanError(Exception):
    """The student's file cannot be graded; the message says what the instructor can do."""


@dataclass
class SourceCell:
    index: int
    role: str                 # "test" | "manual" | "solution" | "locked" | "plain" | "markdown"
    grade_id: str | None
    source: str
    points: float = 0.0
    objectives: list[str] = field(default_factory=list)
    cell_type: str = "code"


@dataclass
class SourceNotebook:
    name: str                 # file stem
    filename: str
    cells: list[SourceCell]
    hidden_modules: list[str] = field(default_factory=list)   # metadata.course.hidden_modules: not importable by S

    @property
    def by_id(self) -> dict[str, SourceCell]:
        return {c.grade_id: c for c in self.cells if c.grade_id}

    @property
    def graded(self) -> list[SourceCell]:
        return [c for c in self.cells if c.role in ("test", "manual")]

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.graded)

    def base_imports(self) -> str:
        """The top-level import statements of the source's locked and plain code cells (instructor
        text): every test's namespace in the clean process starts with them, so a name such as
        ``Response`` or ``Acquire`` that a test reads is the course's own, not the student's."""
        out = []
        for c in self.cells:
            if c.cell_type != "code" or c.role not in ("locked", "plain"):
                continue
            try:
                tree = ast.parse(c.source)
            except SyntaxError:
                continue
            out += [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        return "\n".join(out)

    def preload(self) -> list[str]:
        """Modules the source's code cells import (the worker imports them once, before forking,
        so that no test or replay pays for the import again)."""
        mods: set[str] = set()
        for c in self.cells:
            if c.cell_type != "code":
                continue
            try:
                tree = ast.parse(c.source)
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    mods.update(a.name for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    mods.add(node.module)
        return sorted(mods)


def _text(src) -> str:
    if isinstance(src, list):
        return "".join(s for s in src if isinstance(s, str))
    return src if isinstance(src, str) else ""


def _depth_ok(text: str) -> bool:
    """Reject absurd nesting before json.loads can hit the recursion limit."""
    depth = best = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def read_notebook_json(data: bytes, filename: str) -> dict:
    """Parse a student's notebook file, or raise PlanError with an actionable reason."""
    if len(data) > MAX_BYTES:
        raise PlanError(f"{filename} is {len(data) >> 20} MB (limit {MAX_BYTES >> 20} MB): clear its outputs "
                        "(Edit > Clear Outputs of All Cells), save, and resubmit")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PlanError(f"{filename} is not UTF-8 text, so not a notebook: ask the student to resubmit the .ipynb "
                        "file saved by Jupyter") from None
    if not _depth_ok(text):
        raise PlanError(f"{filename} is not a valid notebook (JSON nested more than {MAX_DEPTH} levels deep): "
                        "ask the student to resubmit a fresh copy")
    try:
        nb = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise PlanError(f"{filename} is not valid JSON ({str(exc)[:120]}): the file is damaged; ask the student "
                        "to re-download the assignment, copy their answers in, and resubmit") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells", None), list):
        if isinstance(nb, dict) and "worksheets" in nb:
            try:
                import nbformat
                return json.loads(nbformat.writes(nbformat.reads(text, as_version=4)))
            except Exception:
                pass
        raise PlanError(f"{filename} has no list of cells, so it is not a Jupyter notebook (nbformat 4): ask the "
                        "student to resubmit the .ipynb file")
    major = nb.get("nbformat", 4)
    if major != 4:
        raise PlanError(f"{filename} uses nbformat {major!r}; only nbformat 4 is supported: open it in "
                        "JupyterLab/Notebook 7 and save it again, or resubmit")
    return nb


def _cell_role(cell: dict) -> tuple[str, str | None, float]:
    meta = cell.get("metadata") if isinstance(cell.get("metadata"), dict) else {}
    ng = meta.get("nbgrader") if isinstance(meta.get("nbgrader"), dict) else {}
    gid = ng.get("grade_id") if isinstance(ng.get("grade_id"), str) else None
    grade, sol, locked = bool(ng.get("grade")), bool(ng.get("solution")), bool(ng.get("locked"))
    if ng.get("task"):
        return "manual", gid, float(ng.get("points") or 0)
    if grade and sol:
        return "manual", gid, float(ng.get("points") or 0)
    if grade:
        return "test", gid, float(ng.get("points") or 0)
    if sol:
        return "solution", gid, 0.0
    if locked:
        return "locked", gid, 0.0
    return "plain", None, 0.0


def load_source(path: Path | str) -> SourceNotebook:
    path = Path(path)
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = []
    for i, c in enumerate(nb.get("cells", [])):
        role, gid, points = _cell_role(c)
        if c.get("cell_type") != "code" and role not in ("manual",):
            role = "markdown"
        meta = c.get("metadata") or {}
        objectives = list(((meta.get("course") or {}).get("objectives")) or [])
        cells.append(SourceCell(i, role, gid, _text(c.get("source")), points, objectives, c.get("cell_type", "code")))
    course_meta = (nb.get("metadata") or {}).get("course") or {}
    hidden = [m for m in course_meta.get("hidden_modules") or [] if isinstance(m, str)]
    return SourceNotebook(path.stem, path.name, cells, hidden)


def _norm(s: str) -> str:
    return "\n".join(line.rstrip() for line in s.strip().splitlines())


def student_version(source: str) -> str:
    return _HIDDEN.sub("", source)


_BUILTINS = set(dir(builtins))


def free_names(source: str) -> list[str] | None:
    """Names a test reads that it does not bind itself (None if the cell is not plain Python)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    bound: set[str] = set()
    loaded: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            if not isinstance(node, ast.ClassDef):
                a = node.args
                bound.update(x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs])
                bound.update(x.arg for x in (a.vararg, a.kwarg) if x)
        elif isinstance(node, ast.Lambda):
            a = node.args
            bound.update(x.arg for x in [*a.posonlyargs, *a.args, *a.kwonlyargs])
            bound.update(x.arg for x in (a.vararg, a.kwarg) if x)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    return sorted(n for n in loaded - bound if n not in _BUILTINS)


def defines_names(source: str) -> bool:
    """Does a test cell define top-level functions or classes (helpers later cells may use)?
    Such a cell is also run in the student's process after its verdict, as nbgrader would."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) for n in tree.body)


@dataclass
class Plan:
    notebook: str
    cells: list[dict]                  # sent to the worker
    missing: list[str]                 # grade_ids of deleted test cells
    warnings: list[str]


def make_plan(src: SourceNotebook, student: dict) -> Plan:
    """The cells to execute, in the student's order, with tests and locked cells from the source."""
    by_id = src.by_id
    restorable = [c for c in src.cells if c.grade_id and c.role in ("test", "locked")]
    by_text: dict[str, SourceCell] = {}
    for c in restorable:
        for t in (c.source, student_version(c.source)):
            by_text.setdefault(_norm(t), c)
    warnings: list[str] = []
    seen: set[str] = set()
    items: list[tuple[int, dict]] = []      # (source index or -1, cell)

    def emit(sc: SourceCell | None, source: str, kind: str, label: str, student: bool = False) -> None:
        cell = {"kind": kind, "source": source, "label": label}
        if student:
            cell["student"] = True        # the student's own text (static checks read it)
        if sc is not None:
            cell["grade_id"] = sc.grade_id
        if kind == "test":
            cell["free"] = free_names(source)
            cell["defines"] = defines_names(source)
        items.append((sc.index if sc else -1, cell))

    student_cells = student.get("cells") or []
    kernel = ((student.get("metadata") or {}).get("kernelspec") or {}) if isinstance(student.get("metadata"), dict) else {}
    if isinstance(kernel, dict) and kernel.get("name") not in (None, "python3", "python"):
        warnings.append(f"kernelspec {str(kernel.get('name'))[:40]!r} ignored: graded with Python 3")
    for n, cell in enumerate(student_cells):
        if not isinstance(cell, dict):
            continue
        text = _text(cell.get("source"))
        _, gid, _ = _cell_role(cell)
        sc = by_id.get(gid) if gid else None
        if cell.get("cell_type") != "code":
            if sc is None or sc.role not in ("test", "locked") or sc.cell_type != "code":
                continue       # markdown stays markdown; a test turned into markdown is restored below
            warnings.append(f"{sc.grade_id}: the cell was turned into {str(cell.get('cell_type'))[:20]}; restored")
        if sc is None:
            sc = by_text.get(_norm(text)) if text.strip() else None
            if sc is not None and sc.grade_id in seen:
                sc = None
                continue  # an untagged copy of a test already placed: drop it
            if sc is not None:
                warnings.append(f"{sc.grade_id}: metadata was missing; recognised and restored from the source")
        label = f"cell {n + 1}" + (f" ({sc.grade_id})" if sc else "")
        if sc is None:
            emit(None, text, "code", label, student=True)
            continue
        if sc.grade_id in seen:
            warnings.append(f"{sc.grade_id}: duplicated cell ignored")
            continue
        seen.add(sc.grade_id)
        if sc.role == "test":
            if _norm(text) not in (_norm(sc.source), _norm(student_version(sc.source))):
                warnings.append(f"{sc.grade_id}: test cell was edited; the original was restored")
            emit(sc, sc.source, "test", label)
        elif sc.role == "locked":
            emit(sc, sc.source, "code", label)
        elif sc.role == "solution":
            emit(sc, text, "code", label, student=True)
        else:  # a manual-graded code cell: run the student's code, graded by a person
            emit(sc, text, "code", label, student=True)
    # deleted locked cells go back where the source has them
    for sc in src.cells:
        if sc.role == "locked" and sc.cell_type == "code" and sc.grade_id not in seen:
            pos = 0
            for k, (idx, _) in enumerate(items):
                if 0 <= idx < sc.index:
                    pos = k + 1
            items.insert(pos, (sc.index, {"kind": "code", "source": sc.source, "grade_id": sc.grade_id,
                                          "label": f"restored locked cell {sc.grade_id}"}))
            warnings.append(f"{sc.grade_id}: locked cell was deleted; restored")
    missing = [c.grade_id for c in src.cells if c.role == "test" and c.grade_id not in seen]
    for gid in missing:
        warnings.append(f"{gid}: test cell was deleted; it counts as failed")
    return Plan(src.name, [c for _, c in items], missing, warnings)
