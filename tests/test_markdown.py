"""Do the notebooks' Markdown cells render as their authors meant, the way JupyterLab renders them?

A Markdown line indented by four or more spaces after a blank line or a heading is an *indented code
block* in CommonMark: a question prompt written inside an indented Python string turns into a grey
code block with literal ``###`` and ``**(a)**``. Fenced blocks (```) are deliberate and allowed.
Every notebook's first cell states its objectives (by id) and its minutes.
"""

import re
from pathlib import Path

import mistune
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(p for p in ROOT.rglob("*.ipynb")
                   if not ({"release", "submitted", "autograded", "feedback", ".ipynb_checkpoints"} & set(p.parts)))
_parse = mistune.create_markdown(renderer=None)


def _indented_code(tokens) -> list[str]:
    found = []
    for t in tokens:
        if t.get("type") == "block_code" and t.get("style") == "indent":
            found.append(t.get("raw", "")[:80])
        found += _indented_code(t.get("children") or [])
    return found


def test_the_check_finds_an_indented_prompt():
    """Would the check have caught the Caching assessment's 8-space-indented prompts?"""
    assert _indented_code(_parse("### Question 1\n        Which policy?\n\n        - **(a)** LRU\n"))
    assert not _indented_code(_parse("### Question 1\nWhich policy?\n\n- **(a)** LRU\n\n```python\nx = 1\n```\n"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_markdown_cell_renders_an_accidental_code_block(path):
    nb = nbformat.read(path, as_version=4)
    bad = [(i, block) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"
           for block in _indented_code(_parse(c.source))]
    assert not bad, f"{path.name}: indented code blocks in Markdown cells (cell index, start): {bad}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_first_cell_states_objectives_and_minutes(path):
    first = nbformat.read(path, as_version=4).cells[0]
    assert first.cell_type == "markdown", f"{path.name}: the first cell is Markdown"
    if path.name != "00_start.ipynb":
        assert re.search(r"\b2\.[1-8]\.\d\b", first.source), f"{path.name}: the first cell names its objectives by id"
    assert re.search(r"\b\d+\s*(min|minutes)\b", first.source), f"{path.name}: the first cell gives the minutes"
