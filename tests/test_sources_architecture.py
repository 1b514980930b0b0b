"""Does every citation in the Architecture lesson and assessment point at an entry of its bibliography?"""

import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
BIB = ROOT / "notebooks" / "sources" / "04_architecture.md"
NOTEBOOKS = [ROOT / "notebooks" / "04_architecture.ipynb",
             ROOT / "notebooks" / "assessments" / "source" / "04_architecture" / "04_architecture.ipynb"]


def _keys() -> list[str]:
    return re.findall(r"^### ([a-z0-9-]+)\s*$", BIB.read_text(), flags=re.M)


def test_bibliography_keys_are_unique_and_well_formed():
    """One `### key` heading per source, lower-case keys, each followed by an entry saying what it is used for."""
    text = BIB.read_text()
    keys = _keys()
    assert keys and len(keys) == len(set(keys))
    assert text.startswith("# Sources — 2.4 ")
    for block in text.split("\n### ")[1:]:
        assert "used for:" in block, block.splitlines()[0]


def test_every_citation_resolves_and_every_source_is_cited():
    """Links like (sources/04_architecture.md#key) name an existing key; no entry is left uncited."""
    keys, cited = set(_keys()), set()
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        text = "\n".join(c.source for c in nb.cells)
        cited |= set(re.findall(r"sources/04_architecture\.md#([a-z0-9-]+)\)", text))
    assert cited and cited <= keys, f"unknown keys: {sorted(cited - keys)}"
    uncited = keys - cited - {"pep3129"}          # pep3129 backs an explanation in the self-check bank
    assert not uncited, f"sources nobody cites: {sorted(uncited)}"
