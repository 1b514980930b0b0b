"""Are the committed notebooks clean, complete lessons and well-formed assessments?

Running them is nbval's job (the notebooks are collected by pytest with --nbval-lax);
these tests check what running cannot: structure, metadata and hygiene.
"""

import re
from pathlib import Path

import nbformat
import pytest

from course_tools.grading.nbgrader_io import COURSE_DIR, assignments
from course_tools.syllabus import CHAPTERS, OBJECTIVES

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
GENERATED = {"release", "submitted", "autograded", "feedback", ".ipynb_checkpoints"}

LESSONS = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb") if p.name != "00_start.ipynb")
ALL_NOTEBOOKS = [p for p in NOTEBOOKS.rglob("*.ipynb") if not GENERATED & set(p.relative_to(NOTEBOOKS).parts)]
CHAPTER_BY_SLUG = {c.slug: c for c in CHAPTERS}


def _id(p: Path) -> str:
    return str(p.relative_to(ROOT))


def test_there_are_lessons_and_assessments():
    assert LESSONS, "no lesson notebooks found"
    assert assignments(COURSE_DIR), "no assessment sources found"


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=_id)
def test_committed_without_outputs(path):
    """Notebooks are committed stripped, so diffs stay readable."""
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"cells {dirty} carry outputs: run `python -m course_tools.authoring` or clear outputs"
    nbformat.validate(nb)


@pytest.mark.parametrize("path", LESSONS, ids=_id)
def test_lesson_structure(path):
    """Objectives by id and minutes first, a set-up cell, a recap and a self-check last."""
    chapter = CHAPTER_BY_SLUG.get(path.stem)
    assert chapter, f"{path.name} does not match a chapter slug in course_tools.syllabus"
    nb = nbformat.read(path, as_version=4)
    intro = nb.cells[0].source
    assert nb.cells[0].cell_type == "markdown"
    for obj in chapter.objectives:
        assert obj.id in intro, f"the first cell should list objective {obj.id}"
    assert re.search(r"\b\d+\s*min", intro), "the first cell should give the estimated minutes"
    first_code = next(c for c in nb.cells if c.cell_type == "code").source
    assert "check_environment" in first_code and "seed(" in first_code, "the set-up cell checks the environment and seeds once"
    all_code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert all_code.count("seed(") == 1, "seed exactly once, in the set-up cell"
    headings = [line for c in nb.cells if c.cell_type == "markdown" for line in c.source.splitlines() if line.startswith("#")]
    assert any("Recap" in h for h in headings), "a lesson ends with a Recap"
    assert re.search(r'self_check\("' + re.escape(path.stem) + r'"', all_code), (
        f'a lesson ends with a self-check from its question bank: self_check("{path.stem}")')
    assert not re.search(r"correct\s*=\s*True|\bOption\(|\bQuiz\(", all_code), (
        "self-check questions, the right option and explanations live in course_tools/quiz/banks/, "
        "never in a lesson's visible code")
    cited = set(re.findall(r"\b2\.[1-8]\.\d\b", "\n".join(c.source for c in nb.cells)))
    assert cited <= set(OBJECTIVES), f"unknown objective ids: {cited - set(OBJECTIVES)}"


def _source_notebooks():
    return [p for name in assignments(COURSE_DIR) for p in sorted((COURSE_DIR / "source" / name).glob("*.ipynb"))]


@pytest.mark.parametrize("path", _source_notebooks(), ids=_id)
def test_assessment_cells_are_tagged_and_hidden(path):
    """Every graded cell names its objectives; answers live only in hidden tests."""
    nb = nbformat.read(path, as_version=4)
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") or c.metadata.get("nbgrader", {}).get("solution")]
    assert graded, "no graded cells"
    ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
    assert len(ids) == len(set(ids)), "duplicate grade_id"
    for c in graded:
        objs = c.metadata.get("course", {}).get("objectives")
        assert objs and set(objs) <= set(OBJECTIVES), f"cell {c.metadata['nbgrader']['grade_id']} lacks objective ids"
        assert c.metadata["nbgrader"].get("schema_version") == 3
    tests = [c for c in graded if c.metadata["nbgrader"].get("grade")]
    assert all(c.cell_type == "code" for c in tests), "autograded: no manually graded answers"
    assert any("### BEGIN HIDDEN TESTS" in c.source for c in tests), "answers must be checked by hidden tests"
    for c in tests:
        assert "check_choice(" not in c.source.split("### BEGIN HIDDEN TESTS")[0], (
            f"{c.metadata['nbgrader']['grade_id']}: the expected answer must only appear in hidden tests")
