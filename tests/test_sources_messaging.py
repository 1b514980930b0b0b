"""Does every citation of chapter 2.6 point at an entry of its bibliography, and is every entry cited?"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BIB = ROOT / "notebooks" / "sources" / "06_messaging.md"
NOTEBOOKS = [ROOT / "notebooks" / "06_messaging.ipynb",
             ROOT / "notebooks" / "assessments" / "source" / "06_messaging" / "06_messaging.ipynb"]


def _keys() -> list[str]:
    return re.findall(r"^### ([a-z0-9-]+)$", BIB.read_text(), flags=re.M)


def _cited() -> set[str]:
    text = "\n".join(c.source for p in NOTEBOOKS for c in nbformat.read(p, as_version=4).cells)
    text += "\n" + (ROOT / "course_tools" / "quiz" / "banks" / "06_messaging.toml").read_text()
    return set(re.findall(r"06_messaging\.md#([a-z0-9-]+)", text))


def test_bibliography_format():
    """A title line, one `### key` per source with a URL and what it is used for, keys unique."""
    text = BIB.read_text()
    assert text.startswith("# Sources — 2.6 Messaging")
    keys = _keys()
    assert keys and len(keys) == len(set(keys))
    for block in text.split("\n### ")[1:]:
        assert "http" in block and "used for:" in block, block[:60]


def test_every_citation_resolves_and_every_source_is_cited():
    """Links like sources/06_messaging.md#kafka-semantics name a key of the bibliography; no entry is unused."""
    cited, keys = _cited(), set(_keys())
    assert cited, "the lesson cites nothing"
    assert cited <= keys, f"citations without a bibliography entry: {sorted(cited - keys)}"
    assert keys <= cited, f"bibliography entries never cited: {sorted(keys - cited)}"
