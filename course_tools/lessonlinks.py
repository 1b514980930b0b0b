"""Links from assessments to lesson sections, with JupyterLab's heading anchors.

JupyterLab gives every rendered Markdown heading an ``id``: the heading's *rendered text*
(what ``textContent`` returns: no ``#``, no backticks or emphasis markers) with each space
replaced by ``-`` (``@jupyterlab/rendermime``, ``createHeaderId``). A link
``[...](../../../02_api_design.ipynb#4.-Pagination:-OFFSET-vs-keyset-(2.2.4-★))`` opens the
lesson at that heading. Assessments write such links in their prompts; a test checks that
every one resolves to a heading that exists in the lesson notebook.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import mistune
import nbformat

__all__ = ["heading_text", "anchor", "headings", "links", "resolve", "LessonLink"]

_parse = mistune.create_markdown(renderer=None)


def _text(tokens) -> str:
    out = []
    for t in tokens or []:
        if "raw" in t and t.get("type") in ("text", "codespan", "inline_html", "block_text"):
            out.append(t["raw"])
        elif t.get("type") in ("softbreak", "linebreak"):
            out.append(" ")
        else:
            out.append(_text(t.get("children")))
    return "".join(out)


def heading_text(markdown_heading: str) -> str:
    """The rendered text of one Markdown heading line (``### Refusing writes: `x` `` -> ``Refusing writes: x``)."""
    tokens = _parse(markdown_heading)
    for t in tokens:
        if t.get("type") == "heading":
            return _text(t.get("children")).strip()
    raise ValueError(f"not a Markdown heading: {markdown_heading!r}")


def anchor(text: str) -> str:
    """JupyterLab's id for a heading whose rendered text is ``text``."""
    return text.replace(" ", "-")


def _headings_in(markdown: str) -> Iterator[tuple[int, str]]:
    def walk(tokens):
        for t in tokens:
            if t.get("type") == "heading":
                yield t.get("attrs", {}).get("level", 0), _text(t.get("children")).strip()
            yield from walk(t.get("children") or [])

    yield from walk(_parse(markdown))


def headings(notebook: Path | str) -> dict[str, str]:
    """``{anchor: heading text}`` for every Markdown heading of a notebook."""
    nb = nbformat.read(str(notebook), as_version=4)
    out: dict[str, str] = {}
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for _level, text in _headings_in(cell.source):
                out.setdefault(anchor(text), text)
    return out


class LessonLink(tuple):
    """``(text, target path, fragment)`` of one Markdown link to a notebook."""

    __slots__ = ()

    def __new__(cls, text: str, path: str, fragment: str):
        return super().__new__(cls, (text, path, fragment))

    text = property(lambda self: self[0])
    path = property(lambda self: self[1])
    fragment = property(lambda self: self[2])


def links(markdown: str) -> list[LessonLink]:
    """Every Markdown link in ``markdown`` whose target is a ``.ipynb`` file (with or without ``#fragment``)."""
    found: list[LessonLink] = []

    def walk(tokens):
        for t in tokens:
            if t.get("type") == "link":
                url = t.get("attrs", {}).get("url", "")
                path, _, frag = url.partition("#")
                if path.endswith(".ipynb"):
                    found.append(LessonLink(_text(t.get("children")), path, frag))
            walk(t.get("children") or [])

    walk(_parse(markdown))
    return found


def resolve(link: LessonLink, base: Path | str) -> tuple[Path, bool]:
    """``(notebook path, whether its fragment names an existing heading)``, relative to folder ``base``."""
    from urllib.parse import unquote

    target = (Path(base) / unquote(link.path)).resolve()
    if not target.is_file():
        return target, False
    if not link.fragment:
        return target, True
    return target, unquote(link.fragment) in headings(target)

