"""Does every hostile submission fail only itself, with its exact outcome, while the batch goes on?

The whole corpus (``corpus.py``) is graded as ONE batch (``--jobs 2``, student code in the
bubblewrap jail, verdicts in the clean process) in a module fixture; each test then checks one
submission's status, score and per-test statuses, or a property of the batch (other grades
unchanged, nothing left running, nothing written where it must not be). Without the jail these
tests skip (and fail under CI): the corpus kills every process it may signal, which only the
jail makes harmless.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import sys
from pathlib import Path

import pytest

from course_tools.grading.autograde import autograde, grade_notebook
from course_tools.grading.results import load_result, result_path
from course_tools.grading.sandbox import JAIL_UID_BASE, UID_BASE, Limits, jail_available, pids_of_uid_range

pytestmark = [pytest.mark.grading, pytest.mark.slow]


def _load_corpus():
    spec = importlib.util.spec_from_file_location("hostile_corpus", Path(__file__).with_name("corpus.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


corpus = _load_corpus()
LIMITS = Limits(cell_timeout=3, notebook_timeout=40)
CONTROL = ["good", "untouched", "partly_right"]


def require_jail() -> None:
    """Skip without the jail (say why); under CI, fail: CI must prove the guarantees."""
    ok, reasons = jail_available()
    if not ok:
        msg = "the grading jail is not available here: " + "; ".join(reasons)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _jailed_pids() -> list[int]:
    """Student processes (of any jail uid) still alive: the stub, or anything a student started."""
    out = []
    for pid in pids_of_uid_range(JAIL_UID_BASE, UID_BASE):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read()
        except OSError:
            continue
        if b"_course_stub" in env or b"COURSE_STUDENT=1" in env:   # ours, not another test's jail
            out.append(pid)
    return out


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    require_jail()
    course = tmp_path_factory.mktemp("hostile") / "course"
    shutil.copytree(corpus.FILES, course)
    (course / "gradebook.db").write_bytes(b"the instructor's gradebook")
    with socket.socket() as server:   # a service on the grader's loopback the students try to reach
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        (course / "port.txt").write_text(str(server.getsockname()[1]))
        cases = corpus.write_corpus(course)
        results = autograde(corpus.ASSIGNMENT, course, jobs=2, limits=LIMITS, progress=False)
    return course, {c.name: c for c in cases}, {r.student: r for r in results}, None


@pytest.mark.parametrize("name", [c.name for c in corpus.CASES])
def test_exact_outcome(batch, name):
    """Each submission gets exactly its expected status, score and per-test statuses."""
    course, cases, results, _ = batch
    case, r = cases[name], results[name]
    assert r.status.startswith(case.status), r.status
    assert r.score == case.score, [(c.grade_id, c.status, c.message) for c in r.cells()]
    assert r.max_score == 4
    got = {c.grade_id: c.status for c in r.cells()}
    for gid, status in case.tests.items():
        assert got[gid] == status, (gid, got, r.warnings)
    if case.warning:
        assert any(case.warning in w for w in r.warnings), r.warnings
    saved = load_result(result_path(course, corpus.ASSIGNMENT, name))
    assert saved.score == r.score and saved.status == r.status


def test_messages_never_show_hidden_tests(batch):
    """Learner-visible messages are hints and assertion messages, never hidden test source."""
    _, _, results, _ = batch
    hidden = ["_ref(", "rng = random.Random", 'check_choice(answer_1, "b"', 'check_choice(answer_2, "c"']
    for r in results.values():
        for c in r.cells():
            assert not any(h in c.message for h in hidden), (r.student, c.message)
            assert c.objectives, c


def test_other_grades_unchanged_by_hostile_neighbours(batch, tmp_path):
    """The honest submissions get the same per-test results alone as in the hostile batch."""
    course, _, results, _ = batch
    alone = tmp_path / "course"
    shutil.copytree(corpus.FILES, alone)
    corpus.write_corpus(alone, CONTROL)
    clean = {r.student: r for r in autograde(corpus.ASSIGNMENT, alone, jobs=1, limits=LIMITS, progress=False)}
    for name in CONTROL:
        assert [(c.grade_id, c.status, c.points, c.message) for c in clean[name].cells()] == \
               [(c.grade_id, c.status, c.points, c.message) for c in results[name].cells()]
        assert clean[name].status == results[name].status == "graded"


def test_course_files_untouched_and_nothing_left_running(batch):
    """No student wrote the gradebook or a result; no sandboxed process or cgroup survives grading."""
    course, _, results, uids = batch
    assert (course / "gradebook.db").read_bytes() == b"the instructor's gradebook"
    forged = json.loads(result_path(course, corpus.ASSIGNMENT, "writes_gradebook").read_text())
    assert forged["score"] == 0 and forged["notebooks"]
    assert _jailed_pids() == []
    # jail cgroups still holding a student process (another test's jails on this machine hold others)
    running = [p for root in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup/memory"), Path("/sys/fs/cgroup"))
               if root.is_dir() for p in root.glob("course-jail-*")
               if set(_jailed_pids()) & {int(x) for x in _read(p / "cgroup.procs").split()}]
    assert running == []


def test_a_student_process_that_stops_reading_costs_one_cell_limit(batch):
    """The worker writes to the student process without blocking, with a deadline: a student process
    that stops reading costs about one cell's time limit, not minutes."""
    _, _, results, _ = batch
    r = results["blocks_the_channel"]
    assert r.seconds < 3 * LIMITS.cell_timeout + 15, r.seconds


def test_jailed_results_carry_no_unsafe_warning(batch):
    """Graded in the jail: no result says UNSAFE."""
    _, _, results, _ = batch
    for r in results.values():
        assert not any("UNSAFE" in w for w in r.warnings), r.warnings


def test_startup_files_do_not_reach_the_next_student(tmp_path):
    """IPython startup files written by one student do not run for the next one (same worker)."""
    require_jail()
    course = tmp_path / "course"
    shutil.copytree(corpus.FILES, course)
    (course / "port.txt").write_text("9")
    corpus.write_corpus(course, ["persists_startup_files"])
    os.rename(course / "submitted" / "persists_startup_files", course / "submitted" / "a_persists")
    victim = corpus.student_nb()
    for gid in ("q1_answer", "q2_answer"):
        victim["cells"][corpus.cell_index(victim, gid)]["source"] = "pass  # no answer: a startup file would set one"
    d = course / "submitted" / "b_victim" / corpus.ASSIGNMENT
    d.mkdir(parents=True)
    (d / corpus.NB).write_bytes(corpus.dump(victim))
    results = {r.student: r for r in autograde(corpus.ASSIGNMENT, course, jobs=1, limits=LIMITS, progress=False)}
    cells = {c.grade_id: c for c in results["b_victim"].cells()}
    assert results["b_victim"].score == 2
    assert cells["q1_test"].status == "error" and "answer_1" in cells["q1_test"].message


@pytest.mark.parametrize("unsafe", [True, False])
def test_grade_notebook_for_one_learner(tmp_path, unsafe):
    """grade_notebook (used by `course check`) grades one file, jailed or not (no flag needed: it is
    the learner's own code), and says which isolation it used."""
    if not unsafe:
        require_jail()
    path = tmp_path / "work" / "my copy.ipynb"
    path.parent.mkdir()
    path.write_bytes(corpus.dump(corpus.wrong(corpus.student_nb(), "q2_answer")))
    nb = grade_notebook(corpus.SOURCE, path, limits=LIMITS, unsafe=unsafe)
    assert (nb.name, nb.score, nb.max_score) == ("fixture_quiz", 3.0, 4.0), nb
    q2 = [c for c in nb.cells if c.grade_id == "q2_test"][0]
    assert q2.status == "failed" and "Recency, not frequency." in q2.message and q2.objectives == ["2.8.2"]
    assert ("UNSAFE" in nb.isolation) == unsafe and ("bubblewrap jail" in nb.isolation) == (not unsafe)


def test_autograde_refuses_without_the_jail_unless_unsafe(tmp_path, monkeypatch, capsys):
    """`course autograde` refuses (exit 2, with the reason) when the jail is not available, and grades
    with --unsafe, saying UNSAFE in every result's warnings."""
    from course_tools.cli import main
    from course_tools.grading import clean

    monkeypatch.setattr(clean, "jail_available", lambda: (False, ["bubblewrap is not installed (pretend)"]))
    course = tmp_path / "course"
    shutil.copytree(corpus.FILES, course)
    corpus.write_corpus(course, ["good"])
    rc = main(["autograde", corpus.ASSIGNMENT, "--course-dir", str(course), "--jobs", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "refusing to grade" in err and "bubblewrap is not installed (pretend)" in err and "--unsafe" in err
    assert not result_path(course, corpus.ASSIGNMENT, "good").exists()
    rc = main(["autograde", corpus.ASSIGNMENT, "--course-dir", str(course), "--jobs", "1", "--unsafe"])
    assert rc == 0
    saved = load_result(result_path(course, corpus.ASSIGNMENT, "good"))
    assert saved.score == 4 and any(w.startswith("UNSAFE") for w in saved.warnings)


def test_cli_autograde_one_student(tmp_path, capsys):
    """`course autograde A --student S --jobs 1` grades only S and prints its line and a summary."""
    from course_tools.cli import main

    require_jail()
    course = tmp_path / "course"
    shutil.copytree(corpus.FILES, course)
    corpus.write_corpus(course, ["good", "malformed_json"])
    rc = main(["autograde", corpus.ASSIGNMENT, "--course-dir", str(course), "--jobs", "1", "--student", "good"])
    out = capsys.readouterr().out
    assert rc == 0 and "good" in out and "1 submission(s)" in out
    assert result_path(course, corpus.ASSIGNMENT, "good").exists()
    assert not result_path(course, corpus.ASSIGNMENT, "malformed_json").exists()
    rc = main(["autograde", corpus.ASSIGNMENT, "--course-dir", str(course), "--jobs", "1"])
    assert rc == 1 and "failed: fixture_quiz.ipynb is not valid JSON" in capsys.readouterr().out


def test_a_dead_worker_costs_only_its_submission(tmp_path, monkeypatch):
    """If a worker process dies mid-submission, that submission is 'failed: ...rerun...', the pool
    starts a new worker, and the other submissions are graded as usual."""
    from course_tools.grading import autograde as ag

    require_jail()
    course = tmp_path / "course"
    shutil.copytree(corpus.FILES, course)
    corpus.write_corpus(course, ["good", "partly_right", "untouched"])
    victim = course / "submitted" / "partly_right" / corpus.ASSIGNMENT / corpus.NB
    victim.write_text(victim.read_text().replace("answer_2 = 'a'", "answer_2 = 'a'  # KILL-THE-WORKER"))
    original = ag.Worker.grade

    def dies_on_the_victim(self, request, timeout):
        if "KILL-THE-WORKER" in json.dumps(request["cells"]):
            self.kill()
        return original(self, request, timeout)

    monkeypatch.setattr(ag.Worker, "grade", dies_on_the_victim)
    results = {r.student: r for r in autograde(corpus.ASSIGNMENT, course, jobs=1, limits=LIMITS, progress=False)}
    assert results["partly_right"].status.startswith("failed: the grading worker failed")
    assert "--student partly_right" in results["partly_right"].status
    assert (results["good"].status, results["good"].score) == ("graded", 4)
    assert (results["untouched"].status, results["untouched"].score) == ("graded", 0)


def test_notebook_time_limit(tmp_path):
    """Cells that are each within the cell limit but together exceed the notebook limit: the tests
    not reached are 'timeout' (0 points), the ones before count, the batch goes on."""
    require_jail()
    course = tmp_path / "course"
    shutil.copytree(corpus.FILES, course)
    nb = corpus.insert(corpus.student_nb(), "q2_answer", *["import time\ntime.sleep(1.5)"] * 3)
    d = course / "submitted" / "slow" / corpus.ASSIGNMENT
    d.mkdir(parents=True)
    (d / corpus.NB).write_bytes(corpus.dump(nb))
    [r] = autograde(corpus.ASSIGNMENT, course, jobs=1, limits=Limits(cell_timeout=2, notebook_timeout=4),
                    progress=False)
    cells = {c.grade_id: c for c in r.cells()}
    assert (r.status, r.score) == ("graded", 1)
    assert cells["q1_test"].status == "passed"
    assert cells["q3_test"].status == "timeout" and "4 s time limit" in cells["q3_test"].message


UNSAFE_SAFE = ["good", "partly_right", "os_exit", "infinite_loop", "monkeypatched_checks", "eq_always_true",
               "forges_ready_during_replay", "input_transformer", "huge_answer", "code_replaced_in_course_modules",
               "forged_protocol_frames"]


def test_unsafe_still_grades_right_and_says_so(tmp_path):
    """With --unsafe (no jail: what a machine without bubblewrap or root offers), verdicts still come
    from the clean process: the same outcomes for the cases that do not attack the host (those
    that do are only safe in the jail), and every result says UNSAFE."""
    course = tmp_path / "course"
    shutil.copytree(corpus.FILES, course)
    (course / "port.txt").write_text("9")
    cases = {c.name: c for c in corpus.write_corpus(course, UNSAFE_SAFE)}
    results = autograde(corpus.ASSIGNMENT, course, jobs=2, limits=LIMITS, progress=False, unsafe=True)
    assert len(results) == len(UNSAFE_SAFE)
    for r in results:
        c = cases[r.student]
        assert (r.status, r.score) == (c.status, c.score), (r.student, r.status, r.score, r.warnings)
        assert {g: s for g, s in ((x.grade_id, x.status) for x in r.cells()) if g in c.tests} == c.tests
        assert any(w.startswith("UNSAFE") for w in r.warnings)


def test_a_worker_that_cannot_start_fails_every_submission_with_its_reason(tmp_path, monkeypatch):
    """If no worker can start, each submission is 'failed: ...' with the worker's own error, and
    nothing is left running."""
    from course_tools.grading import autograde as ag

    course = tmp_path / "course"
    shutil.copytree(corpus.FILES, course)
    corpus.write_corpus(course, ["good"])
    monkeypatch.setattr(ag, "worker_command", lambda *a, **k: [sys.executable, "-c", "import sys; "
                                                                "sys.exit('worker: cannot import IPython')"])
    [r] = autograde(corpus.ASSIGNMENT, course, jobs=1, limits=LIMITS, progress=False)
    assert r.status.startswith("failed: the grading worker failed") and "cannot import IPython" in r.status
