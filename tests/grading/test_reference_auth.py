"""Do the Auth assessment's checks take exactly the points each plausible wrong answer should lose?

In-process and fast: the reference checks are called on the model solution and on the wrong answers in
``files/auth_answers.py`` (a naive validator that trusts the header, an off-by-one on exp, library
defaults without strict parsing, a lenient hand-rolled parser, a validator that rejects everything, a
role-only authorisation, 401-for-everything, hex and padded PKCE, a verifier check without the
RFC 7636 §4.1 rules, and one whose regex ends in "$" and so lets a final newline through). Seeds are those of the assessment's hidden tests.
"""

import importlib.util
from pathlib import Path

import pytest

from course_tools.grading.checks import AnswerError
from course_tools.grading.reference import auth as ref

_spec = importlib.util.spec_from_file_location("auth_answers", Path(__file__).with_name("files") / "auth_answers.py")
A = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(A)

PARTS = ("visible", "signature", "claims", "format")


def failing_parts(fn) -> set[str]:
    failed = set()
    for part in PARTS:
        try:
            ref.check_validator(fn, part, seeds=(1,) if part == "visible" else (11, 12), question=6)
        except AnswerError:
            failed.add(part)
    return failed


@pytest.mark.parametrize("name,loses", [
    ("validate_jwt", set()),
    ("naive_validate_jwt", {"visible", "signature", "format"}),
    ("off_by_one_validate_jwt", {"claims"}),
    ("substring_aud_validate_jwt", {"claims"}),
    ("library_defaults_validate_jwt", {"format"}),
    ("lenient_parser_validate_jwt", {"format"}),
    ("reject_everything", set(PARTS)),
])
def test_each_validator_loses_exactly_its_parts(name, loses):
    """The naive validator (alg none, header-chosen HMAC key) loses the signature points; the off-by-one
    on exp and `audience in aud` (a substring test on a string aud) only the claims points; a forgiving parser only the format points; rejecting all loses all."""
    assert failing_parts(getattr(A, name)) == loses


def test_the_reference_validator_passes_its_own_corpus_on_many_seeds():
    for part in PARTS:
        ref.check_validator(ref.reference_validate, part, seeds=range(5), question=6)


def test_failure_messages_name_the_kind_of_token_not_the_token():
    with pytest.raises(AnswerError) as exc:
        ref.check_validator(A.naive_validate_jwt, "signature", seeds=(11,), question=6)
    msg = str(exc.value)
    assert msg.startswith("Question 6:") and "eyJ" not in msg      # no token text leaks


@pytest.mark.parametrize("name,loses", [
    ("authorize", set()),
    ("role_only_authorize", {"ownership"}),
    ("unauthenticated_for_everything_authorize", {"authn", "roles", "ownership"}),
])
def test_each_authorisation_loses_exactly_its_parts(name, loses):
    """Checking the role but not the owner (BOLA) costs the ownership points only."""
    failed = set()
    for part in ("authn", "roles", "ownership"):
        try:
            ref.check_authorize(getattr(A, name), part, seeds=(21, 22), question=7)
        except AnswerError:
            failed.add(part)
    assert failed == loses


def test_authorisation_results_must_be_plain_ints():
    with pytest.raises(AnswerError, match="int"):
        ref.check_authorize(lambda u, a, r: True, "roles", question=7)


@pytest.mark.parametrize("verifier,challenge,verify,loses", [
    ("make_verifier", "make_challenge", "verify_pkce", set()),
    ("make_verifier", "hex_challenge", "verify_pkce", {"vector", "random"}),
    ("padded_verifier", "make_challenge", "verify_pkce", {"vector", "random"}),
    ("make_verifier", "make_challenge", "lax_verify_pkce", {"verify"}),
    ("make_verifier", "make_challenge", "dollar_regex_verify_pkce", {"verify"}),
])
def test_pkce_answers(verifier, challenge, verify, loses):
    mv, mc, vf = getattr(A, verifier), getattr(A, challenge), getattr(A, verify)
    failed = set()
    for part, call in (("vector", lambda: ref.check_pkce_vector(mv, mc, question=8)),
                       ("random", lambda: ref.check_pkce_random(mv, mc, seed=31, question=8)),
                       ("verify", lambda: ref.check_pkce_verify(vf, seed=32, question=8))):
        try:
            call()
        except AnswerError:
            failed.add(part)
    assert failed == loses


def test_rfc7636_appendix_b_constants():
    assert A.make_verifier(ref.RFC7636_OCTETS) == ref.RFC7636_VERIFIER
    assert ref.reference_challenge(ref.RFC7636_VERIFIER) == ref.RFC7636_CHALLENGE


def test_a_validator_that_never_returns_costs_its_question_only():
    """The check runs under time_limit, so an endless loop becomes an AnswerError for question 6."""
    import time

    import course_tools.grading.reference.auth as mod

    def forever(*args):
        while True:
            time.sleep(0.01)

    original = mod.time_limit
    mod.time_limit = lambda seconds, question: original(0.3, question=question)
    try:
        with pytest.raises(AnswerError, match="Question 6: your code was still running"):
            ref.check_validator(forever, "visible", question=6)
    finally:
        mod.time_limit = original
