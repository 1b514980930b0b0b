"""Student ids and submitted files: odd names are refused and named safely, and the class goes on.

Covers course_tools.grading.ids (which names are student ids, wherever ids are read),
course_tools.grading.safeio (opening a submitted file as root: no links, no FIFOs, bounded)
and, end to end, `course feedback` / `course export` / `course report` run as the real command
in a course whose submitted/ holds a folder name that is not UTF-8.
"""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from course_tools.grading import ids
from course_tools.grading import results as R
from course_tools.grading.autograde import submissions
from course_tools.grading.safeio import SubmissionFileError, open_submission

A = "08_caching"
NON_UTF8 = b"caf\xe9-\xff"                 # Latin-1 bytes: not UTF-8


@pytest.mark.parametrize("name, ok", [
    ("jsmith", True), ("j.smith@uni.example", True), ("jane-smith-12345", True), ("A1", True),
    ("x" * 64, True), ("x" * 65, False),
    ("", False), (".", False), ("..", False), ("...", False), (".hidden", False), ("-rf", False),
    ("=cmd", False), ("a/b", False), ("a\\b", False), ("a\0b", False), ("a\nb", False), ("a\tb", False),
    ("a b", False), ("caf\u00e9", False), ("caf\udce9", False),    # os.listdir's escape for a non-UTF-8 byte
    (b"caf\xe9", False), (b"bob", True),
    ("submissions", False), ("Submissions", False), ("feedback", False),
])
def test_which_names_are_student_ids(name, ok):
    """Which names are accepted as student ids, and does every refusal say why?"""
    assert ids.is_valid(name) is ok
    assert (ids.problem(name) is None) is ok


def test_refused_names_are_shown_as_safe_ascii():
    """Is an odd name shown as short printable ASCII (undecodable bytes as \\xNN), never raw?"""
    assert ids.shown("caf\udce9") == ids.shown(b"caf\xe9") == "'caf\\xe9'"
    assert ids.shown("a\nb\x1b[31m") == "'a\\nb\\x1b[31m'"
    assert ids.shown("\u202etxt.exe") == "'\\u202etxt.exe'"                  # right-to-left override
    assert len(ids.shown("x" * 500)) == 82 and all(32 <= ord(c) < 127 for c in ids.shown("\u00e9" * 100))


def _submit(course: Path, name: str | bytes) -> Path:
    d = os.path.join(os.fsencode(course / "submitted"), os.fsencode(name), A.encode())
    os.makedirs(d, exist_ok=True)
    return Path(os.fsdecode(d))


def test_submitted_listing_refuses_odd_folders_and_links_and_goes_on(tmp_path):
    """Does autograde's listing keep valid students, refuse (and name safely) a non-UTF-8 folder,
    a dots-only one, a reserved one and symbolic links at either level, without following a link?"""
    course = tmp_path / "course"
    for s in ("amy", "bob", NON_UTF8, "...", "submissions"):
        _submit(course, s)
    elsewhere = tmp_path / "elsewhere" / A
    elsewhere.mkdir(parents=True)
    (course / "submitted" / "eve").symlink_to(tmp_path / "elsewhere")          # student folder is a link
    (course / "submitted" / "fay").mkdir()
    (course / "submitted" / "fay" / A).symlink_to(elsewhere)                   # assignment folder is a link
    refused: list = []
    assert submissions(course, A, refused=refused) == ["amy", "bob"]
    why = dict(refused)
    assert why == {"submitted/caf\\xe9-\\xff": "the name is not valid UTF-8",
                   "submitted/...": "the name is only dots",
                   "submitted/submissions": "'submissions' is a folder name this tool uses itself, not a student",
                   "submitted/eve": "a symbolic link: not followed",
                   f"submitted/fay/{A}": "a symbolic link: not followed"}
    # requested names are checked too: a path is never built from an invalid one
    refused = []
    assert submissions(course, A, ["bob", "../../etc", "zed"], refused=refused) == ["bob", "zed"]
    assert refused == [("'../../etc'", "the name contains a path separator")]


def test_submissions_prints_refusals_when_not_collected(tmp_path, capsys):
    """Without a ``refused`` list, is each refusal one line on stderr (and the valid ones returned)?"""
    course = tmp_path / "course"
    _submit(course, "amy")
    _submit(course, NON_UTF8)
    assert submissions(course, A) == ["amy"]
    assert capsys.readouterr().err == "skipped submitted/caf\\xe9-\\xff: the name is not valid UTF-8\n"


def test_open_submission_reads_a_regular_file_within_the_limit(tmp_path):
    """Is a regular file's content returned whole, and one byte over the limit refused?"""
    f = tmp_path / "08_caching.ipynb"
    f.write_bytes(b"x" * 100)
    assert open_submission(f, 100) == b"x" * 100
    with pytest.raises(SubmissionFileError, match="more than the limit of 99"):
        open_submission(f, 99)


def test_open_submission_refuses_links_fifos_sockets_devices_and_folders(tmp_path):
    """Are a symlink (to a root-only file), a FIFO with no writer (must not block), a socket, a
    device and a directory each refused at once with a message naming the file safely?"""
    target = tmp_path / "secret"
    target.write_text("root only")
    (tmp_path / "link.ipynb").symlink_to(target)
    os.mkfifo(tmp_path / "fifo.ipynb")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock.ipynb"))
    (tmp_path / "dir.ipynb").mkdir()
    (tmp_path / "caf\udce9.ipynb").symlink_to(target)
    try:
        cases = {"link.ipynb": "symbolic link", "fifo.ipynb": "FIFO", "sock.ipynb": "not a regular file",
                 "dir.ipynb": "directory", "caf\udce9.ipynb": "caf\\\\xe9.ipynb' is a symbolic link"}
        for name, expected in cases.items():
            with pytest.raises(SubmissionFileError, match=expected):
                open_submission(tmp_path / name, 1 << 20)
        with pytest.raises(SubmissionFileError, match="character device"):
            open_submission("/dev/zero", 1 << 20)
    finally:
        sock.close()


def _course_with_results(tmp_path: Path) -> Path:
    from tests.grading.test_feedback import _result, _source   # a real source notebook and results
    course = tmp_path / "course"
    _source(course)
    for s in ("amy", "bob"):
        _submit(course, s)
        R.save_result(course, _result(s))
    _submit(course, NON_UTF8)                                  # submitted, never gradable
    (course / "grades" / A / os.fsdecode(NON_UTF8 + b".json")).write_text(json.dumps({"student": "x"}))
    return course


def _course_cmd(*args: str) -> subprocess.CompletedProcess:
    """The real ``course`` command, with a strict UTF-8 stdout (as a terminal would have)."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict", "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "course_tools.cli", *args], capture_output=True, env=env,
                          timeout=300)


def test_feedback_export_report_survive_a_non_utf8_folder(tmp_path):
    """With a submitted/ folder (and a grades/ file) whose name is not UTF-8, do `course feedback`,
    `course export` and `course report` still do their work for everyone else, exit 0, and name
    the odd folder safely?"""
    course = _course_with_results(tmp_path)
    fb = _course_cmd("feedback", A, "--course-dir", str(course))
    assert fb.returncode == 0, fb.stderr.decode()
    assert b"2 feedback file(s)" in fb.stdout
    assert b"skipped submitted/caf\\xe9-\\xff: the name is not valid UTF-8" in fb.stdout
    assert b"skipped grades/08_caching/caf\\xe9-\\xff.json: the name is not valid UTF-8" in fb.stdout
    assert sorted(p.parent.parent.name for p in (course / "feedback").glob(f"*/{A}/feedback.html")) == ["amy", "bob"]

    ex = _course_cmd("export", "--csv", "-", "--course-dir", str(course))
    assert ex.returncode == 0, ex.stderr.decode()
    rows = list(csv.DictReader(io.StringIO(ex.stdout.decode("utf-8"))))
    assert sorted(r["student"] for r in rows) == ["amy", "bob"]
    assert b"skipped submitted/caf\\xe9-\\xff" in ex.stderr

    rp = _course_cmd("report", A, "--no-plots", "--course-dir", str(course))
    assert rp.returncode == 0, rp.stderr.decode()
    assert b"2.8.1" in rp.stdout
