"""nbgrader's exchange as a source and a destination of the instructor's pipeline (a class on JupyterHub).

On JupyterHub, assignments move through nbgrader's *exchange*, a folder every single-user server
sees (``c.Exchange.root``)::

    <root>/<course_id>/outbound/<assignment>/            released student version (instructor writes, all read)
    <root>/<course_id>/inbound/<student>+<assignment>+<timestamp>+<random>/
                                                         one submission (mode 2733 on inbound/: learners
                                                         can create entries but not list them)
    <root>/<course_id>/feedback/<hash>.html              returned feedback (mode 711: readable by exact
                                                         name only; the hash is keyed by the submission's
                                                         secret, which only its author and the instructor know)

* ``course release ASSIGNMENT --exchange ROOT`` builds the student version (refusing leaks) and
  releases it with nbgrader's own exchange code (:func:`release_to_exchange`).
* ``course collect --exchange ROOT ASSIGNMENT`` imports each student's **latest** submission into
  ``submitted/<student>/<assignment>/`` (:func:`collect_exchange`) with the rules of
  :mod:`course_tools.grading.collect` (ids validated, no symbolic link followed, sizes bounded,
  duplicates refused), plus what the exchange needs:

  - an inbound entry's student id comes from its name, which **anyone** with a hub account can
    choose (inbound/ is world-writable): so when the student has a local account (JupyterHub's
    local spawner runs each learner as their own unix user) the entry, and every file read from it,
    must be **owned by that account**; anything else is refused as a forgery. When the name is not
    a local account (every pod of Zero to JupyterHub runs as the same uid ``jovyan``), ownership
    cannot tell learners apart: the report says "owner not verified" for each such student;
  - the submission's ``timestamp.txt`` and ``submission_secret.txt`` are kept beside the notebook
    (validated: a timestamp as nbgrader writes it, a hex secret), for returning feedback.

* ``course feedback ASSIGNMENT --exchange ROOT`` writes the HTML feedback, then copies each
  student's file to ``feedback/<notebook_hash(secret, notebook)>.html`` (:func:`return_feedback`),
  exactly where nbgrader's ``fetch_feedback`` (the learner's Assignments tab or REST call) looks
  for it: each learner can fetch only the feedback of their own submission.
"""

from __future__ import annotations

import os
import pwd
import re
import stat
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterable, TextIO

from course_tools.grading import ids
from course_tools.grading.collect import (CollectReport, Limits, Skipped, _LimitExceeded, _notebook_names, _read_capped,
                                          import_entries)
from course_tools.grading.paths import COURSE_DIR

__all__ = ["COURSE_ID", "InboundEntry", "inbound_entries", "collect_exchange", "release_to_exchange",
           "return_feedback", "run_collect", "run_feedback"]

COURSE_ID = "backend-engineering"     # as in notebooks/assessments/nbgrader_config.py
_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?( UTC)?")
_SECRET = re.compile(r"[0-9a-f]{16,256}")
_SMALL = 4096          # timestamp.txt and submission_secret.txt are a few bytes


@dataclass(frozen=True)
class InboundEntry:
    name: str            # the folder name in inbound/
    student: str
    timestamp: datetime
    path: Path
    owner_uid: int | None   # the uid the entry must be owned by; None: no local account, not verifiable


def _parse_timestamp(text: str) -> datetime | None:
    text = text.strip()
    if not _TIMESTAMP.fullmatch(text):
        return None
    text = text.removesuffix(" UTC")
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S.%f" if "." in text else "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None


def _local_uid(student: str) -> int | None:
    try:
        return pwd.getpwnam(student).pw_uid
    except KeyError:
        return None


def _course_path(root: Path | str, course_id: str) -> Path:
    if not ids.STUDENT_ID.fullmatch(course_id):
        raise ValueError(f"unusable course id {ids.shown(course_id)}")
    return Path(root) / course_id


def inbound_entries(root: Path | str, assignment: str, report: CollectReport, course_id: str = COURSE_ID,
                    ) -> list[InboundEntry]:
    """The latest valid submission of each student in ``inbound/``; refused entries go to ``report``."""
    inbound = _course_path(root, course_id) / "inbound"
    if inbound.is_symlink() or not inbound.is_dir():
        report.aborted = f"{inbound} is not a folder (was {assignment} released to this exchange?)"
        return []
    latest: dict[str, InboundEntry] = {}
    for entry in sorted(os.scandir(inbound), key=lambda e: e.name):
        where = f"inbound/{ids.shown(entry.name)[1:-1]}"
        parts = entry.name.split("+")
        if len(parts) not in (3, 4) or parts[1] != assignment:
            continue                                   # another assignment's submission (or litter)
        student, stamp = parts[0], _parse_timestamp(parts[2])
        why = ids.problem(student)
        if why is not None:
            report.skipped.append(Skipped(where, f"unsafe or unusable student id {ids.shown(student)}: {why}"))
            continue
        if stamp is None:
            report.skipped.append(Skipped(where, "refused: the timestamp in its name is not nbgrader's"))
            continue
        st = entry.stat(follow_symlinks=False)
        if not stat.S_ISDIR(st.st_mode):
            report.skipped.append(Skipped(where, "refused: not a folder (a symbolic link?)"))
            continue
        uid = _local_uid(student)
        if uid is not None and st.st_uid != uid:
            report.skipped.append(Skipped(where, f"refused: owned by uid {st.st_uid}, not by {student}'s account "
                                                 f"(uid {uid}): another user may have forged it"))
            continue
        found = InboundEntry(entry.name, student, stamp, Path(entry.path), uid)
        if student not in latest or found.timestamp > latest[student].timestamp:
            latest[student] = found
    return [latest[s] for s in sorted(latest)]


def _read_own(path: Path, owner_uid: int | None, limit: int, budget: list[int]) -> bytes:
    """Read a regular file without following a link, owned by ``owner_uid`` (when known), at most ``limit`` bytes."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("not a regular file")
        if owner_uid is not None and st.st_uid != owner_uid:
            raise ValueError(f"owned by uid {st.st_uid}, not by the student (uid {owner_uid})")
        return _read_capped(f, limit, budget)


def collect_exchange(root: Path | str, assignment: str, course_dir: Path | str = COURSE_DIR, *,
                     course_id: str = COURSE_ID, force: bool = False, dry_run: bool = False,
                     limits: Limits = Limits()) -> CollectReport:
    """Import the latest submission of every student from the exchange's inbound folder; see the module doc."""
    course_dir = Path(course_dir)
    report = CollectReport(assignment, dry_run=dry_run)
    if not ids.STUDENT_ID.fullmatch(assignment):
        report.aborted = f"unusable assignment name {ids.shown(assignment)}"
        return report
    entries: list[tuple[str, bytes]] = []
    extras: dict[str, dict[str, bytes]] = {}
    budget = [limits.max_total_bytes]
    unverified = []
    try:
        chosen = inbound_entries(root, assignment, report, course_id)
        if len(chosen) > limits.max_files:
            raise _LimitExceeded(f"{len(chosen)} submissions, more than the limit of {limits.max_files}")
        for e in chosen:
            if e.owner_uid is None:
                unverified.append(e.student)
            files = sorted(os.scandir(e.path), key=lambda d: d.name)
            if len(files) > 100:
                report.skipped.append(Skipped(e.name, f"refused: {len(files)} files in one submission"))
                continue
            small: dict[str, bytes] = {}
            named = {f"{n}.ipynb" for n in _notebook_names(course_dir, assignment)}
            if any(f.name in named for f in files):     # extra notebooks beside the assignment's are not it
                files = [f for f in files if not f.name.endswith(".ipynb") or f.name in named]
            for f in files:
                rel = f"{e.name}/{ids.shown(f.name)[1:-1]}"
                try:
                    if f.name.endswith(".ipynb") and not f.name.startswith("."):
                        data = _read_own(Path(f.path), e.owner_uid, limits.max_file_bytes, budget)
                        entries.append((f"{e.student}/{f.name}", data))
                    elif f.name in ("timestamp.txt", "submission_secret.txt"):
                        small[f.name] = _read_own(Path(f.path), e.owner_uid, _SMALL, budget)
                except (ValueError, OSError) as exc:
                    report.skipped.append(Skipped(rel, f"unreadable or refused: {exc}"))
            secret = small.get("submission_secret.txt", b"").decode("ascii", "replace").strip()
            stamp = small.get("timestamp.txt", b"").decode("ascii", "replace").strip()
            if _SECRET.fullmatch(secret) and _parse_timestamp(stamp):
                extras[e.student] = {"submission_secret.txt": secret.encode(), "timestamp.txt": stamp.encode()}
            elif small:
                report.skipped.append(Skipped(e.name, "its timestamp.txt or submission_secret.txt is not nbgrader's: "
                                                      "imported without them (no feedback can be returned)"))
    except _LimitExceeded as exc:
        report.aborted = f"{exc}; nothing was imported"
        return report
    import_entries(entries, assignment, course_dir, report, force=force, dry_run=dry_run)
    if not dry_run:
        for imp in report.imported:
            for name, data in extras.get(imp.student, {}).items():
                _write_private(imp.target.parent / name, data)
    for s in unverified:
        report.skipped.append(Skipped(f"{s}+{assignment}", f"note: owner not verified ({s} is not a local account): "
                                                            "imported on the strength of the entry's name"))
    return report


def _write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def release_to_exchange(course_dir: Path | str, assignment: str, root: Path | str, *,
                        course_id: str = COURSE_ID) -> Path:
    """Build the student version of ``assignment`` (refusing leaks), then release it to the exchange
    with nbgrader's own code (outbound/, inbound/ and their modes); return the outbound folder."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange import ExchangeError
    from nbgrader.exchange.default import ExchangeReleaseAssignment

    from course_tools.grading.nbgrader_io import _quiet_logs, generate_student_version, make_config

    generate_student_version(course_dir, assignment)
    config = make_config(course_dir)
    config.Exchange.root = str(Path(root).resolve())
    config.CourseDirectory.course_id = course_id
    config.CourseDirectory.assignment_id = assignment
    coursedir = CourseDirectory(config=config)
    with _quiet_logs():
        try:
            ExchangeReleaseAssignment(coursedir=coursedir, authenticator=Authenticator(config=config),
                                      config=config, force=True).start()
        except ExchangeError as exc:
            raise RuntimeError(f"nbgrader could not release {assignment} to {root}: {exc}") from None
    return _course_path(root, course_id) / "outbound" / assignment


def return_feedback(course_dir: Path | str, assignment: str, root: Path | str, *, course_id: str = COURSE_ID,
                    students: Iterable[str] | None = None) -> dict[str, list[Path]]:
    """Copy each student's ``feedback/<student>/<assignment>/feedback.html`` to the exchange, once per
    notebook of the assignment, named as nbgrader's ``fetch_feedback`` expects. Students without a
    valid submission secret (collected from a folder or a zip) are left out. Returns what was written."""
    from nbgrader.utils import notebook_hash

    from course_tools.grading.feedback import feedback_path

    course_dir = Path(course_dir)
    notebooks = sorted(p.stem for p in (course_dir / "source" / assignment).glob("*.ipynb"))
    dest = _course_path(root, course_id) / "feedback"
    if dest.is_symlink():
        raise RuntimeError(f"{dest} is a symbolic link: refusing to write feedback through it")
    dest.mkdir(mode=0o711, exist_ok=True)
    os.chmod(dest, 0o711)                       # as nbgrader: not listable, files readable by exact name
    wanted = set(students) if students else None
    written: dict[str, list[Path]] = {}
    for student in ids.submitted_students(course_dir, assignment):
        if wanted is not None and student not in wanted:
            continue
        html = feedback_path(course_dir, assignment, student)
        secret_file = course_dir / "submitted" / student / assignment / "submission_secret.txt"
        if not html.is_file() or secret_file.is_symlink() or not secret_file.is_file():
            continue
        secret = secret_file.read_text(encoding="ascii", errors="replace").strip()
        if not _SECRET.fullmatch(secret):
            continue
        data = html.read_bytes()
        for nb in notebooks:
            target = dest / f"{notebook_hash(secret=secret, notebook_id=nb)}.html"
            _write_private(target, data, mode=0o644)
            written.setdefault(student, []).append(target)
    return written


def run_collect(root: Path | str, assignment: str, course_dir: Path | str = COURSE_DIR, *,
                course_id: str = COURSE_ID, force: bool = False, dry_run: bool = False,
                out: TextIO | None = None) -> int:
    """``course collect --exchange ROOT ASSIGNMENT``."""
    import sys

    out = out or sys.stdout
    report = collect_exchange(root, assignment, course_dir, course_id=course_id, force=force, dry_run=dry_run)
    print(report.summary(), file=out)
    return 0 if report.ok and (report.imported or not report.skipped) else 1


def run_feedback(assignment: str, root: Path | str, course_dir: Path | str = COURSE_DIR, *,
                 course_id: str = COURSE_ID, students: list[str] | None = None, out: TextIO | None = None) -> int:
    """The exchange half of ``course feedback ASSIGNMENT --exchange ROOT``."""
    import sys

    out = out or sys.stdout
    written = return_feedback(course_dir, assignment, root, course_id=course_id, students=students)
    for student, paths in sorted(written.items()):
        print(f"returned feedback of {student} to the exchange ({len(paths)} file(s))", file=out)
    print(f"{len(written)} student(s) can fetch their feedback for {assignment} from {root}", file=out)
    return 0
