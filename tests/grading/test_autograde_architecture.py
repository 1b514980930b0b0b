"""Does `course autograde` grade the Architecture assessment right, and do plausible wrong answers lose
exactly the points they should?

Solution -> full marks; untouched student version -> 0; then one submission per wrong answer,
each otherwise solved, so that the cells it fails are exactly the ones its mistake costs:
a payment ``if/elif`` chain, a class-level registry, a checkout that charges twice, three
middleware orders, an auth layer that trusts any token, a 401 challenge without parameters, a
service that reads ``time.time()``, one that builds its own repository, one that rounds the days
left down, and one still active at the exact end of the trial. One autograde batch, one module fixture.
"""

from __future__ import annotations

import re

import pytest

from course_tools.grading.paths import COURSE_DIR
from course_tools.grading.sandbox import Limits
from tests.grading._submissions import assert_full_marks, assert_zero, grade, student_version

pytestmark = [pytest.mark.grading, pytest.mark.slow, pytest.mark.network]

A = "04_architecture"
SOURCE = COURSE_DIR / "source" / A / f"{A}.ipynb"

if not SOURCE.exists():  # pragma: no cover - the assessment is part of the repository
    pytest.skip("the Architecture assessment is not in this checkout", allow_module_level=True)


def _answer(gid: str) -> str:
    for c in student_version(SOURCE)["cells"]:
        if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == gid:
            return c["source"]
    raise KeyError(gid)


def _outdent(text: str) -> str:
    """The wrong answers below are written at class-body depth + 4; the cells start at column 0."""
    return re.sub(r"(?m)^    ", "", text)


def _edit(gid: str, old: str, new: str) -> dict:
    src, old, new = _answer(gid), _outdent(old), _outdent(new)
    assert old in src, (gid, old)
    return {gid: src.replace(old, new)}


IFELIF = _edit("t6_answer",
               "            if name not in self._methods:\n                raise ValueError(f\"unknown payment method {name!r}\")\n"
               "            return self._methods[name].pay(amount_cents, currency)",
               "            if name == 'card':\n                return CardPayment().pay(amount_cents, currency)\n"
               "            elif name == 'invoice':\n                return InvoicePayment().pay(amount_cents, currency)\n"
               "            raise ValueError(name)")

# each wrong answer: the source of the answer cells it replaces, and the test cells it must fail
WRONG = {
    "ifelif": (IFELIF, {"t6_test_new_method"}),
    "shared_registry": (_edit("t6_answer", "        def __init__(self):\n            self._methods = {}\n",
                              "        _methods = {}\n"), {"t6_test_isolation"}),
    "pays_twice": (_edit("t6_answer", "            return self._methods[name].pay(amount_cents, currency)",
                         "            self._methods[name].pay(amount_cents, currency)   # 'pre-authorise'\n"
                         "            return self._methods[name].pay(amount_cents, currency)"),
                   {"t6_test_new_method"}),
    "order_naive": (_edit("t7_answer", "return [request_id, errors, timing, auth]", "return [auth, timing, request_id, errors]"),
                    {"t7_test_request_id", "t7_test_errors", "t7_test_timing"}),
    "order_errors_outermost": (_edit("t7_answer", "return [request_id, errors, timing, auth]",
                                     "return [errors, request_id, timing, auth]"), {"t7_test_request_id"}),
    "order_timing_innermost": (_edit("t7_answer", "return [request_id, errors, timing, auth]",
                                     "return [request_id, errors, auth, timing]"), {"t7_test_timing"}),
    # games the visible check (a valid token works) but lets any bearer token through; with nothing
    # refused, the timing of a refused request cannot be right either
    "auth_trusts_any_token": (_edit("t7_answer", "            if not user:", "            if not token:"),
                              {"t7_test_auth", "t7_test_timing"}),
    # RFC 6750 §3: the Bearer scheme MUST be followed by at least one auth-param
    "bare_challenge": (_edit("t7_answer", """'Bearer realm="api"'""", """'Bearer'"""), {"t7_test_auth"}),
    "real_time": (_edit("t8_answer", "            self.repo, self.clock, self.trial_days = repo, clock, trial_days",
                        "            import time\n"
                        "            self.repo, self.clock, self.trial_days = repo, time.time, trial_days"),
                  {"t8_test_visible", "t8_test_injected", "t8_test_boundary"}),
    "own_repository": (_edit("t8_answer", "            self.repo, self.clock, self.trial_days = repo, clock, trial_days",
                             "            class _Rows(dict):\n                put = dict.__setitem__\n"
                             "            self.repo, self.clock, self.trial_days = _Rows(), clock, trial_days"),
                       {"t8_test_visible", "t8_test_injected"}),
    "rounds_down": (_edit("t8_answer", "math.ceil(", "math.floor("), {"t8_test_injected", "t8_test_boundary"}),
    "active_at_the_end": (_edit("t8_answer", "self.clock() < record", "self.clock() <= record"), {"t8_test_boundary"}),
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    kinds = {"solution": student_version(SOURCE), "untouched": student_version(SOURCE, untouched=True),
             **{name: student_version(SOURCE, replace=replace) for name, (replace, _) in WRONG.items()}}
    return grade(tmp_path_factory.mktemp("architecture"), A, kinds,
                 limits=Limits(cell_timeout=30, notebook_timeout=180))


def test_solution_gets_full_marks(graded):
    assert_full_marks(graded["solution"], A)


def test_untouched_student_version_gets_zero(graded):
    assert_zero(graded["untouched"])


@pytest.mark.parametrize("kind", sorted(WRONG))
def test_each_wrong_answer_loses_exactly_its_points(graded, kind):
    """The cells a plausible mistake fails are exactly the cells that test what it got wrong."""
    r = graded[kind]
    failed = {c.grade_id for c in r.cells() if c.status != "passed"}
    assert failed == WRONG[kind][1], [(c.grade_id, c.message) for c in r.cells() if c.status != "passed"]
    lost = sum(c.max_points for c in r.cells() if c.grade_id in failed)
    assert r.score == r.max_score - lost > 0
