"""Build lesson and assessment notebooks from Python, with correct nbgrader metadata.

Authors (not learners) use this to write a notebook once; the committed ``.ipynb`` is then
the source, edited in JupyterLab like any other. Every graded cell carries its objective
ids in ``metadata.course.objectives`` so that reports can show mastery per objective.

    nb = notebook([
        md("# Caching quiz"),
        solution("answer_1 = None  # 'a', 'b', 'c' or 'd'", "### BEGIN SOLUTION\\nanswer_1 = 'b'\\n### END SOLUTION",
                 grade_id="q1_answer", objectives=["2.8.1"]),
        tests("...visible checks...\\n### BEGIN HIDDEN TESTS\\n...\\n### END HIDDEN TESTS",
              grade_id="q1_test", points=1, objectives=["2.8.1"]),
    ])
    write(nb, "notebooks/assessments/source/08_caching/08_caching.ipynb")
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Iterable, Sequence

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course_tools.syllabus import OBJECTIVES

__all__ = ["md", "code", "solution", "tests", "readonly", "notebook", "write", "strip_outputs"]

SCHEMA_VERSION = 3
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def _clean(src: str) -> str:
    return textwrap.dedent(src).strip("\n")


def _objectives(ids: Iterable[str]) -> list[str]:
    ids = list(ids)
    unknown = [i for i in ids if i not in OBJECTIVES]
    if unknown or not ids:
        raise ValueError(f"graded cells need known objective ids, got {ids!r}")
    return ids


def md(text: str, **metadata) -> nbformat.NotebookNode:
    return new_markdown_cell(_clean(text), metadata=metadata)


def code(src: str, **metadata) -> nbformat.NotebookNode:
    return new_code_cell(_clean(src), metadata=metadata)


def _nbgrader(grade_id: str, *, grade: bool, solution: bool, locked: bool, points: float | None = None,
              task: bool = False) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": SCHEMA_VERSION,
            "solution": solution, "task": task}
    if grade:
        meta["points"] = points
    return meta


def solution(src: str, *, grade_id: str, objectives: Sequence[str]) -> nbformat.NotebookNode:
    """An answer cell: the part between ``### BEGIN SOLUTION``/``### END SOLUTION`` is
    replaced by a stub in the student version."""
    return new_code_cell(_clean(src), metadata={
        "nbgrader": _nbgrader(grade_id, grade=False, solution=True, locked=False),
        "course": {"objectives": _objectives(objectives)},
    })


def tests(src: str, *, grade_id: str, points: float, objectives: Sequence[str]) -> nbformat.NotebookNode:
    """An autograder test cell worth ``points``; ``### BEGIN HIDDEN TESTS`` blocks are
    removed from the student version and restored when grading."""
    if points <= 0:
        raise ValueError("a test cell must be worth points")
    return new_code_cell(_clean(src), metadata={
        "nbgrader": _nbgrader(grade_id, grade=True, solution=False, locked=True, points=points),
        "course": {"objectives": _objectives(objectives)},
    })


def readonly(src: str, *, grade_id: str, markdown: bool = False) -> nbformat.NotebookNode:
    """A cell students cannot change (instructions, imports the tests rely on)."""
    make = new_markdown_cell if markdown else new_code_cell
    return make(_clean(src), metadata={"nbgrader": _nbgrader(grade_id, grade=False, solution=False, locked=True)})


def notebook(cells: Sequence[nbformat.NotebookNode], **metadata) -> nbformat.NotebookNode:
    nb = new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata.update(metadata)
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes:
        raise ValueError(f"duplicate grade_id(s): {sorted(dupes)}")
    return nb


def strip_outputs(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Remove outputs and execution counts (committed notebooks carry none)."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
    return nb


def write(nb: nbformat.NotebookNode, path: str | Path) -> Path:
    """Validate, strip outputs and write with stable formatting (1-space indent, sorted keys)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    strip_outputs(nb)
    nbformat.validate(nb)
    text = json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")
    return path
