"""The course's own sources: every citation link resolves, and nothing cites the private fact sheet.

Lessons cite ``[RFC 9111 §5.2.2](sources/08_caching.md#rfc9111)``; assessment sources, three
levels down, cite ``../../../sources/08_caching.md#rfc9111``. Each bibliography
``notebooks/sources/<NN_slug>.md`` has one ``### key`` heading per source.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SOURCES = NOTEBOOKS / "sources"
SKIP = {".ipynb_checkpoints", "release", "submitted", "autograded", "feedback"}

LINK = re.compile(r"\]\(\s*((?:\.\./|\./)*sources/[^)#\s]*)(?:#([^)\s]*))?\s*\)")
HEADING = re.compile(r"^###\s+(\S+)\s*$", re.M)
KEY = re.compile(r"[a-z0-9-]+")
FACTS = re.compile(r"\bFACTS\b")


def _notebooks() -> list[Path]:
    return sorted(p for p in NOTEBOOKS.rglob("*.ipynb") if not SKIP & set(p.relative_to(NOTEBOOKS).parts))


def _bibliographies() -> list[Path]:
    return sorted(SOURCES.glob("*.md"))


def _rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


def _keys(md: Path) -> list[str]:
    return HEADING.findall(md.read_text(encoding="utf-8"))


def _link_problems(text: str, base: Path, where: str) -> list[str]:
    """Every sources/ link in ``text``, resolved from directory ``base``: what is wrong with each."""
    problems = []
    for m in LINK.finditer(text):
        target, key = m.group(1), m.group(2)
        path = (base / target).resolve()
        link = m.group(0)[2:-1]
        if path.parent != SOURCES.resolve():
            problems.append(f"{where}: link {link!r} resolves to {path}, not into notebooks/sources/ "
                            f"(from this notebook's folder the prefix must be "
                            f"{'../' * len(base.resolve().relative_to(NOTEBOOKS.resolve()).parts)!r}sources/)")
            continue
        if not path.is_file():
            problems.append(f"{where}: link {link!r}: the file notebooks/sources/{path.name} does not exist")
            continue
        if key and key not in _keys(path):          # no key: a link to the whole bibliography
            problems.append(f"{where}: link {link!r}: notebooks/sources/{path.name} has no heading '### {key}'")
    return problems


@pytest.mark.parametrize("nb", _notebooks(), ids=lambda p: _rel(p))
def test_every_source_link_in_a_notebook_resolves(nb: Path):
    """Does every ``sources/<file>.md#key`` link in this notebook name an existing file and ``### key``?"""
    notebook = nbformat.read(nb, as_version=4)
    problems = []
    for i, cell in enumerate(notebook.cells):
        problems += _link_problems(cell.source, nb.parent, f"{_rel(nb)} cell {i}")
    assert not problems, "\n".join(problems)


def test_every_source_link_in_a_question_bank_resolves():
    """Banks are shown inside lessons (notebooks/), so their links resolve from there."""
    problems = []
    for bank in sorted((ROOT / "course_tools" / "quiz" / "banks").glob("*.toml")):
        problems += _link_problems(bank.read_text(encoding="utf-8"), NOTEBOOKS, _rel(bank))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("md", _bibliographies(), ids=lambda p: _rel(p))
def test_bibliography_keys_are_unique_and_well_formed(md: Path):
    """One ``### key`` per source, keys lowercase [a-z0-9-]+, none twice, each with a text."""
    text = md.read_text(encoding="utf-8")
    keys = _keys(md)
    problems = [f"{_rel(md)}: key {k!r} is not lowercase [a-z0-9-]+" for k in keys if not KEY.fullmatch(k)]
    problems += [f"{_rel(md)}: key {k!r} appears {keys.count(k)} times" for k in sorted(set(keys)) if keys.count(k) > 1]
    for k, body in zip(keys, re.split(r"^###\s+\S+\s*$", text, flags=re.M)[1:]):
        if not body.strip():
            problems.append(f"{_rel(md)}: '### {k}' has no entry under it")
    assert keys, f"{_rel(md)} has no '### key' headings"
    assert text.startswith("# Sources"), f"{_rel(md)} must start with '# Sources — <chapter>'"
    assert not problems, "\n".join(problems)


def _facts_citations() -> list[str]:
    hits = []
    files = _notebooks() + sorted((ROOT / "course_tools" / "quiz" / "banks").glob("*.toml")) + sorted(
        (ROOT / "course_tools").rglob("*.py"))
    for path in files:
        if path.suffix == ".ipynb":
            cells = [c.source for c in nbformat.read(path, as_version=4).cells]
        else:
            cells = [path.read_text(encoding="utf-8")]
        for i, text in enumerate(cells):
            for n, line in enumerate(text.splitlines(), 1):
                if FACTS.search(line):
                    where = f"cell {i} line {n}" if path.suffix == ".ipynb" else f"line {n}"
                    hits.append(f"{_rel(path)} {where}: {line.strip()[:100]}")
    return hits


def test_nothing_cites_the_private_fact_sheet():
    """Learners do not have FACTS.md: a lesson, bank or course_tools docstring must cite the primary source."""
    hits = _facts_citations()
    assert not hits, "cite the primary source (notebooks/sources/<chapter>.md) instead of FACTS:\n" + "\n".join(hits)


def test_a_wrong_link_is_reported_with_the_exact_link_and_reason():
    """The check itself: each kind of broken citation gets a message naming the link and what is wrong."""
    problems = _link_problems(
        "[a](sources/nope.md#x) [b](sources/08_caching.md#no-such-key) [c](sources/08_caching.md) "
        "[d](../sources/08_caching.md#rfc9111) [ok](sources/08_caching.md#rfc9111)",
        NOTEBOOKS, "where")
    assert len(problems) == 3, problems        # [c], a link to the whole bibliography, is fine
    assert "'sources/nope.md#x': the file notebooks/sources/nope.md does not exist" in problems[0]
    assert "notebooks/sources/08_caching.md has no heading '### no-such-key'" in problems[1]
    assert "not into notebooks/sources/" in problems[2]


def test_every_bibliography_entry_is_cited():
    """A bibliography lists what its chapter cites: each ``### key`` is linked from a notebook or a bank."""
    texts = [c.source for nb in _notebooks() for c in nbformat.read(nb, as_version=4).cells]
    texts += [b.read_text(encoding="utf-8") for b in sorted((ROOT / "course_tools" / "quiz" / "banks").glob("*.toml"))]
    cited = {(m.group(1).rsplit("/", 1)[-1], m.group(2)) for t in texts for m in LINK.finditer(t) if m.group(2)}
    uncited = [f"notebooks/sources/{md.name}: '### {k}'" for md in _bibliographies() for k in _keys(md)
               if (md.name, k) not in cited]
    assert not uncited, "entries no lesson, assessment or bank cites:\n" + "\n".join(uncited)
