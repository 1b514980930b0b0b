"""course collect: submissions from a folder or an LMS zip into submitted/<student>/<assignment>/."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

import pytest

from course_tools.cli import main
from course_tools.grading.collect import Limits, collect, student_from_path

A = "08_caching"
NB = b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}'


def _course(tmp_path: Path, notebooks=("08_caching",)) -> Path:
    course = tmp_path / "course"
    for n in notebooks:
        p = course / "source" / A / f"{n}.ipynb"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(NB)
    return course


def _nb(tag: str) -> bytes:
    return NB.replace(b"{}", b'{"who": "%s"}' % tag.encode(), 1)


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _submitted(course: Path) -> dict[str, bytes]:
    root = course / "submitted"
    if not root.exists():
        return {}
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.ipynb"))}


@pytest.mark.parametrize("rel, student", [
    ("jsmith/08_caching.ipynb", "jsmith"),
    ("jsmith/whatever I called it.ipynb", "jsmith"),
    ("jsmith/08_caching/08_caching.ipynb", "jsmith"),          # nbgrader's own layout
    ("jsmith_08_caching.ipynb", "jsmith"),
    ("jsmith_12345_67890_08_caching.ipynb", "jsmith"),          # Canvas
    ("jsmith_LATE_12345_67890_08_caching.ipynb", "jsmith"),     # Canvas, late
    ("jsmith_anything.ipynb", "jsmith"),
    ("Jane Smith_12345_assignsubmission_file_/caching.ipynb", "jane-smith-12345"),  # Moodle
    ("08_caching.ipynb", None),                                 # names no student
    ("08_caching_v2.ipynb", None),
    ("nounderscore.ipynb", None),
    ("=cmd|calc_08_caching.ipynb", None),                       # unsafe id is refused, not imported
    ("-rf_08_caching.ipynb", None),
])
def test_student_id_rules(rel, student):
    """Which student does each documented file-name / folder pattern give (or none)?"""
    got, reason = student_from_path(rel, A, ["08_caching"])
    assert got == student
    assert bool(reason) == (student is None)


def test_folder_of_student_folders_and_flat_files(tmp_path):
    """Are per-student folders and <student>_<x>.ipynb files imported under the assignment's
    notebook name, and are non-notebooks and unattributable files listed?"""
    course = _course(tmp_path)
    src = tmp_path / "upload"
    (src / "alice").mkdir(parents=True)
    (src / "alice" / "my caching work.ipynb").write_bytes(_nb("alice"))
    (src / "bob_12345_67890_08_caching.ipynb").write_bytes(_nb("bob"))
    (src / "README.txt").write_text("hello")
    (src / "08_caching.ipynb").write_bytes(_nb("who?"))
    rep = collect(src, A, course)
    assert _submitted(course) == {"alice/08_caching/08_caching.ipynb": _nb("alice"),
                                  "bob/08_caching/08_caching.ipynb": _nb("bob")}
    assert {i.student for i in rep.imported} == {"alice", "bob"}
    reasons = {s.origin: s.reason for s in rep.skipped}
    assert "not a notebook" in reasons["README.txt"]
    assert "cannot tell the student" in reasons["08_caching.ipynb"]
    assert "08_caching.ipynb" in rep.summary() and "README.txt" in rep.summary()


def test_lms_zip_with_wrapper_folder(tmp_path):
    """Is a Canvas-style zip (all files inside one wrapper folder, macOS junk, Jupyter checkpoints)
    imported per student, the litter ignored?"""
    course = _course(tmp_path)
    z = _zip(tmp_path / "subs.zip", {
        "submissions/jsmith_12345_67890_08_caching.ipynb": _nb("j"),
        "submissions/adoe_LATE_222_333_08_caching.ipynb": _nb("a"),
        "__MACOSX/submissions/._jsmith_12345_67890_08_caching.ipynb": b"junk",
        "submissions/.ipynb_checkpoints/jsmith_12345_67890_08_caching-checkpoint.ipynb": _nb("old"),
    })
    rep = collect(z, A, course)
    assert rep.ok and not rep.skipped
    assert _submitted(course) == {"jsmith/08_caching/08_caching.ipynb": _nb("j"),
                                  "adoe/08_caching/08_caching.ipynb": _nb("a")}


def test_single_student_zip_keeps_its_folder(tmp_path):
    """Is a zip holding one student's folder attributed to that folder, not stripped as a wrapper?"""
    course = _course(tmp_path)
    rep = collect(_zip(tmp_path / "one.zip", {"jsmith/08_caching.ipynb": _nb("j")}), A, course)
    assert [i.student for i in rep.imported] == ["jsmith"]


def test_multi_notebook_assignment_matches_by_name(tmp_path):
    """With two notebooks in an assignment, is each file matched by the notebook name it carries?"""
    course = _course(tmp_path, notebooks=("08_caching", "08_caching_part2"))
    src = tmp_path / "upload"
    (src / "amy").mkdir(parents=True)
    (src / "amy" / "08_caching.ipynb").write_bytes(_nb("1"))
    (src / "amy" / "08_caching_part2.ipynb").write_bytes(_nb("2"))
    (src / "amy" / "notes.ipynb").write_bytes(_nb("3"))
    rep = collect(src, A, course)
    assert _submitted(course) == {"amy/08_caching/08_caching.ipynb": _nb("1"),
                                  "amy/08_caching/08_caching_part2.ipynb": _nb("2")}
    assert any("which notebook" in s.reason for s in rep.skipped)


def test_duplicates_are_refused_not_picked(tmp_path):
    """Two different files for one student: is neither imported, and both listed? Identical copies import once."""
    course = _course(tmp_path)
    src = tmp_path / "upload"
    src.mkdir()
    (src / "kim_1_08_caching.ipynb").write_bytes(_nb("first"))
    (src / "kim_2_08_caching.ipynb").write_bytes(_nb("second"))
    (src / "lee_1_08_caching.ipynb").write_bytes(_nb("same"))
    (src / "lee_2_08_caching.ipynb").write_bytes(_nb("same"))
    rep = collect(src, A, course)
    assert list(_submitted(course)) == ["lee/08_caching/08_caching.ipynb"]
    dupes = [s for s in rep.skipped if s.reason.startswith("duplicate")]
    assert {s.origin for s in dupes} == {"kim_1_08_caching.ipynb", "kim_2_08_caching.ipynb"}


def test_existing_submission_kept_unless_force(tmp_path):
    """Does collecting again keep a different existing submission (listed), and replace it only with --force?"""
    course = _course(tmp_path)
    src = tmp_path / "upload"
    (src / "ann").mkdir(parents=True)
    (src / "ann" / "08_caching.ipynb").write_bytes(_nb("v1"))
    assert [i.action for i in collect(src, A, course).imported] == ["new"]
    assert [i.action for i in collect(src, A, course).imported] == ["unchanged"]
    (src / "ann" / "08_caching.ipynb").write_bytes(_nb("v2"))
    rep = collect(src, A, course)
    assert not rep.imported and "--force" in rep.skipped[0].reason
    assert _submitted(course)["ann/08_caching/08_caching.ipynb"] == _nb("v1")
    assert [i.action for i in collect(src, A, course, force=True).imported] == ["replaced"]
    assert _submitted(course)["ann/08_caching/08_caching.ipynb"] == _nb("v2")


def test_hostile_zip_paths_and_symlinks(tmp_path):
    """Are ../ and absolute member paths and zip symlinks refused, with nothing written outside submitted/?"""
    course = _course(tmp_path)
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("../../escape_08_caching.ipynb", _nb("x"))
        zf.writestr("/abs/evil_08_caching.ipynb", _nb("x"))
        zf.writestr("C:/win/evil_08_caching.ipynb", _nb("x"))
        zf.writestr("ok/../../up_08_caching.ipynb", _nb("x"))
        link = zipfile.ZipInfo("linker_08_caching.ipynb")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
        zf.writestr("good_08_caching.ipynb", _nb("good"))
    before = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    rep = collect(z, A, course)
    assert _submitted(course) == {"good/08_caching/08_caching.ipynb": _nb("good")}
    after = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert set(after) - set(before) == {course / "submitted/good/08_caching/08_caching.ipynb"}
    refused = [s for s in rep.skipped if s.reason.startswith("refused")]
    assert len(refused) == 5


def test_symlinks_in_a_folder_are_not_followed(tmp_path):
    """Is a symlinked notebook or folder in a SOURCE folder refused (it could point at the solutions),
    and a FIFO skipped instead of blocking the import?"""
    course = _course(tmp_path)
    secret = tmp_path / "secret.ipynb"
    secret.write_bytes(_nb("secret"))
    src = tmp_path / "upload"
    (src / "real").mkdir(parents=True)
    (src / "real" / "08_caching.ipynb").write_bytes(_nb("real"))
    os.symlink(secret, src / "sly_08_caching.ipynb")
    os.symlink(course / "source", src / "linkdir")
    os.mkfifo(src / "pipe_08_caching.ipynb")      # would block a plain open() forever
    rep = collect(src, A, course)
    assert _submitted(course) == {"real/08_caching/08_caching.ipynb": _nb("real")}
    assert {s.origin for s in rep.skipped if "symbolic link" in s.reason} == {"sly_08_caching.ipynb", "linkdir"}
    assert {s.origin: s.reason for s in rep.skipped}["pipe_08_caching.ipynb"] == "not a regular file"


def test_zip_bomb_is_capped(tmp_path):
    """Is a zip that inflates beyond the limits stopped while reading (sizes in headers not trusted),
    importing nothing?"""
    course = _course(tmp_path)
    z = _zip(tmp_path / "bomb.zip", {f"s{i}_08_caching.ipynb": b"0" * 400_000 for i in range(5)})
    rep = collect(z, A, course, limits=Limits(max_total_bytes=1_000_000, max_file_bytes=500_000))
    assert not rep.ok and "total uncompressed size" in rep.aborted
    assert _submitted(course) == {} and not rep.imported
    # one member bigger than the per-file cap only costs itself
    z2 = _zip(tmp_path / "big.zip", {"big_08_caching.ipynb": b"0" * 600_000, "ok_08_caching.ipynb": _nb("ok")})
    rep2 = collect(z2, A, course, limits=Limits(max_file_bytes=500_000))
    assert [i.student for i in rep2.imported] == ["ok"]
    assert "larger than" in rep2.skipped[0].reason
    # too many members
    z3 = _zip(tmp_path / "many.zip", {f"m{i}_08_caching.ipynb": b"{}" for i in range(20)})
    assert "more than the limit" in collect(z3, A, course, limits=Limits(max_files=10)).aborted
    # a zip file that is itself over the total cap is not even opened
    assert "zip itself is larger" in collect(z, A, course, limits=Limits(max_total_bytes=100)).aborted


def test_lying_zip_header_is_still_capped(tmp_path):
    """A member whose header claims a tiny size but inflates to more: is it refused (never written, never
    read past the limit) while the rest of the batch goes on?"""
    course = _course(tmp_path)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("liar_08_caching.ipynb", b"0" * 300_000)
        zf.writestr("fine_08_caching.ipynb", _nb("fine"))
    data = bytearray(buf.getvalue())
    # patch the uncompressed size (local header offset 22, central directory +24) to 10 bytes
    data[22:26] = (10).to_bytes(4, "little")
    cd = data.find(b"PK\x01\x02")
    data[cd + 24:cd + 28] = (10).to_bytes(4, "little")
    z = tmp_path / "liar.zip"
    z.write_bytes(bytes(data))
    rep = collect(z, A, course, limits=Limits(max_file_bytes=1000))
    assert _submitted(course) == {"fine/08_caching/08_caching.ipynb": _nb("fine")}
    assert [s.origin for s in rep.skipped] == ["liar_08_caching.ipynb"]


def test_cli_collect_in_process(tmp_path, capsys):
    """Does `course collect SOURCE ASSIGNMENT --course-dir DIR` import and print what it skipped?"""
    course = _course(tmp_path)
    z = _zip(tmp_path / "subs.zip", {"zoe_08_caching.ipynb": _nb("z"), "notes.pdf": b"%PDF"})
    assert main(["collect", str(z), A, "--course-dir", str(course)]) == 0
    out = capsys.readouterr().out
    assert "zoe" in out and "notes.pdf" in out and "not a notebook" in out
    assert (course / "submitted/zoe/08_caching/08_caching.ipynb").read_bytes() == _nb("z")
    assert main(["collect", str(tmp_path / "missing.zip"), A, "--course-dir", str(course)]) == 1


def test_dry_run_writes_nothing(tmp_path, capsys):
    """Does --dry-run report what would be imported without creating submitted/?"""
    course = _course(tmp_path)
    z = _zip(tmp_path / "subs.zip", {"zoe_08_caching.ipynb": _nb("z")})
    assert main(["collect", str(z), A, "--dry-run", "--course-dir", str(course)]) == 0
    out = capsys.readouterr().out
    assert "DRY RUN" in out and "zoe" in out
    assert not (course / "submitted").exists()


# -- one student's upload never becomes another student's submission (issue 9) -----------------

@pytest.mark.parametrize("inside", [
    {"bob/08_caching.ipynb": "forged-bob", "carol/08_caching.ipynb": "forged-carol"},             # folders
    {"bob_1_2_08_caching.ipynb": "forged-bob", "carol_LATE_1_2_08_caching.ipynb": "forged-carol"},  # Canvas names
    {"08_caching/bob/08_caching.ipynb": "forged-bob", "submissions/carol/08_caching.ipynb": "forged-carol"},
])
@pytest.mark.parametrize("top", ["jsmith", "Jane Smith_12345_assignsubmission_file_"])
def test_one_students_zip_never_imports_other_students(tmp_path, top, inside):
    """An LMS zip holding ONE student's folder, inside which that student put folders or files
    named like other students' submissions: is nothing imported as bob or carol, and does
    --force leave bob's real submission exactly as it was?"""
    course = _course(tmp_path)
    real_bob = course / "submitted" / "bob" / A / "08_caching.ipynb"
    real_bob.parent.mkdir(parents=True)
    real_bob.write_bytes(_nb("real-bob"))
    z = _zip(tmp_path / "one.zip", {f"{top}/{rel}": _nb(tag) for rel, tag in inside.items()})
    for force in (False, True):
        rep = collect(z, A, course, force=force)
        assert not rep.imported                                   # two different files: jsmith's duplicates
        assert {s.reason.split(":")[0] for s in rep.skipped} == {"duplicate"}
        assert all("bob" not in i.student and "carol" not in i.student for i in rep.imported)
    assert _submitted(course) == {"bob/08_caching/08_caching.ipynb": _nb("real-bob")}


def test_folder_inside_a_students_folder_is_that_students(tmp_path):
    """In a class zip and in a class folder, is ``alice/bob/08_caching.ipynb`` alice's (never bob's),
    and with --force is bob's real submission untouched?"""
    course = _course(tmp_path)
    members = {"alice/bob/08_caching.ipynb": _nb("by-alice"), "dave/08_caching.ipynb": _nb("dave")}
    z = _zip(tmp_path / "class.zip", members)
    folder = tmp_path / "class"
    for rel, data in members.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    for source in (z, folder):
        real_bob = course / "submitted" / "bob" / A / "08_caching.ipynb"
        real_bob.parent.mkdir(parents=True, exist_ok=True)
        real_bob.write_bytes(_nb("real-bob"))
        rep = collect(source, A, course, force=True)
        assert sorted((i.student, i.origin) for i in rep.imported) == [
            ("alice", "alice/bob/08_caching.ipynb"), ("dave", "dave/08_caching.ipynb")]
        assert _submitted(course)["bob/08_caching/08_caching.ipynb"] == _nb("real-bob")
        assert _submitted(course)["alice/08_caching/08_caching.ipynb"] == _nb("by-alice")


def test_ids_differing_only_in_case_are_refused(tmp_path):
    """``Amy/`` and ``amy/`` (one folder on macOS or Windows), or a new ``AMY`` when ``amy`` was
    collected before: is each refused rather than one replacing the other, even with --force?"""
    course = _course(tmp_path)
    rep = collect(_zip(tmp_path / "a.zip", {"Amy/08_caching.ipynb": _nb("1"), "amy/08_caching.ipynb": _nb("2"),
                                            "ben/08_caching.ipynb": _nb("ben")}), A, course)
    assert [i.student for i in rep.imported] == ["ben"]
    assert sum("differs only in case" in s.reason for s in rep.skipped) == 2
    collect(_zip(tmp_path / "b.zip", {"amy/08_caching.ipynb": _nb("amy")}), A, course)
    rep = collect(_zip(tmp_path / "c.zip", {"AMY/08_caching.ipynb": _nb("other")}), A, course, force=True)
    assert not rep.imported and "differs only in case from 'amy'" in rep.skipped[0].reason
    assert sorted(_submitted(course)) == ["amy/08_caching/08_caching.ipynb", "ben/08_caching/08_caching.ipynb"]


def test_non_utf8_folder_in_an_upload_is_skipped_and_named_safely(tmp_path):
    """A folder whose name is not UTF-8 in a class folder: is it skipped with its name escaped,
    the others imported, and is the report printable as plain ASCII?"""
    course = _course(tmp_path)
    src = tmp_path / "upload"
    bad = os.path.join(os.fsencode(src), b"caf\xe9")
    os.makedirs(bad)
    with open(os.path.join(bad, b"08_caching.ipynb"), "wb") as f:
        f.write(_nb("x"))
    (src / "ann").mkdir()
    (src / "ann" / "08_caching.ipynb").write_bytes(_nb("ann"))
    rep = collect(src, A, course)
    assert [i.student for i in rep.imported] == ["ann"]
    text = rep.summary()
    text.encode("ascii")
    assert "caf\\xe9/08_caching.ipynb: unsafe or unusable student id 'caf\\xe9': the name is not valid UTF-8" in text


def test_a_linked_student_folder_never_receives_an_upload(tmp_path):
    """If submitted/alice is a symbolic link to bob's folder, is alice's upload refused (even with
    --force) rather than written over bob's submission?"""
    course = _course(tmp_path)
    bob = course / "submitted" / "bob" / A / "08_caching.ipynb"
    bob.parent.mkdir(parents=True)
    bob.write_bytes(_nb("real-bob"))
    (course / "submitted" / "alice").symlink_to(course / "submitted" / "bob")
    src = tmp_path / "upload"
    (src / "alice").mkdir(parents=True)
    (src / "alice" / "08_caching.ipynb").write_bytes(_nb("alice"))
    rep = collect(src, A, course, force=True)
    assert not rep.imported and "is a symbolic link" in rep.skipped[0].reason
    assert bob.read_bytes() == _nb("real-bob")
