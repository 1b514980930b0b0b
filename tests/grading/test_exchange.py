"""Does `course collect --exchange` import only what each student really submitted, and does returned
feedback land exactly where nbgrader's fetch_feedback looks for that student's submission only?"""

from __future__ import annotations

import getpass
import os
import pwd
import shutil
from pathlib import Path

import nbformat
import pytest

from course_tools.grading.collect import Limits
from course_tools.grading.exchange import COURSE_ID, collect_exchange, return_feedback
from course_tools.grading.nbgrader_io import COURSE_DIR

ASSIGNMENT = "08_caching"
ME = getpass.getuser()                 # a local account: ownership is verified for it
OTHER = next(p.pw_name for p in pwd.getpwall() if p.pw_uid != os.getuid() and p.pw_name.isidentifier())
SECRET = "ab" * 64


@pytest.fixture
def course(tmp_path) -> Path:
    c = tmp_path / "course"
    shutil.copytree(COURSE_DIR / "source" / ASSIGNMENT, c / "source" / ASSIGNMENT)
    return c


def _submit(root: Path, student: str, stamp: str, text: str = "mine", rand: str = "r4nd", secret: str = SECRET,
            extra: dict[str, str] | None = None) -> Path:
    d = root / COURSE_ID / "inbound" / f"{student}+{ASSIGNMENT}+{stamp}+{rand}"
    d.mkdir(parents=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text)])
    nbformat.write(nb, d / f"{ASSIGNMENT}.ipynb")
    (d / "timestamp.txt").write_text(stamp)
    (d / "submission_secret.txt").write_text(secret)
    for name, body in (extra or {}).items():
        (d / name).write_text(body)
    return d


def _text(course: Path, student: str) -> str:
    nb = nbformat.read(course / "submitted" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    return nb.cells[0].source


def test_latest_submission_of_each_student_with_its_secret(tmp_path, course):
    """Two submissions of one student: the later one is imported, with its timestamp and secret."""
    ex = tmp_path / "exchange"
    _submit(ex, ME, "2026-11-30 10:00:00.000000 UTC", "first", rand="a")
    _submit(ex, ME, "2026-11-30 11:00:00.000000 UTC", "second", rand="b")
    report = collect_exchange(ex, ASSIGNMENT, course)
    assert [(i.student, i.action) for i in report.imported] == [(ME, "new")], report.summary()
    assert _text(course, ME) == "second"
    sub = course / "submitted" / ME / ASSIGNMENT
    assert (sub / "submission_secret.txt").read_text() == SECRET
    assert (sub / "timestamp.txt").read_text() == "2026-11-30 11:00:00.000000 UTC"
    assert (sub / "submission_secret.txt").stat().st_mode & 0o077 == 0


def test_an_entry_named_for_another_account_but_not_owned_by_it_is_refused(tmp_path, course):
    """Anyone can create inbound/<name>+...: an entry for a local account it does not belong to is a forgery."""
    ex = tmp_path / "exchange"
    _submit(ex, OTHER, "2099-01-01 00:00:00.000000 UTC", "forged")
    report = collect_exchange(ex, ASSIGNMENT, course)
    assert report.imported == []
    assert any("another user may have forged it" in s.reason for s in report.skipped), report.summary()
    assert not (course / "submitted" / OTHER).exists()


def test_a_file_planted_in_a_real_submission_by_another_account_is_refused(tmp_path, course):
    """A notebook inside the student's own entry but owned by someone else is not the student's."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a file owned by another account")
    ex = tmp_path / "exchange"
    d = _submit(ex, ME, "2026-11-30 10:00:00.000000 UTC")
    os.chown(d / f"{ASSIGNMENT}.ipynb", pwd.getpwnam(OTHER).pw_uid, -1)
    report = collect_exchange(ex, ASSIGNMENT, course)
    assert report.imported == []
    assert any("not by the student" in s.reason for s in report.skipped), report.summary()


def test_unusable_names_links_and_bad_secrets(tmp_path, course):
    """Bad ids and timestamps, a symlinked entry and a linked notebook are refused; a bad secret is dropped."""
    ex = tmp_path / "exchange"
    inbound = ex / COURSE_ID / "inbound"
    _submit(ex, "..", "2026-11-30 10:00:00.000000 UTC")
    _submit(ex, "x", "yesterday")
    real = _submit(ex, ME, "2026-11-30 10:00:00.000000 UTC", "mine", secret="not hex!")
    (inbound / f"{ME}+{ASSIGNMENT}+2026-11-30 12:00:00.000000 UTC+lnk").symlink_to(real)
    _submit(ex, "nobody-here-42", "2026-11-30 10:00:00.000000 UTC", "unverified")
    target = tmp_path / "secret.ipynb"
    target.write_text("{}")
    linked = _submit(ex, "linker-99", "2026-11-30 10:00:00.000000 UTC")
    (linked / f"{ASSIGNMENT}.ipynb").unlink()
    (linked / f"{ASSIGNMENT}.ipynb").symlink_to(target)
    report = collect_exchange(ex, ASSIGNMENT, course)
    got = {i.student for i in report.imported}
    assert got == {ME, "nobody-here-42"}, report.summary()
    reasons = " | ".join(f"{s.origin}: {s.reason}" for s in report.skipped)
    assert "unsafe or unusable student id" in reasons
    assert "timestamp in its name is not nbgrader's" in reasons
    assert "not a folder (a symbolic link?)" in reasons
    assert "linker-99" in reasons and "unreadable or refused" in reasons
    assert "owner not verified (nobody-here-42 is not a local account)" in reasons
    assert "no feedback can be returned" in reasons
    assert _text(course, ME) == "mine"                  # the symlinked later entry was not followed
    assert not (course / "submitted" / ME / ASSIGNMENT / "submission_secret.txt").exists()


def test_sizes_are_bounded(tmp_path, course):
    """A notebook over the per-file limit is refused; the rest of the class is still imported."""
    ex = tmp_path / "exchange"
    _submit(ex, ME, "2026-11-30 10:00:00.000000 UTC", "x" * 5000)
    report = collect_exchange(ex, ASSIGNMENT, course, limits=Limits(max_file_bytes=1000))
    assert report.imported == []
    assert any("larger than" in s.reason for s in report.skipped), report.summary()


def test_feedback_is_returned_under_nbgraders_hash_of_each_students_secret(tmp_path, course):
    """feedback/<notebook_hash(secret, notebook)>.html, readable by exact name, the folder not listable."""
    from nbgrader.utils import notebook_hash

    from course_tools.grading.feedback import feedback_path

    ex = tmp_path / "exchange"
    _submit(ex, ME, "2026-11-30 10:00:00.000000 UTC")
    collect_exchange(ex, ASSIGNMENT, course)
    html = feedback_path(course, ASSIGNMENT, ME)
    html.parent.mkdir(parents=True)
    html.write_text("<p>feedback for me</p>")
    written = return_feedback(course, ASSIGNMENT, ex)
    expected = ex / COURSE_ID / "feedback" / f"{notebook_hash(secret=SECRET, notebook_id=ASSIGNMENT)}.html"
    assert written == {ME: [expected]}
    assert expected.read_text() == "<p>feedback for me</p>"
    assert expected.stat().st_mode & 0o777 == 0o644
    assert (ex / COURSE_ID / "feedback").stat().st_mode & 0o777 == 0o711


def test_cli_collect_takes_either_a_source_or_the_exchange(tmp_path, course, capsys):
    """`course collect --exchange ROOT ASSIGNMENT` imports; giving both SOURCE and --exchange, or neither, is refused."""
    from course_tools.cli import main

    ex = tmp_path / "exchange"
    _submit(ex, ME, "2026-11-30 10:00:00.000000 UTC")
    assert main(["collect", "--exchange", str(ex), ASSIGNMENT, "--course-dir", str(course)]) == 0
    assert f"new       {ME}" in capsys.readouterr().out
    assert main(["collect", str(tmp_path), ASSIGNMENT, "--exchange", str(ex), "--course-dir", str(course)]) == 2
    assert main(["collect", ASSIGNMENT, "--course-dir", str(course)]) == 2
    assert "--exchange" in capsys.readouterr().err
