"""Student ids: which folder and file names name a student, wherever ids are read.

A student id comes from a folder name under ``submitted/`` (``course autograde``,
``course feedback``, ``course export``, ``course report``), from a result file name under
``grades/`` or from an upload (``course collect``). It becomes part of paths the
instructor's tools write (``grades/<assignment>/<student>.json``,
``feedback/<student>/...``) and text they print (terminal, CSV, HTML). So an id must be:

* 1 to 64 characters of ASCII letters, digits and ``. _ @ -``, the first a letter or digit
  (so never ``.``, ``..``, a hidden name, an option like ``-rf`` or a formula like ``=cmd``);
  not valid UTF-8, a path separator, a control character, a space: refused;
* not a word this tool uses for a folder of its own or an upload's wrapper folder
  (:data:`RESERVED`, case-insensitive: ``course collect`` drops a zip's single top-level
  ``submissions/`` or ``export/`` folder as a wrapper, which is safe only because no student
  can be called so).

A refused name is reported with :func:`shown` (printable ASCII, escapes for anything else,
at most 80 characters), and the batch goes on: one odd folder never stops the class.
Symbolic links under ``submitted/`` are never followed: a linked folder is refused.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["STUDENT_ID", "RESERVED", "WRAPPERS", "problem", "is_valid", "shown", "submitted_students", "Refused"]

STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
WRAPPERS = ("submissions", "submission", "downloads", "download", "export", "exports")   # an upload's wrapper folder
RESERVED = frozenset({*WRAPPERS, "submitted", "source", "release", "autograded", "feedback", "grades"})

Refused = tuple[str, str]          # (the name as shown, why it is refused)


def problem(name: str | bytes) -> str | None:
    """Why ``name`` is not a student id, or None when it is one."""
    if isinstance(name, bytes):
        try:
            name = name.decode("utf-8")
        except UnicodeDecodeError:
            return "the name is not valid UTF-8"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:          # os.listdir's surrogate escapes for undecodable bytes
        return "the name is not valid UTF-8"
    if not name:
        return "the name is empty"
    if "/" in name or "\\" in name or "\0" in name:
        return "the name contains a path separator"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "the name contains a control character"
    if set(name) <= {"."}:
        return "the name is only dots"
    if name.lower() in RESERVED:
        return f"{name!r} is a folder name this tool uses itself, not a student"
    if not STUDENT_ID.fullmatch(name):
        return ("not a usable student id (allowed: 1-64 ASCII letters, digits and . _ @ -, "
                "starting with a letter or digit)")
    return None


def is_valid(name: str | bytes) -> bool:
    return problem(name) is None


def shown(name: str | bytes, limit: int = 80) -> str:
    """``name`` as safe printable ASCII for a terminal, a CSV or a log: undecodable bytes as
    ``\\xNN``, other non-printable or non-ASCII characters as Python escapes, quotes around it."""
    if isinstance(name, str):
        raw = name.encode("utf-8", "surrogateescape")
    else:
        raw = bytes(name)
    text = raw.decode("utf-8", "backslashreplace")
    out = "".join(c if 32 <= ord(c) < 127 else c.encode("unicode_escape").decode("ascii") for c in text)
    if len(out) > limit:
        out = out[:limit - 3] + "..."
    return "'" + out.replace("'", "\\'") + "'"


def submitted_students(course_dir: Path | str, assignment: str,
                       refused: list[Refused] | None = None) -> list[str]:
    """The students with a folder ``submitted/<student>/<assignment>/``, sorted. Folders whose
    name is not a valid id, and symbolic links (at either level; never followed), are left out
    and, if ``refused`` is given, appended to it as ``(shown path, reason)``."""
    root = os.path.join(os.fspath(course_dir), "submitted")
    found: list[str] = []
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name.encode("utf-8", "surrogateescape"))
    except (FileNotFoundError, NotADirectoryError):
        return found
    for entry in entries:
        where = f"submitted/{shown(entry.name)[1:-1]}"
        try:
            if entry.is_symlink():
                _note(refused, where, "a symbolic link: not followed")
                continue
            if not entry.is_dir(follow_symlinks=False):
                continue
            inner = os.path.join(entry.path, assignment)
            if not os.path.lexists(inner):
                continue
            why = problem(entry.name)
            if why is not None:
                _note(refused, where, why)
                continue
            if os.path.islink(inner):
                _note(refused, f"{where}/{assignment}", "a symbolic link: not followed")
                continue
            if os.path.isdir(inner):
                found.append(entry.name)
        except OSError as exc:
            _note(refused, where, f"unreadable ({exc.strerror or type(exc).__name__})")
    return found


def _note(refused: list[Refused] | None, where: str, why: str) -> None:
    if refused is not None:
        refused.append((where, why))
