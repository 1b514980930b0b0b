"""Does `course autograde` grade the real Auth assessment right, and take from each wrong answer exactly
the points it should?

Solution -> full marks; untouched student version -> 0; and three submissions built from the plausible
wrong answers in ``files/auth_answers.py``:

- *naive*: a JWT validator that trusts the header (accepts ``alg: none``, keys HMAC with whatever key
  the kid names), an authorisation that checks the role but not the owner, a hex PKCE challenge and a
  verifier check without RFC 7636's length/alphabet rules;
- *off-by-one*: accepts a token at exactly ``exp`` (+ leeway), answers 401 where 403 is due, pads the
  verifier;
- *lenient*: the right rules over a forgiving parser (extra segments, padding, standard base64).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from course_tools.grading.autograde import load_sources
from course_tools.grading.paths import COURSE_DIR
from course_tools.grading.sandbox import Limits
from tests.grading._submissions import assert_full_marks, assert_zero, grade, student_version

pytestmark = [pytest.mark.grading, pytest.mark.slow]

A = "03_auth"
SOURCE = COURSE_DIR / "source" / A / f"{A}.ipynb"
ANSWERS = (Path(__file__).with_name("files") / "auth_answers.py").read_text()

# grade_id of an answer cell -> the aliases that replace the solution in each wrong submission
WRONG = {
    "naive": {"t6_answer": "validate_jwt = naive_validate_jwt", "t7_answer": "authorize = role_only_authorize",
              "t8_answer": "make_challenge = hex_challenge\nverify_pkce = lax_verify_pkce"},
    "offbyone": {"t6_answer": "validate_jwt = off_by_one_validate_jwt",
                 "t7_answer": "authorize = unauthenticated_for_everything_authorize",
                 "t8_answer": "make_verifier = padded_verifier"},
    "lenient": {"t6_answer": "validate_jwt = lenient_parser_validate_jwt"},
}


def _with_wrong_answers(aliases: dict[str, str]):
    """An edit for student_version: the wrong answers appended to the answer cells named in ``aliases``,
    then the alias that puts one in place of the solution."""
    return lambda gid, s: s + "\n\n" + ANSWERS + "\n\n" + aliases[gid] + "\n" if gid in aliases else s


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    submissions = {"solution": student_version(SOURCE), "untouched": student_version(SOURCE, untouched=True),
                   **{kind: student_version(SOURCE, edit=_with_wrong_answers(aliases))
                      for kind, aliases in WRONG.items()}}
    return grade(tmp_path_factory.mktemp("auth"), A, submissions,
                 limits=Limits(cell_timeout=60, notebook_timeout=300))


def _failed(r) -> set[str]:
    return {c.grade_id for c in r.cells() if c.status != "passed"}


def _why(r) -> list:
    return [(c.grade_id, c.status, (c.message or "")[:160]) for c in r.cells() if c.status != "passed"]


def test_solution_gets_full_marks(graded):
    assert_full_marks(graded["solution"], A)


def test_untouched_student_version_gets_zero(graded):
    assert_zero(graded["untouched"])


def test_naive_answers_lose_the_attack_ownership_and_pkce_points(graded):
    """A validator that trusts the header loses the visible, signature and format points (alg none is
    accepted); role without ownership loses the visible test (bob reads alice's order) and the ownership points; a hex challenge and a lax verifier lose
    every PKCE test."""
    assert _failed(graded["naive"]) == {"t6_test_visible", "t6_test_signature", "t6_test_format",
                                        "t7_test_visible", "t7_test_ownership", "t8_test_vector", "t8_test_random",
                                        "t8_test_verify"}, _why(graded["naive"])


def test_off_by_one_answers_lose_the_claims_and_status_points(graded):
    """Accepting a token at exactly exp costs the claims part only; 401 for 'forbidden' costs the visible
    test and all three hidden authorisation parts; a padded verifier costs the vector and random tests."""
    assert _failed(graded["offbyone"]) == {"t6_test_claims", "t7_test_visible", "t7_test_authn", "t7_test_roles",
                                           "t7_test_ownership", "t8_test_vector", "t8_test_random"}, _why(graded["offbyone"])


def test_a_lenient_parser_loses_only_the_format_points(graded):
    r = graded["lenient"]
    assert _failed(r) == {"t6_test_format"}, _why(r)
    assert r.score == r.max_score - 2


def test_honest_submissions_raise_no_tampering_warning(graded):
    """The checks import nothing new from course_tools while grading, so nothing looks tampered with."""
    for kind in ("solution", "naive", "offbyone", "lenient"):
        assert not [w for w in graded[kind].warnings if "changed course_tools" in w], graded[kind].warnings


def test_objectives_come_from_the_source(graded):
    src = {c.grade_id: c.objectives for c in load_sources(COURSE_DIR, A)[0].graded}
    for c in graded["solution"].cells():
        assert c.objectives == src[c.grade_id] and c.objectives
