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
    subs = {"honest": corpus.student_nb(), "huge_value": corpus.student_nb(), "big_in_its_own_process": corpus.student_nb()}
    subs["huge_value"]["cells"][corpus.cell_index(subs["huge_value"], "q1_answer")]["source"] = HUGE_ANSWER
    subs["big_in_its_own_process"]["cells"][corpus.cell_index(subs["big_in_its_own_process"], "q1_answer")][
        "source"] = BIG_IN_STUDENT
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
