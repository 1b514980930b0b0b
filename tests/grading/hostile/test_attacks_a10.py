"""Do the open points of the attacker review (helper A10) stay closed?

* the clean process has a memory limit of its own (RLIMIT_DATA, ``Limits.clean_memory`` on top of
  its worker): a submission whose values do not fit loses the test during which that happened, with
  a message an instructor can act on, and the other submissions of the batch grade normally;
* the randomized retry-client check of the HTTP assessment (Question 18) computes the reference's
  half in the clean process, with no socket: a student thread that connects to every loopback
  listener cannot change the expected answer.

(The frame-size check before parsing is in tests/grading/test_protocol.py.)
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

from course_tools.grading import clean
from course_tools.grading.autograde import autograde
from course_tools.grading.sandbox import Limits, jail_available
from tests.grading._submissions import grade_cases

pytestmark = [pytest.mark.grading]


_spec = importlib.util.spec_from_file_location("hostile_corpus_a10", Path(__file__).with_name("corpus.py"))
corpus = sys.modules[_spec.name] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(corpus)


def _require_jail() -> None:
    ok, reasons = jail_available()
    if not ok:      # skip here; under CI fail: CI must prove the guarantees
        (pytest.fail if os.environ.get("CI", "").lower() == "true" else pytest.skip)(
            "the grading jail is not available here: " + "; ".join(reasons))


# ---- the clean process's own memory limit ---------------------------------------------------

# 15 MiB of text: one frame (under MAX_FRAME, within the value budget), but the clean process holds it
# about four times while it reads and decodes it: more than the 32 MiB the batch below allows it
HUGE_ANSWER = "answer_1 = 'b' * (15 << 20)"
# 200 MiB allocated in the student's own process, which has the jail's limits, not the clean process's
BIG_IN_STUDENT = "answer_1 = 'b' if len(bytearray(200 << 20)) == 200 << 20 else 'a'"
MEMORY_LIMIT = Limits(cell_timeout=20, notebook_timeout=60, clean_memory=32 << 20)


@pytest.fixture(scope="module")
def graded_memory(tmp_path_factory):
    _require_jail()
    course = tmp_path_factory.mktemp("a10-memory") / "course"
    shutil.copytree(corpus.FILES, course)
    answers = {"honest": None, "huge_value": HUGE_ANSWER, "big_in_its_own_process": BIG_IN_STUDENT}
    subs = {name: corpus.student_nb() for name in answers}
    for name, answer in answers.items():
        if answer is not None:
            subs[name]["cells"][corpus.cell_index(subs[name], "q1_answer")]["source"] = answer
    for name, nb in subs.items():
        d = course / "submitted" / name / corpus.ASSIGNMENT
        d.mkdir(parents=True)
        (d / corpus.NB).write_bytes(corpus.dump(nb))
    results = autograde(corpus.ASSIGNMENT, course, jobs=2, progress=False, limits=MEMORY_LIMIT)
    return {r.student: r for r in results}


def test_a_value_too_big_for_the_clean_process_costs_its_test_only(graded_memory):
    """A value that does not fit in the clean process's memory limit: the test that read it errors with
    a message naming the limit (and how to raise it), the notebook's other tests are graded, and an
    honest submission of the same batch, graded under the same limit, gets full marks."""
    honest, huge = graded_memory["honest"], graded_memory["huge_value"]
    assert honest.status == "graded" and honest.score == honest.max_score == 4, \
        [(c.grade_id, c.status, c.message) for c in honest.cells()]
    cells = {c.grade_id: c for c in huge.cells()}
    assert huge.status == "graded", huge.status
    assert cells["q1_test"].status == "error", (cells["q1_test"].status, cells["q1_test"].message)
    assert "memory limit" in cells["q1_test"].message and "Limits.clean_memory" in cells["q1_test"].message
    assert {g: cells[g].status for g in ("q2_test", "q3_test")} == {"q2_test": "passed", "q3_test": "passed"}
    assert huge.score == 3


def test_the_student_process_keeps_the_jails_memory_limits(graded_memory):
    """The student's process is started by the clean one but does not inherit its small limit: 200 MiB
    allocated there (6 times the clean process's limit in this batch) is fine."""
    r = graded_memory["big_in_its_own_process"]
    assert r.status == "graded" and r.score == 4, [(c.grade_id, c.status, c.message) for c in r.cells()]


def test_out_of_memory_outside_a_test_fails_that_notebook_with_a_clear_error(monkeypatch):
    """If the limit is reached outside any test, the clean process still answers: an error naming the
    memory limit (the worker goes on; autograde marks that one submission failed)."""
    def hungry(request):
        hoard = [bytearray(1 << 20) for _ in range(64)]      # 64 MiB, over a 16 MiB limit
        return {"results": {}, "warnings": [str(len(hoard))]}

    monkeypatch.setattr(clean, "grade_cells", hungry)
    resp = clean._grade_in_child({"unsafe": True, "limits": Limits(clean_memory=16 << 20).to_dict()}, timeout=60)
    assert "error" in resp and "memory limit" in resp["error"] and "Limits.clean_memory" in resp["error"], resp
    monkeypatch.setattr(clean, "grade_cells", lambda request: {"results": {}, "warnings": ["fits"]})
    assert clean._grade_in_child({"unsafe": True, "limits": Limits(clean_memory=16 << 20).to_dict()},
                                 timeout=60) == {"results": {}, "warnings": ["fits"]}


# ---- Question 18's randomized retry check: the reference half on no socket -------------------

class _Neighbour:
    """A thread the student's code left running that reaches every loopback listener first, made to
    win every race by design: each socket that starts listening, except those of the student's own
    scripted service, is connected to and sent one request before its server accepts anything (the
    accept queue is first in, first out). Before the fix this was the reference's server and relay:
    its script and its dropped connections shifted, and the expected answer with them."""

    REQUEST = b"POST /orders HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

    def __init__(self, monkeypatch, student) -> None:
        import socket

        from course_tools.grading.reference import http as H

        self.own, self.hits = False, []
        real_listen, real_run = socket.socket.listen, H.run_retry_client

        def listen(sock, *args):
            real_listen(sock, *args)
            if not self.own:
                c = socket.create_connection(sock.getsockname()[:2], timeout=5)
                c.sendall(self.REQUEST)
                self.hits.append(c)

        def run(fn, *args, **kwargs):      # the student's own service: left alone
            self.own = fn is student
            try:
                return real_run(fn, *args, **kwargs)
            finally:
                self.own = False

        monkeypatch.setattr(socket.socket, "listen", listen)
        monkeypatch.setattr(H, "run_retry_client", run)

    def close(self) -> None:
        for c in self.hits:
            c.close()


def _correct(base_url, method, path, **kw):
    from course_tools.grading.reference.http import request_with_retries
    return request_with_retries(base_url, method, path, **kw)


def _never_retries(base_url, method, path, *, body=b"", **kw):
    from course_tools.net.wire import send
    return send(base_url, method, path, body=body)


def _one_attempt_too_many(base_url, method, path, *, max_attempts=4, **kw):
    from course_tools.grading.reference.http import request_with_retries
    return request_with_retries(base_url, method, path, max_attempts=max_attempts + 1, **kw)


@pytest.mark.network
@pytest.mark.parametrize("student, passes", [(_correct, True), (_never_retries, False),
                                             (_one_attempt_too_many, False)],
                         ids=["correct", "never_retries", "one_attempt_too_many"])
def test_a_neighbour_on_the_loopback_cannot_change_the_retry_verdict(monkeypatch, student, passes):
    """With a student thread that gets to every loopback listener before anyone else, does Question
    18's randomized comparison still pass a correct client and fail wrong ones? (The reference's
    half opens no socket, so there is nothing of it to reach.)"""
    from course_tools.grading.checks import AnswerError
    from course_tools.grading.reference.http import compare_retry_client

    neighbour = _Neighbour(monkeypatch, student)
    try:
        if passes:
            compare_retry_client(student, seed=2101, n=14, question=18)
        else:
            with pytest.raises(AnswerError, match="Question 18"):
                compare_retry_client(student, seed=2101, n=14, question=18)
    finally:
        neighbour.close()
    assert neighbour.hits == []


# End to end, in the jail: the student's module starts a thread that, for the rest of the notebook,
# sends a POST to every socket listening on the loopback it shares with the clean process (found in
# /proc/net/tcp), over and over. Its timing against the test is luck, so only what holds whatever the
# timing is asserted: a client that never retries gets no point for Part C.
HAMMER = (
    "import socket, threading, time\n\n"
    "def _listeners():\n"
    "    with open('/proc/net/tcp') as f:\n"
    "        rows = [line.split() for line in f.readlines()[1:]]\n"
    "    return {int(r[1].split(':')[1], 16) for r in rows if r[3] == '0A'}\n\n"
    "def _hammer():\n"
    "    while True:\n"
    "        for port in _listeners():\n"
    "            try:\n"
    "                with socket.create_connection(('127.0.0.1', port), timeout=0.5) as s:\n"
    "                    s.sendall(b'POST /orders HTTP/1.1\\r\\nHost: x\\r\\nContent-Length: 0\\r\\n\\r\\n')\n"
    "            except OSError:\n"
    "                pass\n"
    "        time.sleep(0.005)\n\n"
    "threading.Thread(target=_hammer, daemon=True).start()\n\n"
)
NEVER_RETRIES = ("def request_with_retries(base_url, method, path, *, body=b'', max_attempts=4, base_delay=0.5, "
                 "sleep=time.sleep):\n    return send(base_url, method, path, body=body)\n")
RETRY_TESTS = ("retry_test_basic", "retry_test_backoff", "retry_test_retry_after", "retry_test_post",
               "retry_test_random")


@pytest.fixture(scope="module")
def graded_hammer(tmp_path_factory):
    _require_jail()
    return grade_cases(tmp_path_factory.mktemp("a10-http"), "01_http",
                       {"hammer_never_retries": ({"retry_answer": HAMMER + NEVER_RETRIES}, None)},
                       limits=Limits(cell_timeout=60, notebook_timeout=300))


def test_a_loopback_hammer_does_not_make_a_wrong_retry_client_pass(graded_hammer):
    """A client that never retries, from a notebook whose thread hammers every loopback listener during
    the tests: every Part C test (Question 18's randomized comparison included) loses its points."""
    r = graded_hammer["hammer_never_retries"]
    cells = {c.grade_id: c for c in r.cells()}
    # (once, on a loaded machine, the whole submission failed instead; that also gives it no point)
    assert r.status == "graded" or r.status.startswith("failed: "), (r.status, r.warnings)
    assert all(cells[g].status != "passed" and cells[g].points == 0 for g in RETRY_TESTS), \
        {g: (cells[g].status, cells[g].message) for g in RETRY_TESTS}
