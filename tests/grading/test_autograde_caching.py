"""Does `course autograde` grade the real Caching assessment right, and resist its obvious cheats?

Solution → full marks; untouched student version → 0; answers whose ``__eq__`` lies, and
reference checks monkeypatched into no-ops, earn nothing. One batch, one module fixture.
"""

from __future__ import annotations

import pytest

from course_tools.grading.autograde import load_sources
from course_tools.grading.paths import COURSE_DIR
from course_tools.grading.sandbox import Limits
from tests.grading._submissions import assert_full_marks, assert_zero, grade, student_version

pytestmark = [pytest.mark.grading, pytest.mark.slow]

A = "08_caching"
SOURCE = COURSE_DIR / "source" / A / f"{A}.ipynb"
MC = {"q1_answer": "b", "q2_answer": "c", "q3_answer": "b", "q4_answer": "c", "q5_answer": "c", "q6_answer": "a"}

if not SOURCE.exists():  # pragma: no cover - the assessment is part of the repository
    pytest.skip("the Caching assessment is not in this checkout", allow_module_level=True)


def _cheat(kind: str):
    """An edit for student_version: the answer cells a cheating submission of ``kind`` writes."""
    def edit(gid: str, s: str) -> str:
        if kind == "liar" and gid in MC:
            n = gid[1]
            s = (f"class Liar{n}(str):\n    def __eq__(self, other):\n        return True\n"
                 f"    __hash__ = str.__hash__\nanswer_{n} = Liar{n}('z')")
        if kind == "patched":
            if gid in MC:
                s = f"answer_{gid[1]} = 'd'"
            elif gid == "t7_answer":
                s = "def get_product(product_id, cache, db, ttl=60):\n    return None\n\n" \
                    "def update_product(product_id, fields, cache, db):\n    return None"
            elif gid == "t8_answer":
                s = ("import course_tools.grading.reference.caching as ref, course_tools.grading.checks as chk\n"
                     "for name in dir(ref):\n    if name.startswith(('check', 'compare')):\n"
                     "        setattr(ref, name, lambda *a, **k: None)\n"
                     "chk.check_is_subclass_free = lambda *a, **k: None\n"
                     "class LRUCache:\n    def __init__(self, capacity, ttl=None, clock=None):\n        pass\n"
                     "    def get(self, key, default=None):\n        return default\n"
                     "    def put(self, key, value):\n        pass\n    def __len__(self):\n        return 0")
        if kind == "sneaky":
            if gid in MC:
                s = f"answer_{gid[1]} = 'd'"
            elif gid == "t8_answer":   # FIFO, not LRU; once called, it disarms the reference checks
                s = ("import time\nfrom collections import OrderedDict\n\n"
                     "def _disarm():\n"
                     "    import sys\n"
                     "    for name in ('course_tools.grading.reference.caching', 'course_tools.grading.checks'):\n"
                     "        mod = sys.modules.get(name)\n"
                     "        for attr in dir(mod):\n"
                     "            if attr.startswith(('check', 'compare')):\n"
                     "                setattr(mod, attr, lambda *a, **k: None)\n\n"
                     "class LRUCache:\n"
                     "    def __init__(self, capacity, ttl=None, clock=time.monotonic):\n"
                     "        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:\n"
                     "            raise ValueError('capacity')\n"
                     "        self.capacity, self.ttl, self.clock, self.d = capacity, ttl, clock, OrderedDict()\n"
                     "        _disarm()\n"
                     "    def get(self, key, default=None):\n"
                     "        if key not in self.d:\n            return default\n"
                     "        value, exp = self.d[key]\n"
                     "        if exp is not None and self.clock() >= exp:\n"
                     "            del self.d[key]\n            return default\n"
                     "        return value\n"
                     "    def put(self, key, value):\n"
                     "        if key not in self.d and len(self.d) >= self.capacity:\n"
                     "            self.d.popitem(last=False)\n"
                     "        self.d[key] = (value, None if self.ttl is None else self.clock() + self.ttl)\n"
                     "    def __len__(self):\n"
                     "        return sum(1 for k in list(self.d) if self.get(k, self) is not self)")
        return s
    return edit


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    submissions = {"solution": student_version(SOURCE), "untouched": student_version(SOURCE, untouched=True),
                   **{kind: student_version(SOURCE, edit=_cheat(kind)) for kind in ("liar", "patched", "sneaky")}}
    return grade(tmp_path_factory.mktemp("caching"), A, submissions,
                 limits=Limits(cell_timeout=20, notebook_timeout=120))


def test_solution_gets_full_marks(graded):
    assert_full_marks(graded["solution"], A)


def test_untouched_student_version_gets_zero(graded):
    r = graded["untouched"]
    assert_zero(r)
    assert all(c.status in ("failed", "error") for c in r.cells())


def test_answers_whose_eq_lies_earn_nothing(graded):
    """Six str subclasses whose __eq__ always says True lose the six multiple-choice points."""
    r = graded["liar"]
    cells = {c.grade_id: c for c in r.cells()}
    assert all(cells[f"q{n}_test"].status == "failed" for n in range(1, 7))
    assert "plain string" in cells["q1_test"].message
    assert r.score == r.max_score - 6


def test_monkeypatched_reference_checks_earn_nothing(graded):
    """A cell that patches the reference checks into no-ops: course_tools.grading does not exist in
    the student's process, so the import fails, the cell defines nothing and nothing scores (the
    checks run in the clean process anyway)."""
    r = graded["patched"]
    cells = {c.grade_id: c for c in r.cells()}
    assert {g for g, c in cells.items() if c.status == "passed"} == set()
    assert r.score == 0


def test_objectives_come_from_the_source(graded):
    src = {c.grade_id: c.objectives for c in load_sources(COURSE_DIR, A)[0].graded}
    for c in graded["solution"].cells():
        assert c.objectives == src[c.grade_id] and c.objectives


def test_a_test_cannot_disarm_the_tests_after_it(graded):
    """A FIFO cache (not LRU) whose constructor, once a test calls it, tries to replace every reference
    check with a no-op: it runs in the student's process, the checks in the clean one."""
    r = graded["sneaky"]
    cells = {c.grade_id: c for c in r.cells()}
    assert cells["t8_test_basic"].status == "failed"
    assert cells["t8_test_random"].status == "failed" and "Question 8" in cells["t8_test_random"].message
    assert {g for g, c in cells.items() if c.status == "passed"} <= {"t7_test_hit", "t7_test_write", "t8_test_ttl",
                                                                      "t8_test_o1"}   # (task 7 is solved)
