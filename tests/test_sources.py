"""Does every citation link in a lesson or assessment source point to a heading of its chapter's bibliography?"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").rglob("*.ipynb")
                   if "release" not in p.parts and "submitted" not in p.parts and ".ipynb_checkpoints" not in p.parts)
LINK = re.compile(r"\]\(((?:\.\./)*sources/([0-9a-z_]+)\.md)#([^)\s]+)\)")


def _keys(bib: Path) -> list[str]:
    return re.findall(r"^### (\S+)\s*$", bib.read_text(encoding="utf-8"), flags=re.M)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_citation_links_resolve(path):
    text = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells)
    for rel, slug, key in LINK.findall(text):
        bib = (path.parent / rel).resolve()
        assert bib == ROOT / "notebooks" / "sources" / f"{slug}.md", f"{rel} does not reach notebooks/sources/"
        assert bib.is_file(), f"no bibliography {bib.name}"
        assert key in _keys(bib), f"{path.name} cites {slug}#{key}, which has no '### {key}' heading"


@pytest.mark.parametrize("bib", sorted((ROOT / "notebooks" / "sources").glob("*.md")), ids=lambda p: p.name)
def test_bibliography_format(bib):
    lines = bib.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# Sources — ")
    keys = _keys(bib)
    assert keys and len(keys) == len(set(keys)) and all(re.fullmatch(r"[a-z0-9-]+", k) for k in keys)
