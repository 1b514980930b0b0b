"""Import submissions into nbgrader's ``submitted/<student>/<assignment>/<notebook>.ipynb``.

``course collect SOURCE ASSIGNMENT`` reads SOURCE, a folder or a ``.zip`` (an LMS bulk
download), and copies every notebook it can attribute to a student, renamed to the
assignment's notebook name. Everything else is listed with the reason it was skipped.

How the student id is found (paths are relative to SOURCE, or to the zip's root):

1. Folders named like the assignment are ignored (so nbgrader's own layout
   ``<student>/<assignment>/<notebook>.ipynb`` works).
2. If the notebook is inside a folder, the student is the **first folder**:
   ``jsmith/08_caching.ipynb`` -> ``jsmith``. A Moodle folder
   ``Jane Smith_12345_assignsubmission_file_`` becomes ``jane-smith-12345`` (name and
   participant id: readable and unique).
3. Otherwise the student comes from the **file name**: the text before the first ``_``:
   ``jsmith_08_caching.ipynb`` and Canvas' ``jsmith_12345_67890_08_caching.ipynb`` or
   ``jsmith_LATE_12345_67890_08_caching.ipynb`` -> ``jsmith``. A file whose name starts
   with the notebook's own name (``08_caching.ipynb``, ``08_caching_v2.ipynb``) names no
   student and is listed as unmatched.
4. A zip whose members all sit in one top-level folder named ``submissions`` (or
   ``submission``, ``downloads``, ``download``, ``export``, ``exports``; any case) has that
   wrapper dropped
   (``submissions/jsmith/...``, ``submissions/jdoe_1_2_08_caching.ipynb``). Any other single
   top-level folder is one student's, and everything inside it is that student's: folders or
   files in it named like other students never make them submissions of those students
   (a student controls the names inside their own upload; only the top level is the LMS's).
   Those words are reserved, so no student id can be one of them.
5. A student id must be valid by :mod:`course_tools.grading.ids`: 1-64 ASCII letters,
   digits and ``. _ @ -``, starting with a letter or digit, not a reserved word; anything
   else (``..``, ``=cmd``, spaces, a name that is not UTF-8) is listed as unmatched, never
   imported. Two ids that differ only in case (``Amy``, ``amy``) would be one folder on a
   case-insensitive disk: both are refused, as is an id whose folder already exists under
   ``submitted/`` spelled in another case.

Which notebook: an assignment with one notebook takes every file as that notebook; with
several, the file name must contain the notebook's name (the longest match wins).

Never silently lost or overwritten: two different files for the same student and notebook
are both refused (listed as duplicates); an existing *different* submission is kept unless
``force=True``; an identical one is reported unchanged Since ids come only from the
upload's top level (rule 4), ``force`` can only ever replace a student's submission with a
file from that student's own folder or file name.

Ignored without a word: hidden files and folders (``.ipynb_checkpoints/``, ``._x``) and
``__MACOSX/``.

Hostile input: zip members with absolute paths, drive letters or ``..`` are refused, as
are symlinks (in a zip or a folder); nothing is ever extracted with ``extractall``; the
number of members and the total and per-file uncompressed bytes are capped while reading
(declared sizes in a zip header are not trusted).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Iterator, TextIO

from course_tools.grading import ids
from course_tools.grading.nbgrader_io import COURSE_DIR

__all__ = ["Limits", "Imported", "Skipped", "CollectReport", "collect", "import_entries", "student_from_path", "run"]

_MOODLE = re.compile(r"^(?P<name>.+?)_(?P<pid>\d+)_assignsubmission_[A-Za-z]+_?$")
_IGNORED = ("Thumbs.db", "desktop.ini")


@dataclass(frozen=True)
class Limits:
    """Caps that keep a hostile or broken upload from filling the disk or the memory."""
    max_files: int = 5000                   # members / files looked at
    max_total_bytes: int = 512 * 2**20      # uncompressed bytes read, all files together
    max_file_bytes: int = 32 * 2**20        # one notebook


@dataclass(frozen=True)
class Imported:
    origin: str          # path in SOURCE
    student: str
    target: Path
    action: str          # "new" | "unchanged" | "replaced"


@dataclass(frozen=True)
class Skipped:
    origin: str
    reason: str


@dataclass
class CollectReport:
    assignment: str
    imported: list[Imported] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    aborted: str = ""    # set when a limit stopped the whole import
    dry_run: bool = False  # nothing was written

    @property
    def ok(self) -> bool:
        return not self.aborted

    def summary(self) -> str:
        lines = []
        for i in self.imported:
            lines.append(f"  {i.action:<9} {i.student:<24} <- {_show(i.origin)}")
        counts = {a: sum(i.action == a for i in self.imported) for a in ("new", "replaced", "unchanged")}
        head = (f"{self.assignment}: {len(self.imported)} submission(s) from "
                f"{len({i.student for i in self.imported})} student(s) "
                f"({counts['new']} new, {counts['replaced']} replaced, {counts['unchanged']} unchanged)")
        if self.dry_run:
            head = "DRY RUN, nothing written — " + head
        out = [head, *lines]
        if self.skipped:
            out.append(f"not imported ({len(self.skipped)}):")
            out += [f"  {_show(s.origin)}: {s.reason}" for s in self.skipped]
        if self.aborted:
            out.append(f"ABORTED: {self.aborted}")
        return "\n".join(out)


class _LimitExceeded(Exception):
    pass


def _show(rel: str) -> str:
    """A path from the upload as printable ASCII (odd bytes escaped, see ids.shown), for the report."""
    return ids.shown(rel, limit=200)[1:-1]


# -- naming rules ----------------------------------------------------------------------

def _notebook_names(course_dir: Path, assignment: str) -> list[str]:
    """The assignment's notebook stems (from ``source/``), or the assignment name itself."""
    src = course_dir / "source" / assignment
    names = sorted(p.stem for p in src.glob("*.ipynb")) if src.is_dir() else []
    return names or [assignment]


def _student_from_folder(folder: str) -> str:
    m = _MOODLE.match(folder)
    if m:
        name = re.sub(r"[^a-z0-9]+", "-", m["name"].lower()).strip("-")
        return f"{name}-{m['pid']}" if name else m["pid"]
    return folder


def student_from_path(rel: str, assignment: str, notebooks: list[str]) -> tuple[str | None, str]:
    """``(student, "")`` for a notebook's path relative to SOURCE, or ``(None, reason)``."""
    parts = [p for p in PurePosixPath(rel).parts[:-1] if p.lower() != assignment.lower()]
    stem = PurePosixPath(rel).stem
    if parts:
        student = _student_from_folder(parts[0])
    else:
        if any(stem.lower().startswith(n.lower()) for n in notebooks) or "_" not in stem:
            return None, "cannot tell the student: name it <student>_<anything>.ipynb or put it in a <student>/ folder"
        student = stem.split("_", 1)[0]
    why = ids.problem(student)
    if why is not None:
        return None, f"unsafe or unusable student id {ids.shown(student)}: {why}"
    return student, ""


def _which_notebook(rel: str, notebooks: list[str]) -> str | None:
    if len(notebooks) == 1:
        return notebooks[0]
    name = PurePosixPath(rel).name.lower()
    hits = [n for n in notebooks if n.lower() in name]
    return max(hits, key=len) if hits else None


# -- reading SOURCE safely --------------------------------------------------------------

def _safe_member_name(name: str) -> str | None:
    """A zip member name as a clean relative POSIX path, or None when it points outside."""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return None
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    return "/".join(parts)


def _read_capped(stream, limit: int, budget: list[int]) -> bytes:
    """Read at most ``limit`` bytes (and what is left of the shared ``budget``)."""
    chunks, size = [], 0
    while True:
        chunk = stream.read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        budget[0] -= len(chunk)
        if budget[0] < 0:
            raise _LimitExceeded("total uncompressed size over the limit (a zip bomb?)")
        if size > limit:
            raise ValueError(f"larger than {limit // 2**20} MiB")
        chunks.append(chunk)


def _ignored(rel: str) -> bool:
    """Editor and OS litter: ``__MACOSX/``, ``.ipynb_checkpoints/``, any hidden file or folder."""
    parts = PurePosixPath(rel).parts
    return parts[0] == "__MACOSX" or parts[-1] in _IGNORED or any(p.startswith(".") for p in parts)


def _zip_entries(path: Path, limits: Limits, report: CollectReport) -> Iterator[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        if len(infos) > limits.max_files:
            raise _LimitExceeded(f"the zip has {len(infos)} members, more than the limit of {limits.max_files}")
        budget = [limits.max_total_bytes]
        for info in infos:
            rel = _safe_member_name(info.filename)
            if rel is None:
                report.skipped.append(Skipped(info.filename, "refused: path outside the upload (absolute or '..')"))
                continue
            if info.is_dir() or _ignored(rel):
                continue
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                report.skipped.append(Skipped(rel, "refused: symbolic link"))
                continue
            if not rel.lower().endswith(".ipynb"):
                report.skipped.append(Skipped(rel, "not a notebook (.ipynb)"))
                continue
            if info.flag_bits & 0x1:
                report.skipped.append(Skipped(rel, "encrypted zip member"))
                continue
            if info.file_size > limits.max_file_bytes:
                report.skipped.append(Skipped(rel, f"larger than {limits.max_file_bytes // 2**20} MiB"))
                continue
            try:
                with zf.open(info) as f:
                    data = _read_capped(f, limits.max_file_bytes, budget)
            except (ValueError, zipfile.BadZipFile, NotImplementedError, EOFError, OSError) as exc:
                report.skipped.append(Skipped(rel, f"unreadable: {exc}"))
                continue
            yield rel, data


def _dir_entries(root: Path, limits: Limits, report: CollectReport) -> Iterator[tuple[str, bytes]]:
    budget = [limits.max_total_bytes]
    seen = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for d in list(dirnames):
            if (Path(dirpath) / d).is_symlink():
                dirnames.remove(d)
                rel_dir = (Path(dirpath) / d).relative_to(root).as_posix()
                report.skipped.append(Skipped(rel_dir, "refused: symbolic link"))
            elif d.startswith(".") or d == "__MACOSX":
                dirnames.remove(d)
        dirnames.sort()
        for name in sorted(filenames):
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            seen += 1
            if seen > limits.max_files:
                raise _LimitExceeded(f"more than {limits.max_files} files under {root}")
            if _ignored(rel):
                continue
            if full.is_symlink():
                report.skipped.append(Skipped(rel, "refused: symbolic link"))
                continue
            if not name.lower().endswith(".ipynb"):
                report.skipped.append(Skipped(rel, "not a notebook (.ipynb)"))
                continue
            try:
                # O_NONBLOCK: a FIFO named x.ipynb must not hang the import; O_NOFOLLOW: no symlink race
                fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
                with os.fdopen(fd, "rb") as f:
                    if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                        report.skipped.append(Skipped(rel, "not a regular file"))
                        continue
                    data = _read_capped(f, limits.max_file_bytes, budget)
            except (ValueError, OSError) as exc:
                report.skipped.append(Skipped(rel, f"unreadable: {exc}"))
                continue
            yield rel, data


def _drop_wrapper(entries: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Rule 4: drop a zip's single top-level folder when it is named like a wrapper (``submissions``).

    Never by its shape: a zip holding ONE student's folder, in which that student put folders or
    files named like other students, has exactly the shape of a wrapper around several students;
    only the top-level name, which the LMS (or the instructor) chose, tells them apart."""
    tops = {PurePosixPath(rel).parts[0] for rel, _ in entries}
    if len(tops) != 1 or any(len(PurePosixPath(rel).parts) == 1 for rel, _ in entries):
        return entries
    if next(iter(tops)).lower() not in ids.WRAPPERS:
        return entries
    return [("/".join(PurePosixPath(rel).parts[1:]), data) for rel, data in entries]


# -- writing -----------------------------------------------------------------------------

def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".ipynb")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def collect(source: Path | str, assignment: str, course_dir: Path | str = COURSE_DIR, *, force: bool = False,
            dry_run: bool = False, limits: Limits = Limits()) -> CollectReport:
    """Import SOURCE (a folder or a .zip) as submissions of ``assignment``; see the module doc.
    With ``dry_run`` nothing is written: the report says what would happen."""
    source, course_dir = Path(source), Path(course_dir)
    report = CollectReport(assignment, dry_run=dry_run)
    if not ids.STUDENT_ID.fullmatch(assignment):
        report.aborted = f"unusable assignment name {ids.shown(assignment)}"
        return report
    if not source.exists():
        report.aborted = f"{source} does not exist"
        return report
    try:
        if source.is_dir():
            entries = list(_dir_entries(source, limits, report))
        elif zipfile.is_zipfile(source):
            if source.stat().st_size > limits.max_total_bytes:
                raise _LimitExceeded(f"the zip itself is larger than {limits.max_total_bytes // 2**20} MiB")
            entries = _drop_wrapper(list(_zip_entries(source, limits, report)))
        else:
            report.aborted = f"{source} is neither a folder nor a zip file"
            return report
    except _LimitExceeded as exc:
        report.aborted = f"{exc}; nothing was imported"
        report.imported.clear()
        return report
    except zipfile.BadZipFile as exc:
        report.aborted = f"{source}: broken zip ({exc})"
        return report

    import_entries(entries, assignment, course_dir, report, force=force, dry_run=dry_run)
    return report


def import_entries(entries: list[tuple[str, bytes]], assignment: str, course_dir: Path, report: CollectReport, *,
                   force: bool = False, dry_run: bool = False) -> None:
    """Attribute every ``(path, bytes)`` entry to a student (rules 2-5), refuse conflicting duplicates,
    then write ``submitted/<student>/<assignment>/<notebook>.ipynb``; append what happened to ``report``.
    Shared by the folder/zip import above and the exchange import (:mod:`course_tools.grading.exchange`)."""
    notebooks = _notebook_names(course_dir, assignment)
    # attribute every notebook, then refuse conflicting duplicates before writing anything
    wanted: dict[tuple[str, str], list[tuple[str, bytes]]] = {}
    for rel, data in entries:
        student, reason = student_from_path(rel, assignment, notebooks)
        if student is None:
            report.skipped.append(Skipped(rel, reason))
            continue
        nb = _which_notebook(rel, notebooks)
        if nb is None:
            report.skipped.append(Skipped(rel, f"cannot tell which notebook of {assignment} "
                                               f"({', '.join(notebooks)}) it is: keep that name in the file name"))
            continue
        wanted.setdefault((student, nb), []).append((rel, data))

    _refuse_case_twins(wanted, course_dir / "submitted", report)
    submitted = (course_dir / "submitted").resolve()
    for (student, nb), files in sorted(wanted.items()):
        digests = {hashlib.sha256(d).hexdigest() for _, d in files}
        if len(digests) > 1:
            others = ", ".join(r for r, _ in files)
            for rel, _ in files:
                report.skipped.append(Skipped(rel, f"duplicate: {len(files)} different files for {student}/{nb} "
                                                   f"({others}); keep one and collect again"))
            continue
        rel, data = files[0]
        target = submitted / student / assignment / f"{nb}.ipynb"
        if submitted not in target.resolve().parents:  # belt and braces: ids are already validated
            report.skipped.append(Skipped(rel, "refused: target outside submitted/"))
            continue
        link = next((p for p in (submitted / student, submitted / student / assignment, target) if p.is_symlink()),
                    None)
        if link is not None:     # e.g. submitted/alice -> bob: alice's upload must never land in bob's folder
            report.skipped.append(Skipped(rel, f"refused: {link} is a symbolic link"))
            continue
        if target.exists():
            if target.read_bytes() == data:
                report.imported.append(Imported(rel, student, target, "unchanged"))
                continue
            if not force:
                report.skipped.append(Skipped(rel, f"{student} already has a different submission at {target}; "
                                                   "kept it (use --force to replace)"))
                continue
            if not dry_run:
                _write_atomic(target, data)
            report.imported.append(Imported(rel, student, target, "replaced"))
            continue
        if not dry_run:
            _write_atomic(target, data)
        report.imported.append(Imported(rel, student, target, "new"))


def _refuse_case_twins(wanted: dict[tuple[str, str], list[tuple[str, bytes]]], submitted: Path,
                       report: CollectReport) -> None:
    """Rule 5: ids that differ only in case, in this upload or against ``submitted/``, are one folder
    on a case-insensitive disk (macOS, Windows): refuse them rather than map one student onto another."""
    try:
        existing = {e.name for e in os.scandir(submitted)}
    except OSError:
        existing = set()
    spellings: dict[str, set[str]] = {}
    for student, _ in wanted:
        spellings.setdefault(student.casefold(), set()).add(student)
    for name in existing:
        if name.casefold() in spellings:
            spellings[name.casefold()].add(name)
    for (student, nb), files in list(wanted.items()):
        twins = sorted(spellings[student.casefold()] - {student})
        if twins:
            for rel, _ in files:
                report.skipped.append(Skipped(rel, f"student id {student!r} differs only in case from "
                                                   f"{', '.join(map(repr, twins))}: refused (one folder on a "
                                                   "case-insensitive disk); rename one and collect again"))
            del wanted[(student, nb)]


def run(source: Path | str, assignment: str, course_dir: Path | str = COURSE_DIR, *, force: bool = False,
        dry_run: bool = False, out: TextIO | None = None) -> int:
    """The ``course collect`` command: import, print what happened; 1 if aborted or nothing matched."""
    import sys

    out = out or sys.stdout
    report = collect(source, assignment, course_dir, force=force, dry_run=dry_run)
    print(report.summary(), file=out)
    return 0 if report.ok and (report.imported or not report.skipped) else 1
